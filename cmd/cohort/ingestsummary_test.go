package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/internal/shareddata"
)

// TestWriteIngest ensures the summary that features, train, predict and eval
// share says what was read, skipped and ignored: bad rows by reason with the
// first, negative amounts with the return-only days netting ignores, and
// that --skip-bad-rows came from the model when it did.
func TestWriteIngest(t *testing.T) {
	day := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	base := clv.IngestReport{
		File: "log.csv", Format: "csv", Delimiter: ",", Header: true, Rows: 2000, Transactions: 1900,
		Columns:   clv.Columns{Customer: "customer_id", Date: "date", Amount: "amount"},
		Customers: 300, ExcludedCustomers: 12, FirstDate: day("1997-01-01"), CalibrationEnd: day("1997-09-30"),
		HoldoutEnd: day("1998-06-30"), Horizon: clv.Horizon{Days: 273},
		NegativeRows: 609, ReturnOnlyDays: 156, RowsAfterEnd: 4,
	}
	skipped := base
	skipped.BadRows = map[clv.Reason]int64{clv.ReasonShortRow: 40, clv.ReasonNotANumber: 60}
	skipped.BadExamples = []clv.BadRow{{Line: 7, Reason: clv.ReasonNotANumber, Error: `log.csv:7: column "amount": "1,250.00" is not a number`}}
	noHoldout := base
	noHoldout.HoldoutEnd, noHoldout.Horizon = time.Time{}, clv.Horizon{}
	head := `read log.csv (csv, delimiter ",", header): 2000 rows, 1900 transactions
  columns: customer=customer_id date=date amount=amount
  customers: 300 with features, 12 left out (no purchase on or before the calibration end)
`
	tests := []struct {
		name      string
		r         clv.IngestReport
		secs      float64
		inherited bool
		want      string
	}{
		{"clean", base, 0, false, head + `  calibration: 1997-01-01 to 1997-09-30; holdout: 39w to 1998-06-30
  bad rows: none
  negative amounts: 609 (0 dropped), 156 return-only days ignored; rows after the holdout end, ignored: 4
`},
		{"skipped, inherited", skipped, 0, true, head + `  calibration: 1997-01-01 to 1997-09-30; holdout: 39w to 1998-06-30
  bad rows: 100 skipped, 5.0% of the data rows (not_a_number 60, short_row 40); first: log.csv:7: column "amount": "1,250.00" is not a number
  --skip-bad-rows: on, as the model was trained (--skip-bad-rows=false stops at the first bad row)
  negative amounts: 609 (0 dropped), 156 return-only days ignored; rows after the holdout end, ignored: 4
`},
		{"no holdout, timed", noHoldout, 2, false, strings.Replace(head, "2000 rows,", "2000 rows in 2.00s (1000 rows/s),", 1) +
			`  calibration: 1997-01-01 to 1997-09-30
  bad rows: none
  negative amounts: 609 (0 dropped), 156 return-only days ignored; rows after the calibration end, ignored: 4
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeIngest(&b, tt.r, tt.secs, tt.inherited); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// TestNoteSkipInherited ensures the stderr note on inherited --skip-bad-rows
// appears only when the model's setting skipped rows.
func TestNoteSkipInherited(t *testing.T) {
	bad := clv.IngestReport{BadRows: map[clv.Reason]int64{clv.ReasonBadDate: 3}}
	tests := []struct {
		name      string
		inherited bool
		r         clv.IngestReport
		want      string
	}{
		{"inherited, skipped", true, bad, "note: 3 bad rows were skipped because the model was trained with --skip-bad-rows; --skip-bad-rows=false stops at the first instead\n"},
		{"inherited, none skipped", true, clv.IngestReport{}, ""},
		{"given here", false, bad, ""},
	}
	for _, tt := range tests {
		var b strings.Builder
		noteSkipInherited(&b, tt.inherited, tt.r)
		if b.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, b.String(), tt.want)
		}
	}
}

// TestTrainCensoredLog ensures a log that loses more than 1% of its rows to
// --skip-bad-rows (an export that writes "N/A" for missing amounts) and
// holds one row dated 1900 makes train say so: the bad rows in its summary, a warning per
// finding on stderr, run.ingest and run.warnings in metrics.json, warnings
// in report.html; and that predict, which inherits --skip-bad-rows from the
// model, says so too, and warns when it scores far past the data.
func TestTrainCensoredLog(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "export.csv", "customer_id,date,amount")
	raw, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	rows := bytes.Count(raw, []byte("\n")) - 1
	bad := rows/50 + 1 // 2%
	var extra bytes.Buffer
	for i := range bad {
		fmt.Fprintf(&extra, "c%04d,1997-03-01,N/A\n", i)
	}
	extra.WriteString("zz-outlier,1900-01-01,10.00\n")
	if err := os.WriteFile(data, append(raw, extra.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	stdout, stderr, err := runCohort(t, trainArgs(data, out, "--skip-bad-rows", "-q", "--hidden", "8", "--epochs", "1")...)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	firstBad := fmt.Sprintf(`%s:%d: column "amount": "N/A" is not a number`, data, rows+2)
	badLine := fmt.Sprintf("  bad rows: %d skipped, %.1f%% of the data rows (not_a_number %d); first: %s\n", bad, 100*float64(bad)/float64(rows+bad+1), bad, firstBad)
	if !strings.Contains(stdout, badLine) {
		t.Errorf("stdout lacks %q:\n%s", badLine, stdout)
	}
	for _, want := range []string{
		fmt.Sprintf("warning: %d of %d data rows (", bad, rows+bad+1),
		"were bad and skipped: the model is trained and scored on a censored log",
		"; the first: " + firstBad + "\n",
		"warning: the earliest transaction, customer zz-outlier's first purchase on 1900-01-01, lies 97 years before",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	var doc struct {
		Run struct {
			Ingest struct {
				BadRows      map[string]int64 `json:"bad_rows"`
				SkippedShare float64          `json:"skipped_share"`
				FirstBadRow  string           `json:"first_bad_row"`
			} `json:"ingest"`
			Warnings []string `json:"warnings"`
		} `json:"run"`
	}
	b, err := os.ReadFile(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if in := doc.Run.Ingest; in.BadRows["not_a_number"] != int64(bad) || !(in.SkippedShare > 0.01) || in.FirstBadRow != firstBad ||
		len(doc.Run.Warnings) != 2 {
		t.Errorf("metrics.json run.ingest %+v, run.warnings %q", in, doc.Run.Warnings)
	}
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(page, []byte("<strong>Warning:</strong>")); n != 2 {
		t.Errorf("report.html has %d warnings, want 2", n)
	}

	// features reads the same log without training: it warns of the same
	// two findings, on stderr and in its --json summary.
	fstdout, fstderr, err := runCohort(t, "features", "--data", data, "--skip-bad-rows", "-q", "--json", "--out", filepath.Join(dir, "f.csv"))
	if err != nil {
		t.Fatalf("features: %v\n%s", err, fstderr)
	}
	for _, want := range []string{"were bad and skipped: the features are computed on a censored log", "warning: the earliest transaction, customer zz-outlier's"} {
		if !strings.Contains(fstderr, want) {
			t.Errorf("features stderr lacks %q:\n%s", want, fstderr)
		}
	}
	var fdoc struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(fstdout), &fdoc); err != nil || len(fdoc.Warnings) != 2 {
		t.Errorf("features --json warnings %q (%v), want 2:\n%s", fdoc.Warnings, err, fstdout)
	}

	model := filepath.Join(out, "model")
	tests := []struct {
		name              string
		args              []string
		stdout, stderr    []string
		stdoutNot, errNot []string
	}{
		{name: "summary", args: []string{"--out", filepath.Join(dir, "p.csv")},
			stderr: []string{badLine, "  --skip-bad-rows: on, as the model was trained", "\nscored ",
				"warning: ", "the customers are scored on a censored log", "customer zz-outlier's first purchase"},
			stdoutNot: []string{"bad rows", "scored"}, // the summary is a diagnostic: stderr
			errNot:    []string{"note: ", "scoring as of"}},
		{name: "json", args: []string{"--out", filepath.Join(dir, "p.csv"), "--json"},
			stderr: []string{fmt.Sprintf("note: %d bad rows were skipped because the model was trained with --skip-bad-rows", bad)}},
		{name: "given here", args: []string{"--out", filepath.Join(dir, "p.csv"), "--skip-bad-rows"},
			errNot: []string{"note: ", "--skip-bad-rows: on"}},
		{name: "far as of", args: []string{"--out", filepath.Join(dir, "p.csv"), "--calibration-end", "2001-01-01"},
			stderr: []string{"warning: scoring as of 2001-01-01 (the calibration end), 2.5 years after the last transaction (1998-06-"}},
	}
	for _, tt := range tests {
		t.Run("predict "+tt.name, func(t *testing.T) {
			stdout, stderr, err := runCohort(t, append([]string{"predict", "--model", model, "--data", data}, tt.args...)...)
			if err != nil {
				t.Fatalf("predict: %v\n%s", err, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stdoutNot {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tt.errNot {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestTrainCalibrationTooShort ensures a calibration window in which nobody
// bought twice fails with the baseline's error once (no doubled prefix) and
// a hint that names the window and its length.
func TestTrainCalibrationTooShort(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("customer_id,date,amount\n")
	for i := range 600 {
		fmt.Fprintf(&b, "c%03d,1997-01-%02d,10\n", i, 1+i%10)
		fmt.Fprintf(&b, "c%03d,1997-02-%02d,12\n", i, 1+i%7)
	}
	data := filepath.Join(dir, "short.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCohort(t, "train", "-q", "--data", data, "--calibration-end", "1997-01-10", "--horizon", "4w",
		"--out", filepath.Join(dir, "run"))
	want := "job: baseline: fit BG/NBD: no customer has a repeat purchase (all X = 0): none of the "
	if err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.Contains(err.Error(), "bought on two days of the calibration window 1997-01-01 to 1997-01-10 (10 days), which may be too short; choose a later calibration end") {
		t.Errorf("got %v, want %q... with a hint naming the 10-day window", err, want)
	}
}

// TestIngestSummaryLeftOut ensures the summary counts the customers who
// first bought after the calibration end also without a holdout (features
// without --horizon, as predict reads a log): their rows are dropped while
// parsing, and the summary used to say "0 left out". cdnowElog as of
// 1997-02-01 has 810 customers with features and 1,547 later ones.
func TestIngestSummaryLeftOut(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(small, []byte(featuresLog), 0o644); err != nil {
		t.Fatal(err)
	}
	const why = " left out (no purchase on or before the calibration end)\n"
	tests := []struct {
		name   string
		shared string // a data set in shared/data instead of the small log
		args   []string
		want   string
	}{
		{"no holdout", "", []string{"--calibration-end", "2020-01-10"}, "1 with features, 2" + why},
		{"no holdout, all in", "", []string{"--calibration-end", "2020-03-31"}, "3 with features, 0" + why},
		{"holdout", "", []string{"--calibration-end", "2020-01-10", "--horizon", "10w"}, "1 with features, 2" + why},
		{"cdnowElog, no holdout", "cdnowElog.csv", []string{"--customer", "masterid", "--calibration-end", "1997-02-01"},
			"810 with features, 1547" + why},
		{"cdnowElog, 39w holdout", "cdnowElog.csv", []string{"--customer", "masterid", "--calibration-end", "1997-02-01", "--horizon", "39w"},
			"810 with features, 1547" + why},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := small
			if tt.shared != "" {
				data = shareddata.Path(t, tt.shared)
			}
			args := append([]string{"features", "--skip-bad-rows", "--data", data, "--out", filepath.Join(t.TempDir(), "f.csv")}, tt.args...)
			_, stderr, err := runCohort(t, args...)
			if err != nil {
				t.Fatalf("features: %v\n%s", err, stderr)
			}
			if want := "  customers: " + tt.want; !strings.Contains(stderr, want) {
				t.Errorf("summary lacks %q:\n%s", want, stderr)
			}
		})
	}
}

// TestIngestColumnFromModel ensures that when predict or eval read another
// log with the model's column names (dataFlags.overlay), a missing one is
// reported as the model's, with the flag that overrides it; a flag given
// here is the user's own name and gets the plain message, and a flag that
// names this file's column reads it.
func TestIngestColumnFromModel(t *testing.T) {
	const master = " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n 00002 19970112  1   12.00\n"
	base := clv.Options{Customer: "masterid", Amount: "sales"}
	tests := []struct {
		name    string
		use     dataUse
		args    []string
		wantErr string // "" loads
	}{
		{"predict, from the model", forPredict, nil, `customer column "masterid" is not in the header; the header has: customer_id, date, number_of_cds, dollar_value ` +
			`(the model was trained with --customer masterid; name this file's customer column with --customer, e.g. --customer customer_id)`},
		{"eval, amount from the model", forEval, []string{"--customer", "customer_id"}, `amount column "sales" is not in the header; ` +
			`the header has: customer_id, date, number_of_cds, dollar_value (the model was trained with --amount sales; name this file's amount column with --amount, e.g. --amount dollar_value)`},
		{"predict, given here", forPredict, []string{"--customer", "client"},
			`customer column "client" is not in the header; the header has: customer_id, date, number_of_cds, dollar_value`},
		{"predict, overridden", forPredict, []string{"--customer", "customer_id", "--amount", "dollar_value"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			var d dataFlags
			d.bind(fs, tt.use)
			if err := fs.Parse(append([]string{"--data", "master.txt"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			o, err := d.overlay(fs, base)
			if err != nil {
				t.Fatal(err)
			}
			_, err = clv.LoadReader(t.Context(), "master.txt", strings.NewReader(master), o)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("load: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasSuffix(err.Error(), "master.txt: "+tt.wantErr)):
				t.Errorf("error\n got %v\nwant ...%s", err, tt.wantErr)
			}
		})
	}
}

// TestFeaturesHelpGapFeatures ensures features --help documents the two
// features whose definitions are not obvious from their names.
func TestFeaturesHelpGapFeatures(t *testing.T) {
	long := newFeaturesCmd().Long
	for _, want := range []string{
		"gap_std_weeks is their population standard deviation",
		"since_last_over_gap is weeks_since_last / (gap_mean_weeks + 1)",
		"The +1 week keeps it finite\nfor one-time buyers",
	} {
		if !strings.Contains(long, want) {
			t.Errorf("features --help lacks %q", want)
		}
	}
}
