package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/sweeprun"
)

// Defaults of a Server's jobs.
const (
	// DefaultServerListen is where cohort coordinator and cohort up serve.
	DefaultServerListen = "127.0.0.1:7070"
	// DefaultCheckpointEvery is the steps between checkpoints of a job that
	// sets none: about three epochs of CDNOW at the default batch, a few
	// hundred KB each, so a checkpoint costs well under 1% of a step's time.
	DefaultCheckpointEvery = 100
	// DefaultChecksumEvery is the steps between weight-checksum exchanges:
	// one allreduce of 4 floats per worker, negligible next to a gradient.
	DefaultChecksumEvery = 50
	// pendingForever is how long a submitted job waits for its workers: a
	// cluster job stays PENDING until they come, as in a batch queue.
	pendingForever = 100 * 365 * 24 * time.Hour
)

// ServerConfig configures a long-running coordinator (cohort coordinator,
// cohort up).
type ServerConfig struct {
	// Client talks to etcd; required.
	Client *clientv3.Client
	// Name is the coordinator's name (membership.ValidName); required.
	Name string
	// Listen is the address of the gRPC services: Jobs for clients, Data
	// and Coordinator for workers (default DefaultServerListen).
	Listen string
	// Advertise is the host:port clients and workers dial (default: the
	// address Listen bound, which must then not be a wildcard).
	Advertise string
	// TTL is the coordinator's lease in the election, and the allreduce
	// timeout of its jobs' plans (default membership.DefaultTTL).
	TTL time.Duration
	// Threads bounds the CPU threads a job's workers and evaluation use
	// when its spec sets none (0: every core).
	Threads int
	// CheckpointEvery and ChecksumEvery apply to jobs whose spec sets no
	// checkpoint_every (defaults DefaultCheckpointEvery, DefaultChecksumEvery).
	CheckpointEvery int
	ChecksumEvery   int
	// Retention bounds the finished jobs whose records the leader keeps
	// in etcd (defaults: DefaultJobRetention, DefaultMaxFinishedJobs).
	Retention Retention
	// Logger gets the coordinator's logs (default slog.Default()).
	Logger *slog.Logger
}

func (c *ServerConfig) fill() error {
	if c.Client == nil {
		return errors.New("no etcd client")
	}
	if err := membership.ValidName(c.Name); err != nil {
		return err
	}
	if c.Listen == "" {
		c.Listen = DefaultServerListen
	}
	if c.TTL == 0 {
		c.TTL = membership.DefaultTTL
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	if c.ChecksumEvery == 0 {
		c.ChecksumEvery = DefaultChecksumEvery
	}
	if c.TTL < time.Second || c.Threads < 0 || c.CheckpointEvery < 0 || c.ChecksumEvery < 0 {
		return fmt.Errorf("ttl %v (want >= 1s), threads %d, checkpoint every %d, checksum every %d (want >= 0)",
			c.TTL, c.Threads, c.CheckpointEvery, c.ChecksumEvery)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Retention.fill()
	return nil
}

// Server is a long-running coordinator. It campaigns in the coordinators'
// election; while it leads it serves the Jobs API, runs every submitted
// job on the cluster's workers and takes over the jobs a dead leader was
// running; while it waits in line it is a hot standby whose Jobs API
// answers rpcerr.ErrNotLeader with the leader's address.
type Server struct {
	cfg  ServerConfig
	lis  net.Listener
	gs   *grpc.Server
	addr string

	mu     sync.Mutex
	elect  *membership.Election
	fence  *clientv3.Cmp     // nil while standby
	jobs   map[string]*Job   // running here, by id
	held   map[string]string // worker name -> id of the job holding it
	kick   chan string       // submitted job ids, for the leader's loop
	sweeps map[string]bool   // cluster sweeps running here
	freed  chan struct{}     // closed (and replaced) when a job frees workers
}

// NewServer listens on cfg.Listen; Run serves.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("coordinator: server: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("coordinator: server: listen: %w", err)
	}
	addr := cfg.Advertise
	if addr == "" {
		addr = lis.Addr().String()
		if ap, ok := lis.Addr().(*net.TCPAddr); ok && ap.IP.IsUnspecified() {
			lis.Close()
			return nil, fmt.Errorf("coordinator: server: listening on %s, a wildcard: set the address others dial (--advertise)", addr)
		}
	}
	s := &Server{cfg: cfg, lis: lis, addr: addr, jobs: map[string]*Job{}, held: map[string]string{}, kick: make(chan string, 64),
		sweeps: map[string]bool{}, freed: make(chan struct{})}
	s.gs = newGRPCServer()
	lookup := jobLookup(s.job)
	cohortv1.RegisterDataServer(s.gs, dataService{jobs: lookup})
	cohortv1.RegisterCoordinatorServer(s.gs, reportService{jobs: lookup})
	cohortv1.RegisterJobsServer(s.gs, NewJobsService(cfg.Client, s, JobsOptions{Logger: cfg.Logger, Name: cfg.Name,
		OnSubmit: s.submitted, Retention: cfg.Retention}))
	return s, nil
}

// Addr is the address clients and workers dial.
func (s *Server) Addr() string { return s.addr }

// Leading says whether this coordinator leads now.
func (s *Server) Leading() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fence != nil
}

// Fence is the comparison that holds while this coordinator leads (for
// the Jobs API); ok is false while it is a standby.
func (s *Server) Fence() (clientv3.Cmp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fence == nil {
		return clientv3.Cmp{}, false
	}
	return *s.fence, true
}

// Leader returns the leading coordinator's address.
func (s *Server) Leader(ctx context.Context) (string, error) {
	s.mu.Lock()
	el := s.elect
	s.mu.Unlock()
	if el == nil {
		return "", membership.ErrNoLeader
	}
	l, err := el.Leader(ctx)
	if err != nil {
		return "", err
	}
	_, addr, err := membership.ParseCoordinatorValue(l.Value)
	return addr, err
}

func (s *Server) job(id string) (*Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	return j, ok
}

// submitted hands a new job to the leader's loop.
func (s *Server) submitted(id string) {
	select {
	case s.kick <- id:
	default:
		// The loop is behind; it re-reads every job when it catches up.
		s.cfg.Logger.Warn("coordinator: submit queue full", "job", id)
	}
}

// Close releases the listener of a Server whose Run was never called (Run
// releases it on return).
func (s *Server) Close() error { return s.lis.Close() }

// Run serves until ctx ends: it campaigns, leads while it can, and
// campaigns again after losing its lease (a partition). On return it has
// resigned, so a standby takes over at once; the jobs it ran stay RUNNING
// in etcd for that standby.
func (s *Server) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.gs.Serve(s.lis) }()
	defer func() { s.gs.Stop(); <-served }()
	log := s.cfg.Logger.With("coordinator", s.cfg.Name)
	for ctx.Err() == nil {
		sess, err := membership.NewSession(ctx, s.cfg.Client, membership.WithTTL(s.cfg.TTL))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			log.Warn("coordinator: new session", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		el := membership.NewElection(sess)
		s.mu.Lock()
		s.elect = el
		s.mu.Unlock()
		log.Info("coordinator: campaigning", "addr", s.addr)
		if err := el.Campaign(ctx, membership.CoordinatorValue(s.cfg.Name, s.addr)); err != nil {
			sess.Close()
			if ctx.Err() != nil {
				break
			}
			log.Warn("coordinator: campaign", "err", err)
			// Not straight back: each try grants a new lease.
			sleep(ctx, time.Second)
			continue
		}
		log.Info("coordinator: leading", "addr", s.addr)
		s.lead(ctx, sess, el)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if err := el.Resign(rctx); err != nil {
			log.Debug("coordinator: resign", "err", err)
		}
		cancel()
		sess.Close()
		if ctx.Err() == nil {
			log.Warn("coordinator: lost leadership; campaigning again")
		}
	}
	return nil
}

// lead runs jobs while sess leads: first every PENDING or RUNNING job in
// etcd (those of a dead leader included), then each one submitted.
func (s *Server) lead(ctx context.Context, sess *membership.Session, el *membership.Election) {
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		s.mu.Lock()
		s.fence, s.held = nil, map[string]string{}
		s.mu.Unlock()
	}()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-lctx.Done():
		}
	}()
	fence := el.Fence()
	s.mu.Lock()
	s.fence = &fence
	s.mu.Unlock()
	adopt := func() {
		recs, err := readJobRecords(lctx, s.cfg.Client, s.cfg.Logger)
		if err != nil {
			s.cfg.Logger.Warn("coordinator: list jobs", "err", err)
			return
		}
		for _, r := range recs {
			if strings.HasPrefix(r.GetId(), trialPrefix) {
				continue // its sweep takes it over
			}
			if st := r.GetState(); st == cohortv1.JobState_JOB_STATE_PENDING || st == cohortv1.JobState_JOB_STATE_RUNNING {
				s.start(lctx, &wg, &fence, r)
			}
		}
		sweeps, err := sweeprun.Unfinished(lctx, s.cfg.Client)
		if err != nil {
			s.cfg.Logger.Warn("coordinator: list sweeps", "err", err)
			return
		}
		for id, c := range sweeps {
			s.startSweep(lctx, &wg, &fence, id, c)
		}
	}
	// Sweeps are submitted straight to etcd (sweeprun.Submit): a new one
	// shows up as its "cluster" key.
	sweepsSubmitted := s.cfg.Client.Watch(clientv3.WithRequireLeader(lctx), sweeprun.SweepsPrefix, clientv3.WithPrefix(),
		clientv3.WithFilterDelete())
	adopt()
	if !s.cfg.Retention.off() {
		wg.Go(func() { s.pruneLoop(lctx, fence) })
	}
	for {
		select {
		case <-lctx.Done():
			return
		case wr, ok := <-sweepsSubmitted:
			if !ok || wr.Err() != nil {
				s.cfg.Logger.Warn("coordinator: watch sweeps ended; reading them again", "err", wr.Err())
				sleep(lctx, time.Second)
				sweepsSubmitted = s.cfg.Client.Watch(clientv3.WithRequireLeader(lctx), sweeprun.SweepsPrefix, clientv3.WithPrefix(),
					clientv3.WithFilterDelete())
				adopt()
				continue
			}
			for _, ev := range wr.Events {
				if strings.HasSuffix(string(ev.Kv.Key), "/cluster") {
					adopt()
					break
				}
			}
		case id := <-s.kick:
			rec, err := ReadJob(lctx, s.cfg.Client, id)
			if err != nil {
				s.cfg.Logger.Warn("coordinator: read submitted job", "job", id, "err", err)
				adopt()
				continue
			}
			if rec.GetState() == cohortv1.JobState_JOB_STATE_PENDING {
				s.start(lctx, &wg, &fence, rec)
			}
		}
	}
}

// start runs rec's job in a goroutine unless it already runs here.
func (s *Server) start(ctx context.Context, wg *sync.WaitGroup, fence *clientv3.Cmp, rec *cohortv1.Job) {
	id := rec.GetId()
	if _, ok := s.job(id); ok {
		return
	}
	log := s.cfg.Logger.With("job", id)
	// The record as it is now, with its revision: the job's writes must
	// not overwrite a cancellation that came after rec was read.
	rec, rev, err := readJobRevision(ctx, s.cfg.Client, id)
	if err != nil {
		log.Warn("coordinator: read the job to start it", "err", err)
		return
	}
	if st := rec.GetState(); st != cohortv1.JobState_JOB_STATE_PENDING && st != cohortv1.JobState_JOB_STATE_RUNNING {
		return
	}
	r, err := s.prepareRun(ctx, fence, rec, rev)
	if err != nil {
		log.Error("coordinator: job cannot run", "err", err)
		if r != nil && r.j != nil {
			if eerr := r.j.End(ctx, nil, err); eerr != nil {
				log.Warn("coordinator: record failure", "err", eerr)
			}
		}
		return
	}
	s.mu.Lock()
	s.jobs[id] = r.j
	s.mu.Unlock()
	wg.Go(func() {
		defer s.finish(id)
		r.run(ctx, log)
	})
}

// finish forgets a job that stopped running here and frees its workers.
func (s *Server) finish(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, id)
	s.releaseLocked(id, nil)
}

// releaseLocked frees the workers job id holds (those named, or all) and
// wakes the jobs waiting for workers.
func (s *Server) releaseLocked(id string, names []string) {
	freed := false
	for w, j := range s.held {
		if j == id && (names == nil || slices.Contains(names, w)) {
			delete(s.held, w)
			freed = true
		}
	}
	if freed {
		close(s.freed)
		s.freed = make(chan struct{})
	}
}

// pool wires a job into the Server's pool of workers: Claim holds up to n
// named workers no other job holds, all at once or none, Release frees
// some, PoolChanged fires when any job frees workers.
func (s *Server) pool(cfg *Config, id string) {
	cfg.Claim = func(names []string, n, atLeast int) ([]string, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var free []string
		for _, w := range names {
			if j, ok := s.held[w]; !ok || j == id {
				free = append(free, w)
			}
		}
		if len(free) < atLeast {
			return nil, len(free)
		}
		got := free[:min(len(free), n)]
		for _, w := range got {
			s.held[w] = id
		}
		return got, len(free)
	}
	cfg.Release = func(names []string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.releaseLocked(id, names)
	}
	cfg.PoolChanged = func() <-chan struct{} {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.freed
	}
}

// checkpointDir is where a job's checkpoints go.
func checkpointDir(spec *cohortv1.JobSpec) string {
	if d := spec.GetCheckpointDir(); d != "" {
		return d
	}
	return filepath.Join(spec.GetOutDir(), "checkpoints")
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
