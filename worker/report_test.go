package worker

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestEpochReporterNeverBlocks ensures rank 0's epoch reports cannot stall
// training (audit 7 ops #4): with a coordinator that never answers, put
// returns at once, each send ends at its deadline, newer reports replace
// unsent ones, and close returns within about two deadlines.
func TestEpochReporterNeverBlocks(t *testing.T) {
	var mu sync.Mutex
	var sent []uint32
	e := newEpochReporter(context.Background(), reporter{}, 100*time.Millisecond, slog.New(slog.DiscardHandler))
	e.send = func(ctx context.Context, req *cohortv1.ReportRequest) error {
		mu.Lock()
		sent = append(sent, req.GetEpoch().GetEpoch())
		mu.Unlock()
		<-ctx.Done() // a coordinator that never answers
		return ctx.Err()
	}
	start := time.Now()
	for ep := uint32(1); ep <= 50; ep++ {
		e.put(&cohortv1.ReportRequest{Report: &cohortv1.ReportRequest_Epoch{Epoch: &cohortv1.EpochStats{Epoch: ep}}})
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("50 puts took %v: training waited on the coordinator", d)
	}
	e.close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("close took %v, want about two report deadlines", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) == 0 || len(sent) > 2 || sent[len(sent)-1] != 50 {
		t.Errorf("sent epochs %v, want the first taken and the newest (50)", sent)
	}
	e.close() // twice is fine
	(*epochReporter)(nil).close()
}

// TestReportTimeout: the deadline follows the lease TTL within [1 s, 5 s].
func TestReportTimeout(t *testing.T) {
	for _, tc := range []struct{ ttl, want time.Duration }{
		{0, time.Second}, {500 * time.Millisecond, time.Second}, {2 * time.Second, 2 * time.Second},
		{10 * time.Second, 5 * time.Second},
	} {
		if got := reportTimeout(tc.ttl); got != tc.want {
			t.Errorf("reportTimeout(%v) = %v, want %v", tc.ttl, got, tc.want)
		}
	}
}
