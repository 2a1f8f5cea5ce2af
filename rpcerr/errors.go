// Package rpcerr is the one table of cohort's RPC errors: sentinel errors,
// each tied to a gRPC code and a reason, and the two conversions that carry
// them across the wire. A server returns ToStatus(err) (or installs
// UnaryServerInterceptor and StreamServerInterceptor); a client applies
// FromStatus (or the client interceptors), after which
// errors.Is(err, rpcerr.ErrStaleGeneration) holds on the client exactly when
// the server's error wrapped ErrStaleGeneration.
//
// The identity of a sentinel travels as a google.rpc.ErrorInfo detail
// (domain "cohort", reason such as "STALE_GENERATION"), not in the message,
// so the server keeps its full error text ("coordinator: shard: cohort: stale
// generation") and two sentinels may share a gRPC code. Statuses that carry no
// such detail, such as gRPC's own "connection refused" or "message larger
// than max", still map by code where one sentinel stands for the code:
// UNAVAILABLE to ErrUnavailable, RESOURCE_EXHAUSTED to ErrTooLarge,
// INVALID_ARGUMENT to ErrInvalidArgument, CANCELLED and DEADLINE_EXCEEDED to
// the context errors.
package rpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
)

// Domain is the ErrorInfo domain that marks a status as one of cohort's.
const Domain = "cohort"

// The sentinel errors of cohort's RPCs. Wrap them with %w to add context;
// the wrapped text travels too.
var (
	// ErrNotFound: the job named in the request does not exist.
	ErrNotFound = errors.New("cohort: job not found")
	// ErrAlreadyExists: a job with that id exists already.
	ErrAlreadyExists = errors.New("cohort: job already exists")
	// ErrStaleGeneration: the request names a generation that is no longer
	// the job's current one. It is the fence that keeps a worker of an old
	// generation out of a new ring: the caller must rejoin, not retry.
	ErrStaleGeneration = errors.New("cohort: stale generation")
	// ErrNotLeader: the coordinator is a standby; the caller should try the
	// leader (UNAVAILABLE, so generic retry logic moves on to another
	// endpoint).
	ErrNotLeader = errors.New("cohort: not the leading coordinator")
	// ErrCancelled: the job was cancelled, so its work is refused. Distinct
	// from context.Canceled, which is the caller giving up on one call.
	ErrCancelled = errors.New("cohort: job cancelled")
	// ErrFinished: the job has already succeeded or failed.
	ErrFinished = errors.New("cohort: job already finished")
	// ErrChecksumMismatch: workers' weights diverged; training cannot go on
	// from them.
	ErrChecksumMismatch = errors.New("cohort: weight checksum mismatch")
	// ErrInvalidArgument: a request field is missing or out of its bounds.
	ErrInvalidArgument = errors.New("cohort: invalid argument")
	// ErrTooLarge: a message or field is larger than its bound.
	ErrTooLarge = errors.New("cohort: message too large")
	// ErrLimitReached: a bounded resource of the service is used up (queue
	// places, Watch streams); retrying once some are freed may work.
	ErrLimitReached = errors.New("cohort: limit reached")
	// ErrUnavailable: the service cannot answer now; retrying later may work.
	ErrUnavailable = errors.New("cohort: unavailable")
	// ErrPermissionDenied: the request lacks the secret of the generation
	// it names (GenerationPlan.token): only that generation's workers may
	// fetch its shards, report to its coordinator or join its ring.
	ErrPermissionDenied = errors.New("cohort: permission denied")
	// ErrCorruptRecord: a record read back from etcd does not decode or is
	// out of its bounds (a bug, a hand edit, another program's key).
	ErrCorruptRecord = errors.New("cohort: corrupt record in etcd")
)

// entry ties a sentinel to its gRPC code and to the reason that names it on
// the wire. byCode marks the sentinel that a status of that code without a
// cohort reason stands for; at most one entry per code has it.
type entry struct {
	err    error
	code   codes.Code
	reason string
	byCode bool
}

// table is the one map from errors to gRPC codes. ToStatus takes the first
// entry the error matches (errors.Is), so the specific sentinels come before
// the generic ones they might be joined with.
var table = [...]entry{
	{ErrNotFound, codes.NotFound, "JOB_NOT_FOUND", false},
	{ErrAlreadyExists, codes.AlreadyExists, "JOB_ALREADY_EXISTS", false},
	{ErrStaleGeneration, codes.Aborted, "STALE_GENERATION", false},
	{ErrNotLeader, codes.Unavailable, "NOT_LEADER", false},
	{ErrCancelled, codes.FailedPrecondition, "JOB_CANCELLED", false},
	{ErrFinished, codes.FailedPrecondition, "JOB_FINISHED", false},
	{ErrChecksumMismatch, codes.DataLoss, "CHECKSUM_MISMATCH", false},
	{ErrInvalidArgument, codes.InvalidArgument, "INVALID_ARGUMENT", true},
	{ErrTooLarge, codes.ResourceExhausted, "TOO_LARGE", true},
	{ErrLimitReached, codes.ResourceExhausted, "LIMIT_REACHED", false},
	{ErrUnavailable, codes.Unavailable, "UNAVAILABLE", true},
	{ErrPermissionDenied, codes.PermissionDenied, "PERMISSION_DENIED", false},
	{ErrCorruptRecord, codes.DataLoss, "CORRUPT_RECORD", false},
	// In step with status.FromContextError: the caller's own context ending.
	{context.Canceled, codes.Canceled, "", true},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "", true},
}

// lookup returns the first table entry err matches.
func lookup(err error) (entry, bool) {
	for _, e := range table {
		if errors.Is(err, e.err) {
			return e, true
		}
	}
	return entry{}, false
}

// byReason returns the entry with the given wire reason.
func byReason(reason string) (entry, bool) {
	for _, e := range table {
		if e.reason != "" && e.reason == reason {
			return e, true
		}
	}
	return entry{}, false
}

// byCode returns the entry that stands for a status of code c that carries
// no cohort reason.
func byCode(c codes.Code) (entry, bool) {
	for _, e := range table {
		if e.byCode && e.code == c {
			return e, true
		}
	}
	return entry{}, false
}

// Code returns the gRPC code ToStatus gives err: the table's code for a
// sentinel it wraps, the code of a gRPC status it carries, codes.OK for nil
// and codes.Unknown otherwise.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if e, ok := lookup(err); ok {
		return e.code
	}
	if s, ok := statusOf(err); ok {
		return s.Code()
	}
	return codes.Unknown
}
