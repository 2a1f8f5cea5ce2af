package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/membership"
)

// defaultUpDir is where cohort up keeps its etcd: the same place every
// time, so a cluster restarted after a crash finds its jobs and resumes
// them from their checkpoints.
func defaultUpDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "cohort", "up")
	}
	return ".cohort-up"
}

func newUpCmd() *cobra.Command {
	var e etcdFlags
	var f serverFlags
	var workers, workerHealthPort int
	var dir, etcdListen string
	cmd := &cobra.Command{
		Use:   "up [--workers N] [--listen ADDR]",
		Short: "Run a one-machine cluster: an embedded etcd, a coordinator and N workers",
		Long: `up runs a whole cohort cluster on this machine, in the foreground, until Ctrl-C
or SIGTERM: an etcd inside this process (its data in --data-dir), a coordinator
serving the Jobs API on --listen, and --workers worker processes of this binary.
Submit, follow and cancel jobs from another terminal:

  cohort up --workers 2
  cohort submit job.yaml --wait        # dials 127.0.0.1:7070, where up listens
  cohort status
  cohort watch JOB_ID
  cohort top --etcd <the etcd endpoint up prints>

up prints the commands that reach it: with --listen elsewhere than
127.0.0.1:7070 the job commands need --coordinator ADDR (or
COHORT_COORDINATOR=ADDR). The embedded etcd picks a new port at every start;
--etcd-listen 127.0.0.1:2379 also serves it at that fixed address, where
cohort top looks by default and cohort gpus --etcd 127.0.0.1:2379 reads (it
has no TLS and no authentication: keep it on loopback).

The coordinator serves /metrics, /livez and /readyz on --health-addr; each
worker up-wI serves its own (the training and machine series) on the host of
--health-addr at port --worker-health-port + I, or at a free port picked at
start and kept across its restarts, and up prints them all. Workers log at
up's --log-level, in its --log-format.

The etcd data stays in --data-dir, so after a crash or a restart of up, jobs
that were running resume from their last checkpoint. A worker process that
dies is started again, and its jobs take it back at their next generation.

Example:
  cohort up                                          # 2 workers, the Jobs API on 127.0.0.1:7070
  cohort up --workers 4 --etcd-listen 127.0.0.1:2379 # then cohort top, cohort gpus --etcd 127.0.0.1:2379
  cohort up --worker-health-port 9101                # workers' /metrics at 127.0.0.1:9101, :9102`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if workers < 0 || workers > 1024 {
				return fmt.Errorf("--workers %d, want 0..1024", workers)
			}
			// Taken ports fail now, naming their flag, not after etcd
			// has started.
			if err := checkFree("listen", f.listen, "and point the job commands at it with --coordinator"); err != nil {
				return err
			}
			if err := checkFree("health-addr", f.health, `or --health-addr "" to turn /healthz and /metrics off`); err != nil {
				return err
			}
			names := make([]string, workers)
			for i := range names {
				names[i] = fmt.Sprintf("up-w%d", i)
			}
			workerHealth, err := workerHealthAddrs(f.health, workerHealthPort, workers)
			if err != nil {
				return err
			}
			var proxy net.Listener
			if etcdListen != "" {
				l, err := listenEtcd(etcdListen)
				if err != nil {
					return err
				}
				proxy = l
				defer proxy.Close()
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("--data-dir: %w", err)
			}
			emb, err := membership.StartEmbedded(ctx, filepath.Join(dir, "etcd"), membership.WithServerLogger(slog.Default()))
			if err != nil {
				return err
			}
			defer emb.Close()
			endpoints := emb.Endpoints()
			shown := strings.Join(endpoints, ",") // the etcd address up prints
			if proxy != nil {
				target, err := url.Parse(endpoints[0])
				if err != nil {
					return fmt.Errorf("embedded etcd endpoint %q: %w", endpoints[0], err)
				}
				pctx, stopProxy := context.WithCancel(ctx)
				var proxied sync.WaitGroup
				proxied.Go(func() { serveEtcdProxy(pctx, proxy, target.Host) })
				defer func() { stopProxy(); proxied.Wait() }()
				shown = "http://" + dialable(proxy.Addr())
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this binary to start workers: %w", err)
			}
			wctx, stopWorkers := context.WithCancel(ctx)
			var supervised sync.WaitGroup
			logFlags := childLogFlags(slog.Default().Handler(), slog.LevelDebug) // up's own level and format
			ready := func(addr string) {
				for i, name := range names {
					args := append(slices.Clone(logFlags), "worker", "--etcd", strings.Join(endpoints, ","),
						"--name", name, "--lease-ttl", e.ttl.String(), "--health-addr", workerHealth[i])
					supervised.Go(func() { superviseWorker(wctx, exe, name, args, cmd.ErrOrStderr()) })
				}
				fmt.Fprint(cmd.OutOrStdout(), upBanner(addr, shown, workers, os.Getenv(coordinatorEnv)))
				fmt.Fprint(cmd.OutOrStdout(), upMetricsBanner(f.boundHealth, names, workerHealth))
			}
			if f.threads == 0 && workers > 0 {
				// The local workers share the cores.
				f.threads = max(1, runtime.NumCPU()/workers)
			}
			err = f.serve(ctx, e, endpoints, ready)
			if ctx.Err() != nil {
				slog.Info("cohort up: stopping the workers and etcd", "cause", context.Cause(ctx))
			}
			stopWorkers()
			supervised.Wait()
			slog.Info("cohort up: stopped")
			return err
		},
	}
	fs := cmd.Flags()
	e.bind(fs)
	for _, n := range []string{"etcd", "etcd-cacert", "etcd-cert", "etcd-key", "etcd-user", "etcd-password"} {
		_ = fs.MarkHidden(n) // up runs its own etcd
	}
	f.bind(fs, "127.0.0.1:9090")
	fs.IntVar(&workers, "workers", 2, "local worker processes to run")
	fs.IntVar(&workerHealthPort, "worker-health-port", 0,
		"worker up-wI serves /metrics, /livez and /readyz at port N+I on --health-addr's host (0: free ports picked at start, kept across worker restarts; printed either way)")
	fs.StringVar(&dir, "data-dir", defaultUpDir(),
		"directory of the embedded etcd's data, kept across restarts (default: cohort/up in the user cache directory, $XDG_CACHE_HOME or ~/.cache on Linux; .cohort-up when there is none)")
	// The usage states the default; without this the help would show it
	// a second time, expanded for the user who runs it.
	fs.Lookup("data-dir").DefValue = ""
	fs.StringVar(&etcdListen, "etcd-listen", "",
		"also serve the embedded etcd's clients at this fixed HOST:PORT, such as "+defaultEtcd+" (where top looks by default; gpus --etcd needs it named); its own port changes at every start")
	return cmd
}

// upBanner is what up prints once it serves: where the coordinator and
// etcd are, and the commands that reach them from another terminal. env
// is $COHORT_COORDINATOR, which the job commands dial by default.
func upBanner(coord, etcd string, workers int, env string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cohort up: coordinator %s, etcd %s, %s\n", coord, etcd, plural(workers, "worker"))
	if coord == cmp.Or(env, defaultCoordinator) {
		b.WriteString("  submit jobs with:  cohort submit job.yaml\n")
	} else {
		fmt.Fprintf(&b, "  submit jobs with:  cohort submit job.yaml --coordinator %s   (or first: export %s=%s)\n", coord, coordinatorEnv, coord)
	}
	if u, err := url.Parse(etcd); err == nil && u.Host == defaultEtcd {
		b.WriteString("  see the cluster:   cohort top\n")
	} else {
		fmt.Fprintf(&b, "  see the cluster:   cohort top --etcd %s\n", etcd)
	}
	return b.String()
}

// upMetricsBanner lists where up's processes serve /metrics, for a
// Prometheus static_configs or a curl.
func upMetricsBanner(coordHealth string, names, addrs []string) string {
	var targets []string
	if coordHealth != "" {
		targets = append(targets, "coordinator http://"+dialableAddr(coordHealth)+"/metrics")
	}
	for i, name := range names {
		targets = append(targets, name+" http://"+dialableAddr(addrs[i])+"/metrics")
	}
	var b strings.Builder
	for i, t := range targets {
		label := "  metrics:          "
		if i > 0 {
			label = strings.Repeat(" ", len(label))
		}
		fmt.Fprintf(&b, "%s %s\n", label, t)
	}
	return b.String()
}

// dialableAddr is HOST:PORT as a client on this machine dials it: a
// wildcard host becomes loopback.
func dialableAddr(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return hostport
}

// workerHealthAddrs are the --health-addr of up's n workers: on the host
// of up's own --health-addr (127.0.0.1 when that is off), at port base+i,
// or at free ports picked now when base is 0. A worker keeps its address
// across restarts, so the scrape targets up prints stay right.
func workerHealthAddrs(health string, base, n int) ([]string, error) {
	if base < 0 || base > 65535 || (base > 0 && base+n-1 > 65535) {
		return nil, fmt.Errorf("--worker-health-port %d: want 1..%d for %s, or 0 for free ports", base, 65536-max(n, 1), plural(n, "worker"))
	}
	host := "127.0.0.1"
	if health != "" {
		h, _, err := net.SplitHostPort(health)
		if err != nil {
			return nil, fmt.Errorf("--health-addr %q: want HOST:PORT: %w", health, err)
		}
		if h != "" {
			host = h
		} else {
			host = "0.0.0.0"
		}
	}
	addrs := make([]string, n)
	for i := range addrs {
		if base > 0 {
			addrs[i] = net.JoinHostPort(host, fmt.Sprint(base+i))
			if err := checkFree("worker-health-port", addrs[i], "or --worker-health-port 0 for free ports"); err != nil {
				return nil, err
			}
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick a port for worker %d's /metrics on %s: %w", i, host, err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		addrs[i] = net.JoinHostPort(host, port)
		l.Close()
	}
	return addrs, nil
}

// checkFree fails, naming --flag and what to do instead, when addr cannot
// be bound (a port another process holds). It binds and lets go at once.
func checkFree(flag, addr, instead string) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--%s %s: %w; pass a free HOST:PORT, %s", flag, addr, err, instead)
	}
	return l.Close()
}

// listenEtcd binds --etcd-listen: HOST:PORT, or an http:// URL of one.
func listenEtcd(addr string) (net.Listener, error) {
	hostport := addr
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("--etcd-listen %q: want HOST:PORT such as %s", addr, defaultEtcd)
		}
		hostport = u.Host
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return nil, fmt.Errorf("--etcd-listen %q: want HOST:PORT such as %s: %w", addr, defaultEtcd, err)
	}
	l, err := net.Listen("tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("--etcd-listen %s: %w; pass a free HOST:PORT, or leave --etcd-listen out for a port the OS picks", addr, err)
	}
	return l, nil
}

// dialable is a listener's address as a client on this machine dials it:
// a wildcard host becomes loopback.
func dialable(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok && t.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(t.Port))
	}
	return a.String()
}

// serveEtcdProxy forwards every connection lis accepts to target, the
// embedded etcd's client address, until ctx ends: --etcd-listen's fixed
// address in front of a port that changes with every start. (etcd's gRPC
// runs over plain TCP, so bytes are all it needs.)
func serveEtcdProxy(ctx context.Context, lis net.Listener, target string) {
	var conns sync.WaitGroup
	defer conns.Wait()
	stop := context.AfterFunc(ctx, func() { lis.Close() })
	defer stop()
	for {
		down, err := lis.Accept()
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("cohort up: --etcd-listen stopped accepting; use the etcd endpoint it printed", "err", err)
			}
			return
		}
		conns.Go(func() {
			defer down.Close()
			up, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
			if err != nil {
				slog.Warn("cohort up: --etcd-listen: dial the embedded etcd", "err", err)
				return
			}
			defer up.Close()
			stop := context.AfterFunc(ctx, func() { down.Close(); up.Close() })
			defer stop()
			done := make(chan struct{})
			go func() { pipe(up, down); close(done) }()
			pipe(down, up)
			<-done
		})
	}
}

// pipe copies src to dst, then closes dst for writing (the half-close a
// TCP client expects when its peer is done), or dst whole if it cannot.
func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = dst.Close()
}

// superviseWorker runs one local worker process until ctx ends, starting
// it again when it dies (after 1 s, doubling to 30 s while it keeps dying
// within a minute), as a supervisor would: the cluster's jobs take the new
// process in at their next generation.
func superviseWorker(ctx context.Context, exe, name string, args []string, stderr io.Writer) {
	backoff := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		pid := 0
		lw, err := coordinator.StartLocal(ctx, coordinator.LocalConfig{Exe: exe, N: 1, Stderr: stderr,
			Args: func(int) []string { return args }})
		if err == nil {
			pid = lw.Pids()[0]
			select {
			case <-ctx.Done():
				lw.Stop()
				return
			case err = <-lw.Exited():
				lw.Stop()
				// StartLocal numbers its processes from 0 and this one is
				// always its only one: name the worker instead.
				if inner := errors.Unwrap(err); inner != nil {
					err = inner
				}
			}
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		if err == nil {
			err = errors.New("exited with status 0")
		}
		slog.Warn("cohort up: worker process ended; starting it again", "worker", name, "pid", pid, "err", err,
			"restart_in", backoff, "args", strings.Join(args, " "))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
