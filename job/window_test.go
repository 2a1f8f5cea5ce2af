package job_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
)

// writeLog writes a CSV log of customer_id,date,amount rows into dir.
func writeLog(t *testing.T, dir string, rows []string) string {
	t.Helper()
	path := filepath.Join(dir, "log.csv")
	body := "customer_id,date,amount\n" + strings.Join(rows, "\n") + "\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEvaluateRefusesHorizon ensures Evaluate refuses a holdout of another
// length than the model was trained to predict, naming both lengths and
// the horizon to use, before reading when the horizon is in days; and
// accepts the same length in other units, or the trained calendar horizon
// wherever it starts.
func TestEvaluateRefusesHorizon(t *testing.T) {
	// Data from 1997-01-01 to 1998-06-30, so every holdout below is covered.
	data := writeLog(t, t.TempDir(), []string{"A,1997-01-01,10", "A,1997-11-01,20", "B,1997-02-01,5", "B,1998-06-30,7"})
	missing := filepath.Join(t.TempDir(), "missing.csv")
	// The model's sentinel feature differs from the data's: an error about
	// features means the horizon was accepted, without a network to run.
	net := &model.Model{Pipeline: model.Pipeline{FeatureNames: []string{"sentinel"}}}
	trained := func(h clv.Horizon, weeks float64) *job.Trained {
		return &job.Trained{Net: net, Meta: job.Meta{Read: clv.Options{Horizon: h}, HorizonWeeks: weeks}}
	}
	w39, m6 := clv.Horizon{Days: 273}, clv.Horizon{Months: 6}
	const accepted = "sentinel" // the feature check names the model's features
	tests := []struct {
		name    string
		model   *job.Trained
		data    string
		calEnd  string
		horizon clv.Horizon
		want    string
	}{
		{"26w for 39w, before reading", trained(w39, 39), missing, "1997-09-30", clv.Horizon{Days: 182},
			"job: evaluate: --horizon 26w (26.0 weeks) differs from the 39.0 weeks the model was trained to predict: evaluate with --horizon 39w"},
		{"40w for 39w", trained(w39, 39), missing, "1997-09-30", clv.Horizon{Days: 280},
			"job: evaluate: --horizon 40w (40.0 weeks) differs from the 39.0 weeks the model was trained to predict: evaluate with --horizon 39w"},
		{"273d for 39w", trained(w39, 39), data, "1997-09-30", clv.Horizon{Days: 273}, accepted},
		{"39w for 39w", trained(w39, 39), data, "1997-09-30", w39, accepted},
		// 1997-09-30 plus 6 months is 1998-03-30, 181 days.
		{"6m for 39w, measured on the data", trained(w39, 39), data, "1997-09-30", m6,
			"job: evaluate: --horizon 6m (25.9 weeks) differs from the 39.0 weeks the model was trained to predict: evaluate with --horizon 39w"},
		{"26w for 6m", trained(m6, 181.0/7), missing, "1997-09-30", clv.Horizon{Days: 182},
			"job: evaluate: --horizon 26w (26.0 weeks) differs from the 25.9 weeks the model was trained to predict: evaluate with --horizon 6m"},
		{"181d for 6m", trained(m6, 181.0/7), data, "1997-09-30", clv.Horizon{Days: 181}, accepted},
		// 1997-12-31 plus 6 months is 1998-07-01: 182 days, the trained 6m still.
		{"6m for 6m, another start", trained(m6, 181.0/7), data, "1997-12-31", m6, accepted},
		{"trained horizon not recorded", trained(clv.Horizon{}, 39), missing, "1997-09-30", clv.Horizon{Days: 182},
			"job: evaluate: --horizon 26w (26.0 weeks) differs from the 39.0 weeks the model was trained to predict: evaluate with --horizon 39w"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			read := clv.Options{CalibrationEnd: mustDay(t, tc.calEnd), Horizon: tc.horizon}
			_, err := tc.model.Evaluate(context.Background(), nil, tc.data, read, t.TempDir(), false, 0)
			switch {
			case err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want == accepted:
				if !strings.Contains(err.Error(), accepted) || strings.Contains(err.Error(), "--horizon") {
					t.Errorf("error %v, want the horizon accepted (the feature check failing)", err)
				}
			case err.Error() != tc.want:
				t.Errorf("error\n got %q\nwant %q", err, tc.want)
			}
		})
	}
}

// TestPrepareRefusesZeroLabels ensures a holdout in which no training
// customer bought (only new customers did, so the data covers it) fails
// before training, instead of training on all-zero labels.
func TestPrepareRefusesZeroLabels(t *testing.T) {
	var rows []string
	for k := range 300 {
		first := time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, k%80)
		rows = append(rows, fmt.Sprintf("c%03d,%s,%d", k, first.Format(time.DateOnly), 10+k%17))
		for r := range k % 4 { // 0 to 3 repeat days
			day := first.AddDate(0, 0, 20+30*r+k%11)
			rows = append(rows, fmt.Sprintf("c%03d,%s,%d.50", k, day.Format(time.DateOnly), 5+k%23))
		}
	}
	rows = append(rows, "new1,1997-12-01,30", "new2,1998-06-30,12") // first seen in the holdout
	dir := t.TempDir()
	spec := job.DefaultSpec()
	spec.Data, spec.Out = writeLog(t, dir, rows), filepath.Join(dir, "run")
	spec.Read = clv.Options{CalibrationEnd: mustDay(t, "1997-09-30"), Horizon: clv.Horizon{Days: 273}}
	_, err := job.Prepare(context.Background(), spec, job.Events{})
	if err == nil {
		t.Fatal("no error, want all-zero labels refused")
	}
	// The count depends on the hash split; the rest is fixed.
	const head = "job: none of the "
	tail := " training customers bought in the holdout 1997-10-01 to 1998-06-30: every label is zero; is the calibration end right for " + spec.Data + "?"
	if got := err.Error(); !strings.HasPrefix(got, head) || !strings.HasSuffix(got, tail) {
		t.Errorf("error\n got %q\nwant %q", got, head+"N"+tail)
	}
}

func mustDay(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
