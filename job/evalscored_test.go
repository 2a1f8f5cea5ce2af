package job

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
)

// pageText is report.html with its tags (and so its inline images) left
// out.
func pageText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?s)<style>.*?</style>|<[^>]*>`).ReplaceAllString(string(b), " ")
	return strings.Join(strings.Fields(s), " ")
}

// TestEvaluateSplitAllSaysInSample ensures eval --split all on the model's
// own log and window says what it scored: every customer, of whom the
// split's training and validation customers are in-sample. report.html no
// longer calls them test customers unused in training, metrics.json adds
// run.scored and run.in_sample_customers (test_customers stays the number
// scored), and a warning says the scores are in-sample. --split test keeps
// the held-out wording and warns of nothing.
func TestEvaluateSplitAllSaysInSample(t *testing.T) {
	tr, err := LoadTrained(filepath.Join(v1Model, "model"))
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	shop := filepath.Join(v1Model, "shop.csv")
	ds, err := clv.Load(context.Background(), shop, tr.Meta.Read)
	if err != nil {
		t.Fatal(err)
	}
	var inSample, held int
	for i := range ds.Customers {
		if clv.SplitOf(ds.Customers[i].ID) == clv.Test {
			held++
		} else {
			inSample++
		}
	}

	out := t.TempDir()
	ev, err := tr.Evaluate(context.Background(), be, shop, tr.Meta.Read, out, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Scored != "all" || ev.InSample != inSample || ev.Customers != inSample+held || inSample == 0 {
		t.Errorf("scored %q, %d in-sample of %d; want all, %d of %d", ev.Scored, ev.InSample, ev.Customers, inSample, inSample+held)
	}
	warned := containing(ev.Warnings, "in-sample")
	if len(warned) != 1 || !strings.Contains(warned[0], "--split test") {
		t.Errorf("warnings %q, want one saying the scores are in-sample and naming --split test", ev.Warnings)
	}
	page := pageText(t, ev.ReportPath)
	if strings.Contains(page, "were not used for training") || strings.Contains(page, "Test customers who spent") {
		t.Errorf("report of every customer calls them held-out test customers:\n%s", page[:min(len(page), 1500)])
	}
	for _, want := range []string{"trained the model", "chose its epoch", "in-sample", "Warning:"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	var doc struct {
		TestCustomers int `json:"test_customers"`
		Run           struct {
			Scored    string   `json:"scored"`
			InSample  *int     `json:"in_sample_customers"`
			SplitRule string   `json:"split_rule"`
			Warnings  []string `json:"warnings"`
		} `json:"run"`
	}
	readJSON(t, ev.MetricsPath, &doc)
	if doc.TestCustomers != ev.Customers || doc.Run.Scored != "all" || doc.Run.InSample == nil || *doc.Run.InSample != inSample ||
		!strings.HasPrefix(doc.Run.SplitRule, "none: all customers scored") || len(containing(doc.Run.Warnings, "in-sample")) != 1 {
		t.Errorf("metrics.json test_customers %d, run %+v; want %d, scored all, %d in-sample, no held-out split rule, the warning",
			doc.TestCustomers, doc.Run, ev.Customers, inSample)
	}

	t.Run("test split", func(t *testing.T) {
		ev, err := tr.Evaluate(context.Background(), be, shop, tr.Meta.Read, t.TempDir(), true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Scored != "test" || ev.InSample != 0 || ev.Customers != held || len(containing(ev.Warnings, "in-sample")) != 0 {
			t.Errorf("scored %q, %d in-sample of %d, warnings %q; want test, 0 of %d, none in-sample", ev.Scored, ev.InSample, ev.Customers, ev.Warnings, held)
		}
		if page := pageText(t, ev.ReportPath); !strings.Contains(page, "test customers were not used for training or early stopping") {
			t.Error("report of the test split lost its held-out sentence")
		}
	})
}

// TestInSampleWindow ensures the in-sample warning needs both: scored
// training or validation customers, and a holdout that overlaps the one the
// model learned from. A later period of the same customers is not scored
// in-sample.
func TestInSampleWindow(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	tr := &Trained{Meta: Meta{CalibrationEnd: d("1997-09-30"), HoldoutEnd: d("1998-06-30"), HorizonWeeks: 39}}
	for _, tc := range []struct {
		name       string
		end, hEnd  string
		train, val int
		warn       bool
	}{
		{"own window", "1997-09-30", "1998-06-30", 10, 3, true},
		{"overlapping", "1997-06-30", "1998-03-30", 10, 3, true},
		{"later", "1998-06-30", "1999-03-30", 10, 3, false},
		{"earlier", "1996-06-30", "1997-03-30", 10, 3, false},
		{"held out only", "1997-09-30", "1998-06-30", 0, 0, false},
	} {
		r := clv.IngestReport{CalibrationEnd: d(tc.end), HoldoutEnd: d(tc.hEnd)}
		got := tr.inSampleWindow(r, 20, tc.train, tc.val)
		if (got != "") != tc.warn {
			t.Errorf("%s: warning %q, want one: %v", tc.name, got, tc.warn)
		}
	}
	// A model that recorded no holdout end: the trained horizon stands in.
	tr.Meta.HoldoutEnd = time.Time{}
	if tr.inSampleWindow(clv.IngestReport{CalibrationEnd: d("1998-01-31"), HoldoutEnd: d("1998-10-31")}, 20, 5, 0) == "" {
		t.Error("no warning for a holdout inside the trained horizon of a model without a recorded holdout end")
	}
}

// checkCountOnlyReport checks that report.html of a count-only run (the
// groceryElog read with amount none, TestGroceryCountOnly's run) speaks of
// purchase days throughout, never of spend or money, and shows the
// constant Gamma-Gamma model of 1 as one line instead of its stand-in
// shapes of 2^40; and so does an eval --split all of its model.
func checkCountOnlyReport(t *testing.T, be kernels.Backend, data string, res *Result) {
	check := func(t *testing.T, path, who string) {
		page := pageText(t, path)
		if m := regexp.MustCompile(`(?i)[^.;:]*\b(spend|spent|spends|spending|money)\b[^.;:]*`).FindAllString(page, -1); len(m) > 0 {
			t.Errorf("count-only report speaks of spend: %q", m)
		}
		for _, want := range []string{
			who + " who bought", "total holdout purchase days", "Purchase-day ratio", "Total predicted purchase days",
			"every purchase day counts 1", "nearer 1 on a log scale",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("report lacks %q", want)
			}
		}
		if regexp.MustCompile(`1\.1e\+?12`).MatchString(page) {
			t.Error("report shows the constant Gamma-Gamma model's stand-in shapes")
		}
	}
	check(t, res.ReportPath, "Test customers")

	t.Run("eval", func(t *testing.T) {
		tr, err := LoadTrained(res.ModelDir)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := tr.Evaluate(context.Background(), be, data, tr.Meta.Read, t.TempDir(), false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Quantity != eval.PurchaseDays {
			t.Errorf("evaluation quantity %q, want purchase days", ev.Quantity)
		}
		check(t, ev.ReportPath, "Scored customers")
	})
}

// containing returns the strings of ss that contain sub.
func containing(ss []string, sub string) []string {
	var out []string
	for _, s := range ss {
		if strings.Contains(s, sub) {
			out = append(out, s)
		}
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
