package job_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/cohort-clv/cohort/job"
)

// samplePredictions have ids that CSV must quote and values of at most seven
// significant digits, which the CSV writer keeps exactly.
func samplePredictions() []job.Prediction {
	return []job.Prediction{
		{Customer: "c1", PReturn: 0.5, ExpectedSpend: 1234.567, Decile: 1, BaselinePurchases: 1.5, BaselinePAlive: 0.75, BaselineSpend: 99.5},
		{Customer: `Smith, "Jo"`, PReturn: 0.015625, ExpectedSpend: 0, Decile: 2, BaselinePurchases: 0, BaselinePAlive: 1, BaselineSpend: 0},
		{Customer: "line\nbreak", PReturn: 1, ExpectedSpend: 1.5e-7, Decile: 10, BaselinePurchases: 12345.67, BaselinePAlive: 0.125, BaselineSpend: 4e6},
	}
}

// dirNames lists the entries of dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestWritePredictionsCSV ensures the CSV has the documented header, quotes
// ids that need it, keeps the values, is readable by all and leaves no
// temporary file.
func TestWritePredictionsCSV(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.csv")
	want := samplePredictions()
	if err := job.WritePredictions(path, want); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	header := []string{"customer_id", "p_return", "expected_spend", "decile",
		"baseline_expected_purchases", "baseline_p_alive", "baseline_expected_spend"}
	if len(rows) != len(want)+1 || !slices.Equal(rows[0], header) {
		t.Fatalf("rows %q, want header %q and %d rows", rows, header, len(want))
	}
	num := func(s string) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("field %q: %v", s, err)
		}
		return v
	}
	for i, r := range rows[1:] {
		got := job.Prediction{Customer: r[0], PReturn: num(r[1]), ExpectedSpend: num(r[2]), Decile: int(num(r[3])),
			BaselinePurchases: num(r[4]), BaselinePAlive: num(r[5]), BaselineSpend: num(r[6])}
		if got != want[i] {
			t.Errorf("row %d: %+v, want %+v", i+1, got, want[i])
		}
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"p.csv"}) {
		t.Errorf("directory holds %v, want p.csv only", names)
	}
	checkMode(t, path)
}

// checkMode ensures path is readable by everyone, like the report: the
// temporary file it was renamed from starts out 0600.
func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("%s has mode %v, want 0644", path, fi.Mode().Perm())
	}
}

// TestWritePredictionsParquet ensures a .parquet path (any case) gives a
// Parquet file that parquet-go reads back to the same predictions.
func TestWritePredictionsParquet(t *testing.T) {
	for _, name := range []string{"p.parquet", "P.PARQUET"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			want := samplePredictions()
			if err := job.WritePredictions(path, want); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := parquet.NewGenericReader[job.Prediction](f)
			defer r.Close()
			if r.NumRows() != int64(len(want)) {
				t.Fatalf("%d rows, want %d", r.NumRows(), len(want))
			}
			got := make([]job.Prediction, len(want))
			if n, err := r.Read(got); n != len(want) {
				t.Fatalf("read %d rows: %v", n, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("read back %+v\nwant %+v", got, want)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{name}) {
				t.Errorf("directory holds %v, want %s only", names, name)
			}
			checkMode(t, path)
		})
	}
}

// TestWritePredictionsAtomic ensures a rewrite replaces the whole file and a
// failed write leaves neither the file nor a temporary file behind.
func TestWritePredictionsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.csv")
	if err := os.WriteFile(path, []byte(strings.Repeat("old content\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	ps := samplePredictions()[:1]
	if err := job.WritePredictions(path, ps); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "old content") || strings.Count(string(b), "\n") != 2 {
		t.Errorf("rewritten file:\n%s", b)
	}

	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(dir, "nope", "p.csv")
		err := job.WritePredictions(path, ps)
		if err == nil || !strings.HasPrefix(err.Error(), "job: write predictions: ") {
			t.Fatalf("got %v, want a job: write predictions error", err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("file exists after a failed write (%v)", err)
		}
	})
	t.Run("rename fails", func(t *testing.T) {
		// A directory in the way: the temporary file is written in full,
		// then the rename fails and the temporary file must go.
		dir := t.TempDir()
		path := filepath.Join(dir, "taken.parquet")
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := job.WritePredictions(path, samplePredictions()); err == nil {
			t.Fatal("wrote over a directory")
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"taken.parquet"}) {
			t.Errorf("directory holds %v after a failed write, want only the directory in the way", names)
		}
		if inner := dirNames(t, path); len(inner) != 0 {
			t.Errorf("failed write left %v inside the directory", inner)
		}
	})
}
