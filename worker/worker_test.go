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
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/synth"
	"github.com/cohort-clv/cohort/worker"
)

// etcd starts an embedded etcd for the test and returns a client of it.
func etcd(t *testing.T) *clientv3.Client {
	t.Helper()
	ctx := context.Background()
	emb, err := membership.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	cli, err := membership.Dial(ctx, membership.Config{Endpoints: emb.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
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
	var wg sync.WaitGroup
	for i := range n {
		names[i] = fmt.Sprintf("%s-w%d", prefix, i)
		ctx, cancel := context.WithCancel(context.Background())
		stops[i] = cancel
		wg.Go(func() {
			if err := worker.Run(ctx, worker.Config{Name: names[i], Client: cli, TTL: ttl, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
				NewBackend: func(int) kernels.Backend { return cpu.New(cpu.Options{Threads: 1}) }}); err != nil {
				t.Errorf("worker %s: %v", names[i], err)
			}
		})
	}
	t.Cleanup(func() {
		for _, s := range stops {
			s()
		}
		wg.Wait()
	})
	return names, func(i int) { stops[i]() }
}

// train runs s on n in-process workers through a coordinator.
func train(t *testing.T, cli *clientv3.Client, s job.Spec, n int) (*job.Result, *cohortv1.Job, error) {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("eq-%d", n)
	names, _ := cluster(t, cli, id, n, 2*time.Second)
	j, err := coordinator.Start(ctx, coordinator.Config{Client: cli, JobID: id, WorkerNames: names, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	res, err := job.TrainWith(ctx, be, s, job.Events{}, j.Train)
	if eerr := j.End(ctx, err); eerr != nil {
		t.Fatal(eerr)
	}
	rec, rerr := coordinator.ReadJob(ctx, cli, id)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return res, rec, err
}

// TestEquivalence ensures 1 and 2 workers train the model the single
// process trains: weights within 1e-5 relative, test metrics equal to 4
// digits, and the job recorded SUCCEEDED in etcd.
func TestEquivalence(t *testing.T) {
	cli := etcd(t)
	base := t.TempDir()
	single := spec(t, filepath.Join(base, "single"), 4)
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	want, err := job.Train(context.Background(), be, single, job.Events{})
	if err != nil {
		t.Fatal(err)
	}
	wantNet, err := model.Load(want.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", n), func(t *testing.T) {
			s := single
			s.Out = filepath.Join(base, fmt.Sprintf("w%d", n))
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

// TestWorkerLossFailsJob ensures a worker that stops mid-job fails the job
// with an error naming a worker, and etcd records it FAILED.
func TestWorkerLossFailsJob(t *testing.T) {
	cli := etcd(t)
	ctx := context.Background()
	s := spec(t, t.TempDir(), 100000)
	s.Model.Patience = -1
	const id = "loss"
	names, stop := cluster(t, cli, id, 3, 2*time.Second)
	var once sync.Once
	j, err := coordinator.Start(ctx, coordinator.Config{Client: cli, JobID: id, WorkerNames: names, Timeout: 2 * time.Second,
		OnProgress: func(p coordinator.Progress) {
			if p.Epoch.Epoch == 2 {
				once.Do(func() { stop(1) })
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	done := make(chan error, 1)
	go func() {
		_, err := job.TrainWith(ctx, be, s, job.Events{}, j.Train)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("job did not fail within 60s of starting")
	}
	if err == nil || !strings.Contains(err.Error(), "worker") {
		t.Fatalf("job error %v, want one naming the worker", err)
	}
	if err := j.End(ctx, err); err != nil {
		t.Fatal(err)
	}
	rec, err := coordinator.ReadJob(ctx, cli, id)
	if err != nil {
		t.Fatal(err)
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
