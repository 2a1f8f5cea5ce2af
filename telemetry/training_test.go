package telemetry

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newTestTraining returns training metrics on a fresh registry with a clock
// the test moves.
func newTestTraining(t *testing.T) (*Training, *prometheus.Registry, *time.Time) {
	t.Helper()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	reg := prometheus.NewPedanticRegistry()
	tr, err := NewTraining(reg, TrainingOptions{ComputeBuckets: []float64{0.1, 0.5, 1}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return tr, reg, &now
}

// TestTrainingExposition ensures every cohort_* training metric is exported
// with its job and rank labels and the values the training loop recorded,
// checkpoint age measured at scrape time.
func TestTrainingExposition(t *testing.T) {
	tr, reg, now := newTestTraining(t)
	r0 := tr.Rank("clv-7", "0")
	r1 := tr.Rank("clv-7", "1")
	r0.Step.Set(120)
	r0.Loss.Set(0.5)
	r0.SamplesPerSecond.Set(2048)
	r0.AllreduceBytes.Add(4096)
	r0.AllreduceSeconds.Add(0.25)
	r0.GenerationChanges.Inc()
	for _, s := range []float64{0.05, 0.2, 0.3} {
		r0.ComputeSeconds.Observe(s)
	}
	r1.ComputeSeconds.Observe(0.9) // the straggler
	r0.Checkpointed(now.Add(-90 * time.Second))
	r0.Checkpointed(now.Add(-200 * time.Second)) // an older report must not win
	*now = now.Add(10 * time.Second)

	want := `
# HELP cohort_allreduce_bytes_total Bytes of gradients this rank summed in allreduces (4 per float32; a ring of n ranks sends 2(n-1)/n of them).
# TYPE cohort_allreduce_bytes_total counter
cohort_allreduce_bytes_total{job="clv-7",rank="0"} 4096
cohort_allreduce_bytes_total{job="clv-7",rank="1"} 0
# HELP cohort_allreduce_seconds_total Seconds this rank spent in gradient allreduces, waiting for slower ranks included.
# TYPE cohort_allreduce_seconds_total counter
cohort_allreduce_seconds_total{job="clv-7",rank="0"} 0.25
cohort_allreduce_seconds_total{job="clv-7",rank="1"} 0
# HELP cohort_checkpoint_age_seconds Seconds since the job's last complete checkpoint, as seen by this rank.
# TYPE cohort_checkpoint_age_seconds gauge
cohort_checkpoint_age_seconds{job="clv-7",rank="0"} 100
# HELP cohort_compute_seconds Compute time of this rank per step before it enters the allreduce (the straggler signal).
# TYPE cohort_compute_seconds histogram
cohort_compute_seconds_bucket{job="clv-7",rank="0",le="0.1"} 1
cohort_compute_seconds_bucket{job="clv-7",rank="0",le="0.5"} 3
cohort_compute_seconds_bucket{job="clv-7",rank="0",le="1"} 3
cohort_compute_seconds_bucket{job="clv-7",rank="0",le="+Inf"} 3
cohort_compute_seconds_sum{job="clv-7",rank="0"} 0.55
cohort_compute_seconds_count{job="clv-7",rank="0"} 3
cohort_compute_seconds_bucket{job="clv-7",rank="1",le="0.1"} 0
cohort_compute_seconds_bucket{job="clv-7",rank="1",le="0.5"} 0
cohort_compute_seconds_bucket{job="clv-7",rank="1",le="1"} 1
cohort_compute_seconds_bucket{job="clv-7",rank="1",le="+Inf"} 1
cohort_compute_seconds_sum{job="clv-7",rank="1"} 0.9
cohort_compute_seconds_count{job="clv-7",rank="1"} 1
# HELP cohort_generation_changes_total Membership generations the job moved to while this rank was in it.
# TYPE cohort_generation_changes_total counter
cohort_generation_changes_total{job="clv-7",rank="0"} 1
cohort_generation_changes_total{job="clv-7",rank="1"} 0
# HELP cohort_loss Training loss of the last minibatch (its mean over every rank's rows), as seen by this rank.
# TYPE cohort_loss gauge
cohort_loss{job="clv-7",rank="0"} 0.5
cohort_loss{job="clv-7",rank="1"} 0
# HELP cohort_samples_per_second Training samples the job processed per second over its last epoch, set by the rank that sees epoch statistics (rank 0).
# TYPE cohort_samples_per_second gauge
cohort_samples_per_second{job="clv-7",rank="0"} 2048
cohort_samples_per_second{job="clv-7",rank="1"} 0
# HELP cohort_step Optimizer steps completed by the job, as seen by this rank.
# TYPE cohort_step gauge
cohort_step{job="clv-7",rank="0"} 120
cohort_step{job="clv-7",rank="1"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// TestTrainingLint ensures the training metrics pass client_golang's
// linter with no exception.
func TestTrainingLint(t *testing.T) {
	tr, reg, now := newTestTraining(t)
	r := tr.Rank("j", "3")
	r.Step.Inc()
	r.ComputeSeconds.Observe(0.2)
	r.Checkpointed(*now)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	// The registry every process serves (Go and process collectors) too.
	base := NewRegistry()
	if _, err := NewTraining(base, TrainingOptions{}); err != nil {
		t.Fatal(err)
	}
	problems, err = testutil.GatherAndLint(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("NewRegistry: %s: %s", p.Metric, p.Text)
	}
}

// TestTrainingForget ensures a forgotten rank's series disappear, the other
// ranks' stay, and registering twice on one registry fails.
func TestTrainingForget(t *testing.T) {
	tr, reg, now := newTestTraining(t)
	tr.Rank("a", "0").Step.Set(1)
	tr.Rank("a", "1").Step.Set(2)
	tr.Checkpointed("a", "1", *now)
	tr.Checkpointed("a", "0", *now)
	tr.Forget("a", "1")
	for name, want := range map[string]int{"cohort_step": 1, "cohort_checkpoint_age_seconds": 1} {
		if n := testutil.CollectAndCount(reg, name); n != want {
			t.Errorf("%s: %d series after Forget, want %d", name, n, want)
		}
	}
	if _, err := NewTraining(reg, TrainingOptions{}); err == nil || !strings.Contains(err.Error(), "telemetry: register training metrics") {
		t.Errorf("second NewTraining on one registry: err = %v", err)
	}
}
