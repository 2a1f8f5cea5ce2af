package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
)

type predictFlags struct {
	data    dataFlags
	model   string
	out     string
	threads int
	device  string
	json    bool
}

func newPredictCmd() *cobra.Command {
	f := &predictFlags{}
	cmd := &cobra.Command{
		Use:   "predict --model DIR/model --data FILE --out FILE.csv|FILE.parquet",
		Short: "Score every customer of a transaction log with a trained model",
		Long: `predict builds each customer's features from all purchases up to --calibration-end
(default: the last date in the data) and writes one row per customer:

  customer_id                  the customer
  p_return                     probability the customer spends anything in the model's horizon
  expected_spend               expected spend over the horizon (the model was trained for it)
  decile                       1 = the top tenth of customers by expected_spend, 10 = the bottom
  baseline_expected_purchases  BG/NBD expected purchases over the horizon
  baseline_p_alive             BG/NBD probability the customer is still active
  baseline_expected_spend      BG/NBD + Gamma-Gamma expected spend over the horizon

The log is read with the column mapping used in training; flags given here
override it. Output is Parquet when --out ends in .parquet, CSV otherwise.

Example:
  cohort predict --model runs/cdnow/model --data CDNOW_master.txt --out predictions.csv
` + dataHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPredict(cmd, f) },
	}
	fs := cmd.Flags()
	f.data.bind(fs)
	fs.StringVar(&f.model, "model", "", "model directory written by cohort train (RUN/model) (required)")
	fs.StringVar(&f.out, "out", "", "predictions file: .csv or .parquet (required)")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads for the compute kernels (default: all cores)")
	fs.StringVar(&f.device, "device", "cpu", deviceHelp)
	fs.BoolVar(&f.json, "json", false, "print a JSON summary on stdout")
	return cmd
}

// predictSummary is what predict prints.
type predictSummary struct {
	Out          string           `json:"out"`
	Customers    int              `json:"customers"`
	HorizonWeeks float64          `json:"horizon_weeks"`
	Ingest       clv.IngestReport `json:"ingest"`
}

func runPredict(cmd *cobra.Command, f *predictFlags) error {
	if f.model == "" {
		return fmt.Errorf("--model is required: the model directory written by cohort train (RUN/model)")
	}
	if f.out == "" {
		return fmt.Errorf("--out is required: a .csv or .parquet file for the predictions")
	}
	t, err := job.LoadTrained(f.model)
	if err != nil {
		return err
	}
	read, err := f.data.overlay(cmd.Flags(), t.Meta.Read)
	if err != nil {
		return err
	}
	if !read.Horizon.IsZero() {
		return fmt.Errorf("--horizon: the model predicts over the %.1f weeks it was trained for; leave --horizon out", t.Meta.HorizonWeeks)
	}
	be, release, err := openBackend(f.device, f.threads)
	if err != nil {
		return err
	}
	defer release()
	scored, err := t.Score(cmd.Context(), be, f.data.path, read)
	if err != nil {
		return err
	}
	if err := job.WritePredictions(f.out, scored.Predictions); err != nil {
		return err
	}
	sum := predictSummary{Out: f.out, Customers: len(scored.Predictions), HorizonWeeks: scored.HorizonWeeks, Ingest: scored.Ingest}
	if f.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(sum)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "scored %d customers as of %s over the next %.1f weeks -> %s\n",
		sum.Customers, scored.Ingest.CalibrationEnd.Format("2006-01-02"), sum.HorizonWeeks, filepath.Clean(f.out))
	return nil
}

// overlay returns base (the options a model was trained with) with the
// fields whose flags were set on fs replaced by the flags' values. The
// calibration end is never inherited: scoring uses the data's own end unless
// --calibration-end says otherwise; neither is the horizon.
func (d *dataFlags) overlay(fs *pflag.FlagSet, base clv.Options) (clv.Options, error) {
	o, err := d.options()
	if err != nil {
		return clv.Options{}, err
	}
	out := base
	out.CalibrationEnd, out.Horizon = o.CalibrationEnd, o.Horizon
	set := func(flag string, apply func()) {
		if fs.Changed(flag) {
			apply()
		}
	}
	set("format", func() { out.Format = o.Format })
	set("customer", func() { out.Customer = o.Customer })
	set("date", func() { out.Date = o.Date })
	set("amount", func() { out.Amount = o.Amount })
	set("quantity", func() { out.Quantity = o.Quantity })
	set("extra", func() { out.Extra = o.Extra })
	set("header", func() { out.Header = o.Header })
	set("delimiter", func() { out.Delimiter = o.Delimiter })
	set("date-format", func() { out.DateFormat = o.DateFormat })
	set("skip-bad-rows", func() { out.SkipBadRows = o.SkipBadRows })
	set("negative", func() { out.Negative = o.Negative })
	set("periods", func() { out.Periods = o.Periods })
	set("period-days", func() { out.PeriodDays = o.PeriodDays })
	return out, nil
}
