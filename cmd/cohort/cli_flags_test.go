package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestNumericFlagRanges ensures a numeric flag given a value outside its
// range fails at once, naming the flag and the range, instead of the value
// silently meaning the default (--epochs 0 trained 100 epochs, --periods 0
// built 8 periods), and that a refused train leaves no run directory.
func TestNumericFlagRanges(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	train := []string{"train", "-q", "--data", data, "--horizon", "39w"}
	tests := []struct {
		args []string // --out DIR is added to train's
		want string
	}{
		{append(train, "--epochs", "0"), "--epochs must be >= 1, got 0"},
		{append(train, "--batch", "0"), "--batch must be >= 1, got 0"},
		{append(train, "--ensemble", "0"), "--ensemble must be 1..32, got 0"},
		{append(train, "--ensemble", "33"), "--ensemble must be 1..32, got 33"},
		{append(train, "--lr", "0"), "--lr must be a finite number > 0, got 0"},
		{append(train, "--lr", "-0.1"), "--lr must be a finite number > 0, got -0.1"},
		{append(train, "--lr", "NaN"), "--lr must be a finite number > 0, got NaN"},
		{append(train, "--weight-decay", "-1"), "--weight-decay must be a finite number >= 0, got -1"},
		{append(train, "--patience", "0"), "--patience must be >= 1, or -1 for no early stopping, got 0"},
		{append(train, "--hidden", "16,0"), "--hidden 16,0: hidden[1] must be >= 1, got 0"},
		{append(train, "--threads", "-1"), "--threads must be >= 0 (0: all cores), got -1"},
		{append(train, "--importance-repeats", "-1"), "--importance-repeats must be >= 0 (0: off), got -1"},
		{append(train, "--checkpoint-every", "-1"), "--checkpoint-every must be >= 0 (0: no checkpoints), got -1"},
		{append(train, "--periods", "0"), "--periods must be 1..520, or -1 for no recent-period features, got 0"},
		{append(train, "--periods", "521"), "--periods must be 1..520, or -1 for no recent-period features, got 521"},
		{append(train, "--period-days", "0"), "--period-days must be >= 1, got 0"},
		{append(train, "--period-days", "-7"), "--period-days must be >= 1, got -7"},
		{[]string{"features", "--data", data, "--periods", "0"}, "--periods must be 1..520"},
		{[]string{"features", "--data", data, "--period-days", "0"}, "--period-days must be >= 1, got 0"},
		{[]string{"features", "--data", data, "--threads", "-1"}, "--threads must be >= 0 (0: all cores), got -1"},
		{[]string{"predict", "--model", dir, "--data", data, "--threads", "-1"}, "--threads must be >= 0"},
		{[]string{"eval", "--model", dir, "--data", data, "--horizon", "39w", "--importance-repeats", "-2"},
			"--importance-repeats must be >= 0 (0: off), got -2"},
		{[]string{"demo", "-q", "--threads", "-1"}, "--threads must be >= 0"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[len(tt.args)-2:], " ")+" "+tt.args[0], func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if tt.args[0] == "features" || tt.args[0] == "predict" {
				out += ".csv"
			}
			stdout, _, err := runCohort(t, append(tt.args, "--out", out)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q after an error", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused run created %s (%v)", out, err)
			}
		})
	}
}

// TestTrainClusterFlagsNeedWorkers ensures train refuses the cluster flags,
// which only the distributed path reads, without --workers, and a lease TTL
// etcd would round to whole seconds with it.
func TestTrainClusterFlagsNeedWorkers(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--etcd", "127.0.0.1:1"}, "--etcd applies only with --workers N"},
		{[]string{"--min-workers", "2"}, "--min-workers applies only with --workers N"},
		{[]string{"--lease-ttl", "1500ms"}, "--lease-ttl applies only with --workers N"},
		{[]string{"--etcd-user", "root"}, "--etcd-user applies only with --workers N"},
		{[]string{"--workers", "0", "--lease-ttl", "3s"}, "--lease-ttl applies only with --workers N"},
		{[]string{"--workers", "2", "--lease-ttl", "1500ms"}, "--lease-ttl 1.5s: want whole seconds, at least 1s"},
		{[]string{"--workers", "2", "--lease-ttl", "0s"}, "--lease-ttl 0s: want whole seconds, at least 1s"},
		{[]string{"--workers", "-1"}, "--workers -1: want 1..1024"},
		{[]string{"--workers", "2", "--min-workers", "3"}, "--min-workers 3: want 1..2 (--workers)"},
		{[]string{"--workers", "2", "--min-workers", "0"}, "--min-workers 0: want 1..2 (--workers)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			_, _, err := runCohort(t, append(trainArgs(data, out, "-q"), tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused run created %s (%v)", out, err)
			}
		})
	}
}

// TestTrainFailureRemovesEmptyOut ensures a train that fails after creating
// its run directory (a missing log, an unknown column) removes the
// directories it created, and only those: one that existed stays.
func TestTrainFailureRemovesEmptyOut(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	existing := filepath.Join(dir, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		out, keep string // keep: what must still exist afterwards ("" for nothing)
		args      []string
		want      string
	}{
		{"missing log", filepath.Join(dir, "a", "b", "run"), "", []string{"--data", filepath.Join(dir, "nope.csv")}, "no such file"},
		{"unknown column", filepath.Join(dir, "c"), "", []string{"--data", data, "--customer", "client"}, `customer column "client"`},
		{"existing out", existing, existing, []string{"--data", filepath.Join(dir, "nope.csv")}, "no such file"},
		{"existing parent", filepath.Join(existing, "run"), existing, []string{"--data", filepath.Join(dir, "nope.csv")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"train", "-q", "--horizon", "39w", "--out", tt.out}, tt.args...)
			_, _, err := runCohort(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if tt.keep == "" {
				if _, err := os.Stat(filepath.Join(dir, strings.Split(strings.TrimPrefix(tt.out, dir+"/"), "/")[0])); !os.IsNotExist(err) {
					t.Errorf("the failed run left the directory it created (%v)", err)
				}
				return
			}
			if _, err := os.Stat(tt.keep); err != nil {
				t.Errorf("the failed run removed %s, which it did not create: %v", tt.keep, err)
			}
			if tt.out != tt.keep {
				if _, err := os.Stat(tt.out); !os.IsNotExist(err) {
					t.Errorf("the failed run left %s (%v)", tt.out, err)
				}
			}
		})
	}
}

// TestMakeDirs ensures undo removes exactly the directories makeDirs
// created, deepest first, and stops at one that is no longer empty.
func TestMakeDirs(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "x", "y", "z")
	undo, err := makeDirs(deep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x", "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	undo()
	if _, err := os.Stat(filepath.Join(dir, "x", "y")); !os.IsNotExist(err) {
		t.Errorf("x/y survived undo (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x", "keep")); err != nil {
		t.Errorf("undo removed a directory that holds a file: %v", err)
	}
	if _, err := makeDirs(filepath.Join(dir, "x", "keep", "sub")); err == nil || !strings.HasPrefix(err.Error(), "--out: create directory: ") {
		t.Errorf("a directory under a file: %v", err)
	}
}

// TestTrainInterruptedHint ensures a training cut short after it wrote a
// checkpoint says that --resume continues from it, and main prints that
// after "interrupted" with exit code 130.
func TestTrainInterruptedHint(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	out := filepath.Join(dir, "run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	root.SetOut(new(strings.Builder))
	// Cancel as the first epoch is reported: a checkpoint (every step) is
	// on disk by then.
	root.SetErr(writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "epoch ") {
			cancel()
		}
		return len(p), nil
	}))
	root.SetArgs(append(trainArgs(data, out, "--threads", "1", "--checkpoint-every", "1", "--patience", "-1"), "--epochs", "50"))
	err := root.ExecuteContext(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want a cancellation", err)
	}
	msg, code := exitMessage(err, nil)
	if code != 130 || !strings.HasPrefix(msg, "cohort: interrupted; the same command with --resume continues from the checkpoint at epoch ") ||
		!strings.Contains(msg, filepath.Join(out, "checkpoints")) {
		t.Errorf("exit %d %q, want 130 and the --resume hint naming the checkpoint", code, msg)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the interrupted run removed its run directory with the checkpoints: %v", err)
	}

	// Without a checkpoint there is nothing to resume: no hint.
	if err := resumeHint(fmt.Errorf("job: %w", context.Canceled), t.TempDir(), "the same command with --resume"); err.Error() != "job: context canceled" {
		t.Errorf("no checkpoint: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestExitMessage ensures main's message and exit code: 1 and the error,
// or "interrupted" with any hint and 128 + the signal's number (130 when
// the signal is unknown).
func TestExitMessage(t *testing.T) {
	cancelled := fmt.Errorf("job: %w", context.Canceled)
	tests := []struct {
		err, cause error
		msg        string
		code       int
	}{
		{errors.New("--data is required"), nil, "cohort: --data is required", 1},
		{cancelled, nil, "cohort: interrupted", 130},
		{cancelled, signalError{syscall.SIGINT}, "cohort: interrupted", 130},
		{cancelled, signalError{syscall.SIGTERM}, "cohort: interrupted", 143},
		{&hintError{err: cancelled, hint: "use --resume"}, signalError{syscall.SIGTERM}, "cohort: interrupted; use --resume", 143},
		{&hintError{err: errors.New("boom"), hint: "try again"}, nil, "cohort: boom; try again", 1},
	}
	for _, tt := range tests {
		msg, code := exitMessage(tt.err, tt.cause)
		if msg != tt.msg || code != tt.code {
			t.Errorf("exitMessage(%v) = %q, %d; want %q, %d", tt.err, msg, code, tt.msg, tt.code)
		}
	}
}

// TestSelftestDefaultDevice ensures selftest's default device is one this
// build can drive: a build without CUDA checks the CPU with no flags.
func TestSelftestDefaultDevice(t *testing.T) {
	want := "cpu"
	if cudaBuilt {
		want = "cuda:0"
	}
	if got := newSelftestCmd().Flags().Lookup("device").DefValue; got != want {
		t.Errorf("--device defaults to %q, want %q", got, want)
	}
	if cudaBuilt {
		return
	}
	stdout, _, err := runCohort(t, "selftest", "--json", "--seed", "7")
	if err != nil {
		t.Fatalf("selftest with its defaults: %v", err)
	}
	var rep selftestReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || !rep.OK || rep.Device != "cpu" {
		t.Errorf("report %+v (%v), want an ok cpu run", rep, err)
	}
}

// TestVersionOutputs ensures cohort --version prints the line cohort
// version does, and version --json the same facts as JSON.
func TestVersionOutputs(t *testing.T) {
	line, _, err := runCohort(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "cohort ") || !strings.HasSuffix(line, fmt.Sprintf(" %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)) {
		t.Errorf("version: %q", line)
	}
	for _, args := range [][]string{{"--version"}, {"-v"}} {
		if got, _, err := runCohort(t, args...); err != nil || got != line {
			t.Errorf("%v: %q, %v; want %q", args, got, err, line)
		}
	}
	out, _, err := runCohort(t, "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("version --json %q: %v", out, err)
	}
	if b.String()+"\n" != line || b.CUDA != cudaBuilt {
		t.Errorf("version --json %+v, version %q", b, line)
	}
}

// TestQuietFlag ensures every command that prints progress on stderr has
// -q/--quiet, and that with data on stdout (--out -) -q leaves stderr empty.
func TestQuietFlag(t *testing.T) {
	root := newRootCmd()
	for _, name := range []string{"train", "demo", "sweep", "eval", "predict", "gen", "features"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("no %s command: %v", name, err)
		}
		if f := cmd.Flags().ShorthandLookup("q"); f == nil || f.Name != "quiet" {
			t.Errorf("%s has no -q/--quiet", name)
		}
	}
	data := filepath.Join(t.TempDir(), "log.csv")
	if err := os.WriteFile(data, []byte(strings.Replace(featuresLog, "2020-0x-01", "2020-03-01", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"gen", "--customers", "3", "--out", "-", "-q"},
		{"features", "--data", data, "--out", "-", "-q"},
	} {
		stdout, stderr, err := runCohort(t, args...)
		if err != nil || stdout == "" || stderr != "" {
			t.Errorf("%v: stdout %d bytes, stderr %q, %v; want data on stdout only", args, len(stdout), stderr, err)
		}
	}
}

// TestOutFileChecks ensures gen and features refuse an --out that is a
// directory with a message that names a file to use instead, and create
// the missing directories above an --out file, as train does.
func TestOutFileChecks(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(data, []byte(strings.Replace(featuresLog, "2020-0x-01", "2020-03-01", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		out  string
		want string // error; "" for success
	}{
		{[]string{"gen", "--customers", "3"}, dir, "--out " + dir + " is a directory: name a file, e.g. " + filepath.Join(dir, "shop.csv.gz")},
		{[]string{"features", "--data", data}, dir, "--out " + dir + " is a directory: name a file, e.g. " + filepath.Join(dir, "features.csv")},
		{[]string{"gen", "--customers", "3"}, filepath.Join(dir, "g", "h", "shop.csv"), ""},
		{[]string{"features", "--data", data}, filepath.Join(dir, "f", "features.csv"), ""},
		{[]string{"gen", "--customers", "3"}, filepath.Join(data, "shop.csv"), "--out: create directory: "},
	}
	for _, tt := range tests {
		_, _, err := runCohort(t, append(tt.args, "--out", tt.out)...)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%v --out %s: %v", tt.args, tt.out, err)
			} else if _, err := os.Stat(tt.out); err != nil {
				t.Errorf("%v --out %s: %v", tt.args, tt.out, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v --out %s: %v, want an error containing %q", tt.args, tt.out, err, tt.want)
		}
	}
}

// TestDataFlagHelp ensures each command's help says what --calibration-end
// and --horizon do there, and hides what predict cannot use.
func TestDataFlagHelp(t *testing.T) {
	root := newRootCmd()
	tests := []struct {
		cmd, flag string
		want      string // in the usage; "" for a hidden flag
	}{
		{"train", "horizon", "the model learns to predict"},
		{"train", "calibration-end", "(default: the last date in the data minus --horizon)"},
		{"features", "horizon", "(default: none; features only)"},
		{"features", "calibration-end", "minus --horizon when there is one"},
		{"eval", "horizon", "compared with the predictions"},
		{"eval", "calibration-end", "(default: the last date in the data minus --horizon)"},
		{"predict", "calibration-end", "(default: the last date in the data)"},
		{"predict", "horizon", ""},
		{"predict", "periods", ""},
		{"predict", "period-days", ""},
		{"eval", "periods", ""},
		{"eval", "period-days", ""},
		{"train", "periods", "1..520, or -1 for none"},
		{"train", "etcd", "with --workers: "},
		{"train", "lease-ttl", "with --workers: "},
	}
	for _, tt := range tests {
		cmd, _, err := root.Find([]string{tt.cmd})
		if err != nil {
			t.Fatal(err)
		}
		f := cmd.Flags().Lookup(tt.flag)
		switch {
		case f == nil:
			t.Errorf("%s --%s: not registered", tt.cmd, tt.flag)
		case tt.want == "" && !f.Hidden:
			t.Errorf("%s --%s is shown in the help, but the command cannot use it", tt.cmd, tt.flag)
		case tt.want != "" && (f.Hidden || !strings.Contains(f.Usage, tt.want)):
			t.Errorf("%s --%s: usage %q (hidden %v), want it to say %q", tt.cmd, tt.flag, f.Usage, f.Hidden, tt.want)
		}
	}
	if u := newTrainCmd().Flags().Lookup("horizon").Usage; strings.Contains(u, "default: none") {
		t.Errorf("train --horizon says %q, but train requires it", u)
	}
}
