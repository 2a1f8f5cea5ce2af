package allreduce

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestGRPCHelloToken ensures a rank whose generation has a token refuses
// a hello without it, or with another, as PERMISSION_DENIED and before the
// lane is claimed, so the real peer's hello is still taken after an
// impostor's (audit 7 net #8: an impostor once took rank 0's lane first).
func TestGRPCHelloToken(t *testing.T) {
	token := []byte("0123456789abcdef")
	c := newCluster(t, 2)
	if _, err := c.servers[1].Transport(GRPCConfig{Job: "job-1", Generation: 7, Rank: 1, Peers: c.addrs, Token: token}); err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(c.addrs[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, tc := range []struct {
		name  string
		token []byte
		want  error // nil: acked
	}{
		{"none", nil, rpcerr.ErrPermissionDenied},
		{"wrong", []byte("0123456789abcdeF"), rpcerr.ErrPermissionDenied},
		{"short", token[:15], rpcerr.ErrPermissionDenied},
		{"right", token, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			st, err := cohortv1.NewRingClient(cc).Stream(ctx, grpc.CallContentSubtype(CodecName))
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Send(&cohortv1.Chunk{Job: "job-1", Generation: 7, Phase: cohortv1.Phase_PHASE_HELLO, From: 0, To: 1,
				Lane: 0, Lanes: DefaultLanes, Token: tc.token})
			ack, err := st.Recv()
			err = rpcerr.FromStatus(err)
			if tc.want == nil {
				if err != nil || ack.GetGeneration() != 7 {
					t.Fatalf("hello with the token: ack %v, %v", ack, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestGRPCRingWithToken ensures ranks that share a token sum as before.
func TestGRPCRingWithToken(t *testing.T) {
	c := newCluster(t, 3)
	ts := make([]Transport, 3)
	for r := range ts {
		gt, err := c.servers[r].Transport(GRPCConfig{Job: "job-1", Generation: 7, Rank: r, Peers: c.addrs,
			Timeout: 5 * time.Second, Token: []byte("secret-of-gen-1!")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gt.Close() })
		ts[r] = gt
	}
	rings := newRings(t, ts, 4096, 10*time.Second)
	bufs := inputs(3, 1001, 1)
	sum, _ := reference(bufs)
	for r, err := range runAll(3, func(r int) error { return rings[r].Sum(t.Context(), bufs[r]) }) {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	for r := range bufs {
		for i := range sum {
			if d := float64(bufs[r][i]) - sum[i]; d > 1e-3 || d < -1e-3 || bufs[r][i] != bufs[0][i] {
				t.Fatalf("rank %d value %d = %v, want %v (rank 0: %v)", r, i, bufs[r][i], sum[i], bufs[0][i])
			}
		}
	}
}

// TestCodecHelloToken ensures the raw framing carries a hello's token (in
// its payload bytes) and refuses one over the bound.
func TestCodecHelloToken(t *testing.T) {
	in := &cohortv1.Chunk{Job: "j", Generation: 3, Phase: cohortv1.Phase_PHASE_HELLO, From: 1, To: 2, Lanes: 1,
		Token: []byte("0123456789abcdef")}
	b, err := codec{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &cohortv1.Chunk{}
	if err := (codec{}).Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	if string(out.GetToken()) != string(in.GetToken()) || len(out.GetPayload()) != 0 || out.GetFrom() != 1 {
		t.Errorf("hello round trip: token %q payload %d from %d", out.GetToken(), len(out.GetPayload()), out.GetFrom())
	}
	if _, err := (codec{}).Marshal(&cohortv1.Chunk{Phase: cohortv1.Phase_PHASE_HELLO, Token: make([]byte, cohortv1.MaxTokenLen+1)}); err == nil {
		t.Error("a hello with an over-long token was framed")
	}
	// A hello frame whose payload bytes exceed the token bound is refused.
	long, err := codec{}.Marshal(&cohortv1.Chunk{Phase: cohortv1.Phase_PHASE_REDUCE_SCATTER, Payload: make([]byte, 128)})
	if err != nil {
		t.Fatal(err)
	}
	raw := long.Materialize()
	raw[1] = byte(cohortv1.Phase_PHASE_HELLO)
	if err := (codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(raw)}, &cohortv1.Chunk{}); err == nil {
		t.Error("a hello with 128 token bytes was taken")
	}
}
