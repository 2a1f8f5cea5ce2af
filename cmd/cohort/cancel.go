package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/spf13/cobra"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

func newCancelCmd() *cobra.Command {
	var (
		f      jobsFlags
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "cancel JOB_ID|NAME [--reason TEXT]",
		Short: "Stop a job: its workers stop at the next step and it ends CANCELLED",
		Long: `cancel asks the leading coordinator to stop a job, named by its id or by
its name when exactly one job has that name. A PENDING job ends CANCELLED at
once; a RUNNING one stops at its next step boundary, so cancel says the stop
was requested (cohort watch follows it to CANCELLED). The reason (by default
who cancelled it, from where) is recorded as the job's error. Cancelling a job that is
already CANCELLED does nothing and succeeds. A job that has SUCCEEDED or
FAILED cannot be cancelled: cancel says how it ended and exits with status 1,
as kubectl delete does for an object that is gone, because the job was not
stopped by this command and its outcome stands; a script that cancels and
then relies on the job's outputs being absent must not read that as done.

Example:
  cohort cancel job-3f2a9c1d7e44
  cohort cancel cdnow --reason "wrong calibration end"    # the one job named cdnow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if len(reason) > cohortv1.MaxReasonLen {
				return fmt.Errorf("--reason: %d bytes, want at most %d", len(reason), cohortv1.MaxReasonLen)
			}
			if reason == "" {
				reason = defaultCancelReason()
			}
			ctx := cmd.Context()
			c, err := newJobsClient(ctx, &f)
			if err != nil {
				return fmt.Errorf("cancel: %w", err)
			}
			defer c.Close()
			var job *cohortv1.Job
			cancel := func(id string) error {
				return c.call(ctx, "cancel "+id, func(ctx context.Context, cli cohortv1.JobsClient) error {
					resp, err := cli.Cancel(ctx, &cohortv1.CancelRequest{JobId: id, Reason: reason})
					job = resp.GetJob()
					return err
				})
			}
			err = cancel(id)
			if errors.Is(err, rpcerr.ErrNotFound) {
				byName, nerr := c.jobByName(ctx, "cancel", id)
				switch {
				case nerr != nil:
					return nerr
				case byName != "":
					id = byName
					err = cancel(id)
				}
			}
			// The coordinator's error repeats what the sentinel says
			// through every layer; the user gets one line.
			switch {
			case errors.Is(err, rpcerr.ErrNotFound):
				return &quietError{err: err, msg: fmt.Sprintf("cancel %s: job %q not found; cohort status lists the jobs", id, id)}
			case errors.Is(err, rpcerr.ErrFinished):
				return &quietError{err: err, msg: fmt.Sprintf("cancel %s: the job already finished%s, nothing to stop; cohort status %s shows how it ended",
					id, finishedState(ctx, c, id), id)}
			case err != nil:
				return err
			}
			if asJSON {
				return printProto(cmd.OutOrStdout(), job, true)
			}
			out := cmd.OutOrStdout()
			if !job.GetState().Terminal() {
				// A RUNNING job stops at its next step: the coordinator
				// returns it as it was when the stop was requested.
				_, err = fmt.Fprintf(out, "cancel requested: %s stops at its next step (cohort watch %s%s to follow)\n",
					job.GetId(), job.GetId(), f.hintFlags(cmd.Flags()))
				return err
			}
			_, err = fmt.Fprintf(out, "job %s %s: %s\n", job.GetId(), stateName(job.GetState()), job.GetError())
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", `why, recorded as the job's error after "cancelled: " (default: by USER on HOST)`)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job as protojson")
	f.bind(cmd)
	return cmd
}

// finishedState is " (SUCCEEDED)" or " (FAILED)" for a finished job, or ""
// when the coordinator cannot say: Cancel's refusal names no state.
func finishedState(ctx context.Context, c *jobsClient, id string) string {
	var job *cohortv1.Job
	err := c.call(ctx, "status "+id, func(ctx context.Context, cli cohortv1.JobsClient) error {
		resp, err := cli.Get(ctx, &cohortv1.GetRequest{JobId: id})
		job = resp.GetJob()
		return err
	})
	if err != nil || !job.GetState().Terminal() {
		return ""
	}
	return " (" + stateName(job.GetState()) + ")"
}

// defaultCancelReason says who cancelled, so a job's error answers the
// question its owner will ask. The coordinator records a reason after
// "cancelled: ", so it does not say "cancelled" again.
func defaultCancelReason() string {
	who := "unknown user"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	return fmt.Sprintf("by %s on %s (cohort cancel)", who, host)
}
