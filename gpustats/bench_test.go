//go:build unix

package gpustats

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// cpuTime is this process's user+system CPU time: unlike wall time it
// counts GC and syscalls, which is what "% of a core" is about.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU time per operation and, for one operation a
// second (the 1 Hz sampling rate), the share of one core it costs.
func reportCPU(b *testing.B, op func()) {
	op() // warm up: first /proc read, first allocation of the maps
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		op()
	}
	per := float64((cpuTime(b) - start).Nanoseconds()) / float64(b.N)
	b.ReportMetric(per, "cpu-ns/op")
	b.ReportMetric(per/1e9*100, "%core@1Hz")
}

// BenchmarkSampleFake8GPUs is the sampler's own cost over 8 fake GPUs
// (the driver's calls cost nothing), host stats off.
func BenchmarkSampleFake8GPUs(b *testing.B) {
	s := New(newFakeDriver(8), Config{ProcRoot: "-"})
	reportCPU(b, func() { _, _ = s.Sample(context.Background()) })
}

// BenchmarkSampleHost is the no-NVML path: /proc/stat and /proc/meminfo.
func BenchmarkSampleHost(b *testing.B) {
	s := New(nil, Config{})
	reportCPU(b, func() { _, _ = s.Sample(context.Background()) })
}

// BenchmarkSampleFake8GPUsAndHost is a GPU worker's full 1 Hz sample.
func BenchmarkSampleFake8GPUsAndHost(b *testing.B) {
	s := New(newFakeDriver(8), Config{})
	reportCPU(b, func() { _, _ = s.Sample(context.Background()) })
}

// BenchmarkScrape8GPUs is one /metrics scrape of 8 GPUs and the host,
// gathered and encoded as text (scrapes are usually every 15 s, not 1 s).
func BenchmarkScrape8GPUs(b *testing.B) {
	s := New(newFakeDriver(8), Config{})
	if _, err := s.Sample(context.Background()); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(s.Latest, CollectorOptions{Job: "j", Rank: "0"}))
	reportCPU(b, func() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
