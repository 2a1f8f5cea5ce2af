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
		Use:   "cancel JOB_ID [--reason TEXT]",
		Short: "Stop a job: its workers stop at the next step and it ends CANCELLED",
		Long: `cancel asks the leading coordinator to stop a job. Its workers stop at the
next step boundary and the job ends CANCELLED, with the reason (by default who
cancelled it, from where) recorded as its error. Cancelling a job that is
already CANCELLED does nothing and succeeds. A job that has SUCCEEDED or
FAILED cannot be cancelled: cancel says how it ended and exits with status 1,
as kubectl delete does for an object that is gone, because the job was not
stopped by this command and its outcome stands; a script that cancels and
then relies on the job's outputs being absent must not read that as done.

Example:
  cohort cancel cdnow-1
  cohort cancel cdnow-1 --reason "wrong calibration end"`,
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
			err = c.call(ctx, "cancel "+id, func(ctx context.Context, cli cohortv1.JobsClient) error {
				resp, err := cli.Cancel(ctx, &cohortv1.CancelRequest{JobId: id, Reason: reason})
				job = resp.GetJob()
				return err
			})
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
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "job %s %s: %s\n", job.GetId(), stateName(job.GetState()), job.GetError())
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded as the job's error (default: cancelled by USER on HOST)")
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
// question its owner will ask.
func defaultCancelReason() string {
	who := "unknown user"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	return fmt.Sprintf("cancelled by %s on %s (cohort cancel)", who, host)
}
