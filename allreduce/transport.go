package allreduce

import (
	"context"
	"fmt"
)

// Phase says which half of an allreduce a Message belongs to.
type Phase uint8

const (
	// ReduceScatter messages are summed into the receiver's buffer.
	ReduceScatter Phase = iota + 1
	// AllGather messages carry fully reduced values, copied as they are.
	AllGather
)

// String names the phase for error messages.
func (p Phase) String() string {
	switch p {
	case ReduceScatter:
		return "reduce-scatter"
	case AllGather:
		return "all-gather"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// Message is one chunk of one ring step. The header fields let the receiver
// check that the chunk is exactly the one it expects: a chunk of another job,
// generation or step is refused rather than summed.
type Message struct {
	Job        string
	Generation uint64
	// Step counts the allreduce calls of a Ring, from 0.
	Step  uint64
	Phase Phase
	// Round is the ring step within the phase, 0 .. size-2.
	Round int
	// Chunk is the index of this piece within the segment of the round.
	Chunk int
	// Payload holds the chunk's float32 values, little-endian.
	Payload []byte

	// frags, when set instead of Payload, hold the payload in pieces that
	// belong to the transport (the gRPC transport's frame buffers, read
	// without a copy); done, when set, hands the memory back to it.
	frags [][]byte
	done  func()
}

// size returns the payload's length in bytes.
func (m *Message) size() int {
	if m.frags == nil {
		return len(m.Payload)
	}
	n := 0
	for _, f := range m.frags {
		n += len(f)
	}
	return n
}

// Transport moves Messages between the ranks of one ring. Ranks are 0 .. n-1.
//
// Contract:
//   - Send and Recv may be called concurrently for different peers, and one
//     Send and one Recv may run at the same time for the same peer; a Ring
//     never runs two Sends (or two Recvs) for the same peer at once.
//   - Messages from one sender to one receiver arrive in the order sent.
//   - Send must not keep msg.Payload after it returns (copy it if needed);
//     the Payload of a Message returned by Recv belongs to the caller.
//     (This package's gRPC transport bends the first rule, with the Ring's
//     consent, to write payloads without a copy; see flusher.)
//   - Both return promptly once ctx is done, with an error that wraps
//     ctx.Err() where that is the cause. A peer that is gone makes Recv and
//     Send fail, never block past ctx.
//   - A failed Send or Recv may leave the link unusable: a Ring that sees an
//     error gives up and its owner builds a new Ring for a new generation.
type Transport interface {
	Send(ctx context.Context, to int, msg Message) error
	Recv(ctx context.Context, from int) (Message, error)
}

// localDepth is how many messages a Local link buffers before Send blocks,
// standing in for the socket buffers of a real network.
const localDepth = 8

// Local is an in-memory Transport hub for n ranks in one process, for tests
// and single-process runs. Endpoint(r) is rank r's Transport.
type Local struct {
	n     int
	links [][]chan Message // links[from][to]
}

// NewLocal returns a hub connecting n ranks.
func NewLocal(n int) *Local {
	links := make([][]chan Message, n)
	for from := range links {
		links[from] = make([]chan Message, n)
		for to := range links[from] {
			links[from][to] = make(chan Message, localDepth)
		}
	}
	return &Local{n: n, links: links}
}

// Endpoint returns rank's view of the hub. It panics when rank is out of
// range: that is a programming error, not input.
func (l *Local) Endpoint(rank int) Transport {
	if rank < 0 || rank >= l.n {
		panic(fmt.Sprintf("allreduce: local endpoint %d of %d ranks", rank, l.n))
	}
	return localEndpoint{hub: l, rank: rank}
}

type localEndpoint struct {
	hub  *Local
	rank int
}

func (e localEndpoint) peer(op string, p int) error {
	if p < 0 || p >= e.hub.n || p == e.rank {
		return fmt.Errorf("allreduce: local %s: rank %d: peer %d out of range [0, %d) or self", op, e.rank, p, e.hub.n)
	}
	return nil
}

// Send copies msg.Payload, so the caller may reuse it at once.
func (e localEndpoint) Send(ctx context.Context, to int, msg Message) error {
	if err := e.peer("send", to); err != nil {
		return err
	}
	msg.Payload = append([]byte(nil), msg.Payload...)
	select {
	case e.hub.links[e.rank][to] <- msg:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("allreduce: local send %d->%d: %w", e.rank, to, ctx.Err())
	}
}

func (e localEndpoint) Recv(ctx context.Context, from int) (Message, error) {
	if err := e.peer("recv", from); err != nil {
		return Message{}, err
	}
	select {
	case m := <-e.hub.links[from][e.rank]:
		return m, nil
	case <-ctx.Done():
		return Message{}, fmt.Errorf("allreduce: local recv %d<-%d: %w", e.rank, from, ctx.Err())
	}
}
