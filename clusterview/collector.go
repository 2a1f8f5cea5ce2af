package clusterview

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// Collector is the leading coordinator's view of the whole cluster as
// Prometheus metrics: one scrape target that says how many workers and
// GPUs are live, where every job stands, and which ranks straggle, read
// from the statuses the workers publish in etcd. A standby exports only
// cohort_coordinator_leader 0, so scraping every coordinator counts each
// job once.
type Collector struct {
	fetch   Fetch
	leading func() bool
	timeout time.Duration
	log     *slog.Logger

	leader, workers, gpus, jobs                        *prometheus.Desc
	jobEpoch, jobStep, jobLoss, jobValLoss, jobWorkers *prometheus.Desc
	jobSamples, jobGeneration, jobProgress             *prometheus.Desc
	rankRatio, rankStraggler, scrapeErrors             *prometheus.Desc
}

// NewCollector reads the cluster through fetch on every scrape (bounded by
// timeout) while leading says this coordinator leads.
func NewCollector(fetch Fetch, leading func() bool, timeout time.Duration, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.Default()
	}
	job := []string{"job", "name"}
	d := prometheus.NewDesc
	return &Collector{fetch: fetch, leading: leading, timeout: timeout, log: log,
		leader:        d("cohort_coordinator_leader", "1 when this coordinator leads (and exports the cluster's series), else 0.", nil, nil),
		workers:       d("cohort_cluster_workers", "Live workers (registered under a lease).", nil, nil),
		gpus:          d("cohort_cluster_gpus", "GPUs the live workers report, by health.", []string{"healthy"}, nil),
		jobs:          d("cohort_cluster_jobs", "Jobs recorded in etcd, by state.", []string{"state"}, nil),
		jobEpoch:      d("cohort_job_epoch", "Last completed epoch of a running job.", job, nil),
		jobStep:       d("cohort_job_step", "Last completed optimizer step of a running job.", job, nil),
		jobLoss:       d("cohort_job_loss", "Training loss of a running job's last epoch.", job, nil),
		jobValLoss:    d("cohort_job_val_loss", "Validation loss of a running job's last epoch.", job, nil),
		jobWorkers:    d("cohort_job_workers", "Workers in a running job's current generation.", job, nil),
		jobGeneration: d("cohort_job_generation", "A running job's current generation (it grows at every membership change).", job, nil),
		jobSamples:    d("cohort_job_samples_per_second", "Training rows per second of a running job's last epoch, over all its workers.", job, nil),
		jobProgress:   d("cohort_job_progress_ratio", "Fraction of a running job's epochs done (epoch over max_epochs).", job, nil),
		rankRatio: d("cohort_rank_compute_ratio", "A rank's compute time between allreduces over the median of its generation's ranks.",
			[]string{"job", "rank", "worker"}, nil),
		rankStraggler: d("cohort_rank_straggler", "1 when a rank's compute ratio is above the straggler factor ("+
			strconv.FormatFloat(StragglerFactor, 'g', -1, 64)+").", []string{"job", "rank", "worker"}, nil),
		scrapeErrors: d("cohort_cluster_read_errors", "1 when reading the cluster from etcd failed during this scrape.", nil, nil),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.workers, c.gpus, c.jobs, c.jobEpoch, c.jobStep, c.jobLoss, c.jobValLoss,
		c.jobWorkers, c.jobGeneration, c.jobSamples, c.jobProgress, c.rankRatio, c.rankStraggler, c.scrapeErrors} {
		ch <- d
	}
}

// Collect reads the cluster and sends its series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if !c.leading() {
		gauge(c.leader, 0)
		return
	}
	gauge(c.leader, 1)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	s, err := c.fetch(ctx)
	if err != nil {
		c.log.Warn("clusterview: read the cluster for /metrics", "err", err)
		gauge(c.scrapeErrors, 1)
		return
	}
	gauge(c.scrapeErrors, 0)
	gauge(c.workers, float64(len(s.Workers)))
	healthy, sick := 0, 0
	for _, g := range ClusterOf(s).GPUs {
		if g.Healthy {
			healthy++
		} else {
			sick++
		}
	}
	gauge(c.gpus, float64(healthy), "true")
	gauge(c.gpus, float64(sick), "false")
	states := map[string]int{}
	for st := range cohortv1.JobState_name {
		if st != 0 {
			states[stateName(cohortv1.JobState(st))] = 0
		}
	}
	for _, r := range Jobs(s) {
		states[r.State]++
		if r.State != stateName(cohortv1.JobState_JOB_STATE_RUNNING) {
			continue
		}
		gauge(c.jobEpoch, float64(r.Epoch), r.ID, r.Name)
		gauge(c.jobStep, float64(r.Step), r.ID, r.Name)
		gauge(c.jobLoss, r.Loss, r.ID, r.Name)
		gauge(c.jobValLoss, r.ValLoss, r.ID, r.Name)
		gauge(c.jobWorkers, float64(r.Workers), r.ID, r.Name)
		gauge(c.jobGeneration, float64(r.Generation), r.ID, r.Name)
		gauge(c.jobSamples, r.SamplesPerSecond, r.ID, r.Name)
		if r.Progress >= 0 {
			gauge(c.jobProgress, r.Progress, r.ID, r.Name)
		}
	}
	for st, n := range states {
		gauge(c.jobs, float64(n), st)
	}
	for _, r := range Ranks(s) {
		rank := strconv.FormatUint(uint64(r.Rank), 10)
		if r.Ratio > 0 {
			gauge(c.rankRatio, r.Ratio, r.Job, rank, r.Worker)
		}
		straggler := 0.0
		if r.Straggler {
			straggler = 1
		}
		gauge(c.rankStraggler, straggler, r.Job, rank, r.Worker)
	}
}
