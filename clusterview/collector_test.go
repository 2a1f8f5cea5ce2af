package clusterview

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestCollector scrapes the cluster collector over a snapshot of two GPU
// workers training one job (one of them a straggler) and a CPU worker, with
// a running and a finished job, and checks every series and the lint.
func TestCollector(t *testing.T) {
	snap := &Snapshot{Time: snapTime,
		Workers: []Worker{training(gpuWorker("w0", 90, 80), "j1", 0, 1.0), training(gpuWorker("w1", 10), "j1", 1, 2.0), cpuWorker("w2", 0.3)},
		Jobs: []*cohortv1.Job{
			{Id: "j1", State: cohortv1.JobState_JOB_STATE_RUNNING, Generation: 2, Workers: 2, Step: 120, Epoch: 4, Loss: 2.5, ValLoss: 2.75,
				SamplesPerSecond: 1000, Spec: &cohortv1.JobSpec{Name: "cdnow", Model: &cohortv1.ModelConfig{MaxEpochs: 8}}},
			{Id: "j0", State: cohortv1.JobState_JOB_STATE_SUCCEEDED},
		}}
	snap.Workers[1].Status.Node.Gpus[0].Healthy = false
	leading := true
	c := NewCollector(func(context.Context) (*Snapshot, error) { return snap, nil }, func() bool { return leading }, time.Second, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP cohort_cluster_gpus GPUs the live workers report, by health.
# TYPE cohort_cluster_gpus gauge
cohort_cluster_gpus{healthy="false"} 1
cohort_cluster_gpus{healthy="true"} 2
# HELP cohort_cluster_jobs Jobs recorded in etcd, by state.
# TYPE cohort_cluster_jobs gauge
cohort_cluster_jobs{state="CANCELLED"} 0
cohort_cluster_jobs{state="FAILED"} 0
cohort_cluster_jobs{state="PENDING"} 0
cohort_cluster_jobs{state="RUNNING"} 1
cohort_cluster_jobs{state="SUCCEEDED"} 1
# HELP cohort_cluster_workers Live workers (registered under a lease).
# TYPE cohort_cluster_workers gauge
cohort_cluster_workers 3
# HELP cohort_coordinator_leader 1 when this coordinator leads (and exports the cluster's series), else 0.
# TYPE cohort_coordinator_leader gauge
cohort_coordinator_leader 1
# HELP cohort_job_epoch Last completed epoch of a running job.
# TYPE cohort_job_epoch gauge
cohort_job_epoch{job="j1",name="cdnow"} 4
# HELP cohort_job_progress_ratio Fraction of a running job's epochs done (epoch over max_epochs).
# TYPE cohort_job_progress_ratio gauge
cohort_job_progress_ratio{job="j1",name="cdnow"} 0.5
# HELP cohort_job_samples_per_second Training rows per second of a running job's last epoch, over all its workers.
# TYPE cohort_job_samples_per_second gauge
cohort_job_samples_per_second{job="j1",name="cdnow"} 1000
# HELP cohort_job_workers Workers in a running job's current generation.
# TYPE cohort_job_workers gauge
cohort_job_workers{job="j1",name="cdnow"} 2
# HELP cohort_rank_compute_ratio A rank's compute time between allreduces over the median of its generation's ranks.
# TYPE cohort_rank_compute_ratio gauge
cohort_rank_compute_ratio{job="j1",rank="0",worker="w0"} 0.6666666666666666
cohort_rank_compute_ratio{job="j1",rank="1",worker="w1"} 1.3333333333333333
# HELP cohort_rank_straggler 1 when a rank's compute ratio is above the straggler factor (1.5).
# TYPE cohort_rank_straggler gauge
cohort_rank_straggler{job="j1",rank="0",worker="w0"} 0
cohort_rank_straggler{job="j1",rank="1",worker="w1"} 0
`
	names := []string{"cohort_cluster_gpus", "cohort_cluster_jobs", "cohort_cluster_workers", "cohort_coordinator_leader",
		"cohort_job_epoch", "cohort_job_progress_ratio", "cohort_job_samples_per_second", "cohort_job_workers",
		"cohort_rank_compute_ratio", "cohort_rank_straggler"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", probs, err)
	}

	// A third rank three times slower than the median is a straggler.
	snap.Workers = append(snap.Workers, training(gpuWorker("w3", 50), "j1", 2, 6.0))
	if n, err := testutil.GatherAndCount(reg, "cohort_rank_straggler"); err != nil || n != 3 {
		t.Fatalf("straggler series: %d (%v), want 3", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cohort_rank_straggler 1 when a rank's compute ratio is above the straggler factor (1.5).
# TYPE cohort_rank_straggler gauge
cohort_rank_straggler{job="j1",rank="0",worker="w0"} 0
cohort_rank_straggler{job="j1",rank="1",worker="w1"} 0
cohort_rank_straggler{job="j1",rank="2",worker="w3"} 1
`), "cohort_rank_straggler"); err != nil {
		t.Error(err)
	}

	// A standby exports only that it is not the leader.
	leading = false
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 1 {
		t.Errorf("standby exports %d series (%v), want 1", n, err)
	}
	// A failed read is counted, not fatal.
	leading = true
	c.fetch = func(context.Context) (*Snapshot, error) { return nil, errors.New("etcd down") }
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cohort_cluster_read_errors 1 when reading the cluster from etcd failed during this scrape.
# TYPE cohort_cluster_read_errors gauge
cohort_cluster_read_errors 1
`), "cohort_cluster_read_errors"); err != nil {
		t.Error(err)
	}
}
