//go:build unix

package cpu

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system time the process has used. On a shared
// machine it measures work done rather than time waited for a core, so
// benchmarks report flops per CPU-second beside flops per second.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
