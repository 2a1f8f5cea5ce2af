package rpcerr

import (
	"context"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MaxMessageLen bounds the text a status carries, so an error joined from
// thousands of parts cannot blow up a response's trailers.
const MaxMessageLen = 4096

// ToStatus converts a server's error into the gRPC status error to return
// from a handler. A wrapped sentinel gets its table code and an ErrorInfo
// naming it; a context error gets CANCELLED or DEADLINE_EXCEEDED; an error
// that already carries a gRPC status keeps it; anything else is UNKNOWN. The
// message is err.Error(), cut to MaxMessageLen bytes. ToStatus(nil) is nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	msg := truncate(err.Error())
	e, ok := lookup(err)
	if !ok {
		if s, isStatus := statusOf(err); isStatus {
			p := s.Proto()
			p.Message = truncate(p.GetMessage())
			return status.FromProto(p).Err()
		}
		return status.Error(Code(err), msg)
	}
	s := status.New(e.code, msg)
	if e.reason == "" {
		return s.Err()
	}
	withInfo, detailErr := s.WithDetails(&errdetails.ErrorInfo{Reason: e.reason, Domain: Domain})
	if detailErr != nil {
		// Only an OK code refuses details, and the table has none.
		return s.Err()
	}
	return withInfo.Err()
}

// FromStatus converts the error of a gRPC call back into one that errors.Is
// matches against the sentinel the server wrapped; see the package
// documentation for statuses without one. The result keeps the server's
// message and its gRPC status (status.Code works on it). Errors that carry no
// gRPC status, io.EOF among them, come back unchanged, as does nil.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	s, ok := statusOf(err)
	if !ok {
		return err
	}
	for _, d := range s.Details() {
		info, isInfo := d.(*errdetails.ErrorInfo)
		if !isInfo || info.GetDomain() != Domain {
			continue
		}
		if e, known := byReason(info.GetReason()); known {
			return &remoteError{status: s, sentinel: e.err}
		}
	}
	if e, known := byCode(s.Code()); known {
		return &remoteError{status: s, sentinel: e.err}
	}
	return err
}

// remoteError is an error received from a peer: the peer's message, matched
// by errors.Is to the sentinel it named.
type remoteError struct {
	status   *status.Status
	sentinel error
}

func (e *remoteError) Error() string { return e.status.Message() }

func (e *remoteError) Unwrap() error { return e.sentinel }

// GRPCStatus lets status.Code and a relaying server see the original status.
func (e *remoteError) GRPCStatus() *status.Status { return e.status }

// statusOf returns the gRPC status err carries, if it carries one (wrapped
// or not; a wrapped one gets err's whole text as its message).
func statusOf(err error) (*status.Status, bool) {
	return status.FromError(err)
}

// truncate cuts s to MaxMessageLen bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= MaxMessageLen {
		return s
	}
	const ellipsis = "..."
	cut := MaxMessageLen - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// UnaryServerInterceptor applies ToStatus to every unary handler's error.
func UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		return resp, ToStatus(err)
	}
}

// StreamServerInterceptor applies ToStatus to every stream handler's error.
func StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return ToStatus(handler(srv, ss))
	}
}

// UnaryClientInterceptor applies FromStatus to every unary call's error.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return FromStatus(invoker(ctx, method, req, reply, cc, opts...))
	}
}

// StreamClientInterceptor applies FromStatus to the errors of every stream:
// opening it, Header, SendMsg, RecvMsg and CloseSend. io.EOF, the normal end
// of a stream, stays io.EOF.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, FromStatus(err)
		}
		return clientStream{cs}, nil
	}
}

// clientStream converts the errors of the stream it wraps.
type clientStream struct {
	grpc.ClientStream
}

func (s clientStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	return md, FromStatus(err)
}

func (s clientStream) SendMsg(m any) error { return FromStatus(s.ClientStream.SendMsg(m)) }

func (s clientStream) RecvMsg(m any) error { return FromStatus(s.ClientStream.RecvMsg(m)) }

func (s clientStream) CloseSend() error { return FromStatus(s.ClientStream.CloseSend()) }
