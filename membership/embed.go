package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"

	"github.com/cohort-clv/cohort/internal/dirlock"
)

// ErrDataDirInUse means another process has the etcd data directory open
// (a second cohort up on the same --data-dir). etcd itself would wait for
// its database lock without end; StartEmbedded and StartMember refuse at
// once instead.
var ErrDataDirInUse = errors.New("membership: etcd data directory in use by another process")

// dataDirInUseError is ErrDataDirInUse for one directory, naming the
// holder when it recorded its pid.
type dataDirInUseError struct {
	dir string
	pid int
}

func (e *dataDirInUseError) Error() string {
	who := "another cohort process"
	if e.pid > 0 {
		who = fmt.Sprintf("another cohort process (pid %d)", e.pid)
	}
	return fmt.Sprintf("%s is using %s; stop it or pass --data-dir", who, e.dir)
}

func (e *dataDirInUseError) Is(target error) bool { return target == ErrDataDirInUse }

// dataDirLock is the lock file a member holds in its data directory while
// it runs; it records the holder's pid.
const dataDirLock = "cohort.lock"

// lockDataDir creates dir if needed and takes its lock without waiting,
// so that a second member on dir fails at once (ErrDataDirInUse) rather
// than hang on the bbolt lock inside embed.StartEtcd, where no context
// reaches. It also probes the database file, for a holder that took no
// lock file (an older cohort, a stand-alone etcd).
func lockDataDir(dir string) (*dirlock.Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	l, err := dirlock.TryLock(filepath.Join(dir, dataDirLock))
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return nil, &dataDirInUseError{dir: dir, pid: held.PID}
	}
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	busy, err := dirlock.Busy(filepath.Join(dir, "member", "snap", "db"))
	if err != nil {
		l.Unlock()
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if busy {
		l.Unlock()
		return nil, &dataDirInUseError{dir: dir}
	}
	return l, nil
}

// Embedded is an etcd member running inside this process: the single-member
// cluster of StartEmbedded, or a member of a real cluster from StartMember.
type Embedded struct {
	closing   atomic.Bool // set by Close, read by the logger
	etcd      *embed.Etcd
	lock      *dirlock.Lock // the data directory's, held until Close
	endpoints []string
	closeOnce sync.Once
}

// EmbedOption configures StartEmbedded.
type EmbedOption func(*embedOptions)

type embedOptions struct {
	logger *slog.Logger
}

// WithServerLogger sends the server's errors to lg instead of
// slog.Default(). Its info lines and warnings (about running without TLS on
// loopback, which is the point) are dropped: an embedded server's user wants
// to hear from it only when something is wrong.
func WithServerLogger(lg *slog.Logger) EmbedOption {
	return func(o *embedOptions) { o.logger = lg }
}

// StartEmbedded starts a single-member etcd cluster with its data in dir,
// listening on loopback only, on ports the OS picks, and returns once it
// serves requests. A dir left by an earlier run is reopened with its data.
// A dir that another process has open is refused at once with an error
// matching ErrDataDirInUse. ctx bounds the start only; the server runs
// until Close.
//
// It is tuned to start fast and to be a good lease keeper for a few thousand
// workers: raft ticks of 10 ms (one member has nobody to heartbeat, and a
// short election timeout makes the first election immediate and allows
// leases of 1 s), no gRPC gateway, automatic compaction that keeps the last
// 10,000 revisions.
func StartEmbedded(ctx context.Context, dir string, opts ...EmbedOption) (*Embedded, error) {
	var o embedOptions
	for _, opt := range opts {
		opt(&o)
	}
	if dir == "" {
		return nil, errors.New("membership: start embedded etcd: empty data directory")
	}
	// etcd cannot take a listener, only an address, and it must advertise
	// the real peer port: pick free ports, and try again in the rare case
	// that another process takes one between our probe and etcd's bind.
	var err error
	for range 3 {
		var ports []int
		if ports, err = freeLoopbackPorts(2); err != nil {
			break
		}
		cfg := embed.NewConfig()
		cfg.Name = "cohort"
		cfg.Dir = dir
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
		peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.InitialClusterToken = "cohort-embedded"
		cfg.TickMs, cfg.ElectionMs = 10, 100
		cfg.SnapshotCount = 5000
		cfg.EnableGRPCGateway = false
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = embed.CompactorModeRevision, "10000"
		cfg.LogLevel = "error"
		m := &Embedded{}
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(o.logger, zapcore.ErrorLevel, &m.closing))
		if err = m.start(ctx, cfg); err == nil {
			return m, nil
		}
		if errors.Is(err, ErrDataDirInUse) {
			return nil, fmt.Errorf("membership: start embedded etcd: %w", err)
		}
		if !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("membership: start embedded etcd in %s: %w", dir, err)
}

// start locks cfg.Dir, starts cfg in m and waits until the member serves,
// or ctx ends. On an error nothing is left running or locked.
func (m *Embedded) start(ctx context.Context, cfg *embed.Config) error {
	lock, err := lockDataDir(cfg.Dir)
	if err != nil {
		return err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		lock.Unlock()
		return err
	}
	m.etcd, m.lock = e, lock
	for _, u := range cfg.AdvertiseClientUrls {
		m.endpoints = append(m.endpoints, u.String())
	}
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		m.Close()
		return err
	case <-e.Server.StopNotify():
		m.Close()
		return errors.New("server stopped before it was ready")
	case <-ctx.Done():
		m.Close()
		return ctx.Err()
	}
}

func freeLoopbackPorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		// Close at once, but only after all are picked, so the n differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Endpoints returns the member's client URLs, ready for Config.Endpoints.
func (m *Embedded) Endpoints() []string { return append([]string(nil), m.endpoints...) }

// Serve blocks until ctx is done or the member stops on its own (an error
// on a listener, removal from its cluster), then closes it. It returns nil
// when ctx ended it.
func (m *Embedded) Serve(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-m.etcd.Err():
	case <-m.etcd.Server.StopNotify():
		err = errors.New("server stopped")
	}
	m.Close()
	if err != nil {
		return fmt.Errorf("membership: etcd member: %w", err)
	}
	return nil
}

// Close stops the member: it refuses new requests, finishes those in flight,
// stops raft and closes the data files, and returns when all is stopped.
// Leases held through it keep their remaining TTL in the data directory and
// expire after a restart unless refreshed. The data directory is free for
// the next member once Close returns. Close is safe to call twice; it
// returns nil (it exists as an error-returning method for io.Closer).
func (m *Embedded) Close() error {
	m.closeOnce.Do(func() {
		m.closing.Store(true)
		m.etcd.Close()
		m.lock.Unlock() // after etcd has closed its files
	})
	return nil
}
