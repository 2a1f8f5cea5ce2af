package cpu

import (
	"testing"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/kernelstest"
)

// TestConformance ensures the CPU backend honours the kernels.Backend
// contract at several thread counts.
func TestConformance(t *testing.T) {
	for _, threads := range []int{1, 2, 3} {
		t.Run(threadsName(threads), func(t *testing.T) {
			kernelstest.Conformance(t, func() kernels.Backend { return New(Options{Threads: threads}) })
		})
	}
}

func threadsName(n int) string { return "threads=" + string(rune('0'+n)) }
