package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/synth"
)

// runCohort runs the root command in-process and returns stdout and stderr.
func runCohort(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// TestGenEndToEnd ensures gen writes a gzipped CSV identical to synth.WriteCSV
// for the same flags, leaves no temp file behind, and reports true counts.
func TestGenEndToEnd(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "shop.csv.gz")
	stdout, _, err := runCohort(t, "gen", "--model", "pareto", "--s", "0.9", "--customers", "700",
		"--start", "2023-02-01", "--cohort-days", "30", "--weeks", "40", "--seed", "5", "--out", out, "--json")
	if err != nil {
		t.Fatalf("gen: %v", err)
	}
	var sum genSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(gz); err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	rows, err := csv.NewReader(bytes.NewReader(got.Bytes())).ReadAll()
	if err != nil {
		t.Fatalf("parse csv: %v", err)
	}
	ids := map[string]bool{}
	for _, r := range rows[1:] {
		ids[r[0]] = true
	}
	if sum.Customers != 700 || int64(len(ids)) != sum.Customers || int64(len(rows)-1) != sum.Transactions {
		t.Fatalf("summary says %d customers, %d transactions; file has %d customers, %d rows",
			sum.Customers, sum.Transactions, len(ids), len(rows)-1)
	}

	cfg := synth.Config{
		Params:     synth.CDNOWParams(synth.ParetoNBD),
		Customers:  700,
		Start:      time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC),
		CohortDays: 30,
		End:        time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 280),
		Seed:       5,
	}
	cfg.Params.S = 0.9
	var want bytes.Buffer
	if err := synth.WriteCSV(context.Background(), &want, cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("gen output differs from synth.WriteCSV with the same parameters")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only shop.csv.gz", len(entries))
	}
}

// TestGenStdout ensures --out - writes the CSV to stdout and the summary to
// stderr.
func TestGenStdout(t *testing.T) {
	stdout, stderr, err := runCohort(t, "gen", "--customers", "3", "--out", "-")
	if err != nil {
		t.Fatalf("gen: %v", err)
	}
	if !strings.HasPrefix(stdout, "customer_id,date,amount\nc0000001,2024-") {
		t.Fatalf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, "of 3 customers") {
		t.Fatalf("stderr %q", stderr)
	}
}

// TestGenFlagErrors ensures bad flags fail with a message naming the flag and
// leave no output file.
func TestGenFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--alpha", "-1"}, "--alpha must be > 0, got -1"},
		{[]string{"--model", "pareto", "--beta", "0"}, "--beta must be > 0, got 0"},
		{[]string{"--q", "+Inf"}, "--q must be finite, got +Inf"},
		{[]string{"--s", "1"}, "--s applies to --model pareto only"},
		{[]string{"--model", "pareto", "--a", "1"}, "--a applies to --model bgnbd only"},
		{[]string{"--model", "mbg"}, `--model "mbg": want bgnbd or pareto`},
		{[]string{"--customers", "0"}, "--customers must be >= 1, got 0"},
		{[]string{"--start", "01/02/2024"}, `--start "01/02/2024": want a date like 2024-01-01`},
		{[]string{"--weeks", "0"}, "--weeks must be >= 1, got 0"},
		{[]string{"--weeks", "4", "--cohort-days", "29"}, "--cohort-days must be at most --weeks*7 = 28, got 29"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.csv")
			_, _, err := runCohort(t, append([]string{"gen", "--out", out}, tt.args...)...)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("output file exists after a failed run (%v)", err)
			}
		})
	}
	if _, _, err := runCohort(t, "gen"); err == nil || !strings.Contains(err.Error(), "out") {
		t.Fatalf("missing --out: %v", err)
	}
}

// TestGenCancelled ensures a cancelled run removes its temp file and leaves
// no output.
func TestGenCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := newRootCmd()
	root.SetOut(new(bytes.Buffer))
	root.SetErr(new(bytes.Buffer))
	root.SetArgs([]string{"gen", "--customers", "100000", "--out", filepath.Join(dir, "x.csv")})
	if err := root.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("got %v, want a cancellation", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("directory holds %v after a cancelled run", entries)
	}
}

// TestGenParquet ensures gen writes Parquet for a .parquet name, holding
// the transactions of the CSV it writes for the same flags: both read into
// the same customers and features. A .parquet.gz name is refused.
func TestGenParquet(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"gen", "--customers", "3000", "--seed", "8", "--start", "2024-01-01", "--weeks", "52", "-q"}
	load := func(name string) *clv.Dataset {
		path := filepath.Join(dir, name)
		if _, stderr, err := runCohort(t, append(flags, "--out", path)...); err != nil {
			t.Fatalf("gen %s: %v\n%s", name, err, stderr)
		}
		ds, err := clv.Load(context.Background(), path, clv.Options{})
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return ds
	}
	pq, csv := load("shop.parquet"), load("shop.csv")
	if pq.Report.Format != "parquet" || csv.Report.Format == "parquet" {
		t.Errorf("formats read: %q and %q, want parquet and csv", pq.Report.Format, csv.Report.Format)
	}
	if len(pq.Customers) != len(csv.Customers) || pq.Report.Transactions != csv.Report.Transactions || len(pq.Customers) == 0 {
		t.Fatalf("parquet: %d customers, %d transactions; csv: %d, %d", len(pq.Customers), pq.Report.Transactions,
			len(csv.Customers), csv.Report.Transactions)
	}
	for i := range pq.Customers {
		if !reflect.DeepEqual(pq.Customers[i], csv.Customers[i]) {
			t.Fatalf("customer %d differs:\nparquet %+v\ncsv     %+v", i, pq.Customers[i], csv.Customers[i])
		}
	}
	out := filepath.Join(dir, "shop.parquet.gz")
	if _, _, err := runCohort(t, append(flags, "--out", out)...); err == nil || !strings.Contains(err.Error(), "name it .parquet") {
		t.Errorf("gen --out %s: %v, want a refusal", out, err)
	}
}
