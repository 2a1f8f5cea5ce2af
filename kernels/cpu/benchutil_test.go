package cpu

import (
	"testing"
	"time"
)

// flopMeter reports GFLOP/s of wall time and, where the OS tells CPU time,
// GFLOP per CPU-second: on a loaded machine the second is the steadier.
type flopMeter struct {
	cpu0 time.Duration
}

func startFlops(b *testing.B) flopMeter {
	b.Helper()
	return flopMeter{cpu0: processCPUTime()}
}

func (f flopMeter) report(b *testing.B, flopsPerOp float64) {
	b.Helper()
	total := flopsPerOp * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := processCPUTime() - f.cpu0; cpu > 0 {
		b.ReportMetric(total/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}
