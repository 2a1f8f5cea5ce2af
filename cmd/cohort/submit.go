package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
cohort watch ID, or pass --wait to follow it here. With --wait the exit
status says how the job ended, as cohort watch's does: 0 SUCCEEDED, 2 FAILED,
3 CANCELLED, 4 no leading coordinator answered within --timeout (the job's
outcome is unknown), 1 any other error, 130 Ctrl-C, which stops only this
command: the job keeps running on the cluster.

The spec's fields are those of the JobSpec message (proto/cohort/v1/job.proto),
which also states each field's bounds:

  name: cdnow
  data_path: /data/CDNOW_master.txt      # a file the leading coordinator can read
  read: {calibration_end: "1997-09-30", horizon: 39w}
  model: {seed: 1, max_epochs: 40, hidden: [128, 64]}   # lr, batch, patience, ...: model.Config's defaults
  out_dir: /runs/cdnow                   # on the coordinator: model/, metrics.json, report.html
  min_workers: 2                         # start (or resume) once this many workers are live
  max_workers: 4
  checkpoint_every: 50                   # optimizer steps between checkpoints
  overwrite: false                       # true: replace a finished run in out_dir

model.hidden is a YAML list of layer widths, [128, 64]; the string "128,64"
that a sweep spec takes is refused here.

data_path, out_dir and checkpoint_dir are read and written on the leading
coordinator's machine. A relative one is taken relative to the spec file's
directory: submit makes it absolute before sending (the job's record shows the
absolute path), so put the spec next to the data, or give absolute paths on
storage the coordinators share. The coordinator refuses the job at once when it
cannot read data_path or write out_dir, when another PENDING or RUNNING job
writes to the same out_dir, or when out_dir holds a finished run (model/ or
metrics.json) and overwrite is not true.

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
			// Relative paths mean the spec file's directory, never the
			// coordinator's working directory.
			if err := coordinator.ResolvePaths(spec, filepath.Dir(path)); err != nil {
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
			return followJob(ctx, c, job.GetId(), out,
				followOpts{op: "submit --wait: follow " + job.GetId(), asJSON: asJSON, flags: f.hintFlags(cmd.Flags())})
		},
	}
	flags := cmd.Flags()
	flags.BoolVar(&wait, "wait", false, "follow the job like cohort watch until it ends; exit 0 if it SUCCEEDED, 2 FAILED, 3 CANCELLED, 4 coordinator lost")
	flags.BoolVar(&asJSON, "json", false, "print the submitted Job as protojson (with --wait: one line, then one JobEvent per line)")
	f.bind(cmd)
	return cmd
}
