package allreduce

import (
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// HelloTimeout bounds the wait for the first message (the hello) of an
// incoming Ring stream. A dialler sends its hello right after it opens the
// stream (openLane); a peer that opens streams and sends nothing (a port
// scanner speaking HTTP/2, a stuck process) would otherwise hold a handler
// and its buffers for as long as it keeps the connection.
const HelloTimeout = 3 * DefaultTimeout

// helloDeadline is a stream interceptor that ends a Ring stream whose first
// message has not arrived within d, with DEADLINE_EXCEEDED. The handler
// runs in a goroutine of its own: its Recv blocks in gRPC, which only the
// stream's end interrupts, and returning from the interceptor ends the
// stream. Other methods pass through.
func helloDeadline(d time.Duration) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != cohortv1.Ring_Stream_FullMethodName {
			return handler(srv, ss)
		}
		hs := &helloStream{ServerStream: ss}
		done := make(chan error, 1)
		go func() { done <- handler(srv, hs) }()
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case err := <-done:
			return err
		case <-timer.C:
			if hs.state.CompareAndSwap(helloWaiting, helloExpired) {
				return status.Error(codes.DeadlineExceeded,
					fmt.Sprintf("allreduce: ring stream: no hello within %v", d))
			}
			return <-done // the hello came in time: the handler owns the stream
		}
	}
}

// States of a helloStream.
const (
	helloWaiting int32 = iota
	helloReceived
	helloExpired
)

// helloStream marks its first received message, unless the deadline passed
// first: then that message is refused, so a handler never goes on with a
// stream its interceptor has ended.
type helloStream struct {
	grpc.ServerStream
	state atomic.Int32
}

func (s *helloStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if s.state.Load() == helloReceived {
		return err
	}
	if err == nil && s.state.CompareAndSwap(helloWaiting, helloReceived) {
		return nil
	}
	if s.state.Load() == helloExpired {
		return status.Error(codes.DeadlineExceeded, "allreduce: ring stream: hello came after its deadline")
	}
	return err
}
