package worker

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cohort-clv/cohort/gpustats"
	"github.com/cohort-clv/cohort/telemetry"
)

// seriesLinger is how long a rank's training series stay on /metrics once
// the worker is idle: long enough for a few scrapes to see a finished job's
// last values and for an interrupted job's next generation to continue
// them, short enough that a worker idle for good stops exporting them.
const seriesLinger = 2 * time.Minute

// metrics is what a worker exports on /metrics besides the Go runtime and
// process: the machine sampled by its status publisher, under
// dcgm-exporter's names and labelled with the job and rank it trains, and
// the cohort_* training metrics of that rank.
type metrics struct {
	reg      prometheus.Registerer
	training *telemetry.Training
	// registrations counts the worker's registrations in etcd: more than
	// one means it lost its lease (was cut off from etcd) and came back.
	registrations prometheus.Counter
}

// newMetrics registers the training metrics on reg; attach adds the
// machine once the status publisher exists.
func newMetrics(reg prometheus.Registerer, opts telemetry.TrainingOptions) (*metrics, error) {
	tr, err := telemetry.NewTraining(reg, opts)
	if err != nil {
		return nil, fmt.Errorf("worker: metrics: %w", err)
	}
	regs := prometheus.NewCounter(prometheus.CounterOpts{Name: "cohort_worker_registrations_total",
		Help: "Times this worker registered in etcd: one, plus one each time it lost its lease and registered again."})
	if err := reg.Register(regs); err != nil {
		return nil, fmt.Errorf("worker: metrics: %w", err)
	}
	return &metrics{reg: reg, training: tr, registrations: regs}, nil
}

// attach exports p's machine samples and makes p record its training in
// m's series. The collector reads the sample p last published rather than
// sampling on its own, so NVML is read once per status interval however
// often /metrics is scraped. The returned function unregisters it.
func (m *metrics) attach(p *statusPublisher) (detach func(), err error) {
	c := gpustats.NewCollector(p.lastSample, gpustats.CollectorOptions{Labels: p.labels})
	if err := m.reg.Register(c); err != nil {
		return nil, fmt.Errorf("worker: metrics: register gpu collector: %w", err)
	}
	p.mu.Lock()
	p.series = &rankSeries{t: m.training}
	p.mu.Unlock()
	return func() { m.reg.Unregister(c) }, nil
}

// sumKind is what one Sum of a generation reduces.
type sumKind int

const (
	sumStatistics sumKind = iota // the data statistics, before the first step
	sumOther                     // a validation loss, a weight checksum exchange
	sumGradient                  // a step's gradient, the minibatch loss in its last slot
)

// sumClassifier tells the Sums of one model.TrainShard run apart by their
// order and length, which is all a Reducer sees. Its first Sum reduces the
// data statistics (and the replica count). A Sum of two floats is an epoch's validation loss (one
// float64 as head and tail). A weight checksum exchange only ever follows a
// step's gradient, so the first longer Sum after the statistics is a
// gradient, and every gradient has its length (parameters + 1). agree's
// Sums run on the unwrapped ring and are not seen here.
// TestTrainShardSums holds the model to this order.
type sumClassifier struct {
	sums    int // Sums seen
	gradLen int // 0 until the first gradient
}

func (c *sumClassifier) classify(n int) sumKind {
	c.sums++
	switch {
	case c.sums == 1:
		return sumStatistics
	case n <= 2:
		return sumOther
	case c.gradLen == 0:
		c.gradLen = n
		return sumGradient
	case n == c.gradLen:
		return sumGradient
	default:
		return sumOther
	}
}

// rankSeries are the training series of the rank the worker trains, or
// trained last. They outlive a generation: the next generation of the same
// job continues them, so counters do not restart at every membership
// change, and a scrape after a job's last step still sees its final
// values. They are forgotten when the worker begins another job, or once
// it has been idle for seriesLinger. Its owner serialises every call.
type rankSeries struct {
	t         *telemetry.Training
	job, rank string // job "" : no series
	gen       uint64
	m         *telemetry.RankMetrics
	idleSince time.Time // zero while training

	// The job's values as this worker saw them, carried over to the new
	// label set when the worker's rank in the job changes.
	steps, loss, sps     float64
	bytes, seconds, gens float64
	checkpoint           time.Time
}

// begin starts or continues the series for rank of generation gen of job.
// A later generation of the same job counts as a generation change; a
// worker's first generation of a job (it joined late) does not.
func (s *rankSeries) begin(job string, gen uint64, rank int) {
	if s.job != job {
		s.forget()
		s.job = job
	} else if gen > s.gen && gen > 1 {
		s.gens++
		if s.m != nil {
			s.m.GenerationChanges.Inc()
		}
	}
	s.gen, s.idleSince = gen, time.Time{}
	r := strconv.Itoa(rank)
	if s.m != nil && s.rank == r {
		return
	}
	if s.m != nil {
		s.t.Forget(s.job, s.rank)
	}
	s.rank, s.m = r, s.t.Rank(job, r)
	s.m.Step.Set(s.steps)
	s.m.Loss.Set(s.loss)
	s.m.SamplesPerSecond.Set(s.sps)
	s.m.AllreduceBytes.Add(s.bytes)
	s.m.AllreduceSeconds.Add(s.seconds)
	s.m.GenerationChanges.Add(s.gens)
	if !s.checkpoint.IsZero() {
		s.m.Checkpointed(s.checkpoint)
	}
}

// end marks the worker idle from now on.
func (s *rankSeries) end(now time.Time) {
	if s.job != "" && s.idleSince.IsZero() {
		s.idleSince = now
	}
}

// expire forgets the series once the worker has been idle seriesLinger.
func (s *rankSeries) expire(now time.Time) {
	if s.job != "" && !s.idleSince.IsZero() && now.Sub(s.idleSince) >= seriesLinger {
		s.forget()
	}
}

// forget drops the series from /metrics and the values behind them.
func (s *rankSeries) forget() {
	if s.m != nil {
		s.t.Forget(s.job, s.rank)
	}
	*s = rankSeries{t: s.t}
}

// allreduce records one Sum of the current generation: kind, how long it
// took, the compute before it, its length n and, for a gradient that was
// summed (err nil), the minibatch loss. Only gradient Sums count, as the
// metrics' help texts say; a failed one still cost the time spent in it.
func (s *rankSeries) allreduce(kind sumKind, compute, inSum time.Duration, n int, loss float32, err error) {
	if s.m == nil || kind != sumGradient {
		return
	}
	s.seconds += inSum.Seconds()
	s.m.AllreduceSeconds.Add(inSum.Seconds())
	if err != nil {
		return
	}
	s.steps++
	s.loss = float64(loss)
	s.bytes += 4 * float64(n)
	s.m.Step.Set(s.steps)
	s.m.Loss.Set(s.loss)
	s.m.AllreduceBytes.Add(4 * float64(n))
	s.m.ComputeSeconds.Observe(compute.Seconds())
}

// epoch records rank 0's epoch statistics: the job's step count (which
// corrects this worker's own count after it joined a job late) and its
// throughput over the epoch.
func (s *rankSeries) epoch(steps int, samplesPerSecond float64) {
	if s.m == nil {
		return
	}
	s.steps, s.sps = float64(steps), samplesPerSecond
	s.m.Step.Set(s.steps)
	s.m.SamplesPerSecond.Set(s.sps)
}

// checkpointed records the job's latest complete checkpoint.
func (s *rankSeries) checkpointed(at time.Time) {
	if s.m == nil {
		return
	}
	if at.After(s.checkpoint) {
		s.checkpoint = at
	}
	s.m.Checkpointed(at)
}
