package gpustats

import (
	"strings"
	"testing"
)

// TestParseStat ensures /proc/stat's aggregate line becomes seconds by mode,
// per-CPU lines are counted, and malformed input names the line.
func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		cpus     int
		user     float64
		wantErr  string
	}{
		{"ok", fakeStat(250, 10, 900, 3), 3, 2.5, ""},
		{"old kernel, 8 columns", "cpu 100 0 0 0 0 0 0 0\ncpu0 1 0 0 0 0 0 0 0\n", 1, 1, ""},
		{"short", "cpu 1 2 3\n", 0, 0, "/proc/stat line 1: 3 cpu columns, want at least 8"},
		{"not a number", "cpu 1 2 x 4 5 6 7 8\n", 0, 0, "/proc/stat line 1: system:"},
		{"no cpu line", "intr 1\n", 0, 0, "no aggregate cpu line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secs, cpus, err := parseStat(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || cpus != tc.cpus || secs["user"] != tc.user || len(secs) != len(cpuModes) {
				t.Fatalf("got %v %d %v", secs, cpus, err)
			}
		})
	}
}

// TestParseMeminfo ensures MemTotal and MemAvailable are read in bytes and
// malformed or missing lines are errors naming the line or field.
func TestParseMeminfo(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		total, avail uint64
		wantErr      string
	}{
		{"ok", fakeMeminfo, 16384000 * 1024, 4096000 * 1024, ""},
		{"no available", "MemTotal: 10 kB\n", 0, 0, "want MemTotal and MemAvailable"},
		{"bad unit", "MemTotal: 10 MB\nMemAvailable: 1 kB\n", 0, 0, "line 1: MemTotal: want \"<n> kB\""},
		{"bad number", "MemTotal: 10 kB\nMemAvailable: -1 kB\n", 0, 0, "line 2: MemAvailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total, avail, err := parseMeminfo(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || total != tc.total || avail != tc.avail {
				t.Fatalf("got %d %d %v", total, avail, err)
			}
		})
	}
}
