package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSubmitResolvesRelativePaths ensures submit sends data_path, out_dir
// and checkpoint_dir absolute, relative ones resolved against the spec
// file's directory (not this process's, nor the coordinator's, working
// directory), and says so in its help.
func TestSubmitResolvesRelativePaths(t *testing.T) {
	for _, tc := range []struct {
		name, body            string
		data, out, checkpoint string // relative to the spec's directory unless absolute
	}{
		{"relative", "data_path: mydata.txt\nout_dir: relruns/out\ncheckpoint_dir: ../ck\nread: {horizon: 39w}\n",
			"mydata.txt", "relruns/out", "../ck"},
		{"absolute", "data_path: /data/x.csv\nout_dir: /runs/x\nread: {horizon: 39w}\n", "/data/x.csv", "/runs/x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeJobs{}
			addr := serveJobs(t, f)
			spec := writeJobYAML(t, tc.body)
			if _, stderr, err := runCohort(t, "submit", spec, "--coordinator", addr); err != nil {
				t.Fatalf("submit: %v (stderr %s)", err, stderr)
			}
			if n := f.count(func() int { return len(f.submits) }); n != 1 {
				t.Fatalf("%d Submit calls, want 1", n)
			}
			abs := func(p string) string {
				if p == "" || filepath.IsAbs(p) {
					return p
				}
				return filepath.Join(filepath.Dir(spec), p)
			}
			got := f.submits[0].GetSpec()
			if got.GetDataPath() != abs(tc.data) || got.GetOutDir() != abs(tc.out) || got.GetCheckpointDir() != abs(tc.checkpoint) {
				t.Errorf("sent %q %q %q, want %q %q %q", got.GetDataPath(), got.GetOutDir(), got.GetCheckpointDir(),
					abs(tc.data), abs(tc.out), abs(tc.checkpoint))
			}
		})
	}
	help, _, err := runCohort(t, "submit", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"relative to the spec file's", "overwrite"} {
		if !strings.Contains(help, w) {
			t.Errorf("submit --help lacks %q", w)
		}
	}
	if strings.Contains(help, "dataset:") {
		t.Error("submit --help still advertises dataset:, which coordinators refuse")
	}
}
