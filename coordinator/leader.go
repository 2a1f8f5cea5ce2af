package coordinator

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cohort-clv/cohort/rpcerr"
)

// LeaderMetadataKey is the key of the leader's address in the metadata of
// the ErrorInfo a standby's NOT_LEADER status carries, so a client can
// dial the leader without parsing the message ("...; the leader is
// HOST:PORT", which stays for people and older clients).
const LeaderMetadataKey = "leader"

// notLeaderError is a standby's answer that names the leader: its text is
// err's, and it matches rpcerr.ErrNotLeader.
type notLeaderError struct {
	leader string
	err    error
}

func (e *notLeaderError) Error() string { return e.err.Error() }

func (e *notLeaderError) Unwrap() error { return e.err }

// leaderStatus is rpcerr.ToStatus(err) with the leader's address added to
// its cohort ErrorInfo when err is a *notLeaderError; other errors pass.
func leaderStatus(err error) error {
	var nl *notLeaderError
	if !errors.As(err, &nl) {
		return err
	}
	st := status.Convert(rpcerr.ToStatus(err))
	p := st.Proto()
	for i, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != rpcerr.Domain {
			continue
		}
		info = proto.CloneOf(info)
		if info.Metadata == nil {
			info.Metadata = map[string]string{}
		}
		info.Metadata[LeaderMetadataKey] = nl.leader
		if a, err := anypb.New(info); err == nil {
			p.Details[i] = a
		}
		break
	}
	return status.FromProto(p).Err()
}

// LeaderFromError returns the leader's address that a standby's NOT_LEADER
// error carries in its ErrorInfo metadata (LeaderMetadataKey), or "".
func LeaderFromError(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == rpcerr.Domain {
			if a := info.GetMetadata()[LeaderMetadataKey]; a != "" {
				return a
			}
		}
	}
	return ""
}

// leaderUnary and leaderStream put the leader's address into the status
// of a standby's answer (leaderStatus); they run inside rpcerr's
// interceptors, which keep a status they are given.
func leaderUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	return resp, leaderStatus(err)
}

func leaderStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return leaderStatus(h(srv, ss))
}
