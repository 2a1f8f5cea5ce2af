package cohortv1_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// validSpec is a spec every bound accepts.
func validSpec() *cohortv1.JobSpec {
	return &cohortv1.JobSpec{
		Name:       "cdnow",
		Source:     &cohortv1.JobSpec_DataPath{DataPath: "/data/CDNOW_master.txt"},
		OutDir:     "runs/cdnow",
		MinWorkers: 2,
		MaxWorkers: 4,
		Read: &cohortv1.ReadOptions{
			Delimiter: "whitespace", DateFormat: "20060102", CalibrationEnd: "1997-09-30",
			Horizon: "39w", Extra: []string{"quantity"}, Periods: -1, Decimal: ",", DataEnd: "1998-06-30",
			Amount: "none",
		},
		Model: &cohortv1.ModelConfig{Hidden: []uint32{128, 64}, Lr: 1e-3, Beta1: 0.9, Batch: 512, Seed: 7},
	}
}

// checkInvalid asserts err is an invalid-argument error naming field.
func checkInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil, want an error naming %s", field)
	}
	if !errors.Is(err, rpcerr.ErrInvalidArgument) {
		t.Errorf("%v does not wrap ErrInvalidArgument", err)
	}
	if !strings.Contains(err.Error(), field) {
		t.Errorf("%q does not name %q", err, field)
	}
}

// TestSubmitValidate ensures a valid spec passes and each out-of-bounds
// field is refused with an error that names it.
func TestSubmitValidate(t *testing.T) {
	if err := (&cohortv1.SubmitRequest{Spec: validSpec()}).Validate(); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	long := strings.Repeat("a", 5000)
	cases := []struct {
		field  string
		mutate func(r *cohortv1.SubmitRequest)
	}{
		{"spec: required", func(r *cohortv1.SubmitRequest) { r.Spec = nil }},
		{"request_id", func(r *cohortv1.SubmitRequest) { r.RequestId = long }},
		{"spec.name", func(r *cohortv1.SubmitRequest) { r.Spec.Name = long }},
		{"spec.name: not valid UTF-8", func(r *cohortv1.SubmitRequest) { r.Spec.Name = "\xff" }},
		{"data_path or dataset", func(r *cohortv1.SubmitRequest) { r.Spec.Source = nil }},
		{"spec.data_path", func(r *cohortv1.SubmitRequest) { r.Spec.Source = &cohortv1.JobSpec_DataPath{DataPath: long} }},
		{"spec.dataset", func(r *cohortv1.SubmitRequest) { r.Spec.Source = &cohortv1.JobSpec_Dataset{Dataset: "../etc"} }},
		{"spec.dataset", func(r *cohortv1.SubmitRequest) { r.Spec.Source = &cohortv1.JobSpec_Dataset{Dataset: ".."} }},
		{"spec.out_dir", func(r *cohortv1.SubmitRequest) { r.Spec.OutDir = "" }},
		{"spec.min_workers", func(r *cohortv1.SubmitRequest) { r.Spec.MinWorkers = 5000 }},
		{"spec.max_workers", func(r *cohortv1.SubmitRequest) { r.Spec.MaxWorkers = 1 }},
		{"spec.checkpoint_every", func(r *cohortv1.SubmitRequest) { r.Spec.CheckpointEvery = math.MaxUint32 }},
		{"spec.threads", func(r *cohortv1.SubmitRequest) { r.Spec.Threads = 4096 }},
		{"spec.importance_repeats", func(r *cohortv1.SubmitRequest) { r.Spec.ImportanceRepeats = 1000 }},
		{"spec.read.format", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Format = "xlsx" }},
		{"spec.read.customer", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Customer = long }},
		{"spec.read.extra", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Extra = make([]string, 65) }},
		{"spec.read.extra[1]", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Extra = []string{"a", ""} }},
		{"spec.read.header", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Header = "maybe" }},
		{"spec.read.delimiter", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Delimiter = "::" }},
		{"spec.read.calibration_end", func(r *cohortv1.SubmitRequest) { r.Spec.Read.CalibrationEnd = "30/09/1997" }},
		{"spec.read.data_end", func(r *cohortv1.SubmitRequest) { r.Spec.Read.DataEnd = "30/06/1998" }},
		{"spec.read.decimal", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Decimal = "comma" }},
		{"spec.read.decimal", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Decimal = " ," }},
		{"spec.read.horizon", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Horizon = long }},
		{"spec.read.negative", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Negative = "keep" }},
		{"spec.read.periods", func(r *cohortv1.SubmitRequest) { r.Spec.Read.Periods = -2 }},
		{"spec.read.period_days", func(r *cohortv1.SubmitRequest) { r.Spec.Read.PeriodDays = 10000 }},
		{"spec.model.hidden", func(r *cohortv1.SubmitRequest) { r.Spec.Model.Hidden = make([]uint32, 17) }},
		{"spec.model.hidden[1]", func(r *cohortv1.SubmitRequest) { r.Spec.Model.Hidden = []uint32{8, 0} }},
		{"spec.model.hidden", func(r *cohortv1.SubmitRequest) { r.Spec.Model.Linear = true }},
		{"spec.model.lr", func(r *cohortv1.SubmitRequest) { r.Spec.Model.Lr = float32(math.NaN()) }},
		{"spec.model.weight_decay", func(r *cohortv1.SubmitRequest) { r.Spec.Model.WeightDecay = -1 }},
		{"spec.model.beta1", func(r *cohortv1.SubmitRequest) { r.Spec.Model.Beta1 = 1 }},
		{"spec.model.eps", func(r *cohortv1.SubmitRequest) { r.Spec.Model.Eps = float32(math.Inf(1)) }},
		{"spec.model.batch", func(r *cohortv1.SubmitRequest) { r.Spec.Model.Batch = 1<<20 + 1 }},
		{"spec.model.max_epochs", func(r *cohortv1.SubmitRequest) { r.Spec.Model.MaxEpochs = 1 << 30 }},
		{"spec.model.ensemble", func(r *cohortv1.SubmitRequest) { r.Spec.Model.Ensemble = 33 }},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			r := &cohortv1.SubmitRequest{Spec: validSpec()}
			c.mutate(r)
			checkInvalid(t, r.Validate(), c.field)
		})
	}
}

// TestJobIDValidate ensures Get, Watch and Cancel accept job ids of
// [a-z0-9-] up to 64 bytes and nothing else.
func TestJobIDValidate(t *testing.T) {
	cases := []struct {
		id string
		ok bool
	}{
		{"j-20261127-0001", true},
		{strings.Repeat("a", cohortv1.MaxIDLen), true},
		{strings.Repeat("a", cohortv1.MaxIDLen+1), false},
		{"", false},
		{"Job1", false},
		{"a/b", false},
	}
	for _, c := range cases {
		errs := []error{
			(&cohortv1.GetRequest{JobId: c.id}).Validate(),
			(&cohortv1.WatchRequest{JobId: c.id}).Validate(),
			(&cohortv1.CancelRequest{JobId: c.id}).Validate(),
		}
		for _, err := range errs {
			if c.ok && err != nil {
				t.Errorf("id %q refused: %v", c.id, err)
			}
			if !c.ok {
				checkInvalid(t, err, "job_id")
			}
		}
	}
	checkInvalid(t, (&cohortv1.CancelRequest{JobId: "j1", Reason: strings.Repeat("r", 1025)}).Validate(), "reason")
}

// TestListValidate ensures page size, token and state filters are bounded.
func TestListValidate(t *testing.T) {
	ok := &cohortv1.ListRequest{PageSize: 1000, States: []cohortv1.JobState{cohortv1.JobState_JOB_STATE_RUNNING}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid list refused: %v", err)
	}
	checkInvalid(t, (&cohortv1.ListRequest{PageSize: 1001}).Validate(), "page_size")
	checkInvalid(t, (&cohortv1.ListRequest{PageToken: strings.Repeat("t", 257)}).Validate(), "page_token")
	checkInvalid(t, (&cohortv1.ListRequest{States: make([]cohortv1.JobState, 9)}).Validate(), "states")
	checkInvalid(t, (&cohortv1.ListRequest{States: []cohortv1.JobState{42}}).Validate(), "states[0]")
}

// TestShardRequestValidate ensures rank, world size, generation and split
// are checked.
func TestShardRequestValidate(t *testing.T) {
	valid := func() *cohortv1.ShardRequest {
		return &cohortv1.ShardRequest{JobId: "j1", Generation: 3, Rank: 3, WorldSize: 4, Split: cohortv1.Split_SPLIT_TRAIN}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	cases := []struct {
		field  string
		mutate func(r *cohortv1.ShardRequest)
	}{
		{"job_id", func(r *cohortv1.ShardRequest) { r.JobId = "" }},
		{"generation", func(r *cohortv1.ShardRequest) { r.Generation = 0 }},
		{"rank", func(r *cohortv1.ShardRequest) { r.Rank = 4 }},
		{"world_size", func(r *cohortv1.ShardRequest) { r.WorldSize = 0 }},
		{"world_size", func(r *cohortv1.ShardRequest) { r.WorldSize = 1025 }},
		{"split", func(r *cohortv1.ShardRequest) { r.Split = cohortv1.Split_SPLIT_UNSPECIFIED }},
	}
	for _, c := range cases {
		r := valid()
		c.mutate(r)
		checkInvalid(t, r.Validate(), c.field)
	}
}

// chunk builds a ShardChunk of rows rows and features columns, with ids of
// idLen bytes; seq 0 carries a schema of names nameLen bytes long.
func chunk(seq uint32, rows, features, idLen, nameLen int) *cohortv1.ShardChunk {
	c := &cohortv1.ShardChunk{
		Seq:         seq,
		Rows:        uint32(rows),
		Features:    make([]byte, rows*features*4),
		Labels:      make([]float32, rows),
		CustomerIds: make([]string, rows),
		GlobalRows:  make([]uint32, rows),
	}
	for i := range c.GlobalRows {
		c.GlobalRows[i] = math.MaxInt32 - uint32(i) // the longest varints
	}
	for i := range c.CustomerIds {
		c.CustomerIds[i] = strings.Repeat("c", idLen)
	}
	if seq == 0 {
		c.TotalRows = uint64(rows) * 10
		c.FeatureNames = make([]string, features)
		c.Log1P = make([]bool, features)
		for i := range c.FeatureNames {
			c.FeatureNames[i] = strings.Repeat("f", nameLen)
		}
	}
	return c
}

// TestShardChunkValidate ensures a chunk's arrays must agree with its row
// count and schema, and the schema may only come first.
func TestShardChunkValidate(t *testing.T) {
	if err := chunk(0, 10, 5, 8, 8).Validate(5); err != nil {
		t.Fatalf("valid first chunk refused: %v", err)
	}
	if err := chunk(1, 10, 5, 8, 8).Validate(5); err != nil {
		t.Fatalf("valid later chunk refused: %v", err)
	}
	cases := []struct {
		field    string
		c        *cohortv1.ShardChunk
		features int
	}{
		{"features: 196 bytes", func() *cohortv1.ShardChunk { c := chunk(1, 10, 5, 8, 8); c.Features = c.Features[4:]; return c }(), 5},
		{"features: 200 bytes, want rows 10 x 6", chunk(1, 10, 5, 8, 8), 6},
		{"labels", func() *cohortv1.ShardChunk { c := chunk(1, 10, 5, 8, 8); c.Labels = c.Labels[1:]; return c }(), 5},
		{"global_rows: 9", func() *cohortv1.ShardChunk { c := chunk(1, 10, 5, 8, 8); c.GlobalRows = c.GlobalRows[1:]; return c }(), 5},
		{"customer_ids: 9", func() *cohortv1.ShardChunk { c := chunk(1, 10, 5, 8, 8); c.CustomerIds = c.CustomerIds[1:]; return c }(), 5},
		{"customer_ids[0]", chunk(1, 10, 5, 0, 8), 5},
		{"customer_ids[0]", chunk(1, 10, 5, 257, 8), 5},
		{"schema fields", func() *cohortv1.ShardChunk { c := chunk(1, 10, 5, 8, 8); c.TotalRows = 5; return c }(), 5},
		{"feature_names[0]", chunk(0, 10, 5, 8, 129), 5},
		{"log1p", func() *cohortv1.ShardChunk { c := chunk(0, 10, 5, 8, 8); c.Log1P = nil; return c }(), 5},
		{"feature_names: 0", chunk(0, 0, 0, 8, 8), 0},
		{"bytes, want at most", chunk(1, 300000, 4, 8, 8), 4},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) { checkInvalid(t, c.c.Validate(c.features), c.field) })
	}
}

// TestShardChunkRows ensures a chunk of ShardChunkRows rows with the longest
// ids and the largest schema fits MaxChunkBytes and passes Validate, and that
// the bound is not far from the limit (so chunks are not needlessly small).
func TestShardChunkRows(t *testing.T) {
	for _, features := range []int{1, 16, 64, cohortv1.MaxFeatures} {
		rows := cohortv1.ShardChunkRows(features)
		c := chunk(0, rows, features, cohortv1.MaxCustomerIDLen, cohortv1.MaxNameLen)
		size := proto.Size(c)
		if size > cohortv1.MaxChunkBytes {
			t.Errorf("features %d: %d rows are %d bytes, over %d", features, rows, size, cohortv1.MaxChunkBytes)
		}
		if size < cohortv1.MaxChunkBytes*9/10 {
			t.Errorf("features %d: %d rows are only %d bytes of %d", features, rows, size, cohortv1.MaxChunkBytes)
		}
		if err := c.Validate(features); err != nil {
			t.Errorf("features %d: %v", features, err)
		}
	}
}

// TestJobRoundTrip ensures the generated Job message survives a wire round
// trip with every field set, oneof and timestamps included.
func TestJobRoundTrip(t *testing.T) {
	now := timestamppb.New(time.Date(2026, 11, 27, 10, 0, 0, 123, time.UTC))
	job := &cohortv1.Job{
		Id: "j1", Spec: validSpec(), State: cohortv1.JobState_JOB_STATE_RUNNING,
		Generation: 3, Workers: 4, Step: 1200, Epoch: 7, Loss: 1.25, ValLoss: math.NaN(),
		CheckpointStep: 1000, SamplesPerSecond: 5e5, AllreduceGbps: 2.5,
		CreatedAt: now, StartedAt: now, UpdatedAt: now,
		Metrics: &cohortv1.MetricsSummary{Customers: 3500, NormalizedGini: 0.61, BaselineNormalizedGini: 0.55},
	}
	b, err := proto.Marshal(&cohortv1.JobEvent{Kind: cohortv1.JobEvent_KIND_GENERATION, Job: job, Revision: 42})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var got cohortv1.JobEvent
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if got.GetKind() != cohortv1.JobEvent_KIND_GENERATION || got.GetRevision() != 42 {
		t.Errorf("event header = %v, %d", got.GetKind(), got.GetRevision())
	}
	g := got.GetJob()
	if g.GetSpec().GetDataPath() != "/data/CDNOW_master.txt" || g.GetGeneration() != 3 || g.GetStep() != 1200 ||
		!math.IsNaN(g.GetValLoss()) || !g.GetStartedAt().AsTime().Equal(now.AsTime()) ||
		g.GetMetrics().GetNormalizedGini() != 0.61 || g.GetSpec().GetModel().GetHidden()[1] != 64 {
		t.Errorf("job changed in transit: %v", g)
	}
}

// TestGenerationPlanValidate ensures a plan's fingerprint is bounded and
// must be JSON, and that a plan without one is valid.
func TestGenerationPlanValidate(t *testing.T) {
	ok := []*cohortv1.GenerationPlan{
		validPlan(),
		validPlan(),
		validPlan(),
	}
	ok[1].Fingerprint = []byte(`{"format":"cohort.job.fingerprint/v1"}`)
	ok[2].Fingerprint = []byte(`"` + strings.Repeat("x", cohortv1.MaxFingerprintLen-2) + `"`)
	for i, g := range ok {
		if err := g.Validate(); err != nil {
			t.Errorf("plan %d: %v", i, err)
		}
	}
	checkInvalid(t, (&cohortv1.GenerationPlan{Fingerprint: []byte(`"` + strings.Repeat("x", cohortv1.MaxFingerprintLen-1) + `"`)}).Validate(), "fingerprint")
	checkInvalid(t, (&cohortv1.GenerationPlan{Fingerprint: []byte(`{"seed":`)}).Validate(), "fingerprint")
}
