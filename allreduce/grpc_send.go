package allreduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// outLink is the sending end of a link: its lanes and their connections.
type outLink struct {
	ctx    context.Context // cancelled to unblock a stuck SendMsg
	cancel context.CancelFunc
	conns  []*grpc.ClientConn
	lanes  []grpc.BidiStreamingClient[cohortv1.Chunk, cohortv1.Ack]
	next   int   // lane of the next message; only Send touches it
	err    error // sticky: a link that failed once stays failed
	// inflight holds, oldest first, the signals of payloads gRPC may still
	// read; only the peer's one Send (or flush) at a time touches it.
	inflight []writtenSignal
}

// sendDepth is how many payloads a link may have in gRPC's hands at once:
// enough to keep every lane's connection busy while the sender waits.
const sendDepth = 4

// Send sends msg to a peer, opening the link on first use. gRPC writes a
// large payload straight from msg's memory after SendMsg returns, so up to
// sendDepth payloads per link may still be in use when Send returns; the
// Ring calls flush before it returns, which waits for them (see flusher).
func (t *GRPCTransport) Send(ctx context.Context, to int, msg Message) error {
	if to < 0 || to >= len(t.cfg.Peers) || to == t.cfg.Rank {
		return fmt.Errorf("allreduce: grpc send: rank %d: peer %d out of range [0, %d) or self", t.cfg.Rank, to, len(t.cfg.Peers))
	}
	l, err := t.link(ctx, to)
	if err != nil {
		return fmt.Errorf("allreduce: grpc send %d->%d: %w", t.cfg.Rank, to, err)
	}
	if l.err != nil {
		return fmt.Errorf("allreduce: grpc send %d->%d: %w", t.cfg.Rank, to, l.err)
	}
	k := l.next
	l.next = (k + 1) % len(l.lanes)
	st := l.lanes[k]
	m := &cohortv1.Chunk{Job: msg.Job, Generation: msg.Generation, Step: msg.Step, Phase: protoPhase(msg.Phase),
		Round: uint32(msg.Round), Chunk: uint32(msg.Chunk), From: uint32(t.cfg.Rank), To: uint32(to), Payload: msg.Payload}
	var frame any = m // small payloads: the codec copies them
	if !mem.IsBelowBufferPoolingThreshold(cap(msg.Payload)) {
		written := make(writtenSignal)
		frame = &sendFrame{chunk: m, written: written}
		l.inflight = append(l.inflight, written)
	}
	// SendMsg takes no context and blocks on flow control while the peer
	// reads nothing: cancelling the link is what unblocks it (and makes
	// gRPC drop what it has not written).
	stop := context.AfterFunc(ctx, l.cancel)
	err = st.SendMsg(frame)
	if err == nil {
		err = l.wait(ctx, sendDepth)
	}
	if !stop() {
		err = ctx.Err()
	} else if errors.Is(err, io.EOF) {
		// The server ended the stream; its status says why.
		err = rpcerr.FromStatus(st.RecvMsg(new(cohortv1.Ack)))
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("peer closed the lane")
		}
	}
	if err != nil {
		l.abort(err)
		return fmt.Errorf("allreduce: grpc send %d->%d lane %d: %w", t.cfg.Rank, to, k, err)
	}
	return nil
}

// abortWait bounds how long a failed link waits for gRPC to let go of the
// payloads it holds.
const abortWait = time.Second

// abort fails the link for good: it tears down its streams and connections,
// which makes gRPC drop (and release) every payload it has not written, and
// waits a moment for those releases, so the caller's buffer is normally free
// again when the failed Sum returns.
func (l *outLink) abort(err error) {
	l.err = err
	l.close()
	timer := time.NewTimer(abortWait)
	defer timer.Stop()
	for _, w := range l.inflight {
		select {
		case <-w:
		case <-timer.C:
			return
		}
	}
	l.inflight = nil
}

// wait blocks until at most depth payloads of the link are still unwritten.
func (l *outLink) wait(ctx context.Context, depth int) error {
	for len(l.inflight) > depth {
		select {
		case <-l.inflight[0]:
			l.inflight = l.inflight[1:]
		case <-ctx.Done():
			return ctx.Err()
		case <-l.ctx.Done():
			return errors.New("link closed")
		}
	}
	return nil
}

// flush waits until gRPC is done with every payload sent to a peer.
func (t *GRPCTransport) flush(ctx context.Context, to int) error {
	t.mu.Lock()
	l := t.out[to]
	t.mu.Unlock()
	if l == nil {
		return nil
	}
	stop := context.AfterFunc(ctx, l.cancel)
	err := l.wait(ctx, 0)
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		l.abort(err)
		return fmt.Errorf("allreduce: grpc flush %d->%d: %w", t.cfg.Rank, to, err)
	}
	return nil
}

// link returns the link to a peer, dialling it on first use. Only one Send
// per peer runs at a time, so two dials of one link cannot race.
func (t *GRPCTransport) link(ctx context.Context, to int) (*outLink, error) {
	t.mu.Lock()
	l := t.out[to]
	t.mu.Unlock()
	if l != nil {
		return l, nil
	}
	l, err := t.dial(ctx, to)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil { // closed while dialling
		l.close()
		return nil, errors.New("transport closed")
	}
	t.out[to] = l
	return l, nil
}

// dial opens every lane of the link to a peer and waits for each Ack, within
// the transport's Timeout and ctx.
func (t *GRPCTransport) dial(ctx context.Context, to int) (*outLink, error) {
	lctx, cancel := context.WithCancel(t.ctx)
	l := &outLink{ctx: lctx, cancel: cancel}
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	timer := time.AfterFunc(t.cfg.Timeout, cancel)
	defer timer.Stop()
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// No service config from DNS: gRPC would look up a TXT record per
		// connection, which on a network without a way out (a private
		// cluster network) waits for a DNS timeout on every new link.
		grpc.WithDisableServiceConfig(),
		grpc.WithInitialWindowSize(windowSize),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithReadBufferSize(ioBufferSize),
		grpc.WithWriteBufferSize(chunkIOBuffer),
		experimental.WithBufferPool(&t.frames),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxFrame), grpc.MaxCallSendMsgSize(maxFrame)),
	}, t.cfg.DialOptions...)
	for k := range t.cfg.Lanes {
		st, err := t.openLane(lctx, l, to, k, opts)
		if err != nil {
			l.close()
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", ctx.Err(), err)
			} else if lctx.Err() != nil {
				err = fmt.Errorf("no answer within %v: %w (%w)", t.cfg.Timeout, context.DeadlineExceeded, err)
			}
			return nil, fmt.Errorf("connect to rank %d at %s lane %d: %w", to, t.cfg.Peers[to], k, err)
		}
		l.lanes = append(l.lanes, st)
	}
	return l, nil
}

func (t *GRPCTransport) openLane(ctx context.Context, l *outLink, to, k int, opts []grpc.DialOption) (grpc.BidiStreamingClient[cohortv1.Chunk, cohortv1.Ack], error) {
	cc, err := grpc.NewClient(t.cfg.Peers[to], opts...)
	if err != nil {
		return nil, err
	}
	l.conns = append(l.conns, cc)
	// WaitForReady: a peer that starts a moment later is waited for, within
	// the dial timeout, not failed at once.
	st, err := cohortv1.NewRingClient(cc).Stream(ctx, grpc.CallContentSubtype(CodecName), grpc.WaitForReady(true))
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	hello := &cohortv1.Chunk{Job: t.cfg.Job, Generation: t.cfg.Generation, Phase: cohortv1.Phase_PHASE_HELLO,
		From: uint32(t.cfg.Rank), To: uint32(to), Lane: uint32(k), Lanes: uint32(t.cfg.Lanes), Token: t.cfg.Token}
	if err := st.Send(hello); err != nil && !errors.Is(err, io.EOF) {
		return nil, rpcerr.FromStatus(err)
	}
	ack, err := st.Recv()
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	if ack.GetGeneration() != t.cfg.Generation {
		return nil, fmt.Errorf("ack for generation %d, want %d", ack.GetGeneration(), t.cfg.Generation)
	}
	return st, nil
}

func (l *outLink) close() {
	l.cancel()
	for _, cc := range l.conns {
		_ = cc.Close() // only fails when already closed
	}
}

// Close ends the transport: it stops accepting streams, half-closes every
// outgoing lane and waits (up to Timeout) for the peers to have read what
// was sent, so the last chunks of the last Sum are not cut off, then tears
// every stream down. Sends and Recvs must have returned.
func (t *GRPCTransport) Close() error {
	s := t.srv
	s.mu.Lock()
	key := rankKey{t.cfg.Job, t.cfg.Generation, t.cfg.Rank}
	if s.ranks[key] == t {
		delete(s.ranks, key)
		s.forgetJobLocked(t.cfg.Job)
		s.notifyLocked()
	}
	s.mu.Unlock()

	t.mu.Lock()
	links := make([]*outLink, 0, len(t.out))
	for _, l := range t.out {
		links = append(links, l)
	}
	t.mu.Unlock()
	timer := time.AfterFunc(t.cfg.Timeout, t.cancel)
	defer timer.Stop()
	var wg sync.WaitGroup
	for _, l := range links {
		for _, st := range l.lanes {
			wg.Go(func() {
				if st.CloseSend() == nil {
					_ = st.RecvMsg(new(cohortv1.Ack)) // io.EOF once the peer drained the lane
				}
			})
		}
	}
	wg.Wait()
	t.cancel()
	for _, l := range links {
		l.close()
	}
	return nil
}
