package membership

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Errors of the coordinator election, matched with errors.Is.
var (
	// ErrNotLeader means the caller is not, or is no longer, the leader.
	ErrNotLeader = errors.New("membership: election: not leader")
	// ErrNoLeader means no coordinator is campaigning.
	ErrNoLeader = errors.New("membership: election: no leader")
)

// Leader is the coordinator that leads, as the election records it.
type Leader struct {
	// Value is what the leader campaigned with: its name and the address
	// workers and clients should dial.
	Value string
	// Revision is the revision at which the leader's candidacy was created.
	// It grows with every new leader, so it serves as a term number: state
	// stamped with an older one came from a deposed leader.
	Revision int64
}

// Election is the coordinators' leader election on ElectionPrefix. Each
// coordinator campaigns with its own session; the oldest live candidacy
// leads and the others wait in line as hot standbys. A leader leads until
// it resigns or its session ends, so it must watch Session.Done() and stop
// acting as leader when it fires.
//
// It keeps the protocol of concurrency.Election (a candidacy is the key
// ElectionPrefix/<lease in hex>, and the lowest create revision leads), so
// both interoperate, but campaigns itself: concurrency's Campaign withdraws
// a cancelled candidacy with the client's own context, which nothing but
// closing the client ends, so a standby cut off from etcd could not stop.
type Election struct {
	sess *Session
	e    *concurrency.Election // for Leader and Observe, which only read

	mu  sync.Mutex
	key string // this session's candidacy; "" when it has none
	rev int64  // the candidacy's create revision; kept after it ends, so a later Fence fails
}

// NewElection returns sess's handle on the coordinators' election.
func NewElection(sess *Session) *Election {
	return &Election{sess: sess, e: concurrency.NewElection(sess.concurrency(), ElectionPrefix)}
}

// withdrawTimeout bounds the withdrawal of a candidacy whose campaign's
// context ended: with etcd unreachable it cannot succeed, and the
// candidacy then goes with the session's lease (within its TTL, or at once
// when the caller closes the session).
const withdrawTimeout = 500 * time.Millisecond

// Campaign enters the election with value and blocks until this session
// leads: at once if no one does, or when every older candidacy is gone (the
// leader resigned, or its lease expired within its TTL of its process
// dying). If ctx ends first, it withdraws the candidacy, waiting at most
// half a second for etcd (the session's lease removes it otherwise), and
// returns ctx.Err(); it never outlives ctx by more than that.
func (e *Election) Campaign(ctx context.Context, value string) error {
	cli := e.sess.Client()
	lease := e.sess.Lease()
	key := fmt.Sprintf("%s/%x", ElectionPrefix, lease)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("membership: campaign: %w", ctxErr(ctx, err))
	}
	rev := resp.Header.Revision
	var stale bool // an earlier Campaign of this session put key with another value
	if !resp.Succeeded {
		kv := resp.Responses[0].GetResponseRange().Kvs[0]
		rev, stale = kv.CreateRevision, string(kv.Value) != value
	}
	e.set(key, rev)
	if stale {
		if err := e.proclaim(ctx, value); err != nil {
			e.withdraw(ctx)
			return fmt.Errorf("membership: campaign: %w", ctxErr(ctx, err))
		}
	}
	if err := waitDeletes(ctx, cli, ElectionPrefix+"/", rev-1); err != nil {
		if ctx.Err() != nil {
			e.withdraw(ctx)
			return fmt.Errorf("membership: campaign: %w", ctx.Err())
		}
		e.set("", rev) // as concurrency does: no candidacy to resign
		return fmt.Errorf("membership: campaign: %w", err)
	}
	// Waiting for older candidacies to go says nothing of our own: if this
	// session expired while it waited (a partition), its key is gone too and
	// it must not act as leader.
	got, err := cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("membership: campaign: confirm leadership: %w", ctxErr(ctx, err))
	}
	if len(got.Kvs) == 0 || got.Kvs[0].CreateRevision != rev {
		return fmt.Errorf("membership: campaign: session ended while waiting: %w", ErrNotLeader)
	}
	return nil
}

// ctxErr is ctx's error once ctx has ended (etcd's client reports it as a
// gRPC status, which errors.Is does not match), else err.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (e *Election) set(key string, rev int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.key, e.rev = key, rev
}

func (e *Election) candidacy() (key string, rev int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.key, e.rev
}

// proclaim replaces the value of this session's candidacy.
func (e *Election) proclaim(ctx context.Context, value string) error {
	key, rev := e.candidacy()
	resp, err := e.sess.Client().Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(e.sess.Lease()))).
		Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return ErrNotLeader
	}
	return nil
}

// withdraw resigns the candidacy of a campaign that failed, on a context
// of its own that ctx's end does not cancel but withdrawTimeout bounds. A
// failure is no error of the campaign: the candidacy goes with the lease.
func (e *Election) withdraw(ctx context.Context) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), withdrawTimeout)
	defer cancel()
	_ = e.Resign(wctx)
}

// waitDeletes waits until no key under pfx was created at or before
// maxCreateRev: every older candidacy is gone. It is concurrency's
// waitDeletes, which is not exported.
func waitDeletes(ctx context.Context, cli *clientv3.Client, pfx string, maxCreateRev int64) error {
	opts := append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(maxCreateRev))
	for {
		resp, err := cli.Get(ctx, pfx, opts...)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		if err := waitDelete(ctx, cli, string(resp.Kvs[0].Key), resp.Header.Revision); err != nil {
			return err
		}
	}
}

// waitDelete waits for key to be deleted at or after revision rev.
func waitDelete(ctx context.Context, cli *clientv3.Client, key string, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wr clientv3.WatchResponse
	for wr = range cli.Watch(wctx, key, clientv3.WithRev(rev)) {
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				return nil
			}
		}
	}
	if err := wr.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("watch ended while waiting for a delete")
}

// Fence is a comparison that holds only while this session leads. A leader
// puts it in the If of every transaction that changes cluster state, so a
// deposed leader that has not noticed yet writes nothing.
func (e *Election) Fence() clientv3.Cmp {
	key, rev := e.candidacy()
	return clientv3.Compare(clientv3.CreateRevision(key), "=", rev)
}

// Resign gives up leadership, letting the next standby take over at once
// instead of after a TTL. It does nothing if this session does not lead
// (or campaign). Like concurrency's Resign, it forgets the candidacy even
// when etcd does not answer: the lease then removes it.
func (e *Election) Resign(ctx context.Context) error {
	key, rev := e.candidacy()
	if key == "" {
		return nil
	}
	e.set("", rev)
	_, err := e.sess.Client().Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("membership: resign: %w", ctxErr(ctx, err))
	}
	return nil
}

// Leader returns the current leader, or ErrNoLeader.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	resp, err := e.e.Leader(ctx)
	if errors.Is(err, concurrency.ErrElectionNoLeader) {
		return Leader{}, ErrNoLeader
	}
	if err != nil {
		return Leader{}, fmt.Errorf("membership: leader: %w", err)
	}
	kv := resp.Kvs[0]
	return Leader{Value: string(kv.Value), Revision: kv.CreateRevision}, nil
}

// CurrentLeader reads the leader without a session of its own, for
// clients that only want to find it (Election.Leader needs a Session,
// which costs a lease): the oldest candidacy under ElectionPrefix leads, as
// concurrency.Election decides. It returns ErrNoLeader when none campaigns.
func CurrentLeader(ctx context.Context, kv clientv3.KV) (Leader, error) {
	resp, err := kv.Get(ctx, ElectionPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return Leader{}, fmt.Errorf("membership: leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return Leader{}, ErrNoLeader
	}
	kvl := resp.Kvs[0]
	return Leader{Value: string(kvl.Value), Revision: kvl.CreateRevision}, nil
}

// Observe sends the leader on the returned channel: the current one, then
// each new one (or new value) as the election changes. Clients use it to
// find the coordinator to dial. The channel closes when ctx ends or the
// watch fails for good (the client closed).
func (e *Election) Observe(ctx context.Context) <-chan Leader {
	out := make(chan Leader)
	in := e.e.Observe(ctx)
	go func() {
		defer close(out)
		for resp := range in {
			kv := resp.Kvs[0]
			select {
			case out <- Leader{Value: string(kv.Value), Revision: kv.CreateRevision}:
			case <-ctx.Done():
				// Drain so concurrency's observer, which stops on the same
				// ctx, is never left blocked on its send.
				for range in {
				}
				return
			}
		}
	}()
	return out
}

// CoordinatorValue is what a coordinator campaigns with: its name and the
// host:port of its gRPC services (Jobs, Data, Coordinator), so clients and
// operators find the leader by reading the election.
func CoordinatorValue(name, addr string) string { return name + " " + addr }

// ParseCoordinatorValue splits a leader's value into name and address.
func ParseCoordinatorValue(v string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(v, " ")
	if !ok || name == "" || addr == "" {
		return "", "", fmt.Errorf("membership: coordinator value %q, want \"NAME HOST:PORT\"", v)
	}
	return name, addr, nil
}
