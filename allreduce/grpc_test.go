package allreduce

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// cluster is n ranks, each with its own grpc.Server on a loopback port.
type cluster struct {
	addrs   []string
	servers []*Server
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := &cluster{}
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer(ServerOptions()...)
		s := NewServer()
		s.Register(gs)
		go func() { _ = gs.Serve(lis) }()
		t.Cleanup(gs.Stop)
		c.addrs = append(c.addrs, lis.Addr().String())
		c.servers = append(c.servers, s)
	}
	return c
}

// transports registers every rank's transport for one generation.
func (c *cluster) transports(t testing.TB, gen uint64, lanes int) ([]Transport, []*GRPCTransport) {
	t.Helper()
	ts := make([]Transport, len(c.addrs))
	gts := make([]*GRPCTransport, len(c.addrs))
	for r := range ts {
		gt, err := c.servers[r].Transport(GRPCConfig{Job: "job-1", Generation: gen, Rank: r, Peers: c.addrs,
			Lanes: lanes, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gt.Close() })
		ts[r], gts[r] = gt, gt
	}
	return ts, gts
}

// TestGRPCRingSum ensures the gRPC transport over real loopback sockets
// gives every rank the bit-identical sum, for 2..4 and 8 ranks, one lane
// (the default) and two, two steps in a row, lengths that do not divide
// evenly, and chunks both smaller than an HTTP/2 frame and spread over many
// frames; and closes cleanly.
func TestGRPCRingSum(t *testing.T) {
	type size struct{ n, lanes int }
	for _, sz := range []size{{2, 1}, {2, 2}, {3, 1}, {3, 2}, {4, 1}, {4, 2}, {8, 1}} {
		n := sz.n
		for _, tc := range []struct{ l, chunk int }{{1, 4096}, {2*n + 1, 4096}, {300007, 4096}, {300007, DefaultChunkBytes}} {
			l := tc.l
			t.Run(fmt.Sprintf("n=%d/lanes=%d/len=%d/chunk=%d", n, sz.lanes, l, tc.chunk), func(t *testing.T) {
				ts, gts := newCluster(t, n).transports(t, 7, sz.lanes)
				rings := newRings(t, ts, tc.chunk, 10*time.Second)
				for step := range 2 {
					bufs := inputs(n, l, uint64(step))
					sum, abs := reference(bufs)
					errs := runAll(n, func(r int) error { return rings[r].Sum(t.Context(), bufs[r]) })
					for r, err := range errs {
						if err != nil {
							t.Errorf("step %d rank %d: %v", step, r, err)
						}
					}
					checkSums(t, bufs, sum, abs)
				}
				for r, err := range runAll(n, func(r int) error { return gts[r].Close() }) {
					if err != nil {
						t.Errorf("close rank %d: %v", r, err)
					}
				}
			})
		}
	}
}

// TestGRPCFencing ensures a rank of an older generation cannot open a lane
// to a rank that runs a newer one: the stream is refused with
// ErrStaleGeneration on the sender's side, and nothing reaches the receiver.
func TestGRPCFencing(t *testing.T) {
	c := newCluster(t, 2)
	// Rank 1 moves on to generation 8; rank 0 still runs generation 7.
	if _, err := c.servers[1].Transport(GRPCConfig{Job: "job-1", Generation: 8, Rank: 1, Peers: c.addrs}); err != nil {
		t.Fatal(err)
	}
	old, err := c.servers[0].Transport(GRPCConfig{Job: "job-1", Generation: 7, Rank: 0, Peers: c.addrs, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	err = old.Send(t.Context(), 1, Message{Job: "job-1", Generation: 7, Phase: ReduceScatter, Payload: make([]byte, 4)})
	if !errors.Is(err, rpcerr.ErrStaleGeneration) {
		t.Fatalf("send from generation 7 to 8: error %v, want ErrStaleGeneration", err)
	}
	// Registering generation 7 on rank 1's server is refused too.
	if _, err := c.servers[1].Transport(GRPCConfig{Job: "job-1", Generation: 7, Rank: 1, Peers: c.addrs}); !errors.Is(err, rpcerr.ErrStaleGeneration) {
		t.Fatalf("registering generation 7 after 8: error %v, want ErrStaleGeneration", err)
	}
}

// TestGRPCRejectsBadHello ensures a lane whose hello names a rank or lane
// out of range, or that sends data before its hello, is refused.
func TestGRPCRejectsBadHello(t *testing.T) {
	c := newCluster(t, 2)
	if _, err := c.servers[1].Transport(GRPCConfig{Job: "job-1", Generation: 7, Rank: 1, Peers: c.addrs}); err != nil {
		t.Fatal(err)
	}
	hello := func(edit func(*cohortv1.Chunk)) *cohortv1.Chunk {
		h := &cohortv1.Chunk{Job: "job-1", Generation: 7, Phase: cohortv1.Phase_PHASE_HELLO, From: 0, To: 1, Lane: 0, Lanes: DefaultLanes}
		edit(h)
		return h
	}
	tests := []struct {
		name  string
		hello *cohortv1.Chunk
	}{
		{"from out of range", hello(func(h *cohortv1.Chunk) { h.From = 9 })},
		{"from self", hello(func(h *cohortv1.Chunk) { h.From = 1 })},
		{"lane out of range", hello(func(h *cohortv1.Chunk) { h.Lane = DefaultLanes })},
		{"other lane count", hello(func(h *cohortv1.Chunk) { h.Lanes = 7 })},
		{"data before hello", hello(func(h *cohortv1.Chunk) { h.Phase = cohortv1.Phase_PHASE_REDUCE_SCATTER })},
	}
	cc, err := grpc.NewClient(c.addrs[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			st, err := cohortv1.NewRingClient(cc).Stream(ctx, grpc.CallContentSubtype(CodecName))
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Send(tc.hello)
			_, err = st.Recv()
			if !errors.Is(rpcerr.FromStatus(err), rpcerr.ErrInvalidArgument) {
				t.Fatalf("error %v, want ErrInvalidArgument", err)
			}
		})
	}
}

// TestGRPCPeerDies ensures that when a rank's process goes away mid-reduce
// (its transport torn down), the other ranks' Sum fails well within the
// timeout instead of hanging.
func TestGRPCPeerDies(t *testing.T) {
	const n, timeout = 3, 2 * time.Second
	ts, gts := newCluster(t, n).transports(t, 7, 2)
	dying := &stopAfter{Transport: ts[2], left: 6}
	ts[2] = dying
	rings := newRings(t, ts, 4096, timeout)
	bufs := inputs(n, 100000, 3)
	start := time.Now()
	errs := runAll(n, func(r int) error {
		err := rings[r].Sum(t.Context(), bufs[r])
		if r == 2 {
			_ = gts[2].Close() // the process exits: its streams end
		}
		return err
	})
	for r, err := range errs {
		if err == nil {
			t.Errorf("rank %d: Sum succeeded without rank 2", r)
		}
	}
	if took := time.Since(start); took > 2*timeout {
		t.Errorf("Sum failed after %v, want within %v", took, 2*timeout)
	}
}

// TestGRPCSilentPeer ensures that a peer whose process is alive but never
// takes part (hung, or partitioned after connecting) makes Sum fail within
// the timeout rather than hang.
func TestGRPCSilentPeer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ts, _ := newCluster(t, 2).transports(t, 7, 2)
	ring := newRings(t, ts, 4096, timeout)[0]
	buf := make([]float32, 1<<20)
	start := time.Now()
	err := ring.Sum(t.Context(), buf) // rank 1 never calls Sum
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a timeout", err)
	}
	if took := time.Since(start); took > timeout+2*time.Second {
		t.Errorf("Sum failed after %v, want about %v", took, timeout)
	}
}

// TestGRPCLatePeer ensures a rank that starts serving, and joins the
// generation, a moment after its peer started the allreduce is waited for
// rather than failed.
func TestGRPCLatePeer(t *testing.T) {
	const n = 2
	addrs := make([]string, n)
	lis := make([]net.Listener, n)
	for r := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[r], addrs[r] = l, l.Addr().String()
	}
	bufs := inputs(n, 10000, 4)
	sum, abs := reference(bufs)
	errs := runAll(n, func(r int) error {
		if r == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		gs := grpc.NewServer(ServerOptions()...)
		s := NewServer()
		s.Register(gs)
		go func() { _ = gs.Serve(lis[r]) }()
		defer gs.Stop()
		tr, err := s.Transport(GRPCConfig{Job: "job-1", Generation: 7, Rank: r, Peers: addrs})
		if err != nil {
			return err
		}
		defer tr.Close()
		ring, err := New(Config{Rank: r, Size: n, Job: "job-1", Generation: 7, Transport: tr, ChunkBytes: 4096})
		if err != nil {
			return err
		}
		return ring.Sum(t.Context(), bufs[r])
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	checkSums(t, bufs, sum, abs)
}

// TestServerForgetsFinishedJobs ensures a Server keeps a job's newest
// generation while any of its ranks is registered, and drops it once the
// last one closes: a long-lived worker once kept an entry for every job it
// ever ran.
func TestServerForgetsFinishedJobs(t *testing.T) {
	type rank struct {
		job  string
		gen  uint64
		rank int
	}
	for _, tc := range []struct {
		name  string
		open  []rank
		close []rank // in order
		want  []string
	}{
		{"one rank", []rank{{"a", 1, 0}}, []rank{{"a", 1, 0}}, nil},
		{"a rank left", []rank{{"a", 1, 0}, {"a", 1, 1}}, []rank{{"a", 1, 0}}, []string{"a"}},
		{"both ranks", []rank{{"a", 1, 0}, {"a", 1, 1}}, []rank{{"a", 1, 1}, {"a", 1, 0}}, nil},
		{"newest first", []rank{{"a", 1, 0}, {"a", 2, 1}}, []rank{{"a", 2, 1}, {"a", 1, 0}}, nil},
		{"another job", []rank{{"a", 1, 0}, {"b", 3, 0}}, []rank{{"a", 1, 0}}, []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer()
			open := map[rank]*GRPCTransport{}
			for _, r := range tc.open {
				gt, err := s.Transport(GRPCConfig{Job: r.job, Generation: r.gen, Rank: r.rank,
					Peers: []string{"127.0.0.1:1", "127.0.0.1:2"}, Timeout: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				open[r] = gt
			}
			for _, r := range tc.close {
				if err := open[r].Close(); err != nil {
					t.Fatal(err)
				}
				delete(open, r)
			}
			t.Cleanup(func() {
				for _, gt := range open {
					_ = gt.Close()
				}
			})
			s.mu.Lock()
			var got []string
			for job := range s.newest {
				got = append(got, job)
			}
			s.mu.Unlock()
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("newest holds jobs %v, want %v", got, tc.want)
			}
		})
	}
}
