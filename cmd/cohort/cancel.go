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
already CANCELLED does nothing; a job that has SUCCEEDED or FAILED cannot be
cancelled.

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
			switch {
			case errors.Is(err, rpcerr.ErrNotFound):
				return fmt.Errorf("cancel: job %q not found; cohort status lists the jobs: %w", id, err)
			case errors.Is(err, rpcerr.ErrFinished):
				return fmt.Errorf("cancel: job %q has already finished, nothing to stop (cohort status %s shows how it ended): %w", id, id, err)
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
