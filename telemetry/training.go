package telemetry

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// trainingLabels identify the series of one rank in one job.
var trainingLabels = []string{"job", "rank"}

// DefaultComputeBuckets span 62.5 µs to about 33 s per step, doubling:
// fine enough that a rank 2x slower than its peers lands in another bucket,
// and low enough for a small model's CPU steps (CDNOW's take well under a
// millisecond, which a first bucket of 1 ms swallowed whole).
func DefaultComputeBuckets() []float64 { return prometheus.ExponentialBuckets(0.0000625, 2, 20) }

// TrainingOptions configures NewTraining; the zero value is usable.
type TrainingOptions struct {
	// ComputeBuckets are cohort_compute_seconds' buckets; default
	// DefaultComputeBuckets().
	ComputeBuckets []float64
	// Now is the clock for checkpoint ages; default time.Now.
	Now func() time.Time
}

// Training is the cohort_* training metrics of a process, by job and rank.
// All methods are safe for concurrent use.
type Training struct {
	Step              *prometheus.GaugeVec
	Loss              *prometheus.GaugeVec
	SamplesPerSecond  *prometheus.GaugeVec
	AllreduceBytes    *prometheus.CounterVec
	AllreduceSeconds  *prometheus.CounterVec
	GenerationChanges *prometheus.CounterVec
	// ComputeSeconds is each rank's compute time per step before it enters
	// the allreduce: the straggler signal, since the allreduce itself
	// makes every rank wait for the slowest and so looks equally slow.
	ComputeSeconds *prometheus.HistogramVec

	checkpoints *checkpointAges
}

// NewTraining creates the training metrics and registers them on reg.
func NewTraining(reg prometheus.Registerer, opts TrainingOptions) (*Training, error) {
	if opts.ComputeBuckets == nil {
		opts.ComputeBuckets = DefaultComputeBuckets()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &Training{
		Step: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cohort_step",
			Help: "Optimizer steps completed by the job, as seen by this rank."}, trainingLabels),
		Loss: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cohort_loss",
			Help: "Training loss of the last minibatch (its mean over every rank's rows), as seen by this rank."}, trainingLabels),
		SamplesPerSecond: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cohort_samples_per_second",
			Help: "Training samples the job processed per second over its last epoch, set by the rank that sees epoch statistics (rank 0)."}, trainingLabels),
		AllreduceBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cohort_allreduce_bytes_total",
			Help: "Bytes of gradients this rank summed in allreduces (4 per float32; a ring of n ranks sends 2(n-1)/n of them)."}, trainingLabels),
		AllreduceSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cohort_allreduce_seconds_total",
			Help: "Seconds this rank spent in gradient allreduces, waiting for slower ranks included."}, trainingLabels),
		GenerationChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cohort_generation_changes_total",
			Help: "Membership generations the job moved to while this rank was in it."}, trainingLabels),
		ComputeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cohort_compute_seconds",
			Help:    "Compute time of this rank per step before it enters the allreduce (the straggler signal).",
			Buckets: opts.ComputeBuckets}, trainingLabels),
		checkpoints: &checkpointAges{
			desc: prometheus.NewDesc("cohort_checkpoint_age_seconds",
				"Seconds since the job's last complete checkpoint, as seen by this rank.", trainingLabels, nil),
			now:  opts.Now,
			last: map[[2]string]time.Time{},
		},
	}
	for _, c := range []prometheus.Collector{t.Step, t.Loss, t.SamplesPerSecond, t.AllreduceBytes,
		t.AllreduceSeconds, t.GenerationChanges, t.ComputeSeconds, t.checkpoints} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("telemetry: register training metrics: %w", err)
		}
	}
	return t, nil
}

// Checkpointed records that the job's checkpoint at time at is complete;
// cohort_checkpoint_age_seconds is measured from it at scrape time, so it
// keeps growing while no checkpoint is written (which is what to alert on).
func (t *Training) Checkpointed(job, rank string, at time.Time) {
	t.checkpoints.set(job, rank, at)
}

// Rank returns the metrics of one rank of one job, with the labels bound,
// for the training loop's hot path.
func (t *Training) Rank(job, rank string) *RankMetrics {
	return &RankMetrics{
		Step:              t.Step.WithLabelValues(job, rank),
		Loss:              t.Loss.WithLabelValues(job, rank),
		SamplesPerSecond:  t.SamplesPerSecond.WithLabelValues(job, rank),
		AllreduceBytes:    t.AllreduceBytes.WithLabelValues(job, rank),
		AllreduceSeconds:  t.AllreduceSeconds.WithLabelValues(job, rank),
		GenerationChanges: t.GenerationChanges.WithLabelValues(job, rank),
		ComputeSeconds:    t.ComputeSeconds.WithLabelValues(job, rank),
		t:                 t,
		job:               job,
		rank:              rank,
	}
}

// Forget drops every series of the rank in the job, when it leaves the job
// or the job ends, so finished jobs do not linger on /metrics.
func (t *Training) Forget(job, rank string) {
	for _, v := range []interface{ DeleteLabelValues(...string) bool }{t.Step, t.Loss,
		t.SamplesPerSecond, t.AllreduceBytes, t.AllreduceSeconds, t.GenerationChanges, t.ComputeSeconds} {
		v.DeleteLabelValues(job, rank)
	}
	t.checkpoints.forget(job, rank)
}

// RankMetrics are one rank's training metrics with job and rank bound.
type RankMetrics struct {
	Step              prometheus.Gauge
	Loss              prometheus.Gauge
	SamplesPerSecond  prometheus.Gauge
	AllreduceBytes    prometheus.Counter
	AllreduceSeconds  prometheus.Counter
	GenerationChanges prometheus.Counter
	ComputeSeconds    prometheus.Observer

	t         *Training
	job, rank string
}

// Checkpointed records the job's latest complete checkpoint time.
func (m *RankMetrics) Checkpointed(at time.Time) { m.t.Checkpointed(m.job, m.rank, at) }

// checkpointAges computes checkpoint ages at scrape time.
type checkpointAges struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu   sync.Mutex
	last map[[2]string]time.Time
}

func (c *checkpointAges) set(job, rank string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.last[[2]string{job, rank}]; !ok || at.After(prev) {
		c.last[[2]string{job, rank}] = at
	}
}

func (c *checkpointAges) forget(job, rank string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, [2]string{job, rank})
}

func (c *checkpointAges) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *checkpointAges) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, at := range c.last {
		age := max(now.Sub(at).Seconds(), 0)
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, age, k[0], k[1])
	}
}
