package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeShopWithQuantity writes the synthetic shop with a fourth column,
// qty, which clv maps as the quantity column by its name.
func writeShopWithQuantity(t *testing.T, dir, name string) string {
	t.Helper()
	path := writeShop(t, dir, name, "customer_id,date,amount")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		if i == 0 {
			b.WriteString(line + ",qty\n")
			continue
		}
		fmt.Fprintf(&b, "%s,%d\n", line, 1+i%3)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPredictCLI trains one small model on a shop with a quantity column and
// checks predict's output paths (--out -, a directory, missing parents),
// that the recent periods come from the model, and that scoring data
// without the quantity column names the missing features and the flag.
func TestPredictCLI(t *testing.T) {
	dir := t.TempDir()
	data := writeShopWithQuantity(t, dir, "shop.csv")
	run := filepath.Join(dir, "run")
	if _, stderr, err := runCohort(t, trainArgs(data, run, "-q", "--hidden", "8", "--epochs", "1", "--threads", "2")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	model := filepath.Join(run, "model")
	// Scored as of the training calibration end: this synthetic shop is one
	// cohort, so at the end of its log every customer is older than any the
	// model saw, and predict warns (TestPredictWarnsFeatureShift); here
	// stderr must hold only what each flag asks for.
	predict := func(args ...string) (string, string, error) {
		return runCohort(t, append([]string{"predict", "--model", model, "--data", data, "--calibration-end", calibrationEnd}, args...)...)
	}
	file := filepath.Join(dir, "p.csv")
	if _, _, err := predict("--out", file); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("stdout", func(t *testing.T) {
		tests := []struct {
			args       []string
			wantStderr string // prefix; "" for none
		}{
			{nil, "read " + data + " (csv"},
			{[]string{"-q"}, ""},
			{[]string{"--json"}, `{"out":"-","customers":`},
			{[]string{"--json", "-q"}, `{"out":"-","customers":`},
		}
		for _, tt := range tests {
			stdout, stderr, err := predict(append([]string{"--out", "-"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v: %v", tt.args, err)
			}
			if stdout != string(want) {
				t.Errorf("%v: stdout is not the CSV that --out FILE writes (%d bytes, want %d)", tt.args, len(stdout), len(want))
			}
			if !strings.HasPrefix(stderr, tt.wantStderr) || (tt.wantStderr == "") != (stderr == "") {
				t.Errorf("%v: stderr %q, want %q...", tt.args, stderr, tt.wantStderr)
			}
			if tt.wantStderr != "" && !strings.HasSuffix(stderr, "\n") {
				t.Errorf("%v: stderr %q is not whole lines", tt.args, stderr)
			}
		}
		if _, err := os.Stat("-"); !os.IsNotExist(err) {
			t.Errorf("--out - wrote a file named - (%v)", err)
		}
	})

	t.Run("out paths", func(t *testing.T) {
		runs := filepath.Join(dir, "runs")
		if err := os.Mkdir(runs, 0o755); err != nil {
			t.Fatal(err)
		}
		_, _, err := predict("--out", runs)
		if wantErr := "--out " + runs + " is a directory: name a file, e.g. " + filepath.Join(runs, "predictions.csv"); err == nil || err.Error() != wantErr {
			t.Errorf("--out a directory: %v, want %q", err, wantErr)
		}
		nested := filepath.Join(dir, "new", "sub", "p.csv")
		if _, _, err := predict("--out", nested); err != nil {
			t.Fatalf("--out under missing directories: %v", err)
		}
		if got, err := os.ReadFile(nested); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v", nested, err)
		}
		// A run that fails creates no directory.
		failed := filepath.Join(dir, "failed", "p.csv")
		if _, _, err := runCohort(t, "predict", "--model", model, "--data", filepath.Join(dir, "nope.csv"), "--out", failed); err == nil {
			t.Fatal("predict on a missing log succeeded")
		}
		if _, err := os.Stat(filepath.Dir(failed)); !os.IsNotExist(err) {
			t.Errorf("a failed predict created %s (%v)", filepath.Dir(failed), err)
		}
	})

	t.Run("periods from the model", func(t *testing.T) {
		tests := []struct {
			cmd  string
			args []string
			want string // error; "" for success
		}{
			{"predict", []string{"--periods", "8"}, ""},
			{"predict", []string{"--period-days", "28"}, ""},
			{"predict", []string{"--periods", "4"}, "--periods 4: the model was trained with 8 recent periods of 28 days; leave --periods out"},
			{"predict", []string{"--periods", "-1"}, "--periods -1: the model was trained with 8 recent periods of 28 days"},
			{"predict", []string{"--period-days", "7"}, "--period-days 7: the model was trained with 8 recent periods of 28 days; leave --period-days out"},
			{"predict", []string{"--periods", "0"}, "--periods must be 1..520"},
			{"eval", []string{"--periods", "4"}, "--periods 4: the model was trained with 8 recent periods of 28 days"},
			{"eval", []string{"--period-days", "14"}, "--period-days 14: the model was trained with 8 recent periods of 28 days"},
		}
		for _, tt := range tests {
			args := []string{tt.cmd, "--model", model, "--data", data}
			out := filepath.Join(t.TempDir(), "out")
			if tt.cmd == "predict" {
				args = append(args, "--out", out+".csv")
			} else {
				args = append(args, "--calibration-end", calibrationEnd, "--horizon", "39w", "--out", out)
			}
			_, _, err := runCohort(t, append(args, tt.args...)...)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("%s %v: %v", tt.cmd, tt.args, err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("%s %v: %v, want %q...", tt.cmd, tt.args, err, tt.want)
			}
		}
	})

	t.Run("quantity missing", func(t *testing.T) {
		noQty := writeShop(t, t.TempDir(), "shop.csv", "customer_id,date,amount")
		for _, args := range [][]string{
			{"--data", noQty},
			{"--data", data, "--quantity", "-"},
		} {
			_, _, err := runCohort(t, append([]string{"predict", "--model", model, "--out", filepath.Join(t.TempDir(), "p.csv")}, args...)...)
			const want = "the model uses quantity_total, quantity_mean: map the quantity column with --quantity COL"
			if err == nil || !strings.HasSuffix(err.Error(), want) {
				t.Errorf("%v: %v, want ...%q", args, err, want)
			} else if strings.Contains(err.Error(), "spend_total") {
				t.Errorf("%v: %v lists features that match", args, err)
			}
		}
	})
}

// testPredictExtraQuantity ensures scoring data with a quantity column the
// model (trained without one) never saw names the features and --quantity -,
// which then scores it.
func testPredictExtraQuantity(t *testing.T, r mappedRun) {
	dir := t.TempDir()
	data := writeShopWithQuantity(t, dir, "shop.csv")
	model := filepath.Join(r.out, "model")
	common := []string{"predict", "--model", model, "--data", data, "--customer", "customer_id", "--date", "date", "--amount", "amount"}
	_, _, err := runCohort(t, append(common, "--out", filepath.Join(dir, "p.csv"))...)
	const want = "the data gives quantity_total, quantity_mean, which the model was trained without: pass --quantity - to leave the quantity column out"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("got %v, want ...%q", err, want)
	}
	var sum predictSummary
	stdout, _, err := runCohort(t, append(common, "--quantity", "-", "--json", "--out", filepath.Join(dir, "p.csv"))...)
	if err != nil {
		t.Fatalf("with --quantity -: %v", err)
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Customers != shopCustomers {
		t.Errorf("summary %q: %v", stdout, err)
	}
}

// TestPredictWarnsFeatureShift ensures predict warns, on stderr and in its
// --json warnings, when it scores a one-cohort shop at the end of its log,
// where every customer is older than any the model was trained on, and not
// at the calibration end the model was trained at.
func TestPredictWarnsFeatureShift(t *testing.T) {
	dir := t.TempDir()
	data := writeShopWithQuantity(t, dir, "shop.csv")
	run := filepath.Join(dir, "run")
	if _, stderr, err := runCohort(t, trainArgs(data, run, "-q", "--hidden", "8", "--epochs", "1", "--threads", "2")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	const warning = "the scored customers lie outside the range the deep model was trained on: on age_weeks"
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"end of the log", nil, true},
		{"training calibration end", []string{"--calibration-end", calibrationEnd}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"predict", "--model", filepath.Join(run, "model"), "--data", data, "--out", "-", "--json", "-q"}, tt.args...)
			stdout, stderr, err := runCohort(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(stderr, "warning: "+warning); got != tt.want {
				t.Errorf("stderr %q: warning %v, want %v", stderr, got, tt.want)
			}
			if got := strings.Contains(stdout+stderr, `"warnings":["`+warning); got != tt.want {
				t.Errorf("--json: warning %v, want %v", got, tt.want)
			}
		})
	}
}
