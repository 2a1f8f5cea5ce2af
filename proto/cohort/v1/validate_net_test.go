package cohortv1_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// validPlan is a plan every check passes; tests change one field of it.
func validPlan() *cohortv1.GenerationPlan {
	return &cohortv1.GenerationPlan{JobId: "job-1", Generation: 1, CoordinatorAddr: "127.0.0.1:7070", TimeoutMs: 2000,
		Workers: []*cohortv1.PlanWorker{{Name: "w0", RingAddr: "127.0.0.1:9000"}, {Name: "w1", RingAddr: "[::1]:9001"}},
		Token:   make([]byte, cohortv1.TokenLen)}
}

// TestGenerationPlanValidateNet: a plan read from etcd is bounded where the
// worker uses it (audit 7 net #11): ring size and addresses, timeout,
// threads, token, and a resume step an int holds (#5).
func TestGenerationPlanValidateNet(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*cohortv1.GenerationPlan)
		field string // "" : valid
	}{
		{"valid", func(*cohortv1.GenerationPlan) {}, ""},
		{"no-workers", func(g *cohortv1.GenerationPlan) { g.Workers = nil }, "workers"},
		{"too-many-workers", func(g *cohortv1.GenerationPlan) {
			g.Workers = make([]*cohortv1.PlanWorker, cohortv1.MaxWorkers+1)
		}, "workers"},
		{"ring-addr-no-port", func(g *cohortv1.GenerationPlan) { g.Workers[1].RingAddr = "host" }, "workers[1].ring_addr"},
		{"ring-addr-bad-port", func(g *cohortv1.GenerationPlan) { g.Workers[0].RingAddr = "host:99999" }, "workers[0].ring_addr"},
		{"empty-name", func(g *cohortv1.GenerationPlan) { g.Workers[0].Name = "" }, "workers[0].name"},
		{"no-coordinator", func(g *cohortv1.GenerationPlan) { g.CoordinatorAddr = "" }, "coordinator_addr"},
		{"no-timeout", func(g *cohortv1.GenerationPlan) { g.TimeoutMs = 0 }, "timeout_ms"},
		{"threads", func(g *cohortv1.GenerationPlan) { g.Threads = cohortv1.MaxThreads + 1 }, "threads"},
		{"long-token", func(g *cohortv1.GenerationPlan) { g.Token = make([]byte, cohortv1.MaxTokenLen+1) }, "token"},
		{"no-token-ok", func(g *cohortv1.GenerationPlan) { g.Token = nil }, ""},
		{"resume-step-overflow", func(g *cohortv1.GenerationPlan) {
			g.ResumeFrom = &cohortv1.CheckpointPointer{Step: math.MaxUint64, Path: "/x"}
		}, "resume_from.step"},
		{"bad-job", func(g *cohortv1.GenerationPlan) { g.JobId = "A B" }, "job_id"},
		{"generation-0", func(g *cohortv1.GenerationPlan) { g.Generation = 0 }, "generation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := validPlan()
			c.edit(g)
			err := g.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			checkInvalid(t, err, c.field)
		})
	}
}

// TestReportValidateEpoch: an epoch report's numbers are bounded (audit 7
// net #6): NaN and infinities are refused, as are negative rates.
func TestReportValidateEpoch(t *testing.T) {
	good := func() *cohortv1.ReportRequest {
		return &cohortv1.ReportRequest{JobId: "j", Generation: 1, Worker: "w0", SamplesPerSecond: 1000, AllreduceGbps: 1.5,
			Report: &cohortv1.ReportRequest_Epoch{Epoch: &cohortv1.EpochStats{Epoch: 3, TrainLoss: -0.4, ValLoss: math.NaN(),
				Lr: 1e-3, Steps: 120, WallNs: 5e8}}}
	}
	cases := []struct {
		name  string
		edit  func(*cohortv1.ReportRequest)
		field string
	}{
		{"valid", func(*cohortv1.ReportRequest) {}, ""},
		{"epoch-0", func(r *cohortv1.ReportRequest) { r.GetEpoch().Epoch = 0 }, "epoch.epoch"},
		{"epoch-huge", func(r *cohortv1.ReportRequest) { r.GetEpoch().Epoch = math.MaxUint32 }, "epoch.epoch"},
		{"train-nan", func(r *cohortv1.ReportRequest) { r.GetEpoch().TrainLoss = math.NaN() }, "epoch.train_loss"},
		{"train-inf", func(r *cohortv1.ReportRequest) { r.GetEpoch().TrainLoss = math.Inf(1) }, "epoch.train_loss"},
		{"val-inf", func(r *cohortv1.ReportRequest) { r.GetEpoch().ValLoss = math.Inf(-1) }, "epoch.val_loss"},
		{"val-finite", func(r *cohortv1.ReportRequest) { r.GetEpoch().ValLoss = 0.7 }, ""},
		{"lr-nan", func(r *cohortv1.ReportRequest) { r.GetEpoch().Lr = float32(math.NaN()) }, "epoch.lr"},
		{"lr-negative", func(r *cohortv1.ReportRequest) { r.GetEpoch().Lr = -1 }, "epoch.lr"},
		{"wall-negative", func(r *cohortv1.ReportRequest) { r.GetEpoch().WallNs = -1 }, "epoch.wall_ns"},
		{"steps-overflow", func(r *cohortv1.ReportRequest) { r.GetEpoch().Steps = math.MaxUint64 }, "epoch.steps"},
		{"sps-inf", func(r *cohortv1.ReportRequest) { r.SamplesPerSecond = math.Inf(1) }, "samples_per_second"},
		{"sps-negative", func(r *cohortv1.ReportRequest) { r.SamplesPerSecond = -1 }, "samples_per_second"},
		{"gbps-nan", func(r *cohortv1.ReportRequest) { r.AllreduceGbps = math.NaN() }, "allreduce_gbps"},
		{"no-stats", func(r *cohortv1.ReportRequest) { r.Report = &cohortv1.ReportRequest_Epoch{} }, "epoch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.edit(r)
			err := r.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			checkInvalid(t, err, c.field)
		})
	}
	// The same bounds hold for a final model's epochs.
	f := &cohortv1.FinalModelChunk{JobId: "j", Generation: 1, Worker: "w0", EpochCount: 1,
		Model: &cohortv1.FinalModel{Epochs: nil}}
	if err := f.Validate(); err != nil {
		t.Fatalf("final chunk: %v", err)
	}
	fin := &cohortv1.ReportRequest{JobId: "j", Generation: 1, Worker: "w0", Report: &cohortv1.ReportRequest_Final{
		Final: &cohortv1.FinalModel{Epochs: []*cohortv1.EpochStats{{Epoch: 1, TrainLoss: math.NaN()}}}}}
	checkInvalid(t, fin.Validate(), "final.epochs[0].train_loss")
}

// TestReportValidateCheckpoint: a checkpoint report's step must fit an
// int, its epoch MaxEpochs, and a written file must have a size (#5).
func TestReportValidateCheckpoint(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	cases := []struct {
		name  string
		ptr   *cohortv1.CheckpointPointer
		field string
	}{
		{"valid", &cohortv1.CheckpointPointer{Step: 20, Epoch: 2, Path: "/c/j-step-20.ckpt", Sha256: sha, Bytes: 100}, ""},
		{"failed-ok", &cohortv1.CheckpointPointer{Step: 20, Path: "/c/x", Error: "disk full"}, ""},
		{"step-overflow", &cohortv1.CheckpointPointer{Step: math.MaxUint64, Path: "/x", Sha256: sha, Bytes: 1}, "checkpoint.step"},
		{"epoch-huge", &cohortv1.CheckpointPointer{Step: 1, Epoch: math.MaxUint32, Path: "/x", Sha256: sha, Bytes: 1}, "checkpoint.epoch"},
		{"no-bytes", &cohortv1.CheckpointPointer{Step: 1, Path: "/x", Sha256: sha}, "checkpoint.bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &cohortv1.ReportRequest{JobId: "j", Generation: 1, Worker: "w0",
				Report: &cohortv1.ReportRequest_Checkpoint{Checkpoint: c.ptr}}
			err := r.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			checkInvalid(t, err, c.field)
		})
	}
}

// TestCheckToken: only the exact token passes; the refusal is
// PERMISSION_DENIED.
func TestCheckToken(t *testing.T) {
	want := []byte("0123456789abcdef")
	cases := []struct {
		name string
		got  []byte
		ok   bool
	}{
		{"same", []byte("0123456789abcdef"), true},
		{"none", nil, false},
		{"prefix", want[:8], false},
		{"other", []byte("0123456789abcdeF"), false},
		{"longer", append([]byte("0123456789abcdef"), 'x'), false},
		{"huge", make([]byte, 1<<10), false},
	}
	for _, c := range cases {
		err := cohortv1.CheckToken(c.got, want)
		if c.ok != (err == nil) {
			t.Errorf("%s: CheckToken = %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, rpcerr.ErrPermissionDenied) {
			t.Errorf("%s: %v does not wrap ErrPermissionDenied", c.name, err)
		}
	}
	if err := cohortv1.CheckToken(nil, nil); err == nil {
		t.Error("CheckToken(nil, nil) = nil: a generation without a token must not accept anyone")
	}
}

// TestUnmarshalRecordChecks: records read back from etcd are checked after
// decoding (#11): garbage and unknown states are ErrCorruptRecord (DATA_LOSS,
// not Unknown), over-long texts are clipped.
func TestUnmarshalRecordChecks(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"garbage", `{"id":`, false},
		{"unknown-state", `{"id":"job-1","state":77}`, false},
		{"bad-id", `{"id":"JOB 1","state":"JOB_STATE_RUNNING"}`, false},
		{"valid", `{"id":"job-1","state":"JOB_STATE_RUNNING"}`, true},
		{"huge", `{"id":"job-1","error":"` + strings.Repeat("e", cohortv1.MaxRecordBytes) + `"}`, false},
	}
	for _, c := range cases {
		j := &cohortv1.Job{}
		err := cohortv1.UnmarshalRecord([]byte(c.raw), j)
		if c.ok != (err == nil) {
			t.Errorf("%s: UnmarshalRecord = %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, rpcerr.ErrCorruptRecord) {
			t.Errorf("%s: %v does not wrap ErrCorruptRecord", c.name, err)
		}
	}
	j := &cohortv1.Job{}
	long := `{"id":"job-1","state":"JOB_STATE_FAILED","error":"` + strings.Repeat("e", 100000) + `","message":"` + strings.Repeat("m", 5000) + `"}`
	if err := cohortv1.UnmarshalRecord([]byte(long), j); err != nil {
		t.Fatal(err)
	}
	if len(j.GetError()) != cohortv1.MaxErrorLen || len(j.GetMessage()) != cohortv1.MaxReasonLen {
		t.Errorf("error %d bytes, message %d: want clipped to %d and %d", len(j.GetError()), len(j.GetMessage()),
			cohortv1.MaxErrorLen, cohortv1.MaxReasonLen)
	}
	c := &cohortv1.CheckpointPointer{}
	if err := cohortv1.UnmarshalRecord([]byte(`{"step":"18446744073709551615","path":"/etc/passwd","sha256":"`+strings.Repeat("a", 64)+`"}`), c); !errors.Is(err, rpcerr.ErrCorruptRecord) {
		t.Errorf("checkpoint pointer with step 2^64-1: %v, want ErrCorruptRecord", err)
	}
}
