//go:build !unix

package cpu

import "time"

// processCPUTime is unknown here; benchmarks then omit the per-CPU metric.
func processCPUTime() time.Duration { return 0 }
