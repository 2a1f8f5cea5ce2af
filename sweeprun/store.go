package sweeprun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/sweep"
)

// SweepsPrefix holds every sweep's keys.
const SweepsPrefix = membership.Root + "sweeps/"

// Status is where a trial stands; it extends sweep.Status with Running.
type Status string

// Trial statuses as stored.
const (
	Pending Status = "pending"
	Running Status = "running"
	// Stopped is a trial whose attempt a clean stop of the sweep ended
	// (Ctrl-C, SIGTERM: its context cancelled): Resume runs it again, and
	// the stop does not count against the spec's Retries.
	Stopped   Status = "stopped"
	Completed Status = "completed"
	Pruned    Status = "pruned"
	Failed    Status = "failed"
)

// Interrupted is never stored: Inspect shows it for a trial stored as
// running in a sweep that no process runs, whose process died (killed,
// crashed) without recording a stop. Resume runs it again and counts that
// attempt against the spec's Retries.
const Interrupted Status = "interrupted"

// Trial is one trial's record in etcd.
type Trial struct {
	ID     int          `json:"id"`
	Config sweep.Config `json:"config"`
	Status Status       `json:"status"`
	// Attempts counts the trial's attempts. A start after a clean stop
	// of the sweep (the trial is Stopped) takes the stopped attempt over
	// instead of adding one; a trial that Resume finds running was
	// interrupted by a crash (its process died without recording a stop),
	// and runs again, as a new attempt, while Attempts <= the spec's
	// Retries.
	Attempts int `json:"attempts"`
	// Losses are the validation losses reported to the early stopper after
	// each epoch (best so far, so they never rise). An attempt that
	// follows a stop or a crash starts from epoch 1 again and adds only the
	// epochs beyond those already here: the stopper has seen those, and
	// training with the trial's seed repeats them.
	Losses []float64 `json:"losses"`
	// Epochs counts the epochs trained by the current attempt: that of a
	// running trial, the one a stop ended, or the one that ended the
	// trial, as Elapsed does. Epochs of earlier attempts are not counted:
	// the next attempt trains them again.
	Epochs int `json:"epochs"`
	// Value is the objective: the best validation loss of a completed
	// trial, the last reported loss of a pruned one. Other trials have
	// none: JSON leaves it out, and it is 0 here.
	Value  float64 `json:"value"`
	Reason string  `json:"reason,omitempty"`
	// Elapsed is the training time of the attempt that ended the trial.
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`
}

// HasValue reports whether the trial has an objective value: it completed
// or was pruned.
func (t Trial) HasValue() bool { return t.Status == Completed || t.Status == Pruned }

// MarshalJSON leaves the value out of a trial that has none (failed,
// running), so that min(value) over the JSON never picks a failed trial.
func (t Trial) MarshalJSON() ([]byte, error) {
	type plain Trial // no MarshalJSON: no recursion
	doc := struct {
		plain
		Value *float64 `json:"value,omitempty"`
	}{plain: plain(t)}
	if t.HasValue() {
		doc.Value = &t.Value
	}
	return json.Marshal(doc)
}

// Finished reports whether the trial has reached a final status.
func (t Trial) Finished() bool {
	return t.Status == Completed || t.Status == Pruned || t.Status == Failed
}

// store reads and writes one sweep's keys.
type store struct {
	cli *clientv3.Client
	id  string
	// revs is the ModRevision of each trial key as this process last wrote
	// or read it: every update compares it, so a second coordinator that
	// raced this one cannot overwrite a trial behind its back.
	revs map[int]int64
}

func prefix(id string) string       { return SweepsPrefix + id + "/" }
func specKey(id string) string      { return prefix(id) + "spec" }
func samplerKey(id string) string   { return prefix(id) + "sampler" }
func stopperKey(id string) string   { return prefix(id) + "stopper" }
func trialsPrefix(id string) string { return prefix(id) + "trials/" }
func trialKey(id string, n int) string {
	return fmt.Sprintf("%s%08d", trialsPrefix(id), n)
}

// ErrConflict means a trial key changed under this process: another
// coordinator runs the sweep.
var ErrConflict = errors.New("sweeprun: sweep state changed under this coordinator (another one runs it?)")

// create writes the spec and the initial sampler and stopper states, failing
// when the sweep exists.
func (s *store) create(ctx context.Context, spec *Spec, sampler, stopper []byte, extra ...clientv3.Op) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("sweeprun: encode spec: %w", err)
	}
	ops := []clientv3.Op{clientv3.OpPut(specKey(s.id), string(b)), clientv3.OpPut(samplerKey(s.id), string(sampler))}
	if stopper != nil {
		ops = append(ops, clientv3.OpPut(stopperKey(s.id), string(stopper)))
	}
	ops = append(ops, extra...)
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(specKey(s.id)), "=", 0)).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("sweeprun: create sweep %s: %w", s.id, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("sweeprun: create sweep %s: %w (resume it, or pick another id)", s.id, ErrExists)
	}
	return nil
}

// snapshot is a sweep as stored.
type snapshot struct {
	Spec    *Spec
	Sampler []byte
	Stopper []byte
	Trials  []Trial
}

// load reads every key of the sweep in one consistent read.
func (s *store) load(ctx context.Context) (*snapshot, error) {
	resp, err := s.cli.Get(ctx, prefix(s.id), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("sweeprun: load sweep %s: %w", s.id, err)
	}
	snap := &snapshot{}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		switch {
		case k == specKey(s.id):
			sp := newSpec() // as ParseSpec decodes
			if err := json.Unmarshal(kv.Value, &sp); err != nil {
				return nil, fmt.Errorf("sweeprun: load sweep %s: spec: %w", s.id, err)
			}
			snap.Spec = &sp
		case k == samplerKey(s.id):
			snap.Sampler = kv.Value
		case k == stopperKey(s.id):
			snap.Stopper = kv.Value
		case strings.HasPrefix(k, trialsPrefix(s.id)):
			var t Trial
			if err := json.Unmarshal(kv.Value, &t); err != nil {
				return nil, fmt.Errorf("sweeprun: load sweep %s: %s: %w", s.id, k, err)
			}
			snap.Trials = append(snap.Trials, t)
			if s.revs != nil {
				s.revs[t.ID] = kv.ModRevision
			}
		}
	}
	if snap.Spec == nil {
		return nil, fmt.Errorf("sweeprun: sweep %s: not found in etcd", s.id)
	}
	slices.SortFunc(snap.Trials, func(a, b Trial) int { return a.ID - b.ID })
	return snap, nil
}

// write puts trials and, when not nil, the sampler and stopper states in one
// transaction that succeeds only if no trial key changed since this process
// last saw it.
func (s *store) write(ctx context.Context, trials []Trial, sampler, stopper []byte) error {
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for _, t := range trials {
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("sweeprun: encode trial %d: %w", t.ID, err)
		}
		k := trialKey(s.id, t.ID)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", s.revs[t.ID]))
		ops = append(ops, clientv3.OpPut(k, string(b)))
	}
	if sampler != nil {
		ops = append(ops, clientv3.OpPut(samplerKey(s.id), string(sampler)))
	}
	if stopper != nil {
		ops = append(ops, clientv3.OpPut(stopperKey(s.id), string(stopper)))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("sweeprun: write sweep %s: %w", s.id, err)
	}
	if !resp.Succeeded {
		return ErrConflict
	}
	for _, t := range trials {
		s.revs[t.ID] = resp.Header.Revision
	}
	return nil
}

// Load reads a sweep's spec and trials from etcd, for status and results.
func Load(ctx context.Context, cli *clientv3.Client, id string) (*Spec, []Trial, error) {
	st := &store{cli: cli, id: id}
	snap, err := st.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	return snap.Spec, snap.Trials, nil
}

// Observations returns how many observations a stored sampler state holds,
// for tests and status.
func Observations(state []byte) (int, error) {
	var st struct {
		Observed []json.RawMessage `json:"observed"`
	}
	if err := json.Unmarshal(state, &st); err != nil {
		return 0, fmt.Errorf("sweeprun: sampler state: %w", err)
	}
	return len(st.Observed), nil
}

// SamplerState returns the sweep's stored sampler state.
func SamplerState(ctx context.Context, cli *clientv3.Client, id string) ([]byte, error) {
	st := &store{cli: cli, id: id}
	snap, err := st.load(ctx)
	if err != nil {
		return nil, err
	}
	return snap.Sampler, nil
}

// Delete removes every key of sweep id from etcd; it says whether there
// were any. The output directory is the caller's to remove.
func Delete(ctx context.Context, cli *clientv3.Client, id string) (bool, error) {
	resp, err := cli.Delete(ctx, prefix(id), clientv3.WithPrefix())
	if err != nil {
		return false, fmt.Errorf("sweeprun: delete sweep %s: %w", id, err)
	}
	return resp.Deleted > 0, nil
}
