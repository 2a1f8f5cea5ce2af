package clusterview

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

func sampleSnapshot() *Snapshot {
	return &Snapshot{Time: snapTime, Workers: []Worker{
		training(gpuWorker("w-gpu", 20, 90), "job-a", 0, 0.1),
		training(cpuWorker("w-cpu", 0.5), "job-a", 1, 0.1),
		training(cpuWorker("w-slow", 0.9), "job-a", 2, 0.4),
	}, Jobs: []*cohortv1.Job{{Id: "job-a", State: cohortv1.JobState_JOB_STATE_RUNNING, Epoch: 1,
		Spec: &cohortv1.JobSpec{Model: &cohortv1.ModelConfig{MaxEpochs: 4}}}}}
}

// TestRenderShowsEverySection ensures the view lists each worker, a row
// per GPU and per GPU-less host, the job with its progress, and flags the
// straggler only.
func TestRenderShowsEverySection(t *testing.T) {
	out := Render(sampleSnapshot(), Options{})
	for _, want := range []string{"w-gpu", "w-cpu", "w-slow", "GPU 0", "GPU 1", "8 cpus", "job-a", "RUNNING", "1/4", " 25%",
		"STRAGGLER 4.0x median"} {
		if !strings.Contains(out, want) {
			t.Errorf("view lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "STRAGGLER"); n != 1 {
		t.Errorf("%d stragglers flagged, want 1:\n%s", n, out)
	}
}

// TestRenderSortAndFilter ensures sorting by utilisation puts the busiest
// GPU first and a filter hides the rows that do not match.
func TestRenderSortAndFilter(t *testing.T) {
	out := Render(sampleSnapshot(), Options{Sort: SortUtil})
	if i0, i1 := strings.Index(out, "GPU 0"), strings.Index(out, "GPU 1"); i1 < 0 || i0 < i1 {
		t.Errorf("sort util: GPU 1 (90%%) should come before GPU 0 (20%%):\n%s", out)
	}
	out = Render(sampleSnapshot(), Options{Filter: "CPU"})
	if strings.Contains(out, "w-gpu") || strings.Contains(out, "w-slow") || !strings.Contains(out, "w-cpu") {
		t.Errorf("filter %q:\n%s", "CPU", out)
	}
}

// TestRenderWidth ensures no line is longer than the terminal.
func TestRenderWidth(t *testing.T) {
	for _, l := range strings.Split(Render(sampleSnapshot(), Options{Width: 40}), "\n") {
		if n := utf8.RuneCountInString(l); n > 40 {
			t.Errorf("line of %d runes: %q", n, l)
		}
	}
}

// TestBar ensures bars are proportional and clamped.
func TestBar(t *testing.T) {
	for _, tt := range []struct {
		frac float64
		full int
	}{{0, 0}, {0.5, 5}, {1, 10}, {-1, 0}, {3, 10}} {
		b := Bar(tt.frac, 10)
		if got := strings.Count(b, "█"); got != tt.full || utf8.RuneCountInString(b) != 10 {
			t.Errorf("Bar(%v) = %q: %d full of %d, want %d of 10", tt.frac, b, got, utf8.RuneCountInString(b), tt.full)
		}
	}
}

// TestWriteGPUTable ensures the cluster table has a row per GPU with its
// worker and one per machine without GPUs saying why.
func TestWriteGPUTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteGPUTable(&buf, ClusterOf(sampleSnapshot())); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1+2+2 {
		t.Fatalf("%d lines, want header + 2 GPUs + 2 hosts:\n%s", len(lines), buf.String())
	}
	if !strings.HasPrefix(lines[2], "w-gpu") || !strings.Contains(lines[2], "90%") || !strings.Contains(lines[2], "630.0 W") {
		t.Errorf("GPU row %q", lines[2])
	}
	if !strings.Contains(lines[3], "NVML not available") {
		t.Errorf("host row %q", lines[3])
	}
}

// TestParseSortKey ensures every key round-trips and others are refused.
func TestParseSortKey(t *testing.T) {
	for k := SortName; k < sortKeys; k++ {
		if got, err := ParseSortKey(k.String()); err != nil || got != k {
			t.Errorf("ParseSortKey(%q) = %v, %v", k, got, err)
		}
	}
	if _, err := ParseSortKey("speed"); err == nil || !strings.Contains(err.Error(), "name, util") {
		t.Errorf("bad key: %v", err)
	}
}

// TestStepTime ensures compute times per step read at every scale, where
// "%.3fs" printed a small model's steps as 0.000s.
func TestStepTime(t *testing.T) {
	for _, tc := range []struct {
		sec  float64
		want string
	}{
		{0.000640, "640µs"},
		{0.0000004, "0s"},
		{0.0123456, "12.35ms"},
		{0.25, "250ms"},
		{2.5, "2.5s"},
		{61.2345, "1m1.235s"},
	} {
		if got := stepTime(tc.sec); got != tc.want {
			t.Errorf("stepTime(%v) = %q, want %q", tc.sec, got, tc.want)
		}
	}
	busy := 0.953
	if got := cpuPercent(&busy); got != "cpu 95%" {
		t.Errorf("cpuPercent(0.953) = %q, want cpu 95%%", got)
	}
	if got := cpuPercent(nil); got != "-" {
		t.Errorf("cpuPercent(nil) = %q, want -", got)
	}
}
