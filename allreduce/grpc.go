package allreduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// Tuning of the gRPC transport, measured with BenchmarkGRPCRing and
// scripts/bench-allreduce.sh on a 2-core VM, where the ring is CPU-bound:
//   - HTTP/2's default 64 KiB windows stall a 512 KiB chunk on every round
//     trip, hence the large windows.
//   - gRPC reads and writes a connection through buffers of ReadBufferSize
//     and WriteBufferSize, one read or write system call per buffer. At
//     64 KiB a 64 MiB allreduce of 4 ranks made about 14,000 reads and
//     writes per call; with 1 MiB buffers on the path that carries chunks
//     (the sender's writes, the receiver's reads) about 1,900, as many as
//     the raw TCP ring (strace -c), for about 10% less CPU per call than
//     64 or 256 KiB. Unbuffered I/O, which would skip gRPC's two copies of
//     every byte, cost 35-60% more CPU in system calls: here a system call
//     costs more than copying 16 KiB. The read buffer is taken from a pool
//     only while data waits in it, and gRPC releases a connection's write
//     buffer after each flush (its default now), so idle connections hold
//     neither.
const (
	// DefaultLanes is the number of streams, each on its own connection, of
	// one link. One: on 2 cores, in alternating runs of BenchmarkGRPCRing,
	// 2 lanes took about 10% more CPU per call for about 10% less
	// bandwidth, and 4 lanes were no better than 1. Each connection adds a
	// writer and a reader goroutine and their system calls, which buys
	// nothing where the cores are busy summing and copying. On a real
	// network where one TCP flow is window-bound, set GRPCConfig.Lanes.
	DefaultLanes = 1
	maxLanes     = 16
	windowSize   = 8 << 20
	connWindow   = 16 << 20
	// chunkIOBuffer sizes the I/O buffers on the direction chunks travel;
	// ioBufferSize the other direction (acks, window updates) and the other
	// services of a server built with ServerOptions.
	chunkIOBuffer = 1 << 20
	ioBufferSize  = 64 << 10
	maxFrame      = frameHeader + maxJobLen + 3 + MaxChunkBytes
	// laneDepth is how many received chunks a lane buffers for Recv.
	laneDepth = 4
)

// ServerOptions returns the grpc.ServerOptions the Ring service needs to be
// fast: large flow-control windows and buffers, and a receive limit that
// fits the largest chunk. They also bound what a peer can hold: streams
// per connection, idle and dead connections, and the wait for a stream's
// hello (HelloTimeout).
func ServerOptions() []grpc.ServerOption {
	const (
		// Every lane dials a connection of its own (openLane), so a
		// connection carries one stream; 4 x maxLanes leaves room for
		// other transports that share connections.
		maxStreams = 4 * maxLanes
		// A connection without a stream is closed after maxIdle; one
		// silent for pingAfter is pinged and closed without an answer in
		// pingTimeout (generous: the peer may be busy training).
		maxIdle     = 5 * time.Minute
		pingAfter   = time.Minute
		pingTimeout = 20 * time.Second
		// minPing: a client pinging more often gets GOAWAY. The ring's
		// dialers set no keepalive; one that does must use Time >= minPing.
		minPing = 10 * time.Second
	)
	return []grpc.ServerOption{
		grpc.InitialWindowSize(windowSize),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ReadBufferSize(chunkIOBuffer),
		grpc.WriteBufferSize(ioBufferSize),
		grpc.MaxRecvMsgSize(maxFrame),
		experimental.BufferPool(&bufferPool{}),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: maxIdle, Time: pingAfter, Timeout: pingTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPing, PermitWithoutStream: true}),
		grpc.ChainStreamInterceptor(helloDeadline(HelloTimeout)),
	}
}

// Server is the receiving half of the gRPC transport: it serves
// cohort.v1.Ring on a process's grpc.Server and hands each incoming stream
// to the GRPCTransport of its job, generation and rank. One Server serves
// every generation (and every rank) of the process. It is safe for
// concurrent use.
type Server struct {
	mu      sync.Mutex
	newest  map[string]uint64 // job -> newest generation seen
	ranks   map[rankKey]*GRPCTransport
	changed chan struct{} // closed and replaced whenever ranks changes
}

type rankKey struct {
	job  string
	gen  uint64
	rank int
}

// NewServer returns a Server with no transports.
func NewServer() *Server {
	return &Server{newest: map[string]uint64{}, ranks: map[rankKey]*GRPCTransport{}, changed: make(chan struct{})}
}

// forgetJobLocked drops job's newest generation once no rank of the job is
// left here, so a long-lived worker (a sweep's trials) does not keep an
// entry for every job it ever ran. A stream of an older generation that
// comes after that is no longer refused at once: it waits (await) for a
// transport that never comes.
func (s *Server) forgetJobLocked(job string) {
	for k := range s.ranks {
		if k.job == job {
			return
		}
	}
	delete(s.newest, job)
}

// Register adds the Ring service to a grpc.Server, which should have been
// built with ServerOptions.
func (s *Server) Register(reg grpc.ServiceRegistrar) {
	cohortv1.RegisterRingServer(reg, ringService{s: s})
}

// ringService adapts Server to the generated interface, keeping the
// generated method off Server's API.
type ringService struct {
	cohortv1.UnimplementedRingServer
	s *Server
}

func (h ringService) Stream(st grpc.BidiStreamingServer[cohortv1.Chunk, cohortv1.Ack]) error {
	return rpcerr.ToStatus(h.s.serve(st))
}

// await returns the transport of (job, gen, rank), waiting up to
// DefaultTimeout for it to be registered: a peer that reached the new
// generation first must not be turned away. A generation older than one
// already registered for the job is stale: refused at once.
func (s *Server) await(ctx context.Context, job string, gen uint64, rank int) (*GRPCTransport, error) {
	timer := time.NewTimer(DefaultTimeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		newest, t, changed := s.newest[job], s.ranks[rankKey{job, gen, rank}], s.changed
		s.mu.Unlock()
		switch {
		case gen < newest:
			return nil, fmt.Errorf("allreduce: ring stream for job %q rank %d: generation %d, newest is %d: %w",
				job, rank, gen, newest, rpcerr.ErrStaleGeneration)
		case t != nil:
			return t, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, fmt.Errorf("allreduce: ring stream for job %q generation %d: no rank %d here after %v: %w",
				job, gen, rank, DefaultTimeout, rpcerr.ErrUnavailable)
		case <-ctx.Done():
			return nil, fmt.Errorf("allreduce: ring stream: %w", ctx.Err())
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// serve runs one incoming lane: hello, ack, then chunks into the lane's
// queue until the sender closes it or either side goes away.
func (s *Server) serve(st grpc.BidiStreamingServer[cohortv1.Chunk, cohortv1.Ack]) error {
	hello, err := st.Recv()
	if err != nil {
		return fmt.Errorf("allreduce: ring stream: read hello: %w", err)
	}
	if hello.GetPhase() != cohortv1.Phase_PHASE_HELLO || len(hello.GetPayload()) != 0 {
		return fmt.Errorf("allreduce: ring stream: first chunk is %v with %d payload bytes, want an empty hello: %w",
			hello.GetPhase(), len(hello.GetPayload()), rpcerr.ErrInvalidArgument)
	}
	t, err := s.await(st.Context(), hello.GetJob(), hello.GetGeneration(), int(hello.GetTo()))
	if err != nil {
		return err
	}
	// The token before the lane is claimed: a caller without it cannot
	// take a peer's lane (which would turn the real peer away) or feed
	// the ring its values.
	if len(t.cfg.Token) > 0 {
		if err := cohortv1.CheckToken(hello.GetToken(), t.cfg.Token); err != nil {
			return fmt.Errorf("allreduce: ring stream for job %q generation %d: hello from rank %d: %w",
				hello.GetJob(), hello.GetGeneration(), hello.GetFrom(), err)
		}
	}
	l, err := t.attach(hello)
	if err != nil {
		return err
	}
	// pump blocks in RecvMsg, which only the stream's end interrupts: when
	// the transport closes, returning from the handler ends the stream,
	// and that ends pump.
	done := make(chan error, 1)
	go func() {
		err := t.pump(st, hello, l)
		l.end(err)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-t.ctx.Done():
		return fmt.Errorf("allreduce: ring stream from rank %d: receiving transport closed: %w", hello.GetFrom(), rpcerr.ErrUnavailable)
	}
}

// GRPCConfig describes one rank's gRPC transport for one generation.
type GRPCConfig struct {
	Job        string
	Generation uint64
	Rank       int
	// Peers holds the address of every rank's Ring service, by rank.
	Peers []string
	// Lanes is the number of streams per link, each on its own
	// connection; every rank must use the same. 0 means DefaultLanes.
	Lanes int
	// Timeout bounds connecting to a peer and the graceful part of Close.
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// DialOptions are added to the transport's own (plaintext credentials,
	// windows, buffers): pass grpc.WithTransportCredentials for TLS.
	DialOptions []grpc.DialOption
	// Token is the generation's secret (GenerationPlan.token, at most
	// cohortv1.MaxTokenLen bytes): sent in every hello, and required of
	// every incoming hello, compared in constant time. Empty: none sent,
	// none required (tests, plans of coordinators that predate tokens).
	Token []byte
}

// GRPCTransport is a Transport over cohort.v1.Ring streams: rank a sends to
// rank b on Lanes streams it opens to b's Server, message k on lane k mod
// Lanes, and b reads the lanes in the same order, so order is kept while
// the lanes' connections work in parallel. Links are opened on first use.
// Send and Recv follow the Transport contract; Close must wait until they
// have returned.
type GRPCTransport struct {
	cfg    GRPCConfig
	srv    *Server
	ctx    context.Context // ends every stream on Close
	cancel context.CancelFunc

	mu  sync.Mutex
	out map[int]*outLink
	in  [][]*inLane // [from][lane]
	// inNext is Recv's lane cursor per peer; only Recv touches it and the
	// Transport contract allows one Recv per peer at a time.
	inNext []int

	frames bufferPool // gRPC's frame buffers on this rank's connections
}

// Transport registers and returns the rank's transport for cfg's job and
// generation. Streams of older generations of the job are refused from now
// on. Close it when the generation ends.
func (s *Server) Transport(cfg GRPCConfig) (*GRPCTransport, error) {
	if cfg.Lanes == 0 {
		cfg.Lanes = DefaultLanes
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	n := len(cfg.Peers)
	switch {
	case n == 0:
		return nil, errors.New("allreduce: grpc transport: no peers")
	case cfg.Rank < 0 || cfg.Rank >= n:
		return nil, fmt.Errorf("allreduce: grpc transport: rank %d, want in [0, %d)", cfg.Rank, n)
	case cfg.Lanes < 1 || cfg.Lanes > maxLanes:
		return nil, fmt.Errorf("allreduce: grpc transport: lanes %d, want in [1, %d]", cfg.Lanes, maxLanes)
	case len(cfg.Job) > maxJobLen:
		return nil, fmt.Errorf("allreduce: grpc transport: job id of %d bytes, want <= %d", len(cfg.Job), maxJobLen)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("allreduce: grpc transport: timeout %v, want > 0", cfg.Timeout)
	case len(cfg.Token) > cohortv1.MaxTokenLen:
		return nil, fmt.Errorf("allreduce: grpc transport: token of %d bytes, want <= %d", len(cfg.Token), cohortv1.MaxTokenLen)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &GRPCTransport{cfg: cfg, srv: s, ctx: ctx, cancel: cancel, out: map[int]*outLink{},
		in: make([][]*inLane, n), inNext: make([]int, n)}
	for from := range t.in {
		t.in[from] = make([]*inLane, cfg.Lanes)
		for k := range t.in[from] {
			t.in[from][k] = &inLane{up: make(chan struct{}), msgs: make(chan *recvFrame, laneDepth), down: make(chan struct{})}
		}
	}
	key := rankKey{cfg.Job, cfg.Generation, cfg.Rank}
	s.mu.Lock()
	defer s.mu.Unlock()
	if newest := s.newest[cfg.Job]; cfg.Generation < newest {
		cancel()
		return nil, fmt.Errorf("allreduce: grpc transport: job %q generation %d, newest is %d: %w",
			cfg.Job, cfg.Generation, newest, rpcerr.ErrStaleGeneration)
	}
	if s.ranks[key] != nil {
		cancel()
		return nil, fmt.Errorf("allreduce: grpc transport: job %q generation %d rank %d registered twice", cfg.Job, cfg.Generation, cfg.Rank)
	}
	s.newest[cfg.Job] = cfg.Generation
	s.ranks[key] = t
	s.notifyLocked()
	return t, nil
}

// inLane is the receiving end of one lane.
type inLane struct {
	up       chan struct{} // closed once a stream attaches
	msgs     chan *recvFrame
	down     chan struct{} // closed when the stream ends; err says why
	err      error
	attached bool // guarded by GRPCTransport.mu
}

func (l *inLane) end(err error) {
	if err == nil {
		err = errors.New("peer closed the lane")
	}
	l.err = err
	close(l.down)
}

// attach claims the lane a hello names.
func (t *GRPCTransport) attach(h *cohortv1.Chunk) (*inLane, error) {
	from, lane := int(h.GetFrom()), int(h.GetLane())
	switch {
	case from >= len(t.in) || from == t.cfg.Rank:
		return nil, fmt.Errorf("allreduce: ring stream: hello from rank %d to rank %d of %d: %w", from, t.cfg.Rank, len(t.in), rpcerr.ErrInvalidArgument)
	case int(h.GetLanes()) != t.cfg.Lanes || lane >= t.cfg.Lanes:
		return nil, fmt.Errorf("allreduce: ring stream: hello for lane %d of %d, this rank uses %d lanes: %w", lane, h.GetLanes(), t.cfg.Lanes, rpcerr.ErrInvalidArgument)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.in[from][lane]
	if l.attached {
		return nil, fmt.Errorf("allreduce: ring stream: lane %d from rank %d opened twice: %w", lane, from, rpcerr.ErrInvalidArgument)
	}
	l.attached = true
	close(l.up)
	return l, nil
}

// pump acks the hello, then queues the lane's chunks for Recv.
func (t *GRPCTransport) pump(st grpc.BidiStreamingServer[cohortv1.Chunk, cohortv1.Ack], h *cohortv1.Chunk, l *inLane) error {
	if err := st.Send(&cohortv1.Ack{Generation: t.cfg.Generation}); err != nil {
		return fmt.Errorf("allreduce: ring stream: ack: %w", err)
	}
	for {
		f := new(recvFrame)
		if err := st.RecvMsg(f); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("allreduce: ring stream from rank %d: %w", h.GetFrom(), err)
		}
		m := &f.chunk
		if m.GetJob() != h.GetJob() || m.GetGeneration() != h.GetGeneration() || m.GetFrom() != h.GetFrom() || m.GetTo() != h.GetTo() {
			f.data.Free()
			return fmt.Errorf("allreduce: ring stream from rank %d: chunk of job %q generation %d from %d to %d on a lane opened for job %q generation %d from %d to %d: %w",
				h.GetFrom(), m.GetJob(), m.GetGeneration(), m.GetFrom(), m.GetTo(), h.GetJob(), h.GetGeneration(), h.GetFrom(), h.GetTo(), rpcerr.ErrInvalidArgument)
		}
		select {
		case l.msgs <- f:
		case <-t.ctx.Done():
			f.data.Free()
			return fmt.Errorf("allreduce: ring stream from rank %d: receiving transport closed: %w", h.GetFrom(), rpcerr.ErrUnavailable)
		case <-st.Context().Done():
			f.data.Free()
			return fmt.Errorf("allreduce: ring stream from rank %d: %w", h.GetFrom(), st.Context().Err())
		}
	}
}

// Recv returns the next message from a peer.
func (t *GRPCTransport) Recv(ctx context.Context, from int) (Message, error) {
	if from < 0 || from >= len(t.in) || from == t.cfg.Rank {
		return Message{}, fmt.Errorf("allreduce: grpc recv: rank %d: peer %d out of range [0, %d) or self", t.cfg.Rank, from, len(t.in))
	}
	k := t.inNext[from]
	t.inNext[from] = (k + 1) % t.cfg.Lanes
	l := t.in[from][k]
	fail := func(err error) (Message, error) {
		return Message{}, fmt.Errorf("allreduce: grpc recv %d<-%d lane %d: %w", t.cfg.Rank, from, k, err)
	}
	select {
	case <-l.up:
	case <-ctx.Done():
		return fail(fmt.Errorf("waiting for the peer to connect: %w", ctx.Err()))
	case <-t.ctx.Done():
		return fail(errors.New("transport closed"))
	}
	var f *recvFrame
	select {
	case f = <-l.msgs:
	case <-l.down:
		// Chunks queued before the stream ended are still good.
		select {
		case f = <-l.msgs:
		default:
			return fail(l.err)
		}
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	m := &f.chunk
	return Message{Job: m.GetJob(), Generation: m.GetGeneration(), Step: m.GetStep(), Phase: phaseOf(m.GetPhase()),
		Round: int(m.GetRound()), Chunk: int(m.GetChunk()), frags: f.frags, done: f.data.Free}, nil
}

func phaseOf(p cohortv1.Phase) Phase {
	switch p {
	case cohortv1.Phase_PHASE_REDUCE_SCATTER:
		return ReduceScatter
	case cohortv1.Phase_PHASE_ALL_GATHER:
		return AllGather
	}
	return 0 // refused by the Ring's check
}

func protoPhase(p Phase) cohortv1.Phase {
	switch p {
	case ReduceScatter:
		return cohortv1.Phase_PHASE_REDUCE_SCATTER
	case AllGather:
		return cohortv1.Phase_PHASE_ALL_GATHER
	}
	return cohortv1.Phase_PHASE_UNSPECIFIED
}
