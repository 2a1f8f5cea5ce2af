package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/internal/etcdtest"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/synth"
	"github.com/cohort-clv/cohort/worker"
)

// etcd starts an embedded etcd for the test and returns a client of it.
func etcd(t *testing.T) *clientv3.Client {
	_, cli := etcdtest.Start(t)
	return cli
}

// spec is a small, fast job on a synthetic shop.
func spec(t *testing.T, out string, epochs int) job.Spec {
	t.Helper()
	dir := t.TempDir()
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers = 2000
	var buf bytes.Buffer
	if err := synth.WriteCSV(context.Background(), &buf, cfg); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "shop.csv")
	if err := os.WriteFile(data, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := clv.ParseHorizon("39w")
	if err != nil {
		t.Fatal(err)
	}
	s := job.DefaultSpec()
	s.Data, s.Out, s.ImportanceRepeats = data, out, 0
	s.Read = clv.Options{CalibrationEnd: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), Horizon: h}
	s.Model.MaxEpochs = epochs
	return s
}

// cluster runs n in-process workers against cli until the test ends; it
// returns their names and a function that stops worker i.
func cluster(t *testing.T, cli *clientv3.Client, prefix string, n int, ttl time.Duration) ([]string, func(i int)) {
	t.Helper()
	names := make([]string, n)
	stops := make([]context.CancelFunc, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s-w%d", prefix, i)
		stops[i] = startWorker(t, cli, names[i], ttl)
	}
	return names, func(i int) { stops[i]() }
}

// startWorker runs an in-process worker until the test ends or the
// returned function stops it.
func startWorker(t *testing.T, cli *clientv3.Client, name string, ttl time.Duration) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := worker.Run(ctx, worker.Config{Name: name, Client: cli, TTL: ttl, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
			NewBackend: func(int) kernels.Backend { return cpu.New(cpu.Options{Threads: 1}) }}); err != nil {
			t.Errorf("worker %s: %v", name, err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return cancel
}

// train runs s on n in-process workers through a coordinator.
func train(t *testing.T, cli *clientv3.Client, s job.Spec, n int) (*job.Result, *cohortv1.Job, error) {
	t.Helper()
	ctx := context.Background()
	id := "eq-" + filepath.Base(s.Out) // unique per run: a reused id would meet its old records
	names, _ := cluster(t, cli, id, n, 2*time.Second)
	j, err := coordinator.Start(ctx, coordinator.Config{Client: cli, JobID: id, WorkerNames: names, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	res, err := job.TrainWith(ctx, be, s, job.Events{}, j.Train)
	if eerr := j.End(ctx, res, err); eerr != nil {
		t.Fatal(eerr)
	}
	rec, rerr := coordinator.ReadJob(ctx, cli, id)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return res, rec, err
}

// TestEquivalence ensures 1, 2 and 4 workers train the model the single
// process trains, and 2 workers an ensemble of 3 networks: weights within
// 1e-5 relative, test metrics equal to 4 digits, and the job recorded
// SUCCEEDED in etcd.
func TestEquivalence(t *testing.T) {
	cli := etcd(t)
	base := t.TempDir()
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	for _, c := range []struct{ ensemble, workers int }{{1, 1}, {1, 2}, {1, 4}, {3, 2}} {
		single := spec(t, filepath.Join(base, fmt.Sprintf("single-e%d", c.ensemble)), 4)
		single.Model.Ensemble = c.ensemble
		n := c.workers
		t.Run(fmt.Sprintf("ensemble=%d/workers=%d", c.ensemble, n), func(t *testing.T) {
			want, err := job.Train(context.Background(), be, single, job.Events{})
			if err != nil {
				t.Fatal(err)
			}
			wantNet, err := model.Load(want.ModelDir)
			if err != nil {
				t.Fatal(err)
			}
			if m := wantNet.Layout.MemberCount(); m != c.ensemble {
				t.Fatalf("single process trained %d networks, want %d", m, c.ensemble)
			}
			s := single
			s.Out = filepath.Join(base, fmt.Sprintf("e%d-w%d", c.ensemble, n))
			got, rec, err := train(t, cli, s, n)
			if err != nil {
				t.Fatal(err)
			}
			if rec.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED || rec.GetWorkers() != uint32(n) || rec.GetEpoch() != 4 {
				t.Errorf("job record: state %v, %d workers, epoch %d; want SUCCEEDED, %d, 4", rec.GetState(), rec.GetWorkers(), rec.GetEpoch(), n)
			}
			net, err := model.Load(got.ModelDir)
			if err != nil {
				t.Fatal(err)
			}
			page, err := os.ReadFile(filepath.Join(s.Out, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("cpu, %d worker", n); !bytes.Contains(page, []byte(want)) {
				t.Errorf("report.html does not say %q (the workers that trained)", want)
			}
			if d := relDiff(net.Params(), wantNet.Params()); d > 1e-5 {
				t.Errorf("weights differ from the single process by %.3g relative, want <= 1e-5", d)
			}
			for name, pair := range map[string][2]float64{
				"gini":     {got.Model.NormalizedGini, want.Model.NormalizedGini},
				"spearman": {got.Model.Spearman, want.Model.Spearman},
				"auc":      {got.Model.AUC, want.Model.AUC},
				"rmse":     {got.Model.RMSE, want.Model.RMSE},
			} {
				if math.Abs(pair[0]-pair[1]) > 1e-4*max(1, math.Abs(pair[1])) {
					t.Errorf("%s = %.6f, single process %.6f", name, pair[0], pair[1])
				}
			}
			if len(got.History.Epochs) != len(want.History.Epochs) || got.History.BestEpoch != want.History.BestEpoch {
				t.Errorf("history: %d epochs best %d, single process %d best %d",
					len(got.History.Epochs), got.History.BestEpoch, len(want.History.Epochs), want.History.BestEpoch)
			}
		})
	}
}

// fault is what elasticRun does to a job on 3 workers.
type fault int

const (
	noFault fault = iota
	lose          // stop worker 1 after epoch 2
	rejoin        // lose, then start worker 1 again once generation 2 reports
)

// elasticRun trains s on 3 in-process workers with the fault f; it returns
// the result, the job record, the time from the stop until generation 2
// reported an epoch, and the job's error.
func elasticRun(t *testing.T, cli *clientv3.Client, id string, s job.Spec, f fault, minWorkers int) (*job.Result, *cohortv1.Job, time.Duration, error) {
	t.Helper()
	ctx := context.Background()
	names, stop := cluster(t, cli, id, 3, 2*time.Second)
	var mu sync.Mutex
	var stopped time.Time
	var recovered time.Duration
	j, err := coordinator.Start(ctx, coordinator.Config{Client: cli, JobID: id, WorkerNames: names, MinWorkers: minWorkers,
		Timeout: 2 * time.Second, OnProgress: func(p coordinator.Progress) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case f != noFault && p.Epoch.Epoch == 2 && stopped.IsZero():
				stopped = time.Now()
				stop(1)
			case p.Generation == 2 && recovered == 0:
				recovered = time.Since(stopped)
				if f == rejoin {
					startWorker(t, cli, names[1], 2*time.Second)
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	res, err := job.TrainWith(ctx, be, s, job.Events{}, j.Train)
	if eerr := j.End(ctx, res, err); eerr != nil {
		t.Fatal(eerr)
	}
	rec, rerr := coordinator.ReadJob(ctx, cli, id)
	if rerr != nil {
		t.Fatal(rerr)
	}
	mu.Lock()
	defer mu.Unlock()
	return res, rec, recovered, err
}

// TestWorkerLossRecovers ensures a job whose worker stops mid-training
// goes on in generation 2 with the 2 survivors within the lease TTL + 2 s,
// takes the worker back in generation 3 when it registers again, succeeds,
// and ends with a test Gini within 1% of the fault-free run.
func TestWorkerLossRecovers(t *testing.T) {
	const epochs = 40
	cli := etcd(t)
	base := t.TempDir()
	s := spec(t, filepath.Join(base, "clean"), epochs)
	s.Model.Patience = -1
	want, rec, _, err := elasticRun(t, cli, "clean", s, noFault, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetGeneration() != 1 {
		t.Fatalf("fault-free run ended in generation %d, want 1", rec.GetGeneration())
	}
	for _, tc := range []struct {
		name         string
		f            fault
		gen, workers uint64
	}{
		{"lost", lose, 2, 2},
		{"rejoined", rejoin, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Out = filepath.Join(base, tc.name)
			got, rec, took, err := elasticRun(t, cli, tc.name, s, tc.f, 1)
			if err != nil {
				t.Fatalf("job with a lost worker: %v", err)
			}
			t.Logf("generation 2 reported an epoch %v after the stop; gini %.5f, fault-free %.5f", took, got.Model.NormalizedGini, want.Model.NormalizedGini)
			if rec.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED || rec.GetGeneration() != tc.gen || uint64(rec.GetWorkers()) != tc.workers {
				t.Errorf("job record: state %v, generation %d, %d workers; want SUCCEEDED, %d, %d",
					rec.GetState(), rec.GetGeneration(), rec.GetWorkers(), tc.gen, tc.workers)
			}
			if took <= 0 || took > 2*time.Second+2*time.Second {
				t.Errorf("generation 2 reported %v after the stop, want within TTL 2s + 2s", took)
			}
			if len(got.History.Epochs) != epochs {
				t.Errorf("history has %d epochs, want %d", len(got.History.Epochs), epochs)
			}
			if d := math.Abs(got.Model.NormalizedGini - want.Model.NormalizedGini); d > 0.01*math.Abs(want.Model.NormalizedGini) {
				t.Errorf("gini %.5f, fault-free %.5f: differ by more than 1%%", got.Model.NormalizedGini, want.Model.NormalizedGini)
			}
		})
	}
}

// TestWorkerLossBelowMinimum ensures that losing a worker when the
// survivors are fewer than MinWorkers fails the job with an error naming
// the minimum, recorded FAILED in etcd.
func TestWorkerLossBelowMinimum(t *testing.T) {
	cli := etcd(t)
	s := spec(t, t.TempDir(), 100000)
	s.Model.Patience = -1
	_, rec, _, err := elasticRun(t, cli, "below", s, lose, 3)
	if err == nil || !strings.Contains(err.Error(), "fewer than the minimum 3") || !strings.Contains(err.Error(), "worker") {
		t.Fatalf("job error %v, want one naming the lost worker and the minimum", err)
	}
	if rec.GetState() != cohortv1.JobState_JOB_STATE_FAILED || rec.GetError() == "" {
		t.Errorf("job record: state %v error %q, want FAILED with the error", rec.GetState(), rec.GetError())
	}
}

// relDiff is max |a-b| over max |b|.
func relDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / m
}
