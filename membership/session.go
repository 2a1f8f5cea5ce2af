package membership

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultTTL is a session's lease lifetime unless WithTTL says otherwise:
// short enough that a dead worker leaves the ring within seconds, long
// enough that a garbage-collection pause or a busy etcd does not evict a
// live one (keep-alives go out every third of it).
const DefaultTTL = 5 * time.Second

// Session is a lease kept alive for as long as its process runs. Keys
// written under it (a worker's registration, a coordinator's candidacy)
// vanish when it ends, which is how the rest of the cluster learns that the
// process is gone. It is a concurrency.Session with cohort's default TTL.
type Session struct {
	s   *concurrency.Session
	ttl time.Duration
}

// SessionOption configures NewSession.
type SessionOption func(*sessionOptions)

type sessionOptions struct {
	ttl time.Duration
}

// WithTTL sets the session's lease lifetime. etcd counts leases in whole
// seconds, so ttl is rounded up to one; ttl ≤ 0 keeps DefaultTTL. A server
// may raise it to its minimum (one and a half election timeouts).
func WithTTL(ttl time.Duration) SessionOption {
	return func(o *sessionOptions) {
		if ttl > 0 {
			o.ttl = ttl
		}
	}
}

// NewSession grants a lease on cli and keeps it alive in the background.
//
// ctx is the session's lifetime, as in concurrency.WithContext: cancelling
// it stops the keep-alive, the lease then expires within its TTL, and Close
// can no longer revoke it. Pass a context that lives as long as the process
// role does, and call Close to end the session promptly.
func NewSession(ctx context.Context, cli *clientv3.Client, opts ...SessionOption) (*Session, error) {
	o := sessionOptions{ttl: DefaultTTL}
	for _, opt := range opts {
		opt(&o)
	}
	secs := int((o.ttl + time.Second - 1) / time.Second)
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(secs), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("membership: new session (ttl %ds): %w", secs, err)
	}
	return &Session{s: s, ttl: time.Duration(secs) * time.Second}, nil
}

// Client is the etcd client that keeps the session alive.
func (s *Session) Client() *clientv3.Client { return s.s.Client() }

// Lease is the ID of the session's lease; keys written with
// clientv3.WithLease(s.Lease()) live as long as the session.
func (s *Session) Lease() clientv3.LeaseID { return s.s.Lease() }

// TTL is the lease lifetime the session asked for, in whole seconds.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done is closed when the session ends: its lease expired or was revoked
// (etcd told the keep-alive so, or nobody answered for a whole TTL), the
// session was orphaned or closed, or its context ended. After Done, the
// session's keys are gone or about to go: a worker must stop working and a
// leader must stop leading.
func (s *Session) Done() <-chan struct{} { return s.s.Done() }

// Orphan stops refreshing the lease but leaves it in etcd, where it expires
// within its TTL. Use it when the connection is in doubt (a revoke could
// hang) or to hand the lease to another process. It returns once the
// keep-alive has stopped.
func (s *Session) Orphan() { s.s.Orphan() }

// Close stops refreshing the lease and revokes it, deleting the session's
// keys at once: the polite way to leave, which spares the others the wait
// for the TTL. If the revoke fails (etcd unreachable, the session's context
// ended), the lease still expires within its TTL; the error says why.
func (s *Session) Close() error {
	if err := s.s.Close(); err != nil {
		return fmt.Errorf("membership: close session %x: %w", s.Lease(), err)
	}
	return nil
}

// concurrency exposes the underlying session to Election.
func (s *Session) concurrency() *concurrency.Session { return s.s }
