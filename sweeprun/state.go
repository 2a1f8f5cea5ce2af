package sweeprun

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/membership"
)

// A process that runs a sweep (cohort sweep, or the leading coordinator)
// keeps its "holder" key alive under an etcd lease for as long as it
// runs: the key says who runs the sweep, and it goes when that process
// stops or, if it dies, when the lease expires. That is how status tells a
// running sweep from one whose trials a dead process left running.
func holderKey(id string) string { return prefix(id) + "holder" }

// Holder is the process that runs a sweep.
type Holder struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

// holderTTL is the lease of the holder key: how long a killed holder's
// sweep still reads as running.
var holderTTL = int64(membership.DefaultTTL / time.Second)

// hold writes the sweep's holder key under a new lease, kept alive until
// the returned release is called. The keep-alive outlives ctx, so that
// release can still revoke the lease (deleting the key at once) after ctx
// is cancelled, as it is when the sweep stops.
func (s *store) hold(ctx context.Context) (release func(), err error) {
	lease, err := s.cli.Grant(ctx, holderTTL)
	if err != nil {
		return nil, fmt.Errorf("sweeprun: sweep %s: lease for its holder: %w", s.id, err)
	}
	revoke := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		s.cli.Revoke(rctx, lease.ID) // on failure the lease expires within its TTL
	}
	host, _ := os.Hostname()
	b, err := json.Marshal(Holder{Host: host, PID: os.Getpid()})
	if err == nil {
		_, err = s.cli.Put(ctx, holderKey(s.id), string(b), clientv3.WithLease(lease.ID))
	}
	if err != nil {
		revoke()
		return nil, fmt.Errorf("sweeprun: sweep %s: record its holder: %w", s.id, err)
	}
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ka, err := s.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		stop()
		revoke()
		return nil, fmt.Errorf("sweeprun: sweep %s: keep its holder alive: %w", s.id, err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range ka { // the client warns when nobody reads the responses
		}
	}()
	return func() {
		stop()
		<-drained
		revoke()
	}, nil
}

// State is where a sweep as a whole stands.
type State string

// Sweep states.
const (
	// StateRunning: a process runs the sweep now.
	StateRunning State = "running"
	// StateStopped: no process runs the unfinished sweep (it was stopped,
	// or its process died); cohort sweep --resume continues it, and a
	// cluster sweep's next leading coordinator does so by itself.
	StateStopped State = "stopped"
	// StateDone: the sweep finished and wrote its best trial.
	StateDone State = "done"
	// StateFailed: the sweep ended without a result (no trial completed,
	// bad data...); Overview.Error says why.
	StateFailed State = "failed"
)

// Overview is a sweep as status shows it.
type Overview struct {
	State State
	// Cluster says that the sweep was submitted to a cluster (Submit):
	// its leading coordinator runs it.
	Cluster bool
	// Holder is the process that runs the sweep, while it runs.
	Holder *Holder
	// Error says why a failed sweep failed.
	Error string
	Spec  *Spec
	// Trials as they stand. In a sweep that no process runs, a trial
	// stored as running was left so by a process that died, and reads
	// Interrupted: nothing trains it until the sweep is resumed.
	Trials []Trial
}

// Inspect reads sweep id's state and trials. alone says that the caller
// knows no process can be running the sweep: it holds the lock of the
// sweep's embedded etcd itself. The holder key of a process that was
// killed is then ignored: a restarted etcd renews every lease once, so
// that key lingers for a TTL after the restart.
func Inspect(ctx context.Context, cli *clientv3.Client, id string, alone bool) (*Overview, error) {
	st := &store{cli: cli, id: id}
	snap, err := st.load(ctx)
	if err != nil {
		return nil, err
	}
	ov := &Overview{Spec: snap.Spec, Trials: snap.Trials}
	resp, err := cli.Txn(ctx).Then(clientv3.OpGet(doneKey(id)), clientv3.OpGet(holderKey(id)),
		clientv3.OpGet(clusterKey(id), clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return nil, fmt.Errorf("sweeprun: read sweep %s: %w", id, err)
	}
	done, holder, cluster := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs,
		resp.Responses[2].GetResponseRange().Kvs
	ov.Cluster = len(cluster) > 0
	switch {
	case len(done) > 0:
		var sum Summary
		if err := json.Unmarshal(done[0].Value, &sum); err != nil {
			return nil, fmt.Errorf("sweeprun: sweep %s: %s: %w", id, doneKey(id), err)
		}
		ov.State, ov.Error = StateDone, sum.Error
		if sum.Error != "" {
			ov.State = StateFailed
		}
	case len(holder) > 0 && !alone:
		ov.State = StateRunning
		var h Holder
		if json.Unmarshal(holder[0].Value, &h) == nil {
			ov.Holder = &h
		}
	case spent(snap.Spec, snap.Trials):
		// A local sweep that ended with no completed trial records no
		// summary; resuming it only fails again.
		ov.State, ov.Error = StateFailed, noneCompleted(id, snap.Trials).Error()
	default:
		ov.State = StateStopped
	}
	if ov.State != StateRunning {
		ov.Trials = Unheld(ov.Trials)
	}
	return ov, nil
}

// spent reports whether a sweep has nothing left to run and no trial
// completed: its budget (or grid) is used up and every trial finished.
func spent(spec *Spec, trials []Trial) bool {
	budget := spec.Trials
	if n, ok := spec.GridSize(); ok {
		budget = min(budget, n)
	}
	if len(trials) < budget {
		return false
	}
	for _, t := range trials {
		if !t.Finished() || t.Status == Completed {
			return false
		}
	}
	return true
}

// Unheld returns trials as they stand when no process runs their sweep:
// those stored as running read Interrupted (their process died without
// recording a stop). trials is left as it is.
func Unheld(trials []Trial) []Trial {
	out := make([]Trial, len(trials))
	for i, t := range trials {
		if t.Status == Running {
			t.Status = Interrupted
		}
		out[i] = t
	}
	return out
}
