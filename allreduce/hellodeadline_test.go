package allreduce

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// echoRing acks every chunk it receives until the client closes.
type echoRing struct {
	cohortv1.UnimplementedRingServer
}

func (echoRing) Stream(st grpc.BidiStreamingServer[cohortv1.Chunk, cohortv1.Ack]) error {
	for {
		c, err := st.Recv()
		if err != nil {
			return nil
		}
		if err := st.Send(&cohortv1.Ack{Generation: c.GetGeneration()}); err != nil {
			return err
		}
	}
}

// TestHelloDeadline ensures a Ring stream whose first message does not come
// within the deadline is ended with DEADLINE_EXCEEDED, on the real Ring
// service too (the audit's ring streams that never send a hello), while a
// stream whose hello came in time lives on past the deadline.
func TestHelloDeadline(t *testing.T) {
	const d = 200 * time.Millisecond
	serve := func(t *testing.T, register func(*grpc.Server)) *grpc.ClientConn {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer(grpc.MaxRecvMsgSize(maxFrame), grpc.ChainStreamInterceptor(helloDeadline(d)))
		register(gs)
		go func() { _ = gs.Serve(lis) }()
		t.Cleanup(gs.Stop)
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
	echo := serve(t, func(gs *grpc.Server) { cohortv1.RegisterRingServer(gs, echoRing{}) })
	ring := serve(t, func(gs *grpc.Server) {
		s := NewServer()
		s.Register(gs)
		if _, err := s.Transport(GRPCConfig{Job: "job-1", Generation: 7, Rank: 1, Peers: []string{"127.0.0.1:1", "127.0.0.1:2"}}); err != nil {
			t.Fatal(err)
		}
	})
	hello := &cohortv1.Chunk{Job: "job-1", Generation: 7, Phase: cohortv1.Phase_PHASE_HELLO, To: 1, Lanes: DefaultLanes}
	tests := []struct {
		name   string
		cc     *grpc.ClientConn
		before time.Duration // wait before the first message; < 0: send none
		after  time.Duration // wait before a second message, past the deadline
		want   codes.Code
	}{
		{"no hello, echo service", echo, -1, 0, codes.DeadlineExceeded},
		{"no hello, ring service", ring, -1, 0, codes.DeadlineExceeded},
		{"late hello", echo, 3 * d, 0, codes.DeadlineExceeded},
		{"hello in time, then past the deadline", echo, 0, 3 * d, codes.OK},
		{"hello in time, ring service", ring, 0, 0, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			st, err := cohortv1.NewRingClient(tc.cc).Stream(ctx, grpc.CallContentSubtype(CodecName))
			if err != nil {
				t.Fatal(err)
			}
			if tc.before >= 0 {
				time.Sleep(tc.before)
				_ = st.Send(hello)
			}
			_, err = st.Recv()
			if tc.want == codes.OK && err == nil && tc.after > 0 {
				time.Sleep(tc.after)
				if err = st.Send(hello); err == nil {
					_, err = st.Recv()
				}
			}
			if got := status.Code(err); got != tc.want {
				t.Fatalf("stream ended with %v (%v), want %v", got, err, tc.want)
			}
			if tc.want == codes.DeadlineExceeded && time.Since(start) > 5*time.Second {
				t.Fatalf("ended after %v, deadline %v", time.Since(start), d)
			}
		})
	}
}
