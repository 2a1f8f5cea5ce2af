package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

func newWatchCmd() *cobra.Command {
	var (
		f      jobsFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "watch JOB_ID|NAME",
		Short: "Follow a job: one line per change until it ends",
		Long: `watch streams a job's changes from the leading coordinator: first the job as
it stands, then a line per change (state, progress, a new generation of
workers, a checkpoint) with the time, what changed, the state, generation,
epoch, step, training and validation loss, throughput and a message. It ends
when the job does. The job is named by its id, or by its name when exactly
one job has that name.

If the coordinator goes away (a failover to a standby), watch finds the new
leader and carries on where it was, skipping the changes it has printed.
Ctrl-C stops watch only: the job keeps running on the cluster (cohort cancel
stops it). --json prints each change as one protojson JobEvent per line
(NDJSON).

Exit status:
  0    the job SUCCEEDED
  1    any other error (no such job, bad flags, ...)
  2    the job FAILED (its error is printed)
  3    the job was CANCELLED
  4    no leading coordinator answered within --timeout: the job's outcome
       is unknown, and it may still be running
  130  interrupted (Ctrl-C); the job goes on

Example:
  cohort watch job-3f2a9c1d7e44
  cohort watch cdnow                 # the one job named cdnow
  cohort watch job-3f2a9c1d7e44 --json | jq -r .job.loss`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := newJobsClient(ctx, &f)
			if err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			defer c.Close()
			o := followOpts{op: "watch " + args[0], asJSON: asJSON, flags: f.hintFlags(cmd.Flags())}
			err = followJob(ctx, c, args[0], cmd.OutOrStdout(), o)
			if !errors.Is(err, rpcerr.ErrNotFound) {
				return err
			}
			id, nerr := c.jobByName(ctx, "watch", args[0])
			if nerr != nil || id == "" {
				return cmp.Or(nerr, err)
			}
			return followJob(ctx, c, id, cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one protojson JobEvent per line (NDJSON)")
	f.bind(cmd)
	return cmd
}

// errStreamEnded is a watch that ended before the job did: the coordinator
// stopped serving it (it is shutting down), so the watch goes on elsewhere.
var errStreamEnded = fmt.Errorf("watch stream ended before the job finished: %w", rpcerr.ErrUnavailable)

// followOpts say how followJob reports.
type followOpts struct {
	op     string // names the command in errors: "watch ID"
	asJSON bool   // NDJSON events, no closing line
	flags  string // jobsFlags.hintFlags, so printed commands reach the same cluster
}

// followJob prints job id's events to w until the job ends, reconnecting
// (through a failover, too) when the stream breaks. Each event is printed
// once: a reconnected stream starts with a SNAPSHOT that repeats what was
// seen, and events at or below the last printed revision are dropped. It
// returns nil if the job SUCCEEDED and an error saying why otherwise, with
// the exit status that tells a FAILED or CANCELLED job from a lost cluster.
// Interrupted, it says that the job goes on and how to follow or stop it.
func followJob(ctx context.Context, c *jobsClient, id string, w io.Writer, o followOpts) error {
	asJSON := o.asJSON
	var (
		seen    bool
		lastRev uint64
		job     *cohortv1.Job // as of the latest event, printed or not
	)
	err := c.retry(ctx, o.op, func(ctx context.Context, cli cohortv1.JobsClient, progress func()) error {
		stream, err := cli.Watch(ctx, &cohortv1.WatchRequest{JobId: id})
		if err != nil {
			return err
		}
		for {
			ev, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				if job.GetState().Terminal() {
					return nil
				}
				return errStreamEnded
			}
			if err != nil {
				return err
			}
			progress()
			job = ev.GetJob()
			if seen && ev.GetRevision() <= lastRev {
				continue
			}
			seen, lastRev = true, ev.GetRevision()
			if asJSON {
				err = printProto(w, ev, false)
			} else {
				_, err = fmt.Fprintln(w, eventLine(ev))
			}
			if err != nil {
				return fmt.Errorf("write event: %w", err)
			}
		}
	})
	switch {
	case errors.Is(err, rpcerr.ErrNotFound):
		return &quietError{err: err, msg: fmt.Sprintf("%s: job %q not found; cohort status lists the jobs%s", o.op, id, removedHint)}
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return &hintError{err: err, hint: fmt.Sprintf("job %s keeps running on the cluster (Ctrl-C stops only this command); "+
			"follow it again with cohort watch %s%s, stop it with cohort cancel %s%s", id, id, o.flags, id, o.flags)}
	case err != nil:
		return err
	}
	return jobOutcome(w, job, asJSON)
}

// jobOutcome turns a finished job into the command's result: nil if it
// SUCCEEDED (with a closing line unless asJSON), an error otherwise.
func jobOutcome(w io.Writer, job *cohortv1.Job, asJSON bool) error {
	switch job.GetState() {
	case cohortv1.JobState_JOB_STATE_SUCCEEDED:
		if !asJSON {
			line := fmt.Sprintf("job %s SUCCEEDED", job.GetId())
			if m := job.GetMetrics(); m != nil {
				line += fmt.Sprintf(": normalized gini %s (BG/NBD+GG baseline %s) on %d test customers",
					fmtMetric(m.GetNormalizedGini()), fmtMetric(m.GetBaselineNormalizedGini()), m.GetCustomers())
			}
			if d := job.GetSpec().GetOutDir(); d != "" {
				line += "; model and report in " + d
			}
			fmt.Fprintln(w, line)
		}
		return nil
	case cohortv1.JobState_JOB_STATE_FAILED, cohortv1.JobState_JOB_STATE_CANCELLED:
		msg := job.GetError()
		if msg == "" {
			msg = "no error recorded"
		}
		code := exitJobFailed
		if job.GetState() == cohortv1.JobState_JOB_STATE_CANCELLED {
			code = exitJobCancelled
		}
		return &codeError{code: code, err: fmt.Errorf("job %s %s: %s", job.GetId(), stateName(job.GetState()), msg)}
	}
	return fmt.Errorf("job %s: watch ended in state %s", job.GetId(), stateName(job.GetState()))
}

// eventLine is one event as watch prints it.
func eventLine(ev *cohortv1.JobEvent) string {
	j := ev.GetJob()
	t := time.Now()
	if ev.GetTime() != nil {
		t = ev.GetTime().AsTime()
	}
	kind := strings.TrimPrefix(ev.GetKind().String(), "KIND_")
	line := fmt.Sprintf("%s  %-10s %-9s gen %-3d epoch %-4d step %-7d loss %-7s val %-7s %8s samples/s",
		t.Local().Format("15:04:05"), kind, stateName(j.GetState()), j.GetGeneration(), j.GetEpoch(), j.GetStep(),
		fmtLoss(j.GetLoss(), trained(j)), fmtLoss(j.GetValLoss(), trained(j)), fmtRate(j.GetSamplesPerSecond()))
	if m := ev.GetMessage(); m != "" {
		line += "  " + m
	}
	return line
}

// trained says whether a job's record holds losses: the coordinator
// records both at the end of each epoch (epochs count from 1), so before
// the first their zeros mean "none yet", not a loss of 0. The step is no
// sign: a checkpoint moves it within the first epoch.
func trained(j *cohortv1.Job) bool { return j.GetEpoch() > 0 }

// fmtLoss prints a loss, or "-" where there is none yet.
func fmtLoss(v float64, known bool) string {
	if !known || math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.4f", v)
}

// fmtRate prints a throughput compactly: 950, 12.3k, 4.1M.
func fmtRate(v float64) string {
	switch {
	case v <= 0 || math.IsNaN(v):
		return "-"
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
