package sweeprun

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/job"
)

// A sweep submitted to the cluster (Submit) is run by the leading
// coordinator, not by the process that submitted it: its key "cluster"
// says where the outputs go, and "done" marks it finished, so a
// coordinator that takes over resumes exactly the sweeps without one.
func clusterKey(id string) string { return prefix(id) + "cluster" }
func doneKey(id string) string    { return prefix(id) + "done" }

// ClusterSweep is what Submit records for the coordinators.
type ClusterSweep struct {
	// Out is the sweep's output directory on the coordinators.
	Out string `json:"out"`
}

// Summary is what a finished sweep records under its "done" key.
type Summary struct {
	Trials    int     `json:"trials"`
	Completed int     `json:"completed"`
	Epochs    int     `json:"epochs"`
	BestTrial int     `json:"best_trial"`
	BestValue float64 `json:"best_value"`
	// Out is the output directory: Out/best is the best trial's run.
	Out            string  `json:"out"`
	NormalizedGini float64 `json:"normalized_gini"`
	// Error says why a sweep failed (no completed trial, bad data...).
	Error string `json:"error,omitempty"`
	// Best is the best trial and BestRun its run (test metrics, files), as
	// a local sweep's Result holds them, less BestRun's per-epoch history;
	// both nil for a failed sweep and for one that an older cohort
	// finished.
	Best    *Trial      `json:"best,omitempty"`
	BestRun *job.Result `json:"best_run,omitempty"`
}

// Fail records that sweep id cannot finish, so coordinators stop resuming
// it and its submitter learns why.
func Fail(ctx context.Context, cli *clientv3.Client, id string, cause error) error {
	b, err := json.Marshal(Summary{Error: cause.Error()})
	if err != nil {
		return err
	}
	if _, err := cli.Put(ctx, doneKey(id), string(b)); err != nil {
		return fmt.Errorf("sweeprun: record sweep %s failed: %w", id, err)
	}
	return nil
}

// Submit creates sweep id in etcd for the leading coordinator to run, its
// outputs going to out (a directory on the coordinators).
func Submit(ctx context.Context, cli *clientv3.Client, id string, spec *Spec, out string) error {
	if out == "" {
		return fmt.Errorf("sweeprun: submit %s: an output directory is required", id)
	}
	space, err := spec.space()
	if err != nil {
		return fmt.Errorf("sweeprun: %w", err)
	}
	init, err := spec.initial(space)
	if err != nil {
		return err
	}
	mark, err := json.Marshal(ClusterSweep{Out: out})
	if err != nil {
		return err
	}
	st := &store{cli: cli, id: id}
	return st.create(ctx, spec, init.samplerState, init.stopperState, clientv3.OpPut(clusterKey(id), string(mark)))
}

// Unfinished returns the cluster sweeps (Submit) that have not finished,
// with where each writes its outputs.
func Unfinished(ctx context.Context, cli *clientv3.Client) (map[string]ClusterSweep, error) {
	resp, err := cli.Get(ctx, SweepsPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("sweeprun: list sweeps: %w", err)
	}
	done := map[string]bool{}
	var ids []string
	for _, kv := range resp.Kvs {
		id, key, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), SweepsPrefix), "/")
		switch {
		case !ok:
		case key == "done":
			done[id] = true
		case key == "cluster":
			ids = append(ids, id)
		}
	}
	out := map[string]ClusterSweep{}
	for _, id := range ids {
		if done[id] {
			continue
		}
		r, err := cli.Get(ctx, clusterKey(id))
		if err != nil {
			return nil, fmt.Errorf("sweeprun: read sweep %s: %w", id, err)
		}
		if len(r.Kvs) == 0 {
			continue
		}
		var c ClusterSweep
		if err := json.Unmarshal(r.Kvs[0].Value, &c); err != nil {
			return nil, fmt.Errorf("sweeprun: sweep %s: %s: %w", id, clusterKey(id), err)
		}
		out[id] = c
	}
	return out, nil
}

// Done returns a finished sweep's summary, or nil while it runs.
func Done(ctx context.Context, cli *clientv3.Client, id string) (*Summary, error) {
	resp, err := cli.Get(ctx, doneKey(id))
	if err != nil {
		return nil, fmt.Errorf("sweeprun: read sweep %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var s Summary
	if err := json.Unmarshal(resp.Kvs[0].Value, &s); err != nil {
		return nil, fmt.Errorf("sweeprun: sweep %s: %s: %w", id, doneKey(id), err)
	}
	return &s, nil
}

// finish records the finished sweep's summary.
func (s *store) finish(ctx context.Context, res *Result, out string) error {
	best := res.Best
	sum := Summary{Trials: len(res.Trials), Epochs: res.Epochs, BestTrial: best.ID, BestValue: best.Value, Out: out, Best: &best}
	if res.BestRun != nil {
		// Without the per-epoch history (best/metrics.json has it), so that
		// a long training cannot push the key past etcd's request limit.
		run := *res.BestRun
		run.History.Epochs = nil
		sum.BestRun = &run
	}
	for _, t := range res.Trials {
		if t.Status == Completed {
			sum.Completed++
		}
	}
	if res.BestRun != nil {
		sum.NormalizedGini = res.BestRun.Model.NormalizedGini
	}
	b, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	if _, err := s.cli.Put(ctx, doneKey(s.id), string(b)); err != nil {
		return fmt.Errorf("sweeprun: record sweep %s finished: %w", s.id, err)
	}
	return nil
}
