package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/coordinator"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

func newSubmitCmd() *cobra.Command {
	var (
		f      jobsFlags
		wait   bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "submit JOB.yaml [--wait]",
		Short: "Queue a training job on the cluster's coordinator",
		Long: `submit reads a job spec (YAML), checks it, and hands it to the leading
coordinator, which queues it PENDING until min_workers workers are live, then
trains it across them. It prints the job's id; follow the job with
cohort watch ID, or pass --wait to follow it here (the exit status is then
non-zero if the job ends FAILED or CANCELLED).

The spec's fields are those of the JobSpec message (proto/cohort/v1/job.proto),
which also states each field's bounds:

  name: cdnow
  data_path: /data/CDNOW_master.txt      # a file the coordinator can read (or dataset: NAME)
  read: {calibration_end: "1997-09-30", horizon: 39w}
  model: {seed: 1, max_epochs: 40}       # hidden, lr, batch, patience, ...: model.Config's defaults
  out_dir: /runs/cdnow                   # on the coordinator: model/, metrics.json, report.html
  min_workers: 2                         # start (or resume) once this many workers are live
  max_workers: 4
  checkpoint_every: 50                   # optimizer steps between checkpoints

The coordinator is found as for every job command: --coordinator (default
$COHORT_COORDINATOR, else 127.0.0.1:7070, where cohort up listens), tried in
order until the leader answers, or --etcd to read the leader from the
coordinators' election. During a failover submit retries for up to --timeout;
a retry never queues the job twice.

Example:
  cohort submit cdnow.yaml
  cohort submit cdnow.yaml --wait
  cohort submit cdnow.yaml --coordinator c1:7070,c2:7070 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			raw, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("submit: %s: no such file; give the path of a job spec (cohort submit --help shows one)", path)
			}
			if err != nil {
				return fmt.Errorf("submit: read job spec: %w", err)
			}
			spec, err := coordinator.JobSpecFromYAML(path, raw)
			if err != nil {
				return fmt.Errorf("submit: %w", err)
			}
			ctx := cmd.Context()
			c, err := newJobsClient(ctx, &f)
			if err != nil {
				return fmt.Errorf("submit: %w", err)
			}
			defer c.Close()
			// One request id per invocation: a retry after a failover
			// returns the job the first try created.
			req := &cohortv1.SubmitRequest{Spec: spec, RequestId: rand.Text()}
			var job *cohortv1.Job
			err = c.call(ctx, "submit "+path, func(ctx context.Context, cli cohortv1.JobsClient) error {
				resp, err := cli.Submit(ctx, req)
				job = resp.GetJob()
				return err
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := printProto(out, job, !wait); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(out, job.GetId())
				if !wait {
					fmt.Fprintf(cmd.ErrOrStderr(), "submitted job %s (%s); follow it with: cohort watch %s%s\n",
						job.GetId(), job.GetSpec().GetName(), job.GetId(), f.hintFlags(cmd.Flags()))
				}
			}
			if !wait {
				return nil
			}
			return followJob(ctx, c, job.GetId(), out, asJSON)
		},
	}
	flags := cmd.Flags()
	flags.BoolVar(&wait, "wait", false, "follow the job like cohort watch until it ends; exit non-zero unless it SUCCEEDED")
	flags.BoolVar(&asJSON, "json", false, "print the submitted Job as protojson (with --wait: one line, then one JobEvent per line)")
	f.bind(cmd)
	return cmd
}
