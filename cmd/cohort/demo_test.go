package main

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/job"
)

// TestDemo ensures `cohort demo` writes the gzipped shop, a model that
// predict can load (trained for 39 weeks), metrics.json and report.html into
// --out, and tells the user where they are.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("demo trains with the default epochs and importance repeats: seconds under -race")
	}
	out := filepath.Join(t.TempDir(), "demo")
	stdout, stderr, err := runCohort(t, "demo", "--customers", "2000", "--out", out, "-q")
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	if stderr != "" {
		t.Errorf("-q still printed %q", stderr)
	}
	for _, want := range []string{"customers 2000 ", "open " + filepath.Join(out, "report.html"),
		"cohort predict --model " + filepath.Join(out, "model") + " --data " + filepath.Join(out, "shop.csv.gz")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "metrics.json model report.html shop.csv.gz" {
		t.Errorf("--out holds %v", names)
	}

	f, err := os.Open(filepath.Join(out, "shop.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("shop.csv.gz is not gzip: %v", err)
	}
	sc := bufio.NewScanner(gz)
	ids := map[string]bool{}
	for first := true; sc.Scan(); first = false {
		if first {
			if sc.Text() != "customer_id,date,amount" {
				t.Fatalf("shop header %q", sc.Text())
			}
			continue
		}
		id, _, _ := strings.Cut(sc.Text(), ",")
		ids[id] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2000 {
		t.Errorf("shop has %d customers, want 2000", len(ids))
	}

	tr, err := job.LoadTrained(filepath.Join(out, "model"))
	if err != nil {
		t.Fatalf("demo model: %v", err)
	}
	if tr.Meta.HorizonWeeks != 39 || tr.Meta.CalibrationEnd.Format("2006-01-02") != "2024-09-29" {
		t.Errorf("demo trained for %v weeks after %v, want 39 after 2024-09-29", tr.Meta.HorizonWeeks, tr.Meta.CalibrationEnd)
	}
	model, base, test := metricsFile(t, filepath.Join(out, "metrics.json"))
	if test == 0 || model.Customers != test || base.Customers != test {
		t.Errorf("metrics.json: %d test customers, model scored %d, baseline %d", test, model.Customers, base.Customers)
	}
	if fi, err := os.Stat(filepath.Join(out, "report.html")); err != nil || fi.Size() == 0 {
		t.Errorf("report.html: %v", err)
	}
}

// TestDemoFlagErrors ensures demo refuses a shop too small to split and
// creates nothing.
func TestDemoFlagErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	_, _, err := runCohort(t, "demo", "--customers", "99", "--out", out, "-q")
	if err == nil || err.Error() != "--customers must be at least 100 for a train/validation/test split, got 99" {
		t.Errorf("got %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused run created %s (%v)", out, err)
	}
}

// TestDemoSmallQuietShop ensures a small demo shop whose customers happen
// not to buy on its last days still trains: the demo knows the shop ran 78
// weeks (Options.DataEnd), so the holdout check does not take the last sale
// for the end of the data. Seed 11 with 100 customers ends 8 days early.
func TestDemoSmallQuietShop(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	if _, _, err := runCohort(t, "demo", "--customers", "100", "--seed", "11", "--out", out, "-q"); err != nil {
		t.Fatalf("demo: %v", err)
	}
}

// TestDataEndFlag ensures --data-end is parsed and lets a holdout end after
// the last sale, and that a malformed date names the flag.
func TestDataEndFlag(t *testing.T) {
	dir := t.TempDir()
	shop := filepath.Join(dir, "shop.csv")
	log := "customer_id,date,amount\n"
	for i := range 60 {
		log += "c" + strconv.Itoa(i) + ",2024-01-0" + strconv.Itoa(1+i%9) + ",10\n"
		if i%3 == 0 {
			log += "c" + strconv.Itoa(i) + ",2024-03-0" + strconv.Itoa(1+i%9) + ",12\n"
		}
	}
	if err := os.WriteFile(shop, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"features", "--data", shop, "--calibration-end", "2024-02-01", "--horizon", "60d", "--out", filepath.Join(dir, "f.csv"), "-q"}
	tests := []struct {
		name  string
		extra []string
		want  string // error substring; empty: succeeds
	}{
		{"last sale short of the holdout", nil, "--data-end"},
		{"data end covers it", []string{"--data-end", "2024-04-01"}, ""},
		{"malformed", []string{"--data-end", "April"}, `--data-end "April": want a date like 1998-06-30`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCohort(t, append(slices.Clone(args), tc.extra...)...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
