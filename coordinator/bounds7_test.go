package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-clv/cohort/clv"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestValidateJobSpecModelSize ensures a spec whose network (every field
// within its bound) is too big to train is refused before it is queued,
// naming the parameter count or memory estimate and the limit, with the
// ensemble and the most features its read options can give counted.
func TestValidateJobSpecModelSize(t *testing.T) {
	hidden := func(n int, w uint32) []uint32 {
		h := make([]uint32, n)
		fillAll(h, w)
		return h
	}
	tests := []struct {
		name   string
		change func(s *cohortv1.JobSpec)
		want   []string // nil: accepted
	}{
		{"default model", func(*cohortv1.JobSpec) {}, nil},
		{"default at batch 2^20", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Batch: 1 << 20} }, nil},
		{"audit: hidden 2x65536", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Hidden: hidden(2, 65536)} },
			[]string{"spec.model: hidden [65536 65536] on 34 input features has 4297523203 parameters", "limit of 50000000"}},
		{"audit: hidden 16x65536, ensemble 32, batch 2^20", func(s *cohortv1.JobSpec) {
			s.Model = &cohortv1.ModelConfig{Hidden: hidden(16, 65536), Ensemble: 32, Batch: 1 << 20}
		}, []string{"spec.model: hidden [65536", "x ensemble 32", "limit of 50000000"}},
		{"ensemble under", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Hidden: []uint32{4096, 2048}, Ensemble: 5} }, nil},
		{"ensemble over", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Hidden: []uint32{4096, 2048}, Ensemble: 6} },
			[]string{"x ensemble 6", "parameters", "limit of 50000000"}},
		{"few features, wide first layer", func(s *cohortv1.JobSpec) {
			s.Read.Periods = -1
			s.Model = &cohortv1.ModelConfig{Hidden: []uint32{40000}, Ensemble: 2}
		}, nil},
		{"520 periods, wide first layer", func(s *cohortv1.JobSpec) {
			s.Read.Periods = 520
			s.Model = &cohortv1.ModelConfig{Hidden: []uint32{40000}, Ensemble: 2}
		}, []string{"on 1058 input features", "limit of 50000000"}},
		{"extra columns count", func(s *cohortv1.JobSpec) {
			s.Read.Periods, s.Read.Extra = 500, make([]string, 64)
			fillAll(s.Read.Extra, "x")
			s.Model = &cohortv1.ModelConfig{Hidden: []uint32{23100}, Ensemble: 2}
		}, []string{"on 1082 input features"}},
		{"batch x widths", func(s *cohortv1.JobSpec) {
			s.Model = &cohortv1.ModelConfig{Hidden: []uint32{1024, 1024}, Batch: 1 << 20}
		},
			[]string{"spec.model: hidden [1024 1024] on 34 input features at batch 1048576", "limit of 4.0 GiB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpecProto()
			tc.change(s)
			errs := map[string]error{"ValidateJobSpec": ValidateJobSpec(s)}
			_, errs["SpecFromProto"] = SpecFromProto(s)
			for what, err := range errs {
				if tc.want == nil {
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					continue
				}
				if !errors.Is(err, rpcerr.ErrInvalidArgument) {
					t.Fatalf("%s = %v, want ErrInvalidArgument", what, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not name %q", what, err, w)
					}
				}
			}
		})
	}
}

// TestMaxFeaturesBoundsClv holds maxFeatures to the features clv computes:
// exact with a quantity column, above them without one.
func TestMaxFeaturesBoundsClv(t *testing.T) {
	const log = `customer_id,date,amount,qty,x1,x2
alice,2024-01-03,20.00,1,3,4
bob,2024-01-10,12.50,2,1,0
alice,2024-02-14,30.00,1,2,2
alice,2024-03-10,18.00,3,1,1
carol,2024-03-20,9.99,1,0,0
carol,2024-03-28,14.50,1,0,5
`
	// Without the qty column: clv finds a quantity column by its header
	// name when none is named, which is why maxFeatures always counts it.
	var noQty strings.Builder
	for _, line := range strings.SplitAfter(log, "\n") {
		if f := strings.Split(line, ","); len(f) == 6 {
			noQty.WriteString(strings.Join(f[:3], ",") + "\n")
		}
	}
	horizon, err := clv.ParseHorizon("4w")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		log   string
		opts  clv.Options
		slack int // maxFeatures minus the real count
	}{
		{"quantity, 2 extras, 3 periods", log, clv.Options{Quantity: "qty", Extra: []string{"x1", "x2"}, Periods: 3}, 0},
		{"quantity, default periods", log, clv.Options{Quantity: "qty"}, 0},
		{"quantity found by its header, no periods", log, clv.Options{Periods: -1}, 0},
		{"no quantity, no periods", noQty.String(), clv.Options{Periods: -1}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.CalibrationEnd, o.Horizon = time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), horizon
			ds, err := clv.LoadReader(t.Context(), "log.csv", strings.NewReader(tc.log), o)
			if err != nil {
				t.Fatal(err)
			}
			if got, bound := len(ds.FeatureNames), maxFeatures(o); bound-got != tc.slack {
				t.Fatalf("clv computes %d features %v, maxFeatures says %d; want %d more", got, ds.FeatureNames, bound, tc.slack)
			}
		})
	}
}

// TestSubmitQueueCap ensures Submit refuses with RESOURCE_EXHAUSTED, naming
// the count and the cap, once MaxPending jobs are PENDING; that a retry of
// a request that created its job still gets it; that a job leaving PENDING
// frees a place; and that a negative MaxPending sets no cap.
func TestSubmitQueueCap(t *testing.T) {
	cli := jobsEtcd(t)
	jobs := serveJobs(t, newTestJobs(cli, fakeLeadership{}, JobsOptions{MaxPending: 2}))
	submit := func(i int, rid string) (*cohortv1.Job, error) {
		s := validSpecProto()
		s.OutDir = fmt.Sprintf("/runs/q%d", i)
		resp, err := jobs.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: s, RequestId: rid})
		return resp.GetJob(), err
	}
	first, err := submit(0, "req-0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := submit(1, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		i    int
		rid  string
		want codes.Code
	}{
		{"third job", 2, "", codes.ResourceExhausted},
		{"third job with a request id", 3, "req-3", codes.ResourceExhausted},
		{"retry of the first", 0, "req-0", codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := submit(tc.i, tc.rid)
			if got := status.Code(err); got != tc.want {
				t.Fatalf("Submit = %v (%v), want %v", got, err, tc.want)
			}
			if tc.want == codes.ResourceExhausted {
				for _, w := range []string{"job queue full: 2 jobs are PENDING", "queues is 2"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %q", err, w)
					}
				}
				return
			}
			if j.GetId() != first.GetId() {
				t.Errorf("retry returned job %s, want %s", j.GetId(), first.GetId())
			}
		})
	}
	first.State = cohortv1.JobState_JOB_STATE_RUNNING
	putJobRecord(t, cli, first)
	if _, err := submit(4, ""); err != nil {
		t.Fatalf("with a job RUNNING, Submit = %v", err)
	}
	uncapped := serveJobs(t, newTestJobs(cli, fakeLeadership{}, JobsOptions{MaxPending: -1}))
	s := validSpecProto()
	s.OutDir = "/runs/uncapped"
	if _, err := uncapped.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: s}); err != nil {
		t.Fatalf("MaxPending -1: %v", err)
	}
}

// TestWatchCap ensures the Watch streams served at once are capped with
// RESOURCE_EXHAUSTED, and that a stream that ends frees its place.
func TestWatchCap(t *testing.T) {
	cli := jobsEtcd(t)
	jobs := serveJobs(t, newTestJobs(cli, fakeLeadership{}, JobsOptions{MaxWatches: 2}))
	resp, err := jobs.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: validSpecProto()})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJob().GetId()
	watch := func(ctx context.Context) error {
		st, err := jobs.Watch(ctx, &cohortv1.WatchRequest{JobId: id})
		if err != nil {
			return err
		}
		_, err = st.Recv() // the snapshot, or the refusal
		return err
	}
	cancels := make([]context.CancelFunc, 2)
	for i := range cancels {
		ctx, cancel := context.WithCancel(t.Context())
		cancels[i] = cancel
		defer cancel()
		if err := watch(ctx); err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
	}
	err = watch(t.Context())
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "2 Watch streams are open") {
		t.Fatalf("third watch = %v, want RESOURCE_EXHAUSTED naming the cap", err)
	}
	cancels[0]()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithCancel(t.Context())
		err := watch(ctx)
		cancel()
		if err == nil {
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("after one watch ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
