package worker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/internal/etcdtest"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// planEvent is the watch event of job's plan of generation gen naming
// workers, written at revision rev.
func planEvent(t *testing.T, job string, gen uint64, rev int64, workers ...string) *clientv3.Event {
	t.Helper()
	p := &cohortv1.GenerationPlan{JobId: job, Generation: gen}
	for _, w := range workers {
		p.Workers = append(p.Workers, &cohortv1.PlanWorker{Name: w})
	}
	raw, err := protojson.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return &clientv3.Event{Type: mvccpb.PUT,
		Kv: &mvccpb.KeyValue{Key: []byte(membership.GenerationKey(job, gen)), Value: raw, ModRevision: rev}}
}

func testWorker(t *testing.T, name string) *worker {
	return &worker{cfg: Config{Name: name}, log: slog.New(slog.NewTextHandler(t.Output(), nil))}
}

// TestPlanHandler ensures the watch handler keeps only the newest plan
// that names the worker, with its rank and revision, and skips everything
// else under the jobs prefix.
func TestPlanHandler(t *testing.T) {
	deleted := planEvent(t, "j", 1, 5, "me")
	deleted.Type = mvccpb.DELETE
	record := planEvent(t, "j", 1, 5, "me")
	record.Kv.Key = []byte(membership.JobKey("j"))
	garbled := planEvent(t, "j", 1, 5, "me")
	garbled.Kv.Value = []byte("{not json")
	for _, tc := range []struct {
		name   string
		events []*clientv3.Event
		want   *assignment // job, generation, rank, rev; nil: nothing to train
	}{
		{"names the worker", []*clientv3.Event{planEvent(t, "j", 1, 5, "a", "me")},
			&assignment{plan: &cohortv1.GenerationPlan{JobId: "j", Generation: 1}, rank: 1, rev: 5}},
		{"names others", []*clientv3.Event{planEvent(t, "j", 1, 5, "a", "b")}, nil},
		{"deleted plan", []*clientv3.Event{deleted}, nil},
		{"job record", []*clientv3.Event{record}, nil},
		{"unreadable", []*clientv3.Event{garbled}, nil},
		{"newer replaces unread", []*clientv3.Event{planEvent(t, "j", 2, 7, "me", "a"), planEvent(t, "j", 3, 9, "a", "me")},
			&assignment{plan: &cohortv1.GenerationPlan{JobId: "j", Generation: 3}, rank: 1, rev: 9}},
		{"newer without the worker keeps the unread", []*clientv3.Event{planEvent(t, "j", 2, 7, "me"), planEvent(t, "j", 3, 9, "a")},
			&assignment{plan: &cohortv1.GenerationPlan{JobId: "j", Generation: 2}, rank: 0, rev: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plans := newLatestPlan()
			handle := testWorker(t, "me").planHandler(plans)
			for _, ev := range tc.events {
				if err := handle(ev); err != nil {
					t.Fatalf("handler: %v", err)
				}
			}
			select {
			case got := <-plans:
				if tc.want == nil {
					t.Fatalf("queued job %s generation %d, want nothing", got.plan.GetJobId(), got.plan.GetGeneration())
				}
				if got.plan.GetJobId() != tc.want.plan.GetJobId() || got.plan.GetGeneration() != tc.want.plan.GetGeneration() ||
					got.rank != tc.want.rank || got.rev != tc.want.rev {
					t.Errorf("queued job %s generation %d rank %d rev %d; want %s, %d, %d, %d",
						got.plan.GetJobId(), got.plan.GetGeneration(), got.rank, got.rev,
						tc.want.plan.GetJobId(), tc.want.plan.GetGeneration(), tc.want.rank, tc.want.rev)
				}
			default:
				if tc.want != nil {
					t.Fatalf("nothing queued, want generation %d", tc.want.plan.GetGeneration())
				}
			}
		})
	}
}

// fakeTrainer stands in for worker.generation: it says which plan it
// started and trains until released, ctx ends or the lease is lost.
type fakeTrainer struct {
	started chan uint64 // generations, as they start
	release chan struct{}
	lost    <-chan struct{}
}

func (f *fakeTrainer) train(ctx context.Context, plan *cohortv1.GenerationPlan, _ int, _ int64) {
	f.started <- plan.GetGeneration()
	select {
	case <-f.release:
	case <-ctx.Done():
	case <-f.lost:
	}
}

// within fails the test unless f returns within d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// TestPlanHandlerReturnsWhileTraining ensures the watch handler returns at
// once while a generation trains (it used to train inside the handler, so
// the watch went unread for hours), that the training loop then trains the
// newest plan that arrived meanwhile, not the ones it superseded, and that
// the loop stops, training nothing more, when its context ends or the
// lease is lost.
func TestPlanHandlerReturnsWhileTraining(t *testing.T) {
	for _, stop := range []string{"cancel", "lease lost"} {
		t.Run(stop, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			lost := make(chan struct{})
			f := &fakeTrainer{started: make(chan uint64, 8), release: make(chan struct{}), lost: lost}
			w := testWorker(t, "me")
			plans := newLatestPlan()
			handle := w.planHandler(plans)
			looped := make(chan struct{})
			go func() {
				defer close(looped)
				w.trainPlans(ctx, plans, lost, f.train)
			}()

			within(t, time.Second, "handler of generation 1", func() { _ = handle(planEvent(t, "j", 1, 5, "me")) })
			if g := <-f.started; g != 1 {
				t.Fatalf("trained generation %d first, want 1", g)
			}
			// Generation 1 trains (until released): the handler must not wait for it.
			for gen := uint64(2); gen <= 4; gen++ {
				within(t, time.Second, "handler while a generation trains", func() {
					_ = handle(planEvent(t, "j", gen, int64(5+gen), "me"))
				})
			}
			f.release <- struct{}{}
			if g := <-f.started; g != 4 {
				t.Fatalf("after generation 1, trained generation %d; want 4, the newest", g)
			}
			switch stop {
			case "cancel":
				cancel()
			case "lease lost":
				close(lost)
			}
			within(t, 5*time.Second, "training loop after "+stop, func() { <-looped })
			within(t, time.Second, "handler after the loop stopped", func() { _ = handle(planEvent(t, "j", 5, 10, "me")) })
			select {
			case g := <-f.started:
				t.Errorf("trained generation %d after %s", g, stop)
			default:
			}
		})
	}
}

// TestRegistrationRevision ensures reading the registration back returns
// its revision, wraps the read's error (a cancelled context stays
// context.Canceled), and says that the registration is gone when it is,
// rather than "<nil>".
func TestRegistrationRevision(t *testing.T) {
	_, cli := etcdtest.Start(t)
	put, err := cli.Put(t.Context(), membership.WorkerKey("here"), "{}")
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		worker  string
		rev     int64
		wantErr error
	}{
		{"registered", t.Context(), "here", put.Header.Revision, nil},
		{"gone", t.Context(), "gone", 0, membership.ErrNotRegistered},
		{"cancelled", cancelled, "here", 0, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev, err := registrationRevision(tc.ctx, cli, tc.worker)
			if rev != tc.rev || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("registrationRevision = %d, %v; want %d, %v", rev, err, tc.rev, tc.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), "<nil>") || !strings.Contains(err.Error(), "read registration back")) {
				t.Errorf("error %q: want the operation named and no <nil>", err)
			}
		})
	}
}
