package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// InterruptedPrefix starts the error a worker reports when its allreduce
// failed (model.Interrupted): it holds the state after its last completed
// step and waits for the next generation, so the error is not fatal.
const InterruptedPrefix = "interrupted: "

// maxIdleGenerations bounds the generations a job starts without an epoch
// finishing in between, so allreduces that keep failing with every worker
// alive end the job rather than loop.
const maxIdleGenerations = 16

// follow relays the reports of the job's generations until rank 0 sends
// the final model. A worker whose lease ends starts, at once, generation
// g+1 of the plan's other live workers. A worker's error starts a grace of
// one lease TTL (a peer's broken stream usually precedes its lease's end);
// if no lease ends within it, interruptions alone start g+1 of the same
// workers and any other error fails the job. A live worker outside the
// plan that the job may take in (see joiners) starts g+1 with it at once:
// the workers' next allreduce then fails, which is the generation
// boundary. The survivors resume from
// their last completed step (worker.agree settles the one step they may
// differ by), so the job goes on without restarting them.
func (j *Job) follow(ctx context.Context, g *generation, live []membership.Member, up <-chan []membership.Member, disc <-chan error, ev job.Events) (*model.Model, model.History, error) {
	defer func() { close(g.done) }()
	var first error
	fatal := false
	idle := 0 // generations started since the last epoch
	grace := time.NewTimer(time.Hour)
	grace.Stop()
	defer grace.Stop()
	next := func(members []membership.Member, why string) error {
		if len(members) < j.cfg.MinWorkers {
			if !j.cfg.WaitForWorkers {
				return fmt.Errorf("generation %d: %s: %d workers left, fewer than the minimum %d", g.plan.Generation, why, len(members), j.cfg.MinWorkers)
			}
			var err error
			if members, live, err = j.awaitMore(ctx, g, members, live, up, disc, why); err != nil {
				return err
			}
		}
		if idle++; idle > maxIdleGenerations {
			return fmt.Errorf("generation %d: %s: %d generations without an epoch, giving up", g.plan.Generation, why, maxIdleGenerations)
		}
		ng, err := j.startGeneration(ctx, g.plan.Generation+1, members, g.prep, g.fingerprint, why)
		if err != nil {
			return fmt.Errorf("generation %d: %s: start the next: %w", g.plan.Generation, why, err)
		}
		j.cfg.Logger.Warn("coordinator: new generation", "job", j.cfg.JobID, "generation", ng.plan.Generation,
			"workers", strings.Join(ng.plan.Workers, ","), "reason", why)
		close(g.done)
		g, first, fatal = ng, nil, false
		grace.Stop()
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil, model.History{}, ctx.Err()
		case err := <-disc:
			return nil, model.History{}, fmt.Errorf("watch workers: %w", err)
		case <-grace.C:
			if fatal {
				return nil, model.History{}, fmt.Errorf("generation %d: %w", g.plan.Generation, first)
			}
			if err := next(survivors(g.members, live), fmt.Sprintf("allreduce failed with every worker alive (%v)", first)); err != nil {
				return nil, model.History{}, err
			}
		case ms := <-up:
			live = ms
			lost := lostWorkers(g.members, ms)
			members := survivors(g.members, ms)
			joins := j.joiners(members, ms)
			var why []string
			if len(lost) > 0 {
				why = append(why, fmt.Sprintf("worker %s lost its lease", strings.Join(lost, ", ")))
			}
			if len(joins) > 0 && !fatal {
				why = append(why, fmt.Sprintf("worker %s joined", strings.Join(memberNames(joins), ", ")))
			}
			switch {
			case len(lost) > 0 && fatal:
				return nil, model.History{}, fmt.Errorf("generation %d: %s after %w", g.plan.Generation, why[0], first)
			case len(why) > 0:
				members = append(members, joins...)
				slices.SortFunc(members, func(a, b membership.Member) int { return strings.Compare(a.Name, b.Name) })
				if err := next(members, strings.Join(why, "; ")); err != nil {
					return nil, model.History{}, err
				}
			}
		case r := <-g.reports:
			switch rep := r.Report.(type) {
			case *cohortv1.ReportRequest_Error:
				err := fmt.Errorf("worker %s (rank %d): %s", r.GetWorker(), r.GetRank(), rep.Error)
				if first == nil {
					grace.Reset(j.cfg.Timeout + time.Second)
				}
				if first == nil || !fatal && !strings.HasPrefix(rep.Error, InterruptedPrefix) {
					// The job's error names the fatal report, not a
					// peer's interruption that came before it.
					first = err
				}
				fatal = fatal || !strings.HasPrefix(rep.Error, InterruptedPrefix)
			case *cohortv1.ReportRequest_Epoch:
				idle = 0
				j.progress(ctx, g, epochStats(rep.Epoch), r.GetSamplesPerSecond(), r.GetAllreduceGbps(), ev)
			case *cohortv1.ReportRequest_Final:
				g.prep.Workers = len(g.members)
				return finalModel(g.prep, rep.Final)
			}
		}
	}
}

// awaitMore waits, with the job recorded PENDING (nobody trains it), until
// enough workers are free to go on: the members still alive and any others
// the job may take, at least Config.MinWorkers. The next generation then
// resumes from the furthest state a member holds, or the last checkpoint.
func (j *Job) awaitMore(ctx context.Context, g *generation, members, live []membership.Member, up <-chan []membership.Member,
	disc <-chan error, why string) ([]membership.Member, []membership.Member, error) {
	j.cfg.Logger.Warn("coordinator: too few workers to go on; waiting for more", "job", j.cfg.JobID,
		"generation", g.plan.Generation, "workers", len(members), "min", j.cfg.MinWorkers, "reason", why)
	said := waitingMessage(len(members), len(members), j.cfg.MinWorkers)
	if err := j.put(ctx, func(r *cohortv1.Job) {
		r.State, r.Workers, r.Message = cohortv1.JobState_JOB_STATE_PENDING, uint32(len(members)), said
	}); err != nil {
		return nil, live, fmt.Errorf("generation %d: record waiting for workers: %w", g.plan.Generation, err)
	}
	for {
		members = survivors(members, live)
		members = append(members, j.joiners(members, live)...)
		if len(members) >= j.cfg.MinWorkers {
			slices.SortFunc(members, func(a, b membership.Member) int { return strings.Compare(a.Name, b.Name) })
			return members, live, nil
		}
		// The eligible workers the job could not claim are other jobs'.
		eligible := len(members) + len(j.candidates(live, members))
		if err := j.sayWaiting(ctx, &said, waitingMessage(eligible, len(members), j.cfg.MinWorkers)); err != nil {
			return nil, live, err
		}
		select {
		case <-ctx.Done():
			return nil, live, ctx.Err()
		case err := <-disc:
			return nil, live, fmt.Errorf("watch workers: %w", err)
		case live = <-up:
		case <-j.poolChanged():
		}
	}
}

// survivors are the plan's members still registered under the same lease.
func survivors(plan, live []membership.Member) []membership.Member {
	lost := lostWorkers(plan, live)
	return slices.DeleteFunc(slices.Clone(plan), func(m membership.Member) bool { return slices.Contains(lost, m.Name) })
}

// joiners are live workers outside members that the job may take in (see
// candidates), up to Config.Workers in all.
func (j *Job) joiners(members, live []membership.Member) []membership.Member {
	got, _ := j.take(j.candidates(live, members), j.cfg.Workers-len(members), 1)
	return got
}

func memberNames(ms []membership.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}
