package job

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval/report"
)

// The input checks: findings that do not stop a run but can make its
// results meaningless. Each is one sentence; a run keeps them in its
// Result (Evaluation, Scored) for the CLI to print on stderr, and in
// report.html and metrics.json.
const (
	// maxSkippedShare is the share of the data rows that may be skipped as
	// bad before a run warns that its log is censored.
	maxSkippedShare = 0.01
	// minTestCustomers is the test set below which metrics are too noisy
	// to tell two models apart.
	minTestCustomers = 100
	// outlierYears is how long before the 1st percentile of the
	// customers' first purchases the earliest transaction may lie.
	outlierYears = 5
	// maxAsOfGapDays is the longest stretch, in days, that scoring may lie
	// past the last transaction; the model's horizon, when shorter, bounds
	// it too.
	maxAsOfGapDays = 365
)

// IngestWarnings are the input checks that concern the log alone (a
// censored log, an outlier first date, customers split by the spelling of
// their ids, Parquet instants cut on UTC days), for a command that reads a
// log without training or scoring on it (cohort features).
func IngestWarnings(ds *clv.Dataset) []string {
	ws := warningsOf(censoredLog(ds.Report, "the features are computed"), outlierFirstDate(ds))
	return append(ws, DataWarnings(ds)...)
}

// DataWarnings are the checks of the log's contents that every command
// reading a log can add to its own: customer ids spelled two ways
// (splitIDs) and the reader's own (IngestReport.Warnings: amounts whose "."
// may group thousands, a Parquet date column of instants counted on UTC
// days).
func DataWarnings(ds *clv.Dataset) []string {
	return append(warningsOf(splitIDs(ds)), ds.Report.Warnings...)
}

// splitIDs warns when customer ids appear in two spellings that are very
// likely the same customer (clv.SimilarIDs): "000733" and "733" (leading
// zeros lost in Excel), "733.0" and "733" (a pandas float column), and
// e-mail addresses in mixed case. Ids are matched exactly, so each such
// customer's history is split in two, which no metric shows.
func splitIDs(ds *clv.Dataset) string {
	sim := clv.SimilarIDs(ds)
	if sim.Customers == 0 {
		return ""
	}
	var ex []string
	for _, g := range sim.Examples {
		q := make([]string, len(g))
		for i, id := range g {
			q[i] = strconv.Quote(id)
		}
		ex = append(ex, strings.Join(q, " and "))
	}
	more := ""
	if n := sim.Customers - len(sim.Examples); n > 0 {
		more = fmt.Sprintf(", and %d more", n)
	}
	who := "customers"
	if sim.Customers == 1 {
		who = "customer"
	}
	return fmt.Sprintf("%d customer ids are probably %d %s spelled more than one way (%s%s): ids are matched exactly, "+
		"so each such customer's purchases are split across its spellings; write the ids one way in the export "+
		"(keep or drop leading zeros throughout, integers rather than floats, e-mail addresses in lower case)",
		sim.IDs, sim.Customers, who, strings.Join(ex, "; "), more)
}

// warningsOf drops the checks that found nothing.
func warningsOf(ws ...string) []string {
	return slices.DeleteFunc(ws, func(w string) bool { return w == "" })
}

// censoredLog warns when more than maxSkippedShare of the data rows were
// skipped as bad. Skipped rows are rarely a random sample: an export with
// thousands separators loses exactly the amounts of 1,000 or more. what says
// what the run did with the rest ("the model is trained and scored").
func censoredLog(r clv.IngestReport, what string) string {
	var skipped int64
	for _, n := range r.BadRows {
		skipped += n
	}
	if r.Rows <= 0 || float64(skipped) <= maxSkippedShare*float64(r.Rows) {
		return ""
	}
	s := fmt.Sprintf("%d of %d data rows (%.1f%%) were bad and skipped: %s on a censored log, and skipped rows are rarely "+
		"a random sample (a thousands separator, say, skips exactly the amounts of 1,000 or more)",
		skipped, r.Rows, 100*float64(skipped)/float64(r.Rows), what)
	if len(r.BadExamples) > 0 {
		s += "; the first: " + r.BadExamples[0].Error
	}
	return s
}

// outlierFirstDate warns when the earliest transaction lies more than
// outlierYears before the 1st percentile of the customers' first purchases
// (the log's dates are not at hand, the customers' ages are): one row dated
// 1900-01-01 stretches the calibration window, and that customer's age, by
// a century. It names the customer when the row is one's first purchase.
func outlierFirstDate(ds *clv.Dataset) string {
	r, cs := ds.Report, ds.Customers
	if len(cs) < 2 || r.FirstDate.IsZero() {
		return ""
	}
	// T is whole days over 7, so T*7 rounds back to the days from the
	// first purchase to the calibration end.
	age := func(c *clv.Customer) int { return int(math.Round(c.T * 7)) }
	ages := make([]int, len(cs))
	oldest := 0
	for i := range cs {
		ages[i] = age(&cs[i])
		if ages[i] > ages[oldest] {
			oldest = i
		}
	}
	slices.Sort(ages)
	// The 1st percentile of first purchases is the 99th of ages; with
	// fewer than 200 customers, the second oldest, so that one outlier
	// among a few customers is still found.
	p1 := r.CalibrationEnd.AddDate(0, 0, -ages[min(len(ages)-2, (len(ages)-1)*99/100)])
	cut := p1.AddDate(-outlierYears, 0, 0)
	if !r.FirstDate.Before(cut) {
		return ""
	}
	what := "a row dated " + r.FirstDate.Format(time.DateOnly)
	more := 0
	for i := range cs {
		if r.CalibrationEnd.AddDate(0, 0, -age(&cs[i])).Before(cut) {
			more++
		}
	}
	if first := r.CalibrationEnd.AddDate(0, 0, -age(&cs[oldest])); first.Equal(r.FirstDate) {
		what = fmt.Sprintf("customer %s's first purchase on %s", cs[oldest].ID, r.FirstDate.Format(time.DateOnly))
		more--
	}
	s := fmt.Sprintf("the earliest transaction, %s, lies %s before the 1st percentile of the customers' first purchases (%s): "+
		"it stretches the calibration window to %s (%s to %s)",
		what, span(daysBetween(r.FirstDate, p1)), p1.Format(time.DateOnly),
		span(daysBetween(r.FirstDate, r.CalibrationEnd)+1), r.FirstDate.Format(time.DateOnly), r.CalibrationEnd.Format(time.DateOnly))
	if more > 0 {
		s += fmt.Sprintf(", and %d more customers first bought before %s", more, cut.Format(time.DateOnly))
	}
	return s + "; check the date column, or leave such rows out"
}

// smallTestSet warns when fewer than minTestCustomers are scored. who names
// them ("test customers").
func smallTestSet(n int, who string) string {
	if n >= minTestCustomers {
		return ""
	}
	return fmt.Sprintf("metrics on %d %s are too noisy to compare models; the bootstrap intervals below show how much", n, who)
}

// farAsOf warns when scoring lies further past the last transaction than
// the model's horizon or a year: the features read the gap as every
// customer's silence, a stretch no customer in training was silent for
// while the log went on.
func farAsOf(r clv.IngestReport, horizonWeeks float64) string {
	if r.LastDate.IsZero() {
		return ""
	}
	gap := daysBetween(r.LastDate, r.CalibrationEnd)
	limit, what := maxAsOfGapDays, "a year"
	if h := int(math.Round(horizonWeeks * 7)); h > 0 && h < limit {
		limit, what = h, fmt.Sprintf("the model's %.1f-week horizon", horizonWeeks)
	}
	if gap <= limit {
		return ""
	}
	return fmt.Sprintf("scoring as of %s (the calibration end), %s after the last transaction (%s), more than %s: "+
		"the predictions extrapolate, reading the whole gap as every customer's silence",
		r.CalibrationEnd.Format(time.DateOnly), span(gap), r.LastDate.Format(time.DateOnly), what)
}

// daysBetween is the number of days from a to b. It counts through Unix
// seconds: a time.Duration cannot hold the 292 years from an outlier date
// like 0001-01-01.
func daysBetween(a, b time.Time) int {
	return int((b.Unix() - a.Unix()) / 86400)
}

// span formats days as days, weeks or years, whichever reads best.
func span(days int) string {
	switch {
	case days == 1:
		return "1 day"
	case days < 28:
		return fmt.Sprintf("%d days", days)
	case days < 2*365:
		return fmt.Sprintf("%.0f weeks", float64(days)/7)
	case days < 10*365:
		return fmt.Sprintf("%.1f years", float64(days)/365.25)
	}
	return fmt.Sprintf("%.0f years", float64(days)/365.25)
}

// ingestOf is what the report shows of an ingest report.
func ingestOf(r clv.IngestReport) report.Ingest {
	in := report.Ingest{
		Rows: r.Rows, Transactions: r.Transactions, NegativeRows: r.NegativeRows, DroppedNegative: r.DroppedNegative,
		ReturnOnlyDays: r.ReturnOnlyDays, RowsAfterEnd: r.RowsAfterEnd, ExcludedCustomers: r.ExcludedCustomers,
	}
	if len(r.BadRows) > 0 {
		in.BadRows = make(map[string]int64, len(r.BadRows))
		for reason, n := range r.BadRows {
			in.BadRows[string(reason)] = n
		}
	}
	if len(r.BadExamples) > 0 {
		in.FirstBadRow = r.BadExamples[0].Error
	}
	return in
}

// annotate adds the ingest counts and the warnings to a run's report.
func annotate(rep *report.Report, r clv.IngestReport, warnings []string) {
	rep.SetIngest(ingestOf(r))
	rep.Warn(warnings...)
}
