// Package worker is cohort's training agent: a process that registers in
// etcd under a lease, waits for a generation plan that names it, streams
// its shard of customer rows from the coordinator, and trains its replica
// of the model (model.TrainShard) with gradients summed over the ring
// allreduce. Rank 0 reports each epoch and the final model to the
// coordinator; any rank reports the error that stops it.
//
// A worker whose allreduce fails (a peer died) keeps its process and the
// state after its last completed step, reports the interruption and waits
// for the coordinator's next generation, which it resumes from that state.
// A newer plan of its job (a worker joined) ends a generation the same way,
// at the next allreduce.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/allreduce"
	"github.com/cohort-clv/cohort/internal/proc"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/telemetry"
)

// Config configures a worker.
type Config struct {
	// Name is the worker's name in etcd (membership.ValidName); required.
	Name string
	// Client talks to etcd; required.
	Client *clientv3.Client
	// TTL is the lease TTL (default membership.DefaultTTL).
	TTL time.Duration
	// Listen is the address of the worker's gRPC server (the Ring
	// service); default "127.0.0.1:0".
	Listen string
	// Advertise is the host:port peers dial to reach the Ring service
	// (default: the address Listen bound, which must then not be a
	// wildcard such as 0.0.0.0).
	Advertise string
	// HealthAddr is the address of /healthz and /metrics; "" turns the
	// server off.
	HealthAddr string
	// HealthAdvertise is the host or host:port a scraper dials to reach
	// HealthAddr, published as health_addr in the worker's status. Default:
	// the bound address; when that is a wildcard (0.0.0.0, [::]), the
	// Advertise host, or else the host name, with the bound port.
	HealthAdvertise string
	// NewBackend returns the compute backend of a generation (default: the
	// CPU backend with that many threads, 0 = every core).
	NewBackend func(threads int) kernels.Backend
	// Logger gets the worker's logs (default slog.Default()).
	Logger *slog.Logger
	// Ready, when set, is called once the worker is registered (again
	// after each rejoin).
	Ready func(ringAddr string)
	// ExitOnLeaseLoss makes Run return when the worker's lease is lost
	// (cut off from etcd longer than TTL). By default it registers again
	// under a new lease as soon as etcd answers, keeping its process, its
	// ring server and the training states it holds, and the coordinator
	// takes it into the next generation like any worker that joins.
	ExitOnLeaseLoss bool
}

func (c *Config) fill() error {
	if c.Client == nil {
		return errors.New("no etcd client")
	}
	if err := membership.ValidName(c.Name); err != nil {
		return err
	}
	if c.TTL == 0 {
		c.TTL = membership.DefaultTTL
	}
	if c.TTL < 0 {
		return fmt.Errorf("lease TTL %v, want > 0", c.TTL)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.NewBackend == nil {
		c.NewBackend = func(threads int) kernels.Backend { return cpu.New(cpu.Options{Threads: threads}) }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Run registers the worker and trains every generation that names it,
// until ctx is done (a clean exit: it returns nil), or its lease is lost
// and cfg.ExitOnLeaseLoss is set.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.fill(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	w := &worker{cfg: cfg, log: cfg.Logger.With("worker", cfg.Name)}
	err := w.run(ctx)
	if ctx.Err() != nil {
		// Stopping tears down the session and streams; what fails then is
		// the shutdown, not the worker.
		return nil
	}
	return err
}

type worker struct {
	cfg  Config
	log  *slog.Logger
	sess atomic.Pointer[membership.Session] // the current registration's session; nil before the first
	ring *allreduce.Server
	addr string
	// status publishes the machine and activity (status.go); nil until registered.
	status *statusPublisher
	// metrics is what /metrics exports besides the runtime (metrics.go);
	// nil without a HealthAddr.
	metrics *metrics
	// resume is the state the last generation was interrupted at; only
	// the training loop's goroutine (trainPlans) touches it.
	resume resumeStates
}

func (w *worker) run(ctx context.Context) error {
	lis, err := net.Listen("tcp", w.cfg.Listen)
	if err != nil {
		return fmt.Errorf("worker %s: listen: %w", w.cfg.Name, err)
	}
	gs := grpc.NewServer(allreduce.ServerOptions()...)
	w.ring = allreduce.NewServer()
	w.ring.Register(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	defer func() { gs.Stop(); <-served }()
	w.addr = lis.Addr().String()
	if w.cfg.Advertise != "" {
		w.addr = w.cfg.Advertise
	} else if ta, ok := lis.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		return fmt.Errorf("worker %s: listening on %s, a wildcard: set the address peers dial (--advertise)", w.cfg.Name, w.addr)
	}

	st := &cohortv1.WorkerStatus{RingAddr: w.addr, Pid: int64(os.Getpid())}
	if w.cfg.HealthAddr != "" {
		hctx, stop := context.WithCancel(ctx)
		reg := telemetry.NewRegistry()
		m, err := newMetrics(reg, telemetry.TrainingOptions{})
		if err != nil {
			stop()
			return fmt.Errorf("worker %s: %w", w.cfg.Name, err)
		}
		w.metrics = m
		hs, err := telemetry.Listen(telemetry.ServerConfig{Addr: w.cfg.HealthAddr, Gatherer: reg,
			Logger: w.log, Health: w.health})
		if err != nil {
			stop()
			return fmt.Errorf("worker %s: %w", w.cfg.Name, err)
		}
		st.HealthAddr = publishedHealthAddr(hs.Addr(), w.cfg.HealthAdvertise, w.addr, os.Hostname)
		hdone := make(chan error, 1)
		go func() { hdone <- hs.Serve(hctx) }()
		defer func() { stop(); <-hdone }()
	}
	rejoining := false
	var wait time.Duration
	for {
		err := w.register(ctx, st)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrLeaseLost) && !w.cfg.ExitOnLeaseLoss:
			// Cut off from etcd longer than the TTL: the coordinator has
			// moved on without this worker. Register again once etcd
			// answers; the next generation takes the worker back in.
			rejoining, wait = true, time.Second
			w.log.Warn("worker: lease lost; registering again", "err", err)
		case rejoining:
			// etcd may still be out of reach: keep trying, less often.
			wait = min(2*wait, maxRejoinWait)
			w.log.Warn("worker: register again", "err", err, "next_try_in", wait)
		default:
			return err // the first registration failed: a setup error
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// maxRejoinWait bounds the pause between tries to register again.
const maxRejoinWait = 8 * time.Second

// ErrLeaseLost is why Run returns with Config.ExitOnLeaseLoss when the
// worker's lease ended (it was cut off from etcd longer than the TTL).
var ErrLeaseLost = errors.New("lease lost")

// register runs one registration: a session (lease), the worker key, the
// status publisher and the plan watch, until ctx ends or the lease is lost.
func (w *worker) register(ctx context.Context, st *cohortv1.WorkerStatus) error {
	sess, err := membership.NewSession(ctx, w.cfg.Client, membership.WithTTL(w.cfg.TTL))
	if err != nil {
		return fmt.Errorf("worker %s: %w", w.cfg.Name, err)
	}
	w.sess.Store(sess)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		// Revoking the lease deletes the registration at once, rather
		// than a TTL later.
		if _, err := w.cfg.Client.Revoke(cctx, sess.Lease()); err != nil {
			w.log.Debug("worker: revoke lease", "err", err)
		}
		sess.Orphan()
	}()
	status, err := protojson.Marshal(st)
	if err != nil {
		return fmt.Errorf("worker %s: encode status: %w", w.cfg.Name, err)
	}
	regn, err := w.registerName(ctx, sess, status)
	if err != nil {
		return err
	}
	defer w.startStatus(ctx, regn, st)() // machine readings for cohort top (status.go)
	rev, err := registrationRevision(ctx, w.cfg.Client, w.cfg.Name)
	if err != nil {
		return fmt.Errorf("worker %s: %w", w.cfg.Name, err)
	}
	if w.metrics != nil {
		w.metrics.registrations.Inc()
	}
	w.log.Info("worker: registered", "ring", w.addr, "health", st.HealthAddr, "ttl", sess.TTL())
	if w.cfg.Ready != nil {
		w.cfg.Ready(w.addr)
	}
	return w.watch(ctx, sess, rev+1)
}

// releaseMargin is how long past the remaining TTL of its previous
// incarnation's lease a worker waits for etcd to expire it: etcd checks
// for expired leases twice a second and revokes them through raft.
const releaseMargin = time.Second

// registerName registers the worker's name under sess. A name still held
// by this worker's previous incarnation (it crashed, or cohort up
// restarted, and its lease has not expired yet) is waited for, up to that
// lease's remaining TTL plus releaseMargin, instead of failing and having
// a supervisor restart the worker again and again until it expires. A name
// that another live worker holds fails at once.
func (w *worker) registerName(ctx context.Context, sess *membership.Session, status []byte) (*membership.Registration, error) {
	regn, err := membership.Register(ctx, sess, w.cfg.Name, status)
	var taken *membership.NameTakenError
	if !errors.As(err, &taken) {
		if err != nil {
			return nil, fmt.Errorf("worker %s: %w", w.cfg.Name, err)
		}
		return regn, nil
	}
	addr, previous := w.previousIncarnation(taken.Holder)
	if !previous {
		return nil, w.nameClash(addr, taken)
	}
	remaining, err := membership.LeaseRemaining(ctx, w.cfg.Client, taken.Holder.Lease)
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", w.cfg.Name, err)
	}
	if remaining > 0 {
		wait := remaining + releaseMargin
		w.log.Warn(fmt.Sprintf("worker: waiting up to %v for the previous registration's lease to expire", wait),
			"lease", fmt.Sprintf("%x", int64(taken.Holder.Lease)), "previous", addr)
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := membership.WaitReleased(wctx, w.cfg.Client, w.cfg.Name, taken.Holder.Lease)
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("worker %s: %w", w.cfg.Name, ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Still refreshed after a whole TTL: a live process, after all.
			return nil, w.nameClash(addr, taken)
		}
		if err != nil {
			return nil, fmt.Errorf("worker %s: %w", w.cfg.Name, err)
		}
	}
	regn, err = membership.Register(ctx, sess, w.cfg.Name, status)
	if errors.As(err, &taken) {
		addr, _ := w.previousIncarnation(taken.Holder)
		return nil, w.nameClash(addr, taken)
	}
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", w.cfg.Name, err)
	}
	return regn, nil
}

// previousIncarnation reads the status of holder, the registration that
// holds this worker's name, and reports its ring address and whether it
// is this worker's own previous incarnation: the same ring address, or
// the same host with the process it recorded gone (or this very process,
// as after a container restart), since a restart with --listen's port 0
// gets a new port.
func (w *worker) previousIncarnation(holder membership.Member) (addr string, previous bool) {
	st := &cohortv1.WorkerStatus{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(holder.Status, st); err != nil {
		return "", false
	}
	addr = st.GetRingAddr()
	if addr == "" {
		return "", false
	}
	if addr == w.addr {
		return addr, true
	}
	theirs, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, false
	}
	ours, _, err := net.SplitHostPort(w.addr)
	if err != nil || theirs != ours {
		return addr, false
	}
	pid := int(st.GetPid())
	return addr, pid > 0 && (pid == os.Getpid() || !proc.Alive(pid))
}

// nameClash is the error of a name another live worker holds.
func (w *worker) nameClash(addr string, taken *membership.NameTakenError) error {
	where := "is live"
	if addr != "" {
		where = "is live at " + addr
	}
	return fmt.Errorf("worker %s: a worker named %s %s; pick another --name: %w", w.cfg.Name, w.cfg.Name, where, taken)
}

// registrationRevision reads the worker's registration back and returns
// the revision it was written at. A registration that is missing right
// after it was written (its lease already ended) is an error wrapping
// membership.ErrNotRegistered.
func registrationRevision(ctx context.Context, cli *clientv3.Client, name string) (int64, error) {
	key := membership.WorkerKey(name)
	reg, err := cli.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("read registration back: %w", err)
	}
	if len(reg.Kvs) == 0 {
		return 0, fmt.Errorf("read registration back: %s is gone: %w", key, membership.ErrNotRegistered)
	}
	return reg.Kvs[0].ModRevision, nil
}

// health fails until the worker holds its first lease, and whenever its
// lease is gone. The two answers differ because they mean different things
// to an operator: a worker still registering (etcd slow to answer at start)
// was never a member, while one whose lease ended was dropped from its job.
func (w *worker) health(context.Context) error {
	if w.sess.Load() == nil {
		return errors.New("registering with etcd")
	}
	if w.lost() {
		return errors.New("lease lost")
	}
	return nil
}

// watch follows generation plans from revision rev on (a plan can only
// name this worker after it registered) and trains those that name it.
// The watch outlives an etcd member that stops or loses its leader
// (membership.Follow); it ends when ctx does or the lease is lost.
//
// The watch's handler only hands the plans that name this worker to
// trainPlans, a loop that watch starts and joins before it returns: a
// handler that trained would leave the watch unread for a generation
// (hours) while etcd's client buffered every write under the jobs prefix.
func (w *worker) watch(ctx context.Context, sess *membership.Session, rev int64) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-fctx.Done():
		}
	}()
	plans := newLatestPlan()
	tctx, stopTraining := context.WithCancel(ctx)
	defer stopTraining()
	trained := make(chan struct{})
	go func() {
		defer close(trained)
		w.trainPlans(tctx, plans, sess.Done(), w.generation)
	}()
	defer func() {
		select {
		case <-sess.Done():
			// The lease is gone: the generation in progress stops by
			// itself, keeping its state for the next registration's
			// generation and reporting the interruption.
		default:
			stopTraining()
		}
		<-trained
	}()
	onEvent := w.planHandler(plans)
	for {
		err := membership.Follow(fctx, w.cfg.Client, membership.JobsPrefix, rev, onEvent, clientv3.WithPrefix())
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case w.lost():
			return fmt.Errorf("worker %s: lease %x: %w", w.cfg.Name, sess.Lease(), ErrLeaseLost)
		case errors.Is(err, rpctypes.ErrCompacted):
			// Plans written meanwhile are gone from etcd's history; one
			// that named this worker fails its ring without it, and the
			// coordinator plans again.
			w.log.Warn("worker: plans compacted while not watching; following from now", "err", err)
			rev = 0
		default:
			return fmt.Errorf("worker %s: follow plans: %w", w.cfg.Name, err)
		}
	}
}

// assignment is a plan that names this worker: the plan, the worker's
// rank in it and the revision the plan was written at.
type assignment struct {
	plan *cohortv1.GenerationPlan
	rank int
	rev  int64
}

// latestPlan holds the newest assignment the training loop has not taken
// yet. It has one slot: a newer plan replaces an unread older one, which
// the coordinator has given up on (a newer generation supersedes its
// predecessor, and a worker is in one job at a time).
type latestPlan chan assignment

func newLatestPlan() latestPlan { return make(latestPlan, 1) }

// put stores a, replacing an unread assignment, which it returns (ok
// true). It never blocks. One goroutine puts (the watch handler); the
// training loop takes concurrently.
func (l latestPlan) put(a assignment) (replaced assignment, ok bool) {
	for {
		select {
		case l <- a:
			return replaced, ok
		default:
		}
		select {
		case replaced = <-l:
			ok = true
		default: // the loop took it meanwhile
		}
	}
}

// planHandler returns the plan watch's handler: it puts each plan that
// names this worker into plans and returns at once, whether or not a
// generation is training.
func (w *worker) planHandler(plans latestPlan) func(*clientv3.Event) error {
	return func(ev *clientv3.Event) error {
		if ev.Type != clientv3.EventTypePut || !strings.Contains(string(ev.Kv.Key), "/gen/") {
			return nil
		}
		plan := &cohortv1.GenerationPlan{}
		if err := cohortv1.UnmarshalRecord(ev.Kv.Value, plan); err != nil {
			w.log.Warn("worker: unreadable plan", "key", string(ev.Kv.Key), "err", err)
			return nil
		}
		rank := rankOf(plan, w.cfg.Name)
		if rank < 0 {
			return nil
		}
		if old, ok := plans.put(assignment{plan: plan, rank: rank, rev: ev.Kv.ModRevision}); ok {
			w.log.Info("worker: plan superseded before it trained",
				"job", old.plan.GetJobId(), "generation", old.plan.GetGeneration(),
				"by_job", plan.GetJobId(), "by_generation", plan.GetGeneration())
		}
		return nil
	}
}

// trainPlans trains the assignments put into plans, one at a time, until
// ctx ends (which also stops the generation in progress) or lost is closed
// (the lease ended: it trains no plan after that; the generation in
// progress stops by itself). train is w.generation, or a fake in tests.
// It is the only goroutine that trains, so the only one that touches
// w.resume.
func (w *worker) trainPlans(ctx context.Context, plans latestPlan, lost <-chan struct{},
	train func(ctx context.Context, plan *cohortv1.GenerationPlan, rank int, rev int64)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-lost:
			return
		case a := <-plans:
			select {
			case <-ctx.Done():
				return
			case <-lost:
				return
			default:
			}
			train(ctx, a.plan, a.rank, a.rev)
		}
	}
}

// lost says whether the worker's current lease is gone (or not granted
// yet).
func (w *worker) lost() bool {
	sess := w.sess.Load()
	if sess == nil {
		return true
	}
	select {
	case <-sess.Done():
		return true
	default:
		return false
	}
}

func rankOf(p *cohortv1.GenerationPlan, name string) int {
	for i, pw := range p.GetWorkers() {
		if pw.GetName() == name {
			return i
		}
	}
	return -1
}
