package coordinator

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/clv"
)

// loadSpecYAML writes log to a file, reads the job file that read (YAML,
// the fields of ReadOptions) makes for it through JobSpecFromYAML and
// SpecFromProto, as a cluster job would, and loads the log with the result.
func loadSpecYAML(t *testing.T, log, read string) (*clv.Dataset, error) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(data, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf("data_path: %s\nout_dir: %s\nread:\n%s", data, filepath.Join(dir, "run"), read)
	spec, err := JobSpecFromYAML("job.yaml", []byte(raw))
	if err != nil {
		t.Fatalf("JobSpecFromYAML:\n%s\n%v", raw, err)
	}
	sp, err := SpecFromProto(spec)
	if err != nil {
		t.Fatalf("SpecFromProto: %v", err)
	}
	return clv.Load(context.Background(), sp.Data, sp.Read)
}

// europeanLog is an export with semicolons, decimal commas and a thousands
// point ("1.234,50"), whose last sale (2024-03-05) is weeks before the
// shop's data end.
const europeanLog = "kunde;datum;betrag\n" +
	"a;2024-01-05;14,92\n" +
	"a;2024-02-10;1.234,50\n" +
	"b;2024-01-20;7,00\n" +
	"b;2024-02-20;7,50\n" +
	"b;2024-03-01;10,00\n" +
	"a;2024-03-05;3,08\n"

// europeanRead reads europeanLog with a holdout of March 2024; extra adds
// lines (two spaces of indent).
func europeanRead(extra string) string {
	return "  customer: kunde\n  date: datum\n  amount: betrag\n  delimiter: \";\"\n" +
		"  calibration_end: 2024-02-29\n  horizon: 4w\n" + extra
}

// TestSpecReadsEuropeanLog ensures a job file's decimal and data_end reach
// the read as the CLI's --decimal , and --data-end do: with decimal ","
// the amounts "14,92" and "1.234,50" read as 14.92 and 1234.5, and with
// data_end a holdout past the last sale is covered; without either the
// same log is refused.
func TestSpecReadsEuropeanLog(t *testing.T) {
	ds, err := loadSpecYAML(t, europeanLog, europeanRead("  decimal: \",\"\n  data_end: 2024-03-31\n"))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	want := map[string]struct{ repeatMean, holdout float64 }{"a": {1234.5, 3.08}, "b": {7.5, 10}}
	if len(ds.Customers) != len(want) {
		t.Fatalf("%d customers, want %d", len(ds.Customers), len(want))
	}
	for _, c := range ds.Customers {
		w := want[c.ID]
		if c.X != 1 || math.Abs(c.RepeatMeanSpend-w.repeatMean) > 1e-9 || math.Abs(c.HoldoutSpend-w.holdout) > 1e-9 {
			t.Errorf("customer %s: %d repeat days, repeat mean spend %v, holdout spend %v; want 1, %v, %v",
				c.ID, int(c.X), c.RepeatMeanSpend, c.HoldoutSpend, w.repeatMean, w.holdout)
		}
	}

	t.Run("without decimal", func(t *testing.T) {
		_, err := loadSpecYAML(t, europeanLog, europeanRead("  data_end: 2024-03-31\n"))
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "decimal") {
			t.Errorf("load with the default decimal point: %v, want an error about decimal commas", err)
		}
	})
	t.Run("without data_end", func(t *testing.T) {
		_, err := loadSpecYAML(t, europeanLog, europeanRead("  decimal: \",\"\n"))
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "ends after the last transaction") {
			t.Errorf("load without data_end: %v, want the holdout refused", err)
		}
	})
}

// TestSpecCountOnly ensures amount: none reaches a cluster job's read: a
// log without a spend column loads, and each purchase day is worth 1.
func TestSpecCountOnly(t *testing.T) {
	const log = "cust,date\n" +
		"a,2024-01-05\n" + "a,2024-02-10\n" + "a,2024-02-10\n" +
		"b,2024-01-20\n" + "b,2024-02-20\n" +
		"a,2024-03-05\n" + "a,2024-03-20\n" + "a,2024-03-20\n" + "b,2024-03-27\n"
	ds, err := loadSpecYAML(t, log, "  amount: none\n  calibration_end: 2024-02-29\n  horizon: 4w\n")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if ds.Report.Columns.Amount != clv.AmountNone {
		t.Errorf("columns %+v, want amount none", ds.Report.Columns)
	}
	want := map[string]float64{"a": 2, "b": 1} // purchase days in the holdout
	for _, c := range ds.Customers {
		if c.HoldoutSpend != want[c.ID] || c.HoldoutPurchases != int(want[c.ID]) {
			t.Errorf("customer %s: holdout spend %v, purchases %d; want %v purchase days as both", c.ID, c.HoldoutSpend, c.HoldoutPurchases, want[c.ID])
		}
	}
}
