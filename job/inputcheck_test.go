package job

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/parquet-go/parquet-go"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestCensoredLog ensures a run warns when more than 1% of the data rows
// were skipped as bad, quoting the first, and not at 1% or below.
func TestCensoredLog(t *testing.T) {
	first := []clv.BadRow{{Line: 28, Reason: clv.ReasonNotANumber, Error: `log.csv:28: column "amount": "1,169.16" is not a number`}}
	tests := []struct {
		name string
		r    clv.IngestReport
		want []string // substrings; none: no warning
	}{
		{"clean", clv.IngestReport{Rows: 1000}, nil},
		{"exactly 1%", clv.IngestReport{Rows: 1000, BadRows: map[clv.Reason]int64{clv.ReasonNotANumber: 10}, BadExamples: first}, nil},
		{"over 1%", clv.IngestReport{Rows: 1000, BadRows: map[clv.Reason]int64{clv.ReasonNotANumber: 8, clv.ReasonShortRow: 3}, BadExamples: first},
			[]string{"11 of 1000 data rows (1.1%) were bad and skipped: the model is trained and scored on a censored log",
				`; the first: log.csv:28: column "amount": "1,169.16" is not a number`}},
		{"no rows", clv.IngestReport{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := censoredLog(tt.r, "the model is trained and scored")
			if (got == "") != (tt.want == nil) {
				t.Fatalf("warning %q, want one: %v", got, tt.want != nil)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("warning %q lacks %q", got, w)
				}
			}
		})
	}
}

// shop is a data set whose customers first bought on the given dates, with
// the calibration end and the first transaction of its report.
func shop(calEnd, firstDate string, firsts ...string) *clv.Dataset {
	ds := &clv.Dataset{Report: clv.IngestReport{CalibrationEnd: date(calEnd), FirstDate: date(firstDate)}}
	for i, f := range firsts {
		days := daysBetween(date(f), date(calEnd))
		ds.Customers = append(ds.Customers, clv.Customer{ID: fmt.Sprintf("c%03d", i), T: float64(days) / 7})
	}
	return ds
}

// spread is n first purchases, one a day from 1997-01-01.
func spread(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = date("1997-01-01").AddDate(0, 0, i%270).Format(time.DateOnly)
	}
	return out
}

// TestOutlierFirstDate ensures a run warns when the earliest transaction
// lies more than 5 years before the 1st percentile of first purchases,
// naming the customer whose first purchase it is (or the row's date when it
// is none's), and counting the others that far out.
func TestOutlierFirstDate(t *testing.T) {
	tests := []struct {
		name string
		ds   *clv.Dataset
		want []string
	}{
		{"none", shop("1997-09-30", "1997-01-01", spread(500)...), nil},
		{"four years", shop("1997-09-30", "1993-02-01", append(spread(500), "1993-02-01")...), nil},
		{"1900", shop("1997-09-30", "1900-01-01", append(spread(500), "1900-01-01")...), []string{
			"the earliest transaction, customer c500's first purchase on 1900-01-01, lies 97 years before the 1st percentile of the customers' first purchases (1997-01-0",
			"it stretches the calibration window to 98 years (1900-01-01 to 1997-09-30); check the date column"}},
		{"three far out", shop("1997-09-30", "1900-01-01", append(spread(500), "1900-01-01", "1950-06-01", "1960-06-01")...), []string{
			"customer c500's first purchase on 1900-01-01", ", and 2 more customers first bought before 199"}},
		{"a row, not a purchase", shop("1997-09-30", "1900-01-01", append(spread(500), "1950-06-01")...), []string{
			"the earliest transaction, a row dated 1900-01-01, lies", ", and 1 more customers first bought before"}},
		{"few customers", shop("1997-09-30", "1900-01-01", "1997-01-01", "1997-02-01", "1900-01-01"), []string{"customer c002's first purchase on 1900-01-01"}},
		{"one customer", shop("1997-09-30", "1900-01-01", "1900-01-01"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := outlierFirstDate(tt.ds)
			if (got == "") != (tt.want == nil) {
				t.Fatalf("warning %q, want one: %v", got, tt.want != nil)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("warning %q lacks %q", got, w)
				}
			}
		})
	}
}

// TestSmallTestSetAndAsOf ensures the warnings of a test set under 100
// customers and of scoring further past the data than the horizon or a year.
func TestSmallTestSetAndAsOf(t *testing.T) {
	if got := smallTestSet(100, "test customers"); got != "" {
		t.Errorf("100 test customers: %q, want no warning", got)
	}
	if got, want := smallTestSet(42, "test customers"), "metrics on 42 test customers are too noisy to compare models; the bootstrap intervals below show how much"; got != want {
		t.Errorf("42 test customers: %q, want %q", got, want)
	}
	tests := []struct {
		name        string
		last, asOf  string
		weeks       float64
		want        string // a substring of the warning
		wantWarning bool
	}{
		{"at the end", "1998-06-30", "1998-06-30", 39, "", false},
		{"within the horizon", "1998-06-30", "1999-03-01", 39, "", false},
		{"past the horizon", "1998-06-30", "2000-01-01", 39,
			"scoring as of 2000-01-01 (the calibration end), 79 weeks after the last transaction (1998-06-30), more than the model's 39.0-week horizon: the predictions extrapolate", true},
		{"long horizon, within a year", "1998-06-30", "1999-05-01", 104, "", false},
		{"long horizon, past a year", "1998-06-30", "2001-01-01", 104, "2.5 years after the last transaction (1998-06-30), more than a year", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := farAsOf(clv.IngestReport{LastDate: date(tt.last), CalibrationEnd: date(tt.asOf)}, tt.weeks)
			if (got != "") != tt.wantWarning || !strings.Contains(got, tt.want) {
				t.Errorf("warning %q, want one containing %q (%v)", got, tt.want, tt.wantWarning)
			}
		})
	}
}

// TestSpan ensures lengths read as days, weeks or years.
func TestSpan(t *testing.T) {
	for days, want := range map[int]string{1: "1 day", 10: "10 days", 273: "39 weeks", 729: "104 weeks", 916: "2.5 years", 45290: "124 years"} {
		if got := span(days); got != want {
			t.Errorf("span(%d) = %q, want %q", days, got, want)
		}
	}
}

// TestIngestSplitIDs ensures a run warns when customer ids appear in two
// spellings that are probably one customer (audit7 item 5), naming three
// and counting them all, and stays quiet on distinct ids.
func TestIngestSplitIDs(t *testing.T) {
	ids := func(ids ...string) *clv.Dataset {
		slices.Sort(ids)
		ds := &clv.Dataset{}
		for _, id := range ids {
			ds.Customers = append(ds.Customers, clv.Customer{ID: id})
		}
		return ds
	}
	if got := splitIDs(ids("1", "2", "A", "a")); got != "" {
		t.Errorf("distinct ids: %q", got)
	}
	got := splitIDs(ids("000733", "733", "12.0", "12", "Ann@Shop.com", "ann@shop.com", "0099", "99", "7"))
	want := `8 customer ids are probably 4 customers spelled more than one way ("733" and "000733"; "99" and "0099"; "12" and "12.0", and 1 more): ` +
		`ids are matched exactly, so each such customer's purchases are split across its spellings; write the ids one way in the export ` +
		`(keep or drop leading zeros throughout, integers rather than floats, e-mail addresses in lower case)`
	if got != want {
		t.Errorf("warning\n%s\nwant\n%s", got, want)
	}
}

// TestIngestWarningsData ensures cohort features' warnings include the
// split ids of a loaded log and the UTC days of a Parquet log of instants
// without a time zone (audit7 items 4 and 5).
func TestIngestWarningsData(t *testing.T) {
	type row struct {
		Customer string    `parquet:"customer_id"`
		Date     time.Time `parquet:"date,timestamp(microsecond)"`
		Amount   float64   `parquet:"amount"`
	}
	at := time.Date(2026, 5, 28, 22, 30, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "log.parquet")
	if err := parquet.WriteFile(path, []row{{"0042", at, 10}, {"42", at.AddDate(0, 0, -30), 20}, {"7", at, 5}}); err != nil {
		t.Fatal(err)
	}
	ds, err := clv.Load(context.Background(), path, clv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := IngestWarnings(ds)
	if len(ws) != 2 || !strings.HasPrefix(ws[0], `2 customer ids are probably 1 customer spelled more than one way ("42" and "0042")`) ||
		!strings.HasPrefix(ws[1], `date column "date" holds instants (TIMESTAMP adjusted to UTC) and the file names no time zone: purchase days are counted in UTC`) {
		t.Errorf("warnings %q", ws)
	}
}
