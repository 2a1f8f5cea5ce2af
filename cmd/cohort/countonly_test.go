package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/clv"
)

// writeCountOnlyShop writes the synthetic shop without its amount column,
// as line items: every third row twice, so that days hold several rows.
func writeCountOnlyShop(t *testing.T, dir, name string) string {
	t.Helper()
	path := writeShop(t, dir, name, "customer_id,date,amount")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("customer_id,date\n")
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")[1:] {
		f := strings.Split(line, ",")
		row := f[0] + "," + f[1] + "\n"
		b.WriteString(row)
		if i%3 == 0 {
			b.WriteString(row)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAmountNoneFlags ensures --amount none reaches clv.Options, refuses a
// negative policy, and that predict and eval read a model's data the way it
// was trained: count-only for a count-only model, whatever --amount says
// being refused otherwise, and --amount none refused for a spend model.
func TestAmountNoneFlags(t *testing.T) {
	t.Run("train", func(t *testing.T) {
		tests := []struct {
			args      []string
			countOnly bool
			wantErr   string
		}{
			{[]string{"--amount", "none"}, true, ""},
			{[]string{"--amount", "None", "--negative", "net", "--quantity", "qty", "--extra", "visits"}, true, ""},
			{[]string{"--amount", "none", "--negative", "drop"}, false, "--negative drop: with --amount none the log has no amounts"},
			{[]string{"--amount", "none", "--negative", "error"}, false, "--negative error: with --amount none the log has no amounts"},
			{[]string{"--amount", "sales", "--negative", "drop"}, false, ""},
		}
		for _, tt := range tests {
			fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
			var d dataFlags
			d.bind(fs, forTrain)
			if err := fs.Parse(append([]string{"--data", "log.csv"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			o, err := d.options(fs)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("%v: error %v, want %q", tt.args, err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Errorf("%v: %v", tt.args, err)
			case err == nil && o.CountOnly() != tt.countOnly:
				t.Errorf("%v: count-only %v, want %v", tt.args, o.CountOnly(), tt.countOnly)
			}
		}
	})
	for _, use := range []struct {
		name string
		use  dataUse
	}{{"predict", forPredict}, {"eval", forEval}} {
		t.Run(use.name, func(t *testing.T) {
			count, detected, named := clv.Options{Amount: "none"}, clv.Options{}, clv.Options{Amount: "sales"}
			tests := []struct {
				name       string
				base       clv.Options // the model's read options
				args       []string
				wantAmount string
				wantErr    string
			}{
				{"count-only model", count, nil, "none", ""},
				{"count-only model, --amount none", count, []string{"--amount", "NONE"}, "NONE", ""},
				{"count-only model, --negative net", count, []string{"--negative", "net"}, "none", ""},
				{"count-only model, --amount sales", count, []string{"--amount", "sales"}, "",
					"--amount sales: the model was trained count-only (--amount none), on purchase days, not spend; leave --amount out"},
				{"count-only model, --negative drop", count, []string{"--negative", "drop"}, "",
					"--negative drop: the model was trained count-only (--amount none)"},
				{"spend model, --amount none", detected, []string{"--amount", "none"}, "",
					"--amount none: the model was trained on spend (its amount column) and cannot score purchase days"},
				{"named spend model, --amount none", named, []string{"--amount", "none"}, "",
					`--amount none: the model was trained on spend (amount column "sales")`},
				{"spend model, another column", named, []string{"--amount", "4"}, "4", ""},
				{"spend model", named, nil, "sales", ""},
			}
			for _, tt := range tests {
				fs := pflag.NewFlagSet(use.name, pflag.ContinueOnError)
				var d dataFlags
				d.bind(fs, use.use)
				if err := fs.Parse(append([]string{"--data", "log.csv"}, tt.args...)); err != nil {
					t.Fatal(err)
				}
				o, err := d.overlay(fs, tt.base)
				switch {
				case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
					t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
				case tt.wantErr == "" && err != nil:
					t.Errorf("%s: %v", tt.name, err)
				case err == nil && o.Amount != tt.wantAmount:
					t.Errorf("%s: amount %q, want %q", tt.name, o.Amount, tt.wantAmount)
				}
			}
		})
	}
	if u := newTrainCmd().Flags().Lookup("amount").Usage; !strings.Contains(u, "--amount none: a log without spend") {
		t.Errorf("train --amount usage %q does not say --amount none", u)
	}
}

// TestCountOnlyCLI ensures a log without spend trains with --amount none
// (and, without it, fails with a message that names it), and that predict
// and eval read with the model's count-only mapping: the baseline's expected
// spend is its expected purchase days.
func TestCountOnlyCLI(t *testing.T) {
	dir := t.TempDir()
	data := writeCountOnlyShop(t, dir, "visits.csv")
	if _, _, err := runCohort(t, trainArgs(data, filepath.Join(dir, "no"), "-q")...); err == nil ||
		!strings.Contains(err.Error(), "--amount none (read.amount: none) counts purchase days instead") {
		t.Errorf("train without --amount: %v, want it to suggest --amount none", err)
	}
	run := filepath.Join(dir, "run")
	if _, stderr, err := runCohort(t, trainArgs(data, run, "-q", "--amount", "none", "--hidden", "8", "--epochs", "1", "--threads", "2")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	model, base, test := metricsFile(t, filepath.Join(run, "metrics.json"))
	if test == 0 || !(model.NormalizedGini > 0) || !(base.NormalizedGini > 0) {
		t.Errorf("%d test customers, Gini %v (baseline %v): want customers and positive Ginis", test, model.NormalizedGini, base.NormalizedGini)
	}
	modelDir := filepath.Join(run, "model")

	predict := func(args ...string) (string, error) {
		stdout, _, err := runCohort(t, append([]string{"predict", "--model", modelDir, "--data", data, "--out", "-", "-q"}, args...)...)
		return stdout, err
	}
	out, err := predict()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != shopCustomers+1 {
		t.Fatalf("predict wrote %d rows, want a header and %d customers", len(rows), shopCustomers)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, r := range rows[1:] {
		purchases, err1 := strconv.ParseFloat(r[col["baseline_expected_purchases"]], 64)
		spend, err2 := strconv.ParseFloat(r[col["baseline_expected_spend"]], 64)
		if err1 != nil || err2 != nil || spend != purchases {
			t.Fatalf("row %v: baseline expected spend %v, want its expected purchases %v", r, spend, purchases)
		}
	}
	if again, err := predict("--amount", "none"); err != nil || again != out {
		t.Errorf("predict --amount none: %v; output equal to the default's: %v", err, again == out)
	}
	if _, err := predict("--amount", "2"); err == nil || !strings.Contains(err.Error(), "the model was trained count-only") {
		t.Errorf("predict --amount 2: %v, want a refusal", err)
	}

	evalArgs := []string{"eval", "--model", modelDir, "--data", data, "--calibration-end", calibrationEnd, "--out", filepath.Join(dir, "eval"), "-q", "--importance-repeats", "0"}
	if _, _, err := runCohort(t, append(evalArgs, "--amount", "2")...); err == nil || !strings.Contains(err.Error(), "the model was trained count-only") {
		t.Errorf("eval --amount 2: %v, want a refusal", err)
	}
	if _, stderr, err := runCohort(t, evalArgs...); err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	evModel, evBase, evTest := metricsFile(t, filepath.Join(dir, "eval", "metrics.json"))
	if evTest != test {
		t.Errorf("eval on the training log: %d test customers, train tested %d", evTest, test)
	}
	sameMetrics(t, "eval vs train, deep model", evModel, model)
	sameMetrics(t, "eval vs train, baseline", evBase, base)
}
