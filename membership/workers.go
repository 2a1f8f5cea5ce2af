package membership

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Errors of worker registration, matched with errors.Is.
var (
	// ErrNameTaken means another live lease holds the worker name. A worker
	// that restarts after a crash meets it until its old lease expires (at
	// most one TTL): WaitReleased waits for that; otherwise pick another
	// name. The error Register returns is a *NameTakenError, which names
	// the holder.
	ErrNameTaken = errors.New("membership: worker name held by another live lease")
	// ErrNotRegistered means the worker key is gone or belongs to another
	// lease: the session expired, or the worker deregistered.
	ErrNotRegistered = errors.New("membership: worker not registered under this session")
)

// Member is one live worker as etcd holds it.
type Member struct {
	Name string
	// Status is the worker's own summary (device, free memory, progress),
	// at most MaxStatusBytes; membership does not read it. Treat it as
	// read-only: lists from Discovery share it.
	Status []byte
	// Lease is the worker's session lease.
	Lease clientv3.LeaseID
	// Revision is the etcd revision at which the worker registered. A worker
	// that leaves and returns under the same name comes back with a higher
	// one, which tells a rejoin from a status update.
	Revision int64
}

func memberOf(kv *mvccpb.KeyValue) Member {
	return Member{
		Name:     strings.TrimPrefix(string(kv.Key), WorkersPrefix),
		Status:   kv.Value,
		Lease:    clientv3.LeaseID(kv.Lease),
		Revision: kv.CreateRevision,
	}
}

func (m Member) equal(o Member) bool {
	return m.Name == o.Name && m.Lease == o.Lease && m.Revision == o.Revision && bytes.Equal(m.Status, o.Status)
}

// NameTakenError is Register's error for a name another lease holds. It
// matches ErrNameTaken with errors.Is.
type NameTakenError struct {
	// Holder is the registration that holds the name: its lease and the
	// status its worker published, from which the caller tells its own
	// previous incarnation (a crash, a restart) from another worker.
	Holder Member
	// Lease is the caller's own lease.
	Lease clientv3.LeaseID
}

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("%v (lease %x, ours %x)", ErrNameTaken, e.Holder.Lease, e.Lease)
}

// Unwrap makes errors.Is(err, ErrNameTaken) hold.
func (e *NameTakenError) Unwrap() error { return ErrNameTaken }

// Registration is a worker's key in etcd, held under its session's lease.
type Registration struct {
	sess *Session
	name string
	key  string
}

// Register publishes worker name with status under sess's lease, so that it
// disappears when the session ends. Registering again under the same
// session replaces the status. A name held by another lease is refused with
// a *NameTakenError (ErrNameTaken): two processes must never share a place
// in the ring.
func Register(ctx context.Context, sess *Session, name string, status []byte) (*Registration, error) {
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("membership: register worker: %w", err)
	}
	if err := checkStatus(status); err != nil {
		return nil, fmt.Errorf("membership: register worker %q: %w", name, err)
	}
	r := &Registration{sess: sess, name: name, key: WorkerKey(name)}
	lease := sess.Lease()
	resp, err := sess.Client().Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(r.key), "=", 0)).
		Then(clientv3.OpPut(r.key, string(status), clientv3.WithLease(lease))).
		Else(clientv3.OpGet(r.key)).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("membership: register worker %q: %w", name, err)
	}
	if resp.Succeeded {
		return r, nil
	}
	// The else branch read the key in the same transaction, so it exists.
	holder := memberOf(resp.Responses[0].GetResponseRange().Kvs[0])
	if holder.Lease != lease {
		return nil, fmt.Errorf("membership: register worker %q: %w", name, &NameTakenError{Holder: holder, Lease: lease})
	}
	if err := r.UpdateStatus(ctx, status); err != nil {
		return nil, err
	}
	return r, nil
}

func checkStatus(status []byte) error {
	if len(status) > MaxStatusBytes {
		return fmt.Errorf("status of %d bytes, want at most %d", len(status), MaxStatusBytes)
	}
	return nil
}

// Name is the registered worker name.
func (r *Registration) Name() string { return r.name }

// UpdateStatus replaces the worker's published status. It writes only
// while the key is still this session's, so a worker whose lease expired
// cannot resurrect itself behind the coordinator's back: it gets
// ErrNotRegistered and must register again (and be taken in at the next
// generation).
func (r *Registration) UpdateStatus(ctx context.Context, status []byte) error {
	if err := checkStatus(status); err != nil {
		return fmt.Errorf("membership: update status of %q: %w", r.name, err)
	}
	lease := r.sess.Lease()
	resp, err := r.sess.Client().Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", lease)).
		Then(clientv3.OpPut(r.key, string(status), clientv3.WithLease(lease))).
		Commit()
	if err != nil {
		return fmt.Errorf("membership: update status of %q: %w", r.name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("membership: update status of %q: %w", r.name, ErrNotRegistered)
	}
	return nil
}

// Deregister deletes the worker's key if it is still this session's,
// leaving the session alive (closing the session deregisters too).
func (r *Registration) Deregister(ctx context.Context) error {
	_, err := r.sess.Client().Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", r.sess.Lease())).
		Then(clientv3.OpDelete(r.key)).
		Commit()
	if err != nil {
		return fmt.Errorf("membership: deregister %q: %w", r.name, err)
	}
	return nil
}

// LeaseRemaining returns at most how long lease has left before it expires
// unless refreshed, or 0 when it is gone. etcd answers in whole seconds,
// rounded down, so the answer is rounded up: a lease with 0.4s left gives
// 1s.
func LeaseRemaining(ctx context.Context, cli clientv3.Lease, lease clientv3.LeaseID) (time.Duration, error) {
	resp, err := cli.TimeToLive(ctx, lease)
	if err != nil {
		return 0, fmt.Errorf("membership: lease %x time to live: %w", lease, err)
	}
	if resp.TTL < 0 {
		return 0, nil // expired or revoked
	}
	return time.Duration(resp.TTL+1) * time.Second, nil
}

// WaitReleased blocks until worker name is no longer held under lease: the
// key was deleted (its lease expired or was revoked, or the worker
// deregistered) or belongs to another lease now. It returns nil then, or
// ctx's error. Bound ctx by the lease's TTL (LeaseRemaining) plus a margin:
// a live holder refreshes its lease and never lets go.
func WaitReleased(ctx context.Context, cli *clientv3.Client, name string, lease clientv3.LeaseID) error {
	key := WorkerKey(name)
	for {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("membership: wait for %q to be released: %w", name, ctxErr(ctx, err))
		}
		if len(resp.Kvs) == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) != lease {
			return nil
		}
		released, err := watchRelease(ctx, cli, key, lease, resp.Header.Revision+1)
		if released {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("membership: wait for %q to be released: %w", name, ctx.Err())
		}
		if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
			return fmt.Errorf("membership: wait for %q to be released: %w", name, err)
		}
		// The watch ended (compacted, or the client reconnected): look again.
	}
}

// watchRelease watches key from rev until it is deleted or put under
// another lease (released), or the watch ends.
func watchRelease(ctx context.Context, cli *clientv3.Client, key string, lease clientv3.LeaseID, rev int64) (released bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range cli.Watch(wctx, key, clientv3.WithRev(rev)) {
		if err := wr.Err(); err != nil {
			return false, err
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE || clientv3.LeaseID(ev.Kv.Lease) != lease {
				return true, nil
			}
		}
	}
	return false, nil
}
