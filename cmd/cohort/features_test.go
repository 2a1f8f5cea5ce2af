package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/cohort-clv/cohort/clv"
)

const featuresLog = `customer_id;date;amount;visits
A;2020-01-01;10;1
A;2020-02-01;5.5;2
B;2020-01-15;7;0
A;2020-03-10;4;1
C;2020-03-20;3;1
B;2020-0x-01;1;1
`

// TestFeaturesEndToEnd ensures features writes one row per customer with
// the features, labels and split, replaces the output atomically, and that
// the JSON summary counts skipped rows by reason.
func TestFeaturesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(data, []byte(featuresLog), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "features.csv")
	// The holdout, 2020-03-01 to 2020-03-20, ends on the log's last day: clv
	// refuses a holdout that runs past the data.
	stdout, _, err := runCohort(t, "features", "--data", data, "--calibration-end", "2020-02-29", "--horizon", "20d",
		"--extra", "visits", "--skip-bad-rows", "--out", out, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var sum featuresSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	if sum.Report.Rows != 6 || sum.Report.BadRows[clv.ReasonBadDate] != 1 || sum.Report.ExcludedCustomers != 1 || sum.Report.Customers != 2 {
		t.Errorf("report %+v", sum.Report)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := rows[0]
	if head[0] != "customer_id" || head[len(head)-3] != "holdout_spend" || head[len(head)-1] != "split" ||
		len(head) != len(sum.Features)+4 || head[len(head)-4] != "extra_visits" {
		t.Errorf("header %v", head)
	}
	if len(rows) != 3 || rows[1][0] != "A" || rows[2][0] != "B" {
		t.Fatalf("rows %v", rows)
	}
	a := rows[1]
	if a[1] != "1" || a[len(a)-3] != "4" || a[len(a)-2] != "1" || a[len(a)-4] != "3" || a[len(a)-1] != clv.SplitOf("A").String() {
		t.Errorf("A row %v: want frequency 1, holdout 4 in 1 day, 3 visits", a)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d files, want log and features only (no temp file)", len(entries))
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("output mode %v (%v), want 0644", st.Mode(), err)
	}
}

// TestFeaturesErrors ensures a bad row stops the command with its file:line,
// and bad flags are named.
func TestFeaturesErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(data, []byte(featuresLog), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "f.csv")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--data", data}, `features: clv: read transactions: ` + data + `:7: column "date": "2020-0x-01" is not a date`},
		{[]string{"--data", data, "--horizon", "39"}, `--horizon "39": want a whole number and a unit`},
		{[]string{"--data", data, "--horizon", "0w"}, `--horizon "0w": a zero horizon is not allowed; leave --horizon out for features without labels`},
		{[]string{"--data", data, "--calibration-end", "30/09/1997"}, `--calibration-end "30/09/1997": want a date like 1997-09-30`},
		{[]string{"--data", data, "--negative", "keep"}, `--negative "keep": want net, drop or error`},
		{[]string{"--data", data, "--format", "xlsx"}, `--format "xlsx": want csv or parquet`},
		{[]string{"--data", data, "--amount", "price"}, `amount column "price" is not in the header; the header has: customer_id, date, amount, visits`},
	}
	for _, tc := range tests {
		_, _, err := runCohort(t, append([]string{"features", "--out", out}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s behind", out)
	}
}

// TestFeaturesStdout ensures --out - streams the CSV to stdout and the
// summary to stderr.
func TestFeaturesStdout(t *testing.T) {
	data := filepath.Join(t.TempDir(), "log.csv")
	if err := os.WriteFile(data, []byte(strings.Replace(featuresLog, "2020-0x-01", "2020-03-01", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCohort(t, "features", "--data", data, "--out", "-")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(stdout, "\n"); lines != 4 || !strings.HasPrefix(stdout, "customer_id,frequency,") || strings.Contains(stdout, "holdout_spend") {
		t.Errorf("stdout %q: want a header and 3 customers without labels", stdout)
	}
	if !strings.Contains(stderr, "3 customers x") || !strings.Contains(stderr, "bad rows: none") {
		t.Errorf("stderr %q", stderr)
	}
}

// TestAppendFeature ensures every feature value is written in digits that
// parse back to the same float32.
func TestAppendFeature(t *testing.T) {
	vals := []float32{0, 1, -1, 12.5, 0.05, -0.05, 1234.56, 99.99, 1.0 / 7, 38.857143, 1e-8, 3e9, -16777215, 16777216, 0.1 + 0.2, 1e-4, 12.0001}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 100000 {
		vals = append(vals, float32(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(8)-3))),
			float32(math.Round(rng.Float64()*1e6))/100)
	}
	for _, v := range vals {
		s := string(appendFeature(nil, v))
		back, err := strconv.ParseFloat(s, 32)
		if err != nil || float32(back) != v {
			t.Fatalf("%v written as %q reads back as %v (%v)", v, s, float32(back), err)
		}
		if len(s) > len(strconv.FormatFloat(float64(v), 'g', -1, 32))+4 {
			t.Errorf("%v written as %q, much longer than the shortest form", v, s)
		}
	}
}

// TestFeaturesParquet ensures features writes Parquet for a .parquet name:
// the CSV's columns in the CSV's order of customers, with the same values,
// typed (features float, holdout_purchases int64).
func TestFeaturesParquet(t *testing.T) {
	dir := t.TempDir()
	data := writeSynthShop(t, 500)
	args := []string{"features", "--data", data, "--calibration-end", calibrationEnd, "--horizon", "26w", "-q"}
	csvOut, pqOut := filepath.Join(dir, "f.csv"), filepath.Join(dir, "f.parquet")
	for _, out := range []string{csvOut, pqOut} {
		if _, stderr, err := runCohort(t, append(args, "--out", out)...); err != nil {
			t.Fatalf("features --out %s: %v\n%s", out, err, stderr)
		}
	}
	f, err := os.Open(csvOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(pqOut)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("open %s: %v", pqOut, err)
	}
	names := map[int]string{}
	for i, path := range pf.Schema().Columns() {
		names[i] = path[0]
	}
	got := make([]parquet.Row, pf.NumRows())
	r := parquet.NewReader(pf)
	if n, err := r.ReadRows(got); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("read %d of %d rows: %v", n, len(got), err)
	}
	if len(got) != len(want)-1 || len(got) == 0 {
		t.Fatalf("%d parquet rows, want %d", len(got), len(want)-1)
	}
	head := want[0]
	col := map[string]int{}
	for j, name := range head {
		col[name] = j
	}
	for i, row := range got {
		if len(row) != len(head) {
			t.Fatalf("row %d has %d columns, want %d", i, len(row), len(head))
		}
		for _, v := range row {
			name := names[v.Column()]
			j, ok := col[name]
			if !ok {
				t.Fatalf("parquet column %q is not in the CSV header %v", name, head)
			}
			var s string
			switch v.Kind() {
			case parquet.ByteArray:
				s = string(v.ByteArray())
			case parquet.Float:
				s = string(appendFeature(nil, v.Float()))
			case parquet.Double:
				s = strconv.FormatFloat(v.Double(), 'g', 12, 64)
			case parquet.Int64:
				s = strconv.FormatInt(v.Int64(), 10)
			default:
				t.Fatalf("row %d column %s: kind %v", i, name, v.Kind())
			}
			if s != want[i+1][j] {
				t.Fatalf("row %d column %s: parquet %s, csv %s", i, name, s, want[i+1][j])
			}
		}
	}
}
