package coordinator

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// Defaults of Retention. A week is long enough to read a job's result
// after a weekend; a thousand records are a few MB of etcd, and List reads
// every record on each call, so a cluster that runs sweeps of hundreds of
// trials a day needs the cap more than the age.
const (
	DefaultJobRetention    = 7 * 24 * time.Hour
	DefaultMaxFinishedJobs = 1000
	// defaultPruneEvery is how often the leader looks for records to
	// remove (more often under a retention shorter than twice this); a
	// record may so outlive its retention by this much.
	defaultPruneEvery = 10 * time.Minute
)

// Retention bounds the finished jobs (SUCCEEDED, FAILED, CANCELLED) whose
// records etcd keeps, as Kubernetes' ttlSecondsAfterFinished and a
// CronJob's history limits do. Without it every job a cluster ever ran
// would stay in etcd (toward its quota) and in every List. Only records
// go: a job's model, report and checkpoint files stay where it wrote
// them. PENDING and RUNNING jobs are never removed.
type Retention struct {
	// MaxAge removes a finished job's record this long after it finished
	// (0: DefaultJobRetention; negative: kept however old).
	MaxAge time.Duration
	// MaxFinished keeps at most this many finished records, the most
	// recently finished (0: DefaultMaxFinishedJobs; negative: no cap).
	MaxFinished int
	// Every is how often the leader prunes (0: every 10 minutes, or half
	// of a shorter MaxAge).
	Every time.Duration
}

func (r *Retention) fill() {
	if r.MaxAge == 0 {
		r.MaxAge = DefaultJobRetention
	}
	if r.MaxFinished == 0 {
		r.MaxFinished = DefaultMaxFinishedJobs
	}
	if r.Every <= 0 {
		// A short retention is checked more often, so a record outlives
		// it by at most half of it.
		r.Every = defaultPruneEvery
		if r.MaxAge > 0 && r.MaxAge/2 < r.Every {
			r.Every = max(r.MaxAge/2, time.Second)
		}
	}
}

// off says whether r keeps every finished job.
func (r Retention) off() bool { return r.MaxAge < 0 && r.MaxFinished < 0 }

// String says what r keeps, for logs and for the error of a Get that
// finds no job ("finished jobs are kept 7 days, at most 1000").
func (r Retention) String() string {
	var age, count string
	if r.MaxAge > 0 {
		age = " " + humanDuration(r.MaxAge)
	}
	if r.MaxFinished > 0 {
		count = fmt.Sprintf(", at most %d", r.MaxFinished)
	}
	if age == "" && count == "" {
		return "finished jobs are kept forever"
	}
	return "finished jobs are kept" + age + count
}

// humanDuration writes whole days as days and anything else as Go does.
func humanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > day && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// expired returns the finished jobs of jobs that r removes at now: those
// that finished more than MaxAge ago, and those past the MaxFinished most
// recently finished.
func (r Retention) expired(jobs []storedJob, now time.Time) []storedJob {
	var done []storedJob
	for _, j := range jobs {
		if j.rec.GetState().Terminal() {
			done = append(done, j)
		}
	}
	// Most recently finished first; the id breaks ties so the choice does
	// not depend on etcd's key order.
	slices.SortFunc(done, func(a, b storedJob) int {
		return cmp.Or(finishedAt(b.rec).Compare(finishedAt(a.rec)), cmp.Compare(a.rec.GetId(), b.rec.GetId()))
	})
	var out []storedJob
	for i, j := range done {
		if r.MaxFinished > 0 && i >= r.MaxFinished || r.MaxAge > 0 && now.Sub(finishedAt(j.rec)) > r.MaxAge {
			out = append(out, j)
		}
	}
	return out
}

// finishedAt is when a finished job ended. Records written before
// finished_at existed, and jobs cancelled while PENDING by an older
// coordinator, carry only updated_at.
func finishedAt(j *cohortv1.Job) time.Time {
	switch {
	case j.GetFinishedAt() != nil:
		return j.GetFinishedAt().AsTime()
	case j.GetUpdatedAt() != nil:
		return j.GetUpdatedAt().AsTime()
	}
	return j.GetCreatedAt().AsTime()
}

// pruneJobs removes the job records r lets go at now, each with what is
// kept below it (its last plan, its checkpoint pointer), one transaction a
// job. Each is fenced on leadership and on the record being the one read,
// so a record that changed since (it cannot leave a terminal state, but a
// deposed leader's view can be old) stays. It returns how many went.
func pruneJobs(ctx context.Context, cli *clientv3.Client, fence clientv3.Cmp, r Retention, now time.Time, log *slog.Logger) (int, error) {
	if r.off() {
		return 0, nil
	}
	jobs, err := readStoredJobs(ctx, cli, log)
	if err != nil {
		return 0, fmt.Errorf("prune finished jobs: %w", err)
	}
	n := 0
	for _, j := range r.expired(jobs, now) {
		key := membership.JobKey(j.rec.GetId())
		resp, err := cli.Txn(ctx).If(fence, clientv3.Compare(clientv3.ModRevision(key), "=", j.rev)).
			Then(clientv3.OpDelete(key), clientv3.OpDelete(key+"/", clientv3.WithPrefix())).Commit()
		if err != nil {
			return n, fmt.Errorf("prune finished job %s: %w", j.rec.GetId(), err)
		}
		if resp.Succeeded {
			n++
			log.Debug("coordinator: removed a finished job's record", "job", j.rec.GetId(),
				"state", jobStateName(j.rec.GetState()), "finished", finishedAt(j.rec))
		}
	}
	return n, nil
}

// pruneLoop prunes finished jobs now and every r.Every until ctx ends.
func (s *Server) pruneLoop(ctx context.Context, fence clientv3.Cmp) {
	r := s.cfg.Retention
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		n, err := pruneJobs(ctx, s.cfg.Client, fence, r, time.Now(), s.cfg.Logger)
		switch {
		case err != nil && ctx.Err() == nil:
			s.cfg.Logger.Warn("coordinator: prune finished jobs", "err", err)
		case n > 0:
			s.cfg.Logger.Info("coordinator: removed finished jobs' records", "jobs", n, "retention", r.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
