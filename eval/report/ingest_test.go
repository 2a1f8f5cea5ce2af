package report

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestIngestRows ensures the run summary says what reading the log counted:
// rows and bad rows always (none is news too), returns, ignored rows and
// left-out customers only when there are some.
func TestIngestRows(t *testing.T) {
	tests := []struct {
		name      string
		in        Ingest
		noHoldout bool
		want      []row
	}{
		{"clean", Ingest{Rows: 69659, Transactions: 69659}, false, []row{
			{"Rows read", "69,659 data rows; 69,659 transactions accepted"},
			{"Bad rows", "none"},
		}},
		{"skipped", Ingest{Rows: 2000, Transactions: 1900, BadRows: map[string]int64{"short_row": 40, "not_a_number": 60},
			FirstBadRow: `log.csv:7: column "amount": "1,250.00" is not a number`}, false, []row{
			{"Rows read", "2,000 data rows; 1,900 transactions accepted"},
			{"Bad rows", `100 skipped (5.0% of the data rows): not_a_number 60, short_row 40. The first: log.csv:7: column "amount": "1,250.00" is not a number`},
		}},
		{"returns and the rest", Ingest{Rows: 10, Transactions: 10, NegativeRows: 609, ReturnOnlyDays: 156, RowsAfterEnd: 3, ExcludedCustomers: 2}, false, []row{
			{"Rows read", "10 data rows; 10 transactions accepted"},
			{"Bad rows", "none"},
			{"Returns", "609 rows with a negative amount (0 dropped); 156 return-only days ignored (no purchase that day to net against)"},
			{"Rows ignored", "3 dated after the holdout end"},
			{"Customers left out", "2 first seen after the calibration end"},
		}},
		{"one return, no holdout", Ingest{Rows: 10, Transactions: 10, NegativeRows: 1, DroppedNegative: 1, RowsAfterEnd: 1}, true, []row{
			{"Rows read", "10 data rows; 10 transactions accepted"},
			{"Bad rows", "none"},
			{"Returns", "1 row with a negative amount (1 dropped)"},
			{"Rows ignored", "1 dated after the calibration end"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ingestRows(tt.in, tt.noHoldout); !slices.Equal(got, tt.want) {
				t.Errorf("rows\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestIngestShare ensures the skipped share counts every reason against all
// data rows, and is 0 for a log without rows.
func TestIngestShare(t *testing.T) {
	tests := []struct {
		in        Ingest
		n         int64
		wantShare float64
	}{
		{Ingest{}, 0, 0},
		{Ingest{Rows: 200, BadRows: map[string]int64{"bad_date": 1, "null": 1}}, 2, 0.01},
		{Ingest{BadRows: map[string]int64{"bad_date": 1}}, 1, 0},
	}
	for _, tt := range tests {
		if n, s := tt.in.Skipped(), tt.in.SkippedShare(); n != tt.n || s != tt.wantShare {
			t.Errorf("%+v: skipped %d, share %v; want %d, %v", tt.in, n, s, tt.n, tt.wantShare)
		}
	}
}

// TestIngestInReport ensures SetIngest and Warn reach both files: the page's
// run summary shows the counts and each warning once, as a note, and
// metrics.json holds run.ingest (bad rows by reason, the skipped share) and
// run.warnings; a report without them has neither key.
func TestIngestInReport(t *testing.T) {
	d := sampleData(t, 100)
	r, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	warnings := []string{
		"20 of 1000 data rows (2.0%) were bad and skipped: the model is trained and scored on a censored log",
		"metrics on 100 test customers are too noisy to compare models",
	}
	r.SetIngest(Ingest{Rows: 1000, Transactions: 980, BadRows: map[string]int64{"not_a_number": 20}, FirstBadRow: "log.csv:2: bad",
		NegativeRows: 5, ReturnOnlyDays: 2})
	r.Warn(warnings...)
	r.dpi = 24
	var buf strings.Builder
	if err := r.WriteHTML(t.Context(), &buf); err != nil {
		t.Fatal(err)
	}
	p := parseHTML(t, []byte(buf.String()))
	for _, want := range []string{"1,000 data rows; 980 transactions accepted", "20 skipped (2.0% of the data rows): not_a_number 20. The first: log.csv:2: bad",
		"2 return-only days ignored"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, w := range warnings {
		if n := strings.Count(p.text, "Warning: "+w); n != 1 {
			t.Errorf("warning %q appears %d times, want once", w, n)
		}
	}

	var doc struct {
		Run map[string]json.RawMessage `json:"run"`
	}
	b, err := r.MetricsJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var in struct {
		Rows         int64            `json:"rows"`
		BadRows      map[string]int64 `json:"bad_rows"`
		Skipped      int64            `json:"skipped"`
		SkippedShare float64          `json:"skipped_share"`
		FirstBadRow  string           `json:"first_bad_row"`
		ReturnOnly   int64            `json:"return_only_days"`
	}
	if err := json.Unmarshal(doc.Run["ingest"], &in); err != nil {
		t.Fatalf("run.ingest %s: %v", doc.Run["ingest"], err)
	}
	if in.Rows != 1000 || in.BadRows["not_a_number"] != 20 || in.Skipped != 20 || in.SkippedShare != 0.02 ||
		in.FirstBadRow != "log.csv:2: bad" || in.ReturnOnly != 2 {
		t.Errorf("run.ingest %s", doc.Run["ingest"])
	}
	var ws []string
	if err := json.Unmarshal(doc.Run["warnings"], &ws); err != nil || !slices.Equal(ws, warnings) {
		t.Errorf("run.warnings %s (%v), want %q", doc.Run["warnings"], err, warnings)
	}

	plain, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err = plain.MetricsJSON()
	if err != nil {
		t.Fatal(err)
	}
	doc.Run = nil
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Run["ingest"] != nil || doc.Run["warnings"] != nil {
		t.Errorf("a report without ingest counts or warnings has run.ingest %s, run.warnings %s", doc.Run["ingest"], doc.Run["warnings"])
	}
}
