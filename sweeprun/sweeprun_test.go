package sweeprun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/internal/etcdtest"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
	"github.com/cohort-clv/cohort/sweeprun"
	"github.com/cohort-clv/cohort/synth"
)

// writeShop writes a small synthetic shop (78 weeks from 1997-01-01) and
// returns its path.
func writeShop(t *testing.T, dir string) string {
	t.Helper()
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers = 1500
	var buf bytes.Buffer
	if err := synth.WriteCSV(context.Background(), &buf, cfg); err != nil {
		t.Fatalf("generate shop: %v", err)
	}
	path := filepath.Join(dir, "shop.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// etcd starts an embedded etcd for the test and returns a client of it.
func etcd(t *testing.T) *clientv3.Client {
	_, cli := etcdtest.Start(t)
	return cli
}

func parse(t *testing.T, yaml string) *sweeprun.Spec {
	t.Helper()
	s, err := sweeprun.ParseSpec([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// smallSweep is 6 random trials, 2 at a time, 4 epochs each, with ASHA.
func smallSweep(data string) string {
	return fmt.Sprintf(`
data: %s
calibration_end: "1997-09-30"
horizon: 39w
model: {max_epochs: 4, batch: 256}
space:
  parameters:
    - {name: hidden, type: categorical, values: ["16", "32,16"]}
    - {name: lr, type: float, min: 0.0001, max: 0.01, log: true}
    - {name: weight_decay, type: float, min: 0, max: 0.001}
sampler: {algorithm: random}
trials: 6
parallel: 2
threads: 2
early_stopping: {rule: asha, asha: {min_resource: 1, eta: 2}}
seed: 3
`, data)
}

// finalWrites replays the sweep's history in etcd and counts, per trial,
// the writes that gave it a final status.
func finalWrites(t *testing.T, cli *clientv3.Client, id string) map[int]int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prefix := sweeprun.SweepsPrefix + id + "/trials/"
	now, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	end := int64(0) // the last write of a trial
	for _, kv := range now.Kvs {
		end = max(end, kv.ModRevision)
	}
	counts := map[int]int{}
	for resp := range cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(1)) {
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			var tr sweeprun.Trial
			if err := json.Unmarshal(ev.Kv.Value, &tr); err != nil {
				t.Fatal(err)
			}
			if tr.Finished() {
				counts[tr.ID]++
			}
			if ev.Kv.ModRevision >= end {
				return counts
			}
		}
		if resp.Header.Revision >= end && len(resp.Events) == 0 {
			return counts
		}
	}
	return counts
}

// TestSweepCompletes ensures a sweep runs its whole budget, stores every
// trial as completed or pruned, and leaves a best model that loads.
func TestSweepCompletes(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	spec := parse(t, smallSweep(writeShop(t, dir)))
	out := filepath.Join(dir, "sweep")
	res, err := sweeprun.Start(context.Background(), cli, "s1", spec, sweeprun.Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	_, trials, err := sweeprun.Load(context.Background(), cli, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 6 {
		t.Fatalf("%d trials stored, want 6", len(trials))
	}
	for _, tr := range trials {
		if tr.Status != sweeprun.Completed && tr.Status != sweeprun.Pruned {
			t.Errorf("trial %d: status %s (%s), want completed or pruned", tr.ID, tr.Status, tr.Reason)
		}
	}
	best, _ := sweeprun.BestTrial(trials)
	if best.ID != res.Best.ID {
		t.Errorf("result's best trial %d, stored best %d", res.Best.ID, best.ID)
	}
	if _, err := job.LoadTrained(filepath.Join(out, sweeprun.BestDir, job.ModelDir)); err != nil {
		t.Errorf("best model: %v", err)
	}
	for _, f := range []string{"results.csv", "best-so-far.png", "param-lr.png", "param-hidden.png", "best/metrics.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output: %v", err)
		}
	}
	writes := finalWrites(t, cli, "s1")
	if len(writes) != 6 {
		t.Errorf("history shows %d finished trials, want 6", len(writes))
	}
	for id, n := range writes {
		if n != 1 {
			t.Errorf("trial %d finished %d times", id, n)
		}
	}
}

// TestResume ensures a sweep stopped mid-way resumes to the full budget with
// no trial finishing twice and the sampler keeping its observations.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	spec := parse(t, smallSweep(writeShop(t, dir)))
	out := filepath.Join(dir, "sweep")
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	opts := sweeprun.Options{Out: out, Progress: func(p sweeprun.Progress) {
		if p.Done >= 2 {
			once.Do(cancel)
		}
	}}
	if _, err := sweeprun.Start(ctx, cli, "r1", spec, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped sweep: error %v, want context.Canceled", err)
	}
	state, err := sweeprun.SamplerState(context.Background(), cli, "r1")
	if err != nil {
		t.Fatal(err)
	}
	before, err := sweeprun.Observations(state)
	if err != nil {
		t.Fatal(err)
	}
	_, trials, err := sweeprun.Load(context.Background(), cli, "r1")
	if err != nil {
		t.Fatal(err)
	}
	finished := 0
	for _, tr := range trials {
		if tr.Finished() {
			finished++
		}
	}
	if finished < 2 || finished >= 6 || before != finished {
		t.Fatalf("after the stop: %d trials finished, sampler has %d observations; want 2..5 and equal", finished, before)
	}

	res, err := sweeprun.Resume(context.Background(), cli, "r1", sweeprun.Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trials) != 6 {
		t.Fatalf("%d trials after resume, want 6", len(res.Trials))
	}
	ids := map[int]bool{}
	for _, tr := range res.Trials {
		ids[tr.ID] = true
		if tr.Status != sweeprun.Completed && tr.Status != sweeprun.Pruned {
			t.Errorf("trial %d: status %s (%s)", tr.ID, tr.Status, tr.Reason)
		}
	}
	if len(ids) != 6 {
		t.Errorf("trial ids %v, want 6 distinct", ids)
	}
	state, err = sweeprun.SamplerState(context.Background(), cli, "r1")
	if err != nil {
		t.Fatal(err)
	}
	after, err := sweeprun.Observations(state)
	if err != nil {
		t.Fatal(err)
	}
	if after != 6 || after <= before {
		t.Errorf("sampler observations: %d before resume, %d after; want 6 after", before, after)
	}
	writes := finalWrites(t, cli, "r1")
	if len(writes) != 6 {
		t.Errorf("history shows %d finished trials, want 6", len(writes))
	}
	for id, n := range writes {
		if n != 1 {
			t.Errorf("trial %d finished %d times", id, n)
		}
	}
	if _, err := job.LoadTrained(filepath.Join(out, sweeprun.BestDir, job.ModelDir)); err != nil {
		t.Errorf("best model: %v", err)
	}
}

// TestASHAPrunes ensures ASHA stops a trial whose learning rate is far too
// small to learn: run after a good trial, its first-epoch loss is worse and
// it is the only trial at the rung besides the good one.
func TestASHAPrunes(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	spec := parse(t, fmt.Sprintf(`
data: %s
calibration_end: "1997-09-30"
horizon: 39w
model: {max_epochs: 4, batch: 256, hidden: [16]}
space:
  parameters:
    - {name: lr, type: categorical, values: [0.01, 0.0000001]}
sampler: {algorithm: grid}
trials: 2
parallel: 1
threads: 2
early_stopping: {rule: asha, asha: {min_resource: 1, eta: 2}}
`, writeShop(t, dir)))
	res, err := sweeprun.Start(context.Background(), cli, "a1", spec, sweeprun.Options{Out: filepath.Join(dir, "sweep")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trials) != 2 || res.Trials[0].Config["lr"] != 0.01 {
		t.Fatalf("trials %+v: want 2, the first with lr 0.01", res.Trials)
	}
	if got := res.Trials[1]; got.Status != sweeprun.Pruned || got.Epochs >= 4 {
		t.Errorf("trial with lr 1e-7: status %s after %d epochs, want pruned before epoch 4", got.Status, got.Epochs)
	}
	if res.Best.ID != 0 {
		t.Errorf("best trial %d, want 0", res.Best.ID)
	}
}

// tinySweep is 2 grid trials of 2 epochs over data, no early stopping.
func tinySweep(data, lrs string) string {
	return fmt.Sprintf(`
data: %s
calibration_end: "1997-09-30"
horizon: 39w
model: {max_epochs: 2, batch: 256, hidden: [8]}
space: {parameters: [{name: lr, type: categorical, values: [%s]}]}
sampler: {algorithm: grid}
trials: 2
parallel: 1
threads: 1
early_stopping: {rule: none}
`, data, lrs)
}

// TestStartBadDataKeepsID ensures a sweep whose data cannot be read fails
// before it exists: the id stays free, and the fixed spec starts under it.
func TestStartBadDataKeepsID(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	shop := writeShop(t, dir)
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"missing file", tinySweep(filepath.Join(dir, "nope.csv"), "0.01"), "nope.csv"},
		{"bad column", tinySweep(shop, "0.01") + "columns: {customer: client}\n", `"client"`},
		{"calibration end after the data", strings.Replace(tinySweep(shop, "0.01"), "1997-09-30", "2030-01-01", 1), "2030"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			_, err := sweeprun.Start(context.Background(), cli, id, parse(t, tc.yaml), sweeprun.Options{Out: filepath.Join(dir, id)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if _, _, err := sweeprun.Load(context.Background(), cli, id); err == nil {
				t.Errorf("sweep %s was created in etcd: its id is taken", id)
			}
		})
	}
	// The id of a failed start is free for the fixed spec.
	if _, err := sweeprun.Start(context.Background(), cli, "missing-file", parse(t, tinySweep(shop, "0.01")),
		sweeprun.Options{Out: filepath.Join(dir, "fixed")}); err != nil {
		t.Fatalf("the fixed spec under the same id: %v", err)
	}
}

// TestResumeFinished ensures resuming a finished sweep trains nothing and
// rewrites nothing: it returns the stored outcome, with the best run's test
// metrics and elapsed time, marked AlreadyFinished.
func TestResumeFinished(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	out := filepath.Join(dir, "sweep")
	first, err := sweeprun.Start(context.Background(), cli, "f1", parse(t, tinySweep(writeShop(t, dir), "0.01, 0.003")), sweeprun.Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(out, sweeprun.BestDir, "metrics.json")
	before, err := os.Stat(metrics)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	again, err := sweeprun.Resume(context.Background(), cli, "f1", sweeprun.Options{Out: out,
		Step: func(context.Context, sweeprun.Trial, *job.Prepared, job.Events) (*model.Model, model.History, error) {
			calls++
			return nil, model.History{}, errors.New("resuming a finished sweep must not train")
		}})
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"the first run's best_run.elapsed_ns is set", first.BestRun != nil && first.BestRun.Elapsed > 0},
		{"the first run's best trial has its training time", first.Best.Elapsed > 0},
		{"the resumed sweep is marked already finished", again.AlreadyFinished && !first.AlreadyFinished},
		{"nothing trained", calls == 0},
		{"best/metrics.json not rewritten", after.ModTime().Equal(before.ModTime())},
		{"the same best trial", again.Best.ID == first.Best.ID && again.Best.Value == first.Best.Value},
		{"the stored best run", again.BestRun != nil && again.BestRun.Model.NormalizedGini == first.BestRun.Model.NormalizedGini &&
			again.BestRun.Elapsed == first.BestRun.Elapsed},
		{"every trial", len(again.Trials) == 2 && again.Epochs == first.Epochs},
	} {
		if !c.ok {
			t.Errorf("%s: no (first %+v, resumed %+v)", c.what, first.Best, again.Best)
		}
	}
}

// TestNoTrialCompleted ensures a sweep in which every trial fails says why
// in its error, not only in its stored trials.
func TestNoTrialCompleted(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	shop := writeShop(t, dir)
	for _, tc := range []struct {
		name, lrs string
		want      []string
	}{
		{"diverged", "1000000000", []string{"no trial completed (1 failed", "first failure: trial 0 (lr=1e+09): ", "NaN"}},
		{"both diverged", "1000000000, 10000000000", []string{"no trial completed (2 failed", "first failure: trial 0 (lr=1e+09): "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := parse(t, strings.Replace(tinySweep(shop, tc.lrs), "trials: 2", "trials: 2\nretries: 0", 1))
			_, err := sweeprun.Start(context.Background(), cli, strings.ReplaceAll(tc.name, " ", "-"), spec,
				sweeprun.Options{Out: filepath.Join(dir, tc.name)})
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want one mentioning %q", err, w)
				}
			}
		})
	}
}

// TestLateStopKeepsFinishedTrial ensures a trial whose stop decision
// reached it only after it trained to its end (a cluster trial's epochs
// arrive late) counts as completed with its real model, not as pruned:
// its model is whole, and the best may be it.
func TestLateStopKeepsFinishedTrial(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	yaml := strings.NewReplacer("trials: 2", "trials: 4", "max_epochs: 2", "max_epochs: 3",
		"early_stopping: {rule: none}", "early_stopping: {rule: asha, asha: {min_resource: 1, eta: 3}}").
		Replace(tinySweep(writeShop(t, dir), "0.01, 0.000001, 0.0000001, 0.00000001"))
	// lateStep trains the trial to its end and only then reports its
	// epochs, as a coordinator's events can arrive.
	lateStep := func(ctx context.Context, _ sweeprun.Trial, p *job.Prepared, ev job.Events) (*model.Model, model.History, error) {
		be := cpu.New(cpu.Options{Threads: 1})
		defer be.Close()
		net, hist, err := job.Local(ctx, be, p, job.Events{})
		if err != nil {
			return nil, hist, err
		}
		for _, e := range hist.Epochs {
			ev.Epoch(e)
		}
		return net, hist, nil
	}
	res, err := sweeprun.Start(context.Background(), cli, "late", parse(t, yaml), sweeprun.Options{Out: filepath.Join(dir, "late"), Step: lateStep})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Trials {
		if tr.Status != sweeprun.Completed || tr.Epochs != 3 {
			t.Errorf("trial %d: %s after %d epochs, want completed after 3 (its stop came after it finished)", tr.ID, tr.Status, tr.Epochs)
		}
	}
}
