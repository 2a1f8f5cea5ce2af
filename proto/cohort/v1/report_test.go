package cohortv1_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestReportRequestValidate ensures a report's sender and payload are
// bounded: the worker's name, the error text, the rank and the final
// model's arrays.
func TestReportRequestValidate(t *testing.T) {
	valid := func() *cohortv1.ReportRequest {
		return &cohortv1.ReportRequest{JobId: "job-1", Generation: 2, Rank: 3, Worker: "w-3",
			Report: &cohortv1.ReportRequest_Error{Error: "interrupted: ring broke"}}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid report refused: %v", err)
	}
	for _, tc := range []struct {
		field  string
		mutate func(*cohortv1.ReportRequest)
	}{
		{"job_id", func(r *cohortv1.ReportRequest) { r.JobId = "Job_1" }},
		{"generation", func(r *cohortv1.ReportRequest) { r.Generation = 0 }},
		{"rank", func(r *cohortv1.ReportRequest) { r.Rank = cohortv1.MaxWorkers }},
		{"worker", func(r *cohortv1.ReportRequest) { r.Worker = "" }},
		{"worker", func(r *cohortv1.ReportRequest) { r.Worker = strings.Repeat("w", cohortv1.MaxNameLen+1) }},
		{"error", func(r *cohortv1.ReportRequest) {
			r.Report = &cohortv1.ReportRequest_Error{Error: strings.Repeat("e", cohortv1.MaxErrorLen+1)}
		}},
		{"error", func(r *cohortv1.ReportRequest) { r.Report = &cohortv1.ReportRequest_Error{Error: "bad \xff"} }},
		{"report", func(r *cohortv1.ReportRequest) { r.Report = nil }},
		{"checkpoint.path", func(r *cohortv1.ReportRequest) {
			r.Report = &cohortv1.ReportRequest_Checkpoint{Checkpoint: &cohortv1.CheckpointPointer{
				Path: strings.Repeat("p", cohortv1.MaxPathLen+1), Sha256: strings.Repeat("ab", 32)}}
		}},
		{"final.mean", func(r *cohortv1.ReportRequest) {
			r.Report = &cohortv1.ReportRequest_Final{Final: &cohortv1.FinalModel{Mean: make([]float32, cohortv1.MaxFeatures+1)}}
		}},
		{"final.params", func(r *cohortv1.ReportRequest) {
			r.Report = &cohortv1.ReportRequest_Final{Final: &cohortv1.FinalModel{Params: make([]byte, 5)}}
		}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			r := valid()
			tc.mutate(r)
			checkInvalid(t, r.Validate(), tc.field)
		})
	}
}

// finalModel is a final model of params float32s and epochs epochs.
func finalModel(params, epochs int) *cohortv1.FinalModel {
	f := &cohortv1.FinalModel{Params: make([]byte, 4*params), Mean: []float32{1, 2}, Std: []float32{3, 4},
		BestEpoch: 7, BestValLoss: 0.5, StoppedEarly: true}
	for i := range f.Params {
		f.Params[i] = byte(i)
	}
	for i := range epochs {
		f.Epochs = append(f.Epochs, &cohortv1.EpochStats{Epoch: uint32(i), TrainLoss: 1e300, ValLoss: 1e300, Best: true,
			Lr: 1e30, Steps: 1 << 63, WallNs: -1})
	}
	return f
}

// TestFinalModelChunks ensures a final model of any size is cut into
// chunks that each pass Validate and fit MaxChunkBytes, and that appending
// them in order gives the model back.
func TestFinalModelChunks(t *testing.T) {
	for _, tc := range []struct {
		name           string
		params, epochs int
		chunks         int
	}{
		{"empty", 0, 0, 1},
		{"small", 100, 3, 1},
		{"many params", 3 * cohortv1.FinalChunkParamBytes / 4, 5, 3},
		{"many epochs", 10, cohortv1.MaxEpochs, (cohortv1.MaxEpochs + cohortv1.FinalChunkEpochs - 1) / cohortv1.FinalChunkEpochs},
		{"both", 8 << 20, cohortv1.MaxEpochs, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := finalModel(tc.params, tc.epochs)
			chunks := cohortv1.FinalModelChunks(f)
			if len(chunks) != tc.chunks {
				t.Errorf("%d chunks, want %d", len(chunks), tc.chunks)
			}
			chunks[0].JobId, chunks[0].Generation, chunks[0].Worker = "job-1", 1, "w-0"
			got := proto.CloneOf(chunks[0].GetModel())
			for i, c := range chunks {
				if err := c.Validate(); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
				if c.GetSeq() != uint32(i) || c.GetLast() != (i == len(chunks)-1) {
					t.Errorf("chunk %d: seq %d, last %v", i, c.GetSeq(), c.GetLast())
				}
				got.Params = append(got.Params, c.GetParams()...)
				got.Epochs = append(got.Epochs, c.GetEpochs()...)
			}
			if chunks[0].GetParamBytes() != uint64(len(f.Params)) || chunks[0].GetEpochCount() != uint32(len(f.Epochs)) {
				t.Errorf("first chunk announces %d bytes, %d epochs; want %d, %d",
					chunks[0].GetParamBytes(), chunks[0].GetEpochCount(), len(f.Params), len(f.Epochs))
			}
			if !bytes.Equal(got.GetParams(), f.GetParams()) || !proto.Equal(got, f) {
				t.Error("the chunks do not add up to the model")
			}
		})
	}
}

// TestFinalModelChunkValidate ensures a chunk's sender and counts come on
// the first chunk only, bounded.
func TestFinalModelChunkValidate(t *testing.T) {
	first := func() *cohortv1.FinalModelChunk {
		c := cohortv1.FinalModelChunks(finalModel(4, 2))[0]
		c.JobId, c.Generation, c.Worker = "job-1", 1, "w-0"
		return c
	}
	for _, tc := range []struct {
		field  string
		mutate func(*cohortv1.FinalModelChunk)
	}{
		{"worker", func(c *cohortv1.FinalModelChunk) { c.Worker = strings.Repeat("w", cohortv1.MaxNameLen+1) }},
		{"model: required", func(c *cohortv1.FinalModelChunk) { c.Model = nil }},
		{"model: params and epochs", func(c *cohortv1.FinalModelChunk) { c.Model.Params = make([]byte, 4) }},
		{"param_bytes", func(c *cohortv1.FinalModelChunk) { c.ParamBytes = 6 }},
		{"epoch_count", func(c *cohortv1.FinalModelChunk) { c.EpochCount = cohortv1.MaxEpochs + 1 }},
		{"first chunk only", func(c *cohortv1.FinalModelChunk) { c.Seq = 1 }},
		{"bytes, want at most", func(c *cohortv1.FinalModelChunk) { c.Params = make([]byte, cohortv1.MaxChunkBytes) }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := first()
			tc.mutate(c)
			checkInvalid(t, c.Validate(), tc.field)
		})
	}
}

// TestClip ensures Clip cuts on a rune boundary and leaves valid UTF-8
// that protobuf encodes: a rune split by the bound once left a job
// RUNNING for good (its record no longer encoded).
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"ascii", "abcdef", 4, "abcd"},
		{"rune across the bound", strings.Repeat("a", 4095) + "é", 4096, strings.Repeat("a", 4095)},
		{"invalid bytes", "path \xff\xfe/x", 100, "path /x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cohortv1.Clip(tc.s, tc.n)
			if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
				t.Errorf("Clip = %.40q (%d bytes), want %.40q", got, len(got), tc.want)
			}
			if _, err := proto.Marshal(&cohortv1.Job{Error: got}); err != nil {
				t.Errorf("does not encode: %v", err)
			}
		})
	}
}
