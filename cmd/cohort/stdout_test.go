package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
)

// TestToStdout ensures the names of standard output, and a path to the
// very file stdout is, count as stdout, and nothing else does.
func TestToStdout(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "out.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other := filepath.Join(dir, "other.csv")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		stdout io.Writer // an *os.File, or a buffer (tests' stdout)
		want   bool
	}{
		{"-", new(bytes.Buffer), true},
		{"/dev/stdout", new(bytes.Buffer), true},
		{"/dev/fd/1", new(bytes.Buffer), true},
		{"/proc/self/fd/1", new(bytes.Buffer), true},
		{f.Name(), f, true},
		{filepath.Join(dir, ".", "out.csv"), f, true},
		{other, f, false},
		{f.Name(), new(bytes.Buffer), false},
		{filepath.Join(dir, "missing.csv"), f, false},
	}
	for _, tt := range tests {
		if got := toStdout(tt.path, tt.stdout); got != tt.want {
			t.Errorf("toStdout(%q, %T) = %v, want %v", tt.path, tt.stdout, got, tt.want)
		}
	}
}

// TestSummariesOnStderr ensures gen and features print their summaries on
// stderr, which -q silences, and keep stdout for the data and the --json
// summary; with --out /dev/stdout (or a path to the file stdout is) the
// data goes to stdout and the JSON summary to stderr, as with --out -.
// The old code printed "wrote ..." on stdout, after the data.
func TestSummariesOnStderr(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(data, []byte(strings.Replace(featuresLog, "2020-0x-01", "2020-03-01", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	gen := []string{"gen", "--customers", "5"}
	features := []string{"features", "--data", data}
	tests := []struct {
		name                  string
		args                  []string
		stdoutCSV, stdoutJSON bool   // what stdout holds
		stderr                string // in stderr; "" for an empty stderr
	}{
		{"gen to a file", append(gen, "--out", filepath.Join(dir, "g.csv")), false, false, "wrote "},
		{"gen -q", append(gen, "--out", filepath.Join(dir, "g.csv"), "-q"), false, false, ""},
		{"gen --json", append(gen, "--out", filepath.Join(dir, "g.csv"), "--json"), false, true, ""},
		{"gen to /dev/stdout", append(gen, "--out", "/dev/stdout", "-q"), true, false, ""},
		{"gen to /dev/stdout --json", append(gen, "--out", "/dev/stdout", "--json"), true, false, `"transactions":`},
		{"features to a file", append(features, "--out", filepath.Join(dir, "f.csv")), false, false, "wrote "},
		{"features -q", append(features, "--out", filepath.Join(dir, "f.csv"), "-q"), false, false, ""},
		{"features to /proc/self/fd/1 --json", append(features, "--out", "/proc/self/fd/1", "--json"), true, false, `"features":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCohort(t, tt.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			isCSV := strings.HasPrefix(stdout, "customer_id,")
			isJSON := strings.HasPrefix(stdout, "{") && json.Valid([]byte(stdout))
			if isCSV != tt.stdoutCSV || isJSON != tt.stdoutJSON || (!isCSV && !isJSON && stdout != "") {
				t.Errorf("stdout %q: CSV %v, JSON %v; want %v, %v", stdout, isCSV, isJSON, tt.stdoutCSV, tt.stdoutJSON)
			}
			if isCSV && (strings.Contains(stdout, "wrote") || strings.Contains(stdout, "{")) {
				t.Errorf("a summary in the data on stdout:\n%s", stdout)
			}
			if tt.stderr == "" && stderr != "" || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q, want %q", stderr, tt.stderr)
			}
		})
	}
}

// TestOutSameFileAsStdout is `cohort gen --json --out f.csv > f.csv`: the
// CSV goes to the stream stdout is, and the JSON summary to stderr, so
// the file holds the data alone.
func TestOutSameFileAsStdout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := newRootCmd()
	var stderr bytes.Buffer
	root.SetOut(f)
	root.SetErr(&stderr)
	root.SetArgs([]string{"gen", "--customers", "5", "--json", "--out", path})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "customer_id,date,amount\n") || strings.Contains(string(got), "{") {
		t.Errorf("the file holds %q, want the CSV alone", got)
	}
	if !json.Valid(stderr.Bytes()) {
		t.Errorf("stderr %q, want the JSON summary", stderr.String())
	}
}

// TestPrintResultWriteError ensures a train result that cannot be
// written (stdout on a full disk) is an error, not exit 0.
func TestPrintResultWriteError(t *testing.T) {
	full := writerFunc(func([]byte) (int, error) { return 0, syscall.ENOSPC })
	if err := printResult(full, &job.Result{}); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("printResult to a full stdout: %v, want ENOSPC", err)
	}
	if err := printEval(&errWriter{w: full}, &job.Evaluation{}, false); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("printEval to a full stdout: %v, want ENOSPC", err)
	}
	var b bytes.Buffer
	if err := printResult(&b, &job.Result{}); err != nil || !strings.Contains(b.String(), "holdout metrics") {
		t.Errorf("printResult: %v\n%s", err, b.String())
	}
}

// TestFeaturesFileNotReplacedWhenStopped ensures a Ctrl-C or SIGTERM that
// arrives after the log was read leaves the old --out file as it was and
// ends the command as interrupted (exit 130/143), not with a new file and
// exit 0.
func TestFeaturesFileNotReplacedWhenStopped(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(data, []byte(strings.Replace(featuresLog, "2020-0x-01", "2020-03-01", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := clv.Load(context.Background(), data, clv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"f.csv", "f.parquet"} {
		out := filepath.Join(dir, name)
		if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := writeFeaturesFile(ctx, out, ds, false)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want a cancellation", name, err)
		}
		if msg, code := exitMessage(err, nil); code != 130 || msg != "cohort: interrupted" {
			t.Errorf("%s: exit %d %q", name, code, msg)
		}
		if b, _ := os.ReadFile(out); string(b) != "old" {
			t.Errorf("%s was replaced after the stop", name)
		}
	}
}

// TestResumeFlag ensures --resume reads as a switch, as auto, or as a
// boolean, and refuses anything else naming the values it takes.
func TestResumeFlag(t *testing.T) {
	tests := []struct {
		args    []string
		want    resumeMode
		wantErr string
	}{
		{nil, resumeOff, ""},
		{[]string{"--resume"}, resumeOn, ""},
		{[]string{"--resume=auto"}, resumeAuto, ""},
		{[]string{"--resume", "auto"}, resumeAuto, ""},
		{[]string{"--resume=AUTO"}, resumeAuto, ""},
		{[]string{"--resume=false"}, resumeOff, ""},
		{[]string{"--resume=true"}, resumeOn, ""},
		{[]string{"--resume=later"}, resumeOff, "want auto, true or false"},
		{[]string{"--resume", "later"}, resumeOff, `unknown command "later"`},
		{[]string{"auto"}, resumeOff, `unknown command "auto"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := newTrainCmd()
			if err := cmd.ParseFlags(tt.args); err != nil {
				if tt.wantErr == "" || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: %v, want %q", err, tt.wantErr)
				}
				return
			}
			err := cmd.ValidateArgs(cmd.Flags().Args())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("args: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cmd.Flags().Lookup("resume").Value.String(); got != (&tt.want).String() {
				t.Errorf("--resume is %s, want %s", got, (&tt.want).String())
			}
		})
	}
}

// TestHelpTexts ensures the help says what the audit found missing: the
// exit statuses (root), MAE among train's metrics, --resume=auto and what
// --overwrite replaces, eval's optional flags and its importance default.
func TestHelpTexts(t *testing.T) {
	root := newRootCmd()
	help := func(name string) string {
		t.Helper()
		cmd := root
		if name != "" {
			var err error
			if cmd, _, err = root.Find([]string{name}); err != nil {
				t.Fatal(err)
			}
		}
		var b bytes.Buffer
		cmd.SetOut(&b)
		if err := cmd.Help(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	tests := []struct {
		cmd  string
		want []string
	}{
		{"", []string{"Exit status:", "  0        success", "  1        any error", "  2, 3, 4  watch, submit --wait",
			"  130, 143 interrupted by SIGINT (Ctrl-C) or SIGTERM", "  141      stdout closed early (SIGPIPE"}},
		{"train", []string{"AUC, RMSE, MAE, spend ratio", "--resume=auto", "replace what --out holds", "DIR/.etcd"}},
		{"eval", []string{"eval --model DIR/model --data FILE [--calibration-end DATE] [--horizon H] --out DIR",
			"(default 0: off", "--overwrite"}},
		{"predict", []string{"The summary goes to stderr", "no progress and no summary on stderr"}},
		{"features", []string{"on stderr when --out is stdout", "no progress and no summary on stderr"}},
		{"gen", []string{"on stderr when --out is stdout", "no progress and no summary on stderr"}},
	}
	for _, tt := range tests {
		h := help(tt.cmd)
		for _, w := range tt.want {
			if !strings.Contains(h, w) {
				t.Errorf("cohort %s --help lacks %q", tt.cmd, w)
			}
		}
	}
}
