package job_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

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

// TestWritePredictionsParquetCompressed ensures every column chunk of a
// predictions Parquet file is zstd-compressed, as cohort features writes
// its Parquet (audit 7, finding 7: uncompressed, a 1M-customer file was
// larger than the CSV), that the file is smaller than the same rows written
// uncompressed, and that it reads back equal.
func TestWritePredictionsParquetCompressed(t *testing.T) {
	want := make([]job.Prediction, 20_000)
	for i := range want {
		want[i] = job.Prediction{
			Customer: fmt.Sprintf("customer-%07d", i), PReturn: float64(i%1000) / 1000,
			ExpectedSpend: float64(i%377) * 1.25, Decile: 1 + i%10,
			BaselinePurchases: float64(i%50) / 7, BaselinePAlive: float64(i%2) / 2, BaselineSpend: float64(i % 91),
		}
	}
	path := filepath.Join(t.TempDir(), "p.parquet")
	if err := job.WritePredictions(path, want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	chunks := 0
	for i, rg := range md.RowGroups {
		for j, c := range rg.Columns {
			chunks++
			if c.MetaData.Codec != format.Zstd {
				t.Errorf("row group %d column %d (%v): codec %v, want %v", i, j, c.MetaData.PathInSchema, c.MetaData.Codec, format.Zstd)
			}
		}
	}
	if cols := len(f.Schema().Columns()); chunks < cols {
		t.Errorf("%d column chunks, want at least one per column (%d)", chunks, cols)
	}

	var plain bytes.Buffer
	pw := parquet.NewGenericWriter[job.Prediction](&plain)
	if _, err := pw.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if len(b) >= plain.Len() {
		t.Errorf("file is %d bytes, uncompressed %d: want it smaller", len(b), plain.Len())
	}
	t.Logf("%d rows: %d bytes zstd, %d uncompressed", len(want), len(b), plain.Len())

	got, err := parquet.Read[job.Prediction](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("read back %d rows, not equal to the %d written", len(got), len(want))
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
