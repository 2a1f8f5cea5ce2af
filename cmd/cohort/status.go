package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

func newStatusCmd() *cobra.Command {
	var (
		f      jobsFlags
		asJSON bool
		states []string
	)
	cmd := &cobra.Command{
		Use:   "status [JOB_ID|NAME]",
		Short: "List the cluster's jobs, or show one job in detail",
		Long: `status asks the leading coordinator for its jobs. Without an id it prints a
table, newest first: id, name, state, workers, generation, epoch, step, loss,
validation loss, age and, once a job has succeeded, its test-set normalized
Gini. --state keeps only jobs in the given states.

With an id (or the name of exactly one job) it shows that job: what it trains (data, read options, model,
output directory, worker bounds), its state and error, the generation of
workers, the last checkpoint, progress and, once it has succeeded, its
test-set metrics against the BG/NBD + Gamma-Gamma baseline.

--json prints protojson with the spec's snake_case field names (data_path,
val_loss, metrics.normalized_gini): the Job, or {"jobs": [...]} for the list.
States read as in the proto ("JOB_STATE_SUCCEEDED") and 64-bit numbers as
strings ("step": "99"), as protojson writes them.

Example:
  cohort status
  cohort status --state pending,running
  cohort status job-3f2a9c1d7e44
  cohort status cdnow                # the one job named cdnow
  cohort status job-3f2a9c1d7e44 --json | jq .metrics`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := parseStates(states)
			if err != nil {
				return err
			}
			if len(args) == 1 && len(filter) > 0 {
				return fmt.Errorf("--state filters the list of jobs; drop it, or the job id")
			}
			ctx := cmd.Context()
			c, err := newJobsClient(ctx, &f)
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			defer c.Close()
			if len(args) == 1 {
				return jobStatus(ctx, c, args[0], cmd.OutOrStdout(), asJSON)
			}
			return listJobs(ctx, c, filter, cmd.OutOrStdout(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print protojson: the Job, or {"jobs": [...]}`)
	cmd.Flags().StringSliceVar(&states, "state", nil, "list only jobs in these states: pending, running, succeeded, failed, cancelled")
	f.bind(cmd)
	return cmd
}

// jobStatus prints one job in detail; id may be a job's name instead.
func jobStatus(ctx context.Context, c *jobsClient, id string, w io.Writer, asJSON bool) error {
	var job *cohortv1.Job
	get := func(id string) error {
		return c.call(ctx, "status "+id, func(ctx context.Context, cli cohortv1.JobsClient) error {
			resp, err := cli.Get(ctx, &cohortv1.GetRequest{JobId: id})
			job = resp.GetJob()
			return err
		})
	}
	err := get(id)
	if errors.Is(err, rpcerr.ErrNotFound) {
		byName, nerr := c.jobByName(ctx, "status", id)
		switch {
		case nerr != nil:
			return nerr
		case byName != "":
			err = get(byName)
		}
	}
	if errors.Is(err, rpcerr.ErrNotFound) {
		return &quietError{err: err, msg: fmt.Sprintf("status: job %q not found; cohort status (no id) lists the jobs%s", id, removedHint)}
	}
	if err != nil {
		return err
	}
	if asJSON {
		return printProto(w, job, true)
	}
	return writeJob(w, job, time.Now())
}

// fetchJobs returns every job (all pages) in the given states, all if
// none, newest first.
func fetchJobs(ctx context.Context, c *jobsClient, op string, states []cohortv1.JobState) ([]*cohortv1.Job, error) {
	var jobs []*cohortv1.Job
	token := ""
	for {
		var resp *cohortv1.ListResponse
		err := c.call(ctx, op, func(ctx context.Context, cli cohortv1.JobsClient) error {
			var err error
			resp, err = cli.List(ctx, &cohortv1.ListRequest{PageSize: cohortv1.MaxPageSize, PageToken: token, States: states})
			return err
		})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, resp.GetJobs()...)
		if token = resp.GetNextPageToken(); token == "" {
			return jobs, nil
		}
	}
}

// jobByName returns the id of the one job named name, for a job command
// given a name where it takes an id (status, watch, cancel); "" when no
// job has that name, and an error listing the ids when several have.
func (c *jobsClient) jobByName(ctx context.Context, op, name string) (string, error) {
	jobs, err := fetchJobs(ctx, c, op+" "+name, nil)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, j := range jobs {
		if j.GetSpec().GetName() == name {
			ids = append(ids, fmt.Sprintf("%s (%s)", j.GetId(), stateName(j.GetState())))
		}
	}
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		id, _, _ := strings.Cut(ids[0], " ")
		return id, nil
	}
	return "", fmt.Errorf("%s %s: %d jobs are named %q, newest first: %s; give the id of one",
		op, name, len(ids), name, strings.Join(ids, ", "))
}

// listJobs prints every job (all pages) in the given states, all if none.
func listJobs(ctx context.Context, c *jobsClient, states []cohortv1.JobState, w io.Writer, asJSON bool) error {
	jobs, err := fetchJobs(ctx, c, "status", states)
	if err != nil {
		return err
	}
	if asJSON {
		if len(jobs) == 0 {
			// protojson leaves an empty list out; the help promises one.
			_, err := io.WriteString(w, "{\n  \"jobs\": []\n}\n")
			return err
		}
		return printProto(w, &cohortv1.ListResponse{Jobs: jobs}, true)
	}
	if len(jobs) == 0 {
		if len(states) == 0 {
			_, err := fmt.Fprintln(w, "no jobs; queue one with cohort submit JOB.yaml")
			return err
		}
		names := make([]string, len(states))
		for i, s := range states {
			names[i] = stateName(s)
		}
		_, err := fmt.Fprintf(w, "no jobs in state %s\n", strings.Join(names, ", "))
		return err
	}
	return writeJobTable(w, jobs, time.Now())
}

// writeJobTable prints the jobs as status lists them.
func writeJobTable(w io.Writer, jobs []*cohortv1.Job, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tWORKERS\tGEN\tEPOCH\tSTEP\tLOSS\tVAL LOSS\tAGE\tGINI")
	for _, j := range jobs {
		gini := "-"
		if j.GetState() == cohortv1.JobState_JOB_STATE_SUCCEEDED && j.GetMetrics() != nil {
			gini = fmtMetric(j.GetMetrics().GetNormalizedGini())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", j.GetId(), dash(j.GetSpec().GetName()),
			stateName(j.GetState()), j.GetWorkers(), j.GetGeneration(), j.GetEpoch(), j.GetStep(),
			fmtLoss(j.GetLoss(), trained(j)), fmtLoss(j.GetValLoss(), trained(j)), age(j.GetCreatedAt(), now), gini)
	}
	return tw.Flush()
}

// writeJob prints one job's detail view.
func writeJob(w io.Writer, j *cohortv1.Job, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	s := j.GetSpec()
	row("job", "%s (%s)", j.GetId(), dash(s.GetName()))
	state := stateName(j.GetState())
	if j.GetState() == cohortv1.JobState_JOB_STATE_RUNNING {
		state += " on " + plural(int(j.GetWorkers()), "worker")
	}
	if c := j.GetCoordinator(); c != "" {
		state += ", coordinator " + c
	}
	row("state", "%s", state)
	if m := j.GetMessage(); m != "" {
		row("message", "%s", m)
	}
	if e := j.GetError(); e != "" {
		row("error", "%s", e)
	}
	switch {
	case s.GetDataPath() != "":
		row("data", "%s", s.GetDataPath())
	case s.GetDataset() != "":
		row("data", "dataset %s", s.GetDataset())
	}
	if r := s.GetRead(); r != nil {
		row("read", "%s", readSummary(r))
	}
	row("model", "%s", modelSummary(s.GetModel()))
	row("out", "%s", dash(s.GetOutDir()))
	maxW := "no cap"
	if s.GetMaxWorkers() > 0 {
		maxW = fmt.Sprint(s.GetMaxWorkers())
	}
	row("workers", "min %d, max %s", max(s.GetMinWorkers(), 1), maxW)
	row("generation", "%d (%s)", j.GetGeneration(), plural(int(j.GetWorkers()), "worker"))
	progress := fmt.Sprintf("epoch %d, step %d, loss %s, val loss %s", j.GetEpoch(), j.GetStep(),
		fmtLoss(j.GetLoss(), trained(j)), fmtLoss(j.GetValLoss(), trained(j)))
	if r := j.GetSamplesPerSecond(); r > 0 {
		progress += fmt.Sprintf(", %s samples/s", fmtRate(r))
	}
	if g := j.GetAllreduceGbps(); g > 0 {
		progress += fmt.Sprintf(", allreduce %.2f GB/s", g)
	}
	row("progress", "%s", progress)
	ckpt := "none yet"
	if j.GetCheckpointStep() > 0 {
		ckpt = fmt.Sprintf("step %d", j.GetCheckpointStep())
	}
	if e := s.GetCheckpointEvery(); e > 0 {
		ckpt += fmt.Sprintf(" (every %d steps)", e)
	}
	row("checkpoint", "%s", ckpt)
	for _, t := range []struct {
		name string
		ts   *timestamppb.Timestamp
	}{{"created", j.GetCreatedAt()}, {"started", j.GetStartedAt()}, {"finished", j.GetFinishedAt()}} {
		if t.ts != nil {
			row(t.name, "%s (%s ago)", t.ts.AsTime().UTC().Format(time.RFC3339), age(t.ts, now))
		}
	}
	if m := j.GetMetrics(); m != nil {
		gini, base := m.GetNormalizedGini(), m.GetBaselineNormalizedGini()
		row("test set", "%d customers", m.GetCustomers())
		row("gini", "%s, BG/NBD+GG baseline %s (%s)", fmtMetric(gini), fmtMetric(base), fmtDelta(gini-base))
		row("metrics", "spearman %s, auc %s, decile_mape %s, rmse %s, mae %s, spend_ratio %s",
			fmtMetric(m.GetSpearman()), fmtMetric(m.GetAuc()), fmtMetric(m.GetDecileMape()),
			fmtMetric(m.GetRmse()), fmtMetric(m.GetMae()), fmtMetric(m.GetSpendRatio()))
	}
	return tw.Flush()
}

// fmtDelta is the model's Gini lead over the baseline, signed.
func fmtDelta(d float64) string {
	switch {
	case math.IsNaN(d):
		return "no comparison"
	case d > 0:
		return fmt.Sprintf("model ahead by %.4f", d)
	case d < 0:
		return fmt.Sprintf("baseline ahead by %.4f", -d)
	}
	return "a tie"
}

// readSummary is a job's read options in one line: the window always, then
// only the options the spec set, so that a job reading a European export
// (decimal ",") or a count-only log says so.
func readSummary(r *cohortv1.ReadOptions) string {
	parts := []string{fmt.Sprintf("calibration end %s, horizon %s", orDefault(r.GetCalibrationEnd()), dash(r.GetHorizon()))}
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, fmt.Sprintf("%s %q", name, v))
		}
	}
	add("data end", r.GetDataEnd())
	add("format", r.GetFormat())
	add("customer", r.GetCustomer())
	add("date", r.GetDate())
	add("amount", r.GetAmount())
	add("quantity", r.GetQuantity())
	if len(r.GetExtra()) > 0 {
		add("extra", strings.Join(r.GetExtra(), ","))
	}
	add("header", r.GetHeader())
	add("delimiter", r.GetDelimiter())
	add("date format", r.GetDateFormat())
	add("decimal", r.GetDecimal())
	add("negative", r.GetNegative())
	if r.GetSkipBadRows() {
		parts = append(parts, "skip bad rows")
	}
	if p := r.GetPeriods(); p != 0 {
		parts = append(parts, fmt.Sprintf("periods %d", p))
	}
	if d := r.GetPeriodDays(); d != 0 {
		parts = append(parts, fmt.Sprintf("period days %d", d))
	}
	return strings.Join(parts, ", ")
}

// modelSummary is a model config in one line, zero fields as "default".
func modelSummary(m *cohortv1.ModelConfig) string {
	if m == nil {
		return "defaults"
	}
	var parts []string
	switch {
	case m.GetLinear():
		parts = append(parts, "linear")
	case len(m.GetHidden()) > 0:
		h := make([]string, len(m.GetHidden()))
		for i, v := range m.GetHidden() {
			h[i] = fmt.Sprint(v)
		}
		parts = append(parts, "hidden "+strings.Join(h, ","))
	}
	if m.GetLr() > 0 {
		parts = append(parts, fmt.Sprintf("lr %g", m.GetLr()))
	}
	if m.GetBatch() > 0 {
		parts = append(parts, fmt.Sprintf("global batch %d", m.GetBatch()))
	}
	if m.GetMaxEpochs() > 0 {
		parts = append(parts, fmt.Sprintf("max epochs %d", m.GetMaxEpochs()))
	}
	parts = append(parts, fmt.Sprintf("seed %d", m.GetSeed()))
	return strings.Join(parts, ", ") + " (other fields: defaults)"
}

// stateName is a JobState as people write it: RUNNING.
func stateName(s cohortv1.JobState) string {
	return strings.TrimPrefix(s.String(), "JOB_STATE_")
}

// parseStates reads --state: names such as running or JOB_STATE_RUNNING,
// in any case.
func parseStates(names []string) ([]cohortv1.JobState, error) {
	var out []cohortv1.JobState
	for _, n := range names {
		key := strings.ToUpper(strings.TrimSpace(n))
		if !strings.HasPrefix(key, "JOB_STATE_") {
			key = "JOB_STATE_" + key
		}
		v, ok := cohortv1.JobState_value[key]
		if !ok || v == int32(cohortv1.JobState_JOB_STATE_UNSPECIFIED) {
			return nil, fmt.Errorf("--state %q: want pending, running, succeeded, failed or cancelled", n)
		}
		out = append(out, cohortv1.JobState(v))
	}
	if len(out) > cohortv1.MaxStateFilters {
		return nil, fmt.Errorf("--state: %d states, want at most %d", len(out), cohortv1.MaxStateFilters)
	}
	return out, nil
}

// age is how long ago ts was, to the coarsest useful unit: 45s, 12m, 3h5m, 2d4h.
func age(ts *timestamppb.Timestamp, now time.Time) string {
	if ts == nil {
		return "-"
	}
	d := max(now.Sub(ts.AsTime()), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// plural is "1 worker", "2 workers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// jsonOptions are how every job command prints records: protojson with
// the proto's field names, the snake_case a job.yaml is written in
// (data_path, out_dir, val_loss), not protojson's default lowerCamelCase.
func jsonOptions() protojson.MarshalOptions { return protojson.MarshalOptions{UseProtoNames: true} }

// printProto writes m as protojson: indented, or on one line (NDJSON).
func printProto(w io.Writer, m proto.Message, indent bool) error {
	opts := jsonOptions()
	if indent {
		opts.Multiline, opts.Indent = true, "  "
	}
	b, err := opts.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// removedHint ends a "job not found": the job may have finished long
// enough ago that the coordinator removed its record.
const removedHint = " (a finished job's record is removed after the coordinator's --job-retention, 7 days by default, " +
	"or once it is not among the --max-finished-jobs most recently finished, 1,000 by default; its files in out_dir stay)"
