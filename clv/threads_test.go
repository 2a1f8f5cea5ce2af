package clv

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestThreadsSameResult ensures the number of parsing and feature goroutines
// changes nothing but speed: a log several read buffers long (so batches are
// parsed out of order) loads to the same customers with 1 to 8 threads.
func TestThreadsSameResult(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	start := mustDate("2020-01-01")
	var b strings.Builder
	b.WriteString("customer_id,date,amount\n")
	for b.Len() < 3*readBufSize {
		day := start.Add(time.Duration(rng.IntN(120)) * 24 * time.Hour)
		// Amounts in quarters: sums are exact in any order.
		fmt.Fprintf(&b, "c%d,%s,%g\n", rng.IntN(20000), day.Format("2006-01-02"), float64(rng.IntN(400))/4)
	}
	log := b.String()
	opts := windowOpts
	opts.Horizon = Horizon{Days: 29}
	opts.CalibrationEnd = mustDate("2020-04-01")
	ref, err := loadString(log, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2, 3, 8, 64} {
		t.Run(fmt.Sprint(threads, "threads"), func(t *testing.T) {
			o := opts
			o.Threads = threads
			ds, err := loadString(log, o)
			if err != nil {
				t.Fatal(err)
			}
			sameCustomers(t, ref, ds)
		})
	}
}

// TestWorkers ensures Threads bounds the goroutines, 0 means GOMAXPROCS, and
// no more than 8 are started.
func TestWorkers(t *testing.T) {
	all := min(runtime.GOMAXPROCS(0), 8)
	for _, tc := range []struct{ threads, want int }{{1, 1}, {3, 3}, {8, 8}, {64, 8}, {0, all}, {-2, all}} {
		o := Options{Threads: tc.threads}
		if got := o.workers(); got != tc.want {
			t.Errorf("Threads %d: %d workers, want %d", tc.threads, got, tc.want)
		}
	}
}
