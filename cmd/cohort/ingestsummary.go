package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/clv"
)

// writeIngest writes what reading the log counted, as features, train,
// predict and eval all print it: the file and its layout, the columns, the
// customers, the windows, the bad rows by reason with the first, and the
// returns. secs > 0 adds the reading speed (features times its run).
// skipInherited adds that --skip-bad-rows came from the model (predict and
// eval read the log as training did).
func writeIngest(w io.Writer, r clv.IngestReport, secs float64, skipInherited bool) error {
	var b strings.Builder
	layout := r.Format
	if r.Delimiter != "" {
		layout += ", delimiter " + strconv.Quote(r.Delimiter)
	}
	if r.Header {
		layout += ", header"
	}
	fmt.Fprintf(&b, "read %s (%s): %d rows", r.File, layout, r.Rows)
	if secs > 0 {
		fmt.Fprintf(&b, " in %.2fs (%.0f rows/s)", secs, float64(r.Rows)/secs)
	}
	fmt.Fprintf(&b, ", %d transactions\n", r.Transactions)
	fmt.Fprintf(&b, "  columns: customer=%s date=%s amount=%s", r.Columns.Customer, r.Columns.Date, r.Columns.Amount)
	if r.Columns.Quantity != "" {
		fmt.Fprintf(&b, " quantity=%s", r.Columns.Quantity)
	}
	if len(r.Columns.Extra) > 0 {
		fmt.Fprintf(&b, " extra=%s", strings.Join(r.Columns.Extra, ","))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  customers: %d with features, %d left out (no purchase on or before the calibration end)\n",
		r.Customers, r.ExcludedCustomers)
	fmt.Fprintf(&b, "  calibration: %s to %s", r.FirstDate.Format(time.DateOnly), r.CalibrationEnd.Format(time.DateOnly))
	if !r.HoldoutEnd.IsZero() {
		fmt.Fprintf(&b, "; holdout: %s to %s", r.Horizon, r.HoldoutEnd.Format(time.DateOnly))
	}
	b.WriteString("\n")
	b.WriteString(badRowsLine(r))
	if skipInherited {
		b.WriteString("  --skip-bad-rows: on, as the model was trained (--skip-bad-rows=false stops at the first bad row)\n")
	}
	end := "holdout"
	if r.HoldoutEnd.IsZero() {
		end = "calibration"
	}
	fmt.Fprintf(&b, "  negative amounts: %d (%d dropped), %d return-only days ignored; rows after the %s end, ignored: %d\n",
		r.NegativeRows, r.DroppedNegative, r.ReturnOnlyDays, end, r.RowsAfterEnd)
	_, err := io.WriteString(w, b.String())
	return err
}

// badRowsLine counts the skipped rows by reason and quotes the first.
func badRowsLine(r clv.IngestReport) string {
	var bad int64
	reasons := make([]string, 0, len(r.BadRows))
	for reason, n := range r.BadRows {
		bad += n
		reasons = append(reasons, fmt.Sprintf("%s %d", reason, n))
	}
	if bad == 0 {
		return "  bad rows: none\n"
	}
	slices.Sort(reasons)
	line := fmt.Sprintf("  bad rows: %d skipped, %.1f%% of the data rows (%s)", bad, 100*float64(bad)/float64(max(r.Rows, 1)), strings.Join(reasons, ", "))
	if len(r.BadExamples) > 0 {
		line += "; first: " + r.BadExamples[0].Error
	}
	return line + "\n"
}

// printWarnings writes a run's warnings (job.Result.Warnings and the like)
// to w, stderr, one line each. They are printed whatever -q says: -q
// silences progress, not what makes the results meaningless.
func printWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}

// skipInherited reports whether --skip-bad-rows is on only because the
// model was trained with it: predict and eval read the log as training did
// unless a flag says otherwise.
func skipInherited(fs *pflag.FlagSet, trained clv.Options) bool {
	return trained.SkipBadRows && !fs.Changed("skip-bad-rows")
}

// noteSkipInherited says on w, for a run that prints no summary (which would
// say it), that rows were skipped because the model was trained with
// --skip-bad-rows.
func noteSkipInherited(w io.Writer, inherited bool, r clv.IngestReport) {
	var bad int64
	for _, n := range r.BadRows {
		bad += n
	}
	if inherited && bad > 0 {
		fmt.Fprintf(w, "note: %d bad rows were skipped because the model was trained with --skip-bad-rows; --skip-bad-rows=false stops at the first instead\n", bad)
	}
}
