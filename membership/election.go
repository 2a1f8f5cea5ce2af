package membership

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
type Election struct {
	sess *Session
	e    *concurrency.Election
}

// NewElection returns sess's handle on the coordinators' election.
func NewElection(sess *Session) *Election {
	return &Election{sess: sess, e: concurrency.NewElection(sess.concurrency(), ElectionPrefix)}
}

// Campaign enters the election with value and blocks until this session
// leads: at once if no one does, or when every older candidacy is gone (the
// leader resigned, or its lease expired within its TTL of its process
// dying). If ctx ends first, it withdraws the candidacy and returns
// ctx.Err().
func (e *Election) Campaign(ctx context.Context, value string) error {
	if err := e.e.Campaign(ctx, value); err != nil {
		return fmt.Errorf("membership: campaign: %w", err)
	}
	// concurrency.Election waits for older candidacies to go but not for its
	// own to stay: if this session expired while it waited (a partition),
	// its key is gone too and it must not act as leader.
	resp, err := e.sess.Client().Get(ctx, e.e.Key())
	if err != nil {
		return fmt.Errorf("membership: campaign: confirm leadership: %w", err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != e.e.Rev() {
		return fmt.Errorf("membership: campaign: session ended while waiting: %w", ErrNotLeader)
	}
	return nil
}

// Fence is a comparison that holds only while this session leads. A leader
// puts it in the If of every transaction that changes cluster state, so a
// deposed leader that has not noticed yet writes nothing.
func (e *Election) Fence() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(e.e.Key()), "=", e.e.Rev())
}

// Resign gives up leadership, letting the next standby take over at once
// instead of after a TTL. It does nothing if this session does not lead.
func (e *Election) Resign(ctx context.Context) error {
	if err := e.e.Resign(ctx); err != nil {
		return fmt.Errorf("membership: resign: %w", err)
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
