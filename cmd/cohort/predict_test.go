package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/cohort-clv/cohort/job"
)

// predictHeader is the header predict's help documents.
var predictHeader = []string{"customer_id", "p_return", "expected_spend", "decile",
	"baseline_expected_purchases", "baseline_p_alive", "baseline_expected_spend"}

// readCSV parses a CSV file.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// testPredict ensures predict, given none of the column flags, reads the log
// with the mapping training used and writes one row per customer under the
// documented header, as CSV or (for .parquet) Parquet with the same scores.
func testPredict(t *testing.T, r mappedRun) {
	model := filepath.Join(r.out, "model")
	out := filepath.Join(r.dir, "predictions.csv")
	stdout, stderr, err := runCohort(t, "predict", "--model", model, "--data", r.data, "--out", out)
	if err != nil {
		t.Fatalf("predict with the training mapping inherited: %v", err)
	}
	// The summary is a diagnostic: on stderr (after the warnings), stdout
	// stays empty.
	want := fmt.Sprintf("\nscored %d customers as of 1998-", shopCustomers)
	_, summary, _ := strings.Cut("\n"+stderr, "\nread "+r.data+" (csv")
	if summary == "" || !strings.Contains(summary, want) ||
		!strings.HasSuffix(summary, "over the next 39.0 weeks -> "+out+"\n") || stdout != "" {
		t.Errorf("stderr %q, want %q...; stdout %q, want nothing", stderr, want, stdout)
	}
	rows := readCSV(t, out)
	if !slices.Equal(rows[0], predictHeader) {
		t.Fatalf("header %q, want %q", rows[0], predictHeader)
	}
	rows = rows[1:]
	if len(rows) != shopCustomers {
		t.Fatalf("%d rows, want one per customer (%d)", len(rows), shopCustomers)
	}
	seen := map[string]bool{}
	deciles := map[int]int{}
	for _, row := range rows {
		seen[row[0]] = true
		d, err := strconv.Atoi(row[3])
		if err != nil {
			t.Fatalf("decile %q: %v", row[3], err)
		}
		deciles[d]++
		for _, v := range slices.Concat(row[1:3], row[4:]) {
			if f, err := strconv.ParseFloat(v, 64); err != nil || !(f >= 0) {
				t.Fatalf("row %q: value %q is not a non-negative number", row, v)
			}
		}
	}
	if len(seen) != shopCustomers || !seen["c0000001"] || !seen[fmt.Sprintf("c%07d", shopCustomers)] {
		t.Errorf("%d distinct customers, want c0000001..c%07d", len(seen), shopCustomers)
	}
	for d := 1; d <= 10; d++ {
		if deciles[d] != shopCustomers/10 {
			t.Errorf("decile %d holds %d customers, want %d", d, deciles[d], shopCustomers/10)
		}
	}

	pq := filepath.Join(r.dir, "predictions.parquet")
	stdout, _, err = runCohort(t, "predict", "--model", model, "--data", r.data, "--out", pq, "--json")
	if err != nil {
		t.Fatalf("predict to parquet: %v", err)
	}
	var sum predictSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json summary %q: %v", stdout, err)
	}
	if sum.Out != pq || sum.Customers != shopCustomers || sum.HorizonWeeks != 39 || sum.Ingest.Customers != shopCustomers {
		t.Errorf("summary %+v", sum)
	}
	f, err := os.Open(pq)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr := parquet.NewGenericReader[job.Prediction](f)
	defer pr.Close()
	ps := make([]job.Prediction, pr.NumRows())
	if n, err := pr.Read(ps); n != shopCustomers {
		t.Fatalf("parquet: read %d rows of %d: %v", n, pr.NumRows(), err)
	}
	for i, p := range ps {
		row := rows[i]
		if p.Customer != row[0] || strconv.Itoa(p.Decile) != row[3] ||
			strconv.FormatFloat(p.ExpectedSpend, 'g', 7, 64) != row[2] ||
			strconv.FormatFloat(p.BaselineSpend, 'g', 7, 64) != row[6] {
			t.Fatalf("parquet row %d %+v, CSV row %q", i, p, row)
		}
	}
}

// testPredictOverrides ensures column flags given to predict replace the
// inherited mapping: the same log under another header scores identically
// with the flags, fails on the inherited names without them, and a mapped
// extra column the model never saw is refused.
func testPredictOverrides(t *testing.T, r mappedRun) {
	model := filepath.Join(r.out, "model")
	base := filepath.Join(r.dir, "predictions-base.csv")
	if _, _, err := runCohort(t, "predict", "--model", model, "--data", r.data, "--out", base); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	renamed := writeShop(t, dir, "renamed.csv", "k,d,v")
	out := filepath.Join(dir, "p.csv")
	if _, _, err := runCohort(t, "predict", "--model", model, "--data", renamed, "--out", out,
		"--customer", "k", "--date", "d", "--amount", "v"); err != nil {
		t.Fatalf("predict with overriding flags: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the same log under other column names, mapped by flags, scores differently")
	}

	_, _, err = runCohort(t, "predict", "--model", model, "--data", renamed, "--out", filepath.Join(dir, "x.csv"))
	if err == nil || !strings.Contains(err.Error(), `"buyer"`) {
		t.Errorf("without flags: got %v, want the inherited customer column \"buyer\" named", err)
	}

	visits := filepath.Join(dir, "visits.csv")
	var b bytes.Buffer
	b.WriteString("buyer,when,paid,visits\n")
	b.WriteString("a,1997-01-02,10,1\na,1997-02-02,12,2\nb,1997-01-05,7,0\n")
	if err := os.WriteFile(visits, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCohort(t, "predict", "--model", model, "--data", visits, "--out", filepath.Join(dir, "y.csv"), "--extra", "visits")
	if err == nil || !strings.Contains(err.Error(), "extra_visits") || !strings.Contains(err.Error(), "--extra") {
		t.Errorf("--extra the model never saw: got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("directory holds %v: failed runs must write nothing", entries)
	}
}

// testPredictRefuses ensures predict refuses any --horizon, a zero one
// included (the model's own is used), and writes nothing.
func testPredictRefuses(t *testing.T, r mappedRun) {
	for _, h := range []string{"26w", "0w"} {
		out := filepath.Join(t.TempDir(), "p.csv")
		_, _, err := runCohort(t, "predict", "--model", filepath.Join(r.out, "model"), "--data", r.data, "--out", out, "--horizon", h)
		if err == nil || !strings.HasPrefix(err.Error(), "--horizon: ") || !strings.Contains(err.Error(), "39.0 weeks") {
			t.Errorf("--horizon %s: got %v, want a --horizon error naming the trained 39.0 weeks", h, err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("refused run wrote %s (%v)", out, err)
		}
	}
}

// TestPredictFlagErrors ensures predict names missing flags and a model
// directory that is not one.
func TestPredictFlagErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--data", "x.csv", "--out", "p.csv"}, "--model is required"},
		{[]string{"--model", dir, "--data", "x.csv"}, "--out is required"},
		{[]string{"--model", dir, "--data", "x.csv", "--out", filepath.Join(dir, "p.csv")}, "model.json"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, _, err := runCohort(t, append([]string{"predict"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
