package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// Bounds of rank 0's epoch reports.
const (
	minReportTimeout = time.Second
	maxReportTimeout = 5 * time.Second
)

// reportTimeout bounds one epoch report: the plan's timeout (the lease
// TTL), within [1 s, 5 s]. A coordinator that does not answer within its
// own TTL has lost its lease, and its successor plans a new generation
// anyway, which the report could not reach.
func reportTimeout(ttl time.Duration) time.Duration {
	return min(max(ttl, minReportTimeout), maxReportTimeout)
}

// epochReporter sends rank 0's epoch reports from a goroutine of its own,
// so that training never waits on the coordinator: a coordinator whose host
// is gone made every Report wait for gRPC's 20 s connect timeout while the
// whole ring waited on rank 0 (audit 7 ops #4). Each report has a deadline
// (reportTimeout); a report still unsent when the next epoch ends is
// replaced by the newer one and logged as dropped. A report that fails is
// logged and dropped: progress is advisory, and reports of a generation
// the coordinator has moved past would be refused as stale anyway.
type epochReporter struct {
	ctx     context.Context
	r       reporter
	timeout time.Duration
	log     *slog.Logger
	send    func(ctx context.Context, req *cohortv1.ReportRequest) error // r.send; tests replace it

	next      chan *cohortv1.ReportRequest // one slot: the newest unsent report
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newEpochReporter(ctx context.Context, r reporter, timeout time.Duration, log *slog.Logger) *epochReporter {
	e := &epochReporter{ctx: ctx, r: r, timeout: timeout, log: log, send: r.send,
		next: make(chan *cohortv1.ReportRequest, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go e.run()
	return e
}

// put queues req, replacing a report not sent yet. It never blocks.
func (e *epochReporter) put(req *cohortv1.ReportRequest) {
	for {
		select {
		case e.next <- req:
			return
		default:
		}
		select {
		case old := <-e.next:
			e.log.Warn("worker: epoch report dropped: the coordinator has not taken the one before",
				"epoch", old.GetEpoch().GetEpoch(), "newer", req.GetEpoch().GetEpoch())
		default:
		}
	}
}

func (e *epochReporter) run() {
	defer close(e.done)
	for {
		select {
		case req := <-e.next:
			e.deliver(req)
		case <-e.stop:
			select {
			case req := <-e.next:
				e.deliver(req)
			default:
			}
			return
		}
	}
}

func (e *epochReporter) deliver(req *cohortv1.ReportRequest) {
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	err := e.send(ctx, req)
	switch {
	case err == nil:
	case errors.Is(err, rpcerr.ErrStaleGeneration) || e.ctx.Err() != nil:
		e.log.Debug("worker: report epoch", "epoch", req.GetEpoch().GetEpoch(), "err", err)
	default:
		e.log.Warn("worker: report epoch; dropped, training goes on", "epoch", req.GetEpoch().GetEpoch(),
			"timeout", e.timeout.String(), "err", err)
	}
}

// close sends the report still queued, if any, and stops the goroutine.
// It returns within about two report timeouts. Safe to call more than
// once, and on nil.
func (e *epochReporter) close() {
	if e == nil {
		return
	}
	e.closeOnce.Do(func() { close(e.stop) })
	<-e.done
}

// stateLimit bounds the gob-encoded TrainState that agree broadcasts for a
// network of cfg's shape over features inputs: the parameters, best
// parameters and Adam's two moments, at most 9 bytes a value in gob, twice
// over, plus 64 MiB for the history and pipeline. A sum of the size slots
// above it is a peer's garbage, not a state, and agree refuses it before it
// allocates (audit 7 net #9).
func stateLimit(cfg model.Config, features int) (int, error) {
	layout, err := cfg.WithDefaults().Layout(features)
	if err != nil {
		return 0, fmt.Errorf("worker: the plan's network: %w", err)
	}
	const perParam = 2 * 4 * 9
	limit := uint64(64<<20) + perParam*uint64(layout.Size)
	return int(min(limit, math.MaxUint32)), nil
}
