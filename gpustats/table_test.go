package gpustats

import (
	"strings"
	"testing"
)

// TestWriteTable ensures the table shows each GPU's readings, "-" for
// unsupported ones, the unhealthy GPU's error, and the host lines; and that
// without NVML it prints the reason and the host.
func TestWriteTable(t *testing.T) {
	smp := exampleSample(t)
	var b strings.Builder
	if err := WriteTable(&b, smp); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want header, columns, 2 GPUs, cpu, memory:\n%s", len(lines), out)
	}
	for _, want := range []struct {
		line int
		text string
	}{
		{0, "host node-a  driver 570.86.15"},
		{1, "MEM-COPY"},
		{2, "GPU-00000000-aaaa-bbbb-cccc-dddddddddddd"},
		{2, "1000/81559 MiB"},
		{2, "101.5 W"},
		{2, "1979 MHz"},
		{2, "3 (1 cohort)"}, // pid 7 has no memory but is still listed
		{2, "ok (last XID 79)"},
		{3, "UNHEALTHY: gpustats: GPU 1: processes"},
		{4, "cpu     2 CPUs, 75.0% busy"},
		{5, "memory  11.7 GiB used of 15.6 GiB, 3.9 GiB available"},
	} {
		if !strings.Contains(lines[want.line], want.text) {
			t.Errorf("line %d = %q, want it to contain %q", want.line, lines[want.line], want.text)
		}
	}

	b.Reset()
	noNVML := &Sample{Hostname: "cpu-box", NVMLError: "gpustats: NVML not available: built without cgo", Host: smp.Host}
	if err := WriteTable(&b, noNVML); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasPrefix(got, "host cpu-box\ngpustats: NVML not available: built without cgo\ncpu     2 CPUs") {
		t.Errorf("without NVML:\n%s", got)
	}
}
