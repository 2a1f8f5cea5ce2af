package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/gpustats"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// statusInterval is how often a worker refreshes its published status: often
// enough for cohort top, rare enough that a thousand workers cost etcd a few
// hundred small writes a second at most.
const statusInterval = 3 * time.Second

// uuidPrefix is how much of a GPU UUID the compact status keeps.
const uuidPrefix = 12

// statusSampler is the part of gpustats.Sampler the publisher uses.
type statusSampler interface {
	Sample(ctx context.Context) (*gpustats.Sample, error)
}

// statusWriter is the part of membership.Registration the publisher uses.
type statusWriter interface {
	UpdateStatus(ctx context.Context, status []byte) error
}

// statusPublisher republishes a worker's status with fresh machine readings
// and its current activity every interval, until its context ends or the
// registration is gone.
type statusPublisher struct {
	base     *cohortv1.WorkerStatus
	sampler  statusSampler
	writer   statusWriter
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	act    *activity        // nil while idle
	last   *gpustats.Sample // the latest machine sample, for /metrics
	series *rankSeries      // the training series on /metrics; nil without them
}

// activity is the rank a worker trains now and its recent compute times.
type activity struct {
	cur     *cohortv1.WorkerActivity
	recent  []float64     // compute seconds before each allreduce, newest last, at most recentSteps
	lastEnd time.Time     // when the previous allreduce returned
	sums    sumClassifier // tells this generation's gradient Sums from the others
}

// recentSteps is the window of compute_seconds' median.
const recentSteps = 20

// startStatus starts the publisher of w's status under reg; the returned
// function stops it and waits for it, so a deferred call owns its goroutine.
// A generation records its activity through w.status: begin and end around
// training, and reducer around the ring. With w.metrics (a /metrics server)
// the same samples and activity are exported there too.
func (w *worker) startStatus(ctx context.Context, reg *membership.Registration, base *cohortv1.WorkerStatus) func() {
	s := gpustats.NewLocal(gpustats.Config{Logger: w.log})
	p := &statusPublisher{base: base, sampler: s, writer: reg, interval: statusInterval, log: w.log}
	detach := func() {}
	if w.metrics != nil {
		d, err := w.metrics.attach(p)
		if err != nil {
			w.log.Warn("worker: metrics", "err", err) // /metrics lacks the machine; training goes on
		} else {
			detach = d
		}
	}
	w.status = p // set before the worker watches for plans, so generations see it
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	return func() {
		cancel()
		<-done
		detach()
		if err := s.Close(); err != nil {
			w.log.Debug("worker: close gpu sampler", "err", err)
		}
	}
}

// run publishes every interval until ctx is done or the registration is
// lost. The first write waits one interval: the worker reads its
// registration's revision back right after registering, to watch for plans
// from there, and CPU busy needs two samples anyway.
func (p *statusPublisher) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	if _, err := p.sample(ctx); err != nil && ctx.Err() == nil {
		p.log.Debug("worker: sample machine", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.expire(time.Now())
		err := p.publish(ctx)
		if errors.Is(err, membership.ErrNotRegistered) {
			// The lease is gone; the worker notices through its session.
			p.log.Warn("worker: status", "err", err)
			return
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn("worker: status", "err", err)
		}
	}
}

// sample samples the machine once and keeps the sample for /metrics.
func (p *statusPublisher) sample(ctx context.Context) (*gpustats.Sample, error) {
	smp, err := p.sampler.Sample(ctx)
	if smp != nil {
		p.mu.Lock()
		p.last = smp
		p.mu.Unlock()
	}
	return smp, err
}

// lastSample is the latest machine sample, nil before the first; the
// /metrics collector reads it.
func (p *statusPublisher) lastSample() *gpustats.Sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// labels are the job and rank the worker trains now, "" while idle: the
// job and rank labels of its machine's series on /metrics.
func (p *statusPublisher) labels() (job, rank string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.act == nil {
		return "", ""
	}
	return p.act.cur.GetJobId(), strconv.Itoa(int(p.act.cur.GetRank()))
}

// expire forgets training series that lingered past seriesLinger.
func (p *statusPublisher) expire(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.series != nil {
		p.series.expire(now)
	}
}

// publish samples the machine once and writes the status.
func (p *statusPublisher) publish(ctx context.Context) error {
	smp, err := p.sample(ctx)
	if smp == nil {
		return fmt.Errorf("worker: sample machine: %w", err)
	}
	st := proto.CloneOf(p.base)
	st.Node = nodeStatus(smp, p.activity())
	b, err := encodeStatus(st)
	if err != nil {
		return err
	}
	return p.writer.UpdateStatus(ctx, b)
}

// begin records that the worker trains rank of generation of job. Like
// end and reducer it may be called on a nil publisher (no status), and
// does nothing then.
func (p *statusPublisher) begin(job string, generation uint64, rank int, now time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.act = &activity{cur: &cohortv1.WorkerActivity{JobId: job, Generation: generation, Rank: uint32(rank)}, lastEnd: now}
	if p.series != nil {
		p.series.begin(job, generation, rank)
	}
}

// end records that the worker is idle again. The job's training series
// stay on /metrics for a while (rankSeries says why).
func (p *statusPublisher) end() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.act = nil
	if p.series != nil {
		p.series.end(time.Now())
	}
}

// allreduced records one allreduce that started at start and ended at end
// with err, over buf: the time from the previous one's end to start is the
// compute before it. A gradient's buf holds the minibatch loss in its last
// slot once summed (sumClassifier).
func (p *statusPublisher) allreduced(start, end time.Time, buf []float32, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.act
	if a == nil {
		return
	}
	compute := max(start.Sub(a.lastEnd), 0)
	a.cur.Allreduces++
	a.recent = append(a.recent, compute.Seconds())
	if len(a.recent) > recentSteps {
		a.recent = a.recent[len(a.recent)-recentSteps:]
	}
	a.lastEnd = end
	kind := a.sums.classify(len(buf))
	if p.series != nil {
		var loss float32
		if err == nil && len(buf) > 0 {
			loss = buf[len(buf)-1]
		}
		p.series.allreduce(kind, compute, end.Sub(start), len(buf), loss, err)
	}
}

// epoch records rank 0's statistics of an epoch on /metrics: the job's
// step count and its samples per second over the epoch. train.go calls it
// from rank 0's OnEpoch; a nil publisher does nothing.
func (p *statusPublisher) epoch(st model.EpochStats, samplesPerSecond float64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.series != nil {
		p.series.epoch(st.Steps, samplesPerSecond)
	}
}

// checkpointed records that the job's checkpoint taken at at is complete,
// so /metrics shows its age (cohort_checkpoint_age_seconds) under the job
// and rank the worker trains, or trained last. train.go calls it when rank
// 0 has written a checkpoint; a nil publisher does nothing.
func (p *statusPublisher) checkpointed(at time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.series != nil {
		p.series.checkpointed(at)
	}
}

// reducer wraps r so that every Sum is recorded by allreduced: the worker
// trains through it to publish its compute time between allreduces.
func (p *statusPublisher) reducer(r model.Reducer) model.Reducer {
	if p == nil {
		return r
	}
	return timedReducer{r: r, p: p}
}

// timedReducer times the allreduces of a Reducer for the status.
type timedReducer struct {
	r model.Reducer
	p *statusPublisher
}

func (t timedReducer) Sum(ctx context.Context, buf []float32) error {
	start := time.Now()
	err := t.r.Sum(ctx, buf)
	t.p.allreduced(start, time.Now(), buf, err)
	return err
}

// activity returns a copy of the current activity, nil when idle.
func (p *statusPublisher) activity() *cohortv1.WorkerActivity {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.act == nil {
		return nil
	}
	c := proto.CloneOf(p.act.cur)
	if len(p.act.recent) > 0 {
		c.ComputeSeconds = median(p.act.recent)
	}
	return c
}

// nodeStatus is the compact summary of a sample.
func nodeStatus(smp *gpustats.Sample, act *cohortv1.WorkerActivity) *cohortv1.NodeStatus {
	n := &cohortv1.NodeStatus{Hostname: smp.Hostname, SampledAt: timestamppb.New(smp.Time), NvmlError: smp.NVMLError,
		Activity: act}
	for i := range smp.GPUs {
		g := &smp.GPUs[i]
		uuid := g.UUID
		if len(uuid) > uuidPrefix {
			uuid = uuid[:uuidPrefix]
		}
		n.Gpus = append(n.Gpus, &cohortv1.GPUSummary{Index: uint32(g.Index), Name: g.Name, Healthy: g.Healthy, Uuid: uuid,
			UtilizationPercent: g.GPUUtilization, MemoryUsedBytes: g.MemoryUsed, MemoryTotalBytes: g.MemoryTotal,
			PowerMilliwatts: g.PowerMilliwatts, TemperatureCelsius: g.Temperature})
	}
	if h := smp.Host; h != nil {
		n.Host = &cohortv1.HostSummary{Cpus: uint32(h.CPUs), CpuBusy: h.CPUBusy, MemoryUsedBytes: h.MemoryUsed,
			MemoryTotalBytes: h.MemoryTotal}
	}
	return n
}

// encodeStatus marshals st, dropping GPU names and then GPUs from the end
// until it fits membership.MaxStatusBytes: a status that does not fit
// cannot be written at all, and a partial GPU list beats none.
func encodeStatus(st *cohortv1.WorkerStatus) ([]byte, error) {
	for {
		b, err := protojson.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("worker: encode status: %w", err)
		}
		if len(b) <= membership.MaxStatusBytes {
			return b, nil
		}
		gpus := st.GetNode().GetGpus()
		switch {
		case len(gpus) == 0:
			return nil, fmt.Errorf("worker: encode status: %d bytes without GPUs, want at most %d", len(b), membership.MaxStatusBytes)
		case gpus[0].GetName() != "":
			for _, g := range gpus {
				g.Name = ""
			}
		default:
			// Shrink in proportion to the excess, so 200 GPUs take a few
			// rounds rather than one round per GPU.
			keep := min(len(gpus)-1, len(gpus)*membership.MaxStatusBytes/len(b))
			st.Node.Gpus = gpus[:keep]
		}
	}
}

// median is the middle of xs (the mean of the two middle values for an even
// count), leaving xs as it is. A median, not a mean, because rank 0's
// checkpoint writes and epoch ends fall into one step in many: a mean made
// it look like a straggler on every small model.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
