package coordinator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// jobLookup finds the job a worker's request names: the one job of a
// Start, or any job a Server runs.
type jobLookup func(id string) (*Job, bool)

// find returns the job id names, or rpcerr.ErrNotFound.
func (l jobLookup) find(id string) (*Job, error) {
	j, ok := l(id)
	if !ok {
		return nil, fmt.Errorf("job %q: %w", id, rpcerr.ErrNotFound)
	}
	return j, nil
}

// dataService serves Data.Shard from the current generation.
type dataService struct {
	cohortv1.UnimplementedDataServer
	jobs jobLookup
}

// Shard streams one rank's training or validation rows with their global
// row numbers.
func (s dataService) Shard(req *cohortv1.ShardRequest, st grpc.ServerStreamingServer[cohortv1.ShardChunk]) error {
	if err := req.Validate(); err != nil {
		return fmt.Errorf("coordinator: shard: %w", err)
	}
	j, err := s.jobs.find(req.GetJobId())
	if err != nil {
		return fmt.Errorf("coordinator: shard: %w", err)
	}
	g, err := j.current(req.GetGeneration())
	if err != nil {
		return fmt.Errorf("coordinator: shard: %w", err)
	}
	if err := g.authorize(req.GetToken()); err != nil {
		return fmt.Errorf("coordinator: shard: %w", err)
	}
	world, rank := uint32(len(g.plan.Workers)), req.GetRank()
	if req.GetWorldSize() != world {
		return fmt.Errorf("coordinator: shard: rank %d of %d, generation %d has %d workers: %w",
			rank, req.GetWorldSize(), g.plan.Generation, world, rpcerr.ErrInvalidArgument)
	}
	var rows [][]int
	var data model.Data
	switch req.GetSplit() {
	case cohortv1.Split_SPLIT_TRAIN:
		rows, data = g.train, g.prep.TrainData
	case cohortv1.Split_SPLIT_VALIDATION:
		rows, data = g.val, g.prep.ValData
	default:
		return fmt.Errorf("coordinator: shard: split %v, want train or validation: %w", req.GetSplit(), rpcerr.ErrInvalidArgument)
	}
	return streamShard(st.Context(), st.Send, g, rows[rank], data)
}

// streamShard sends the rows idx of data in chunks of
// cohortv1.ShardChunkRows rows. It sends no customer ids: the workers do
// not use them, and a long id would push a chunk past the workers' 4 MiB
// receive limit.
func streamShard(ctx context.Context, send func(*cohortv1.ShardChunk) error, g *generation, idx []int, data model.Data) error {
	cols := data.Cols
	per := cohortv1.ShardChunkRows(cols)
	seq := uint32(0)
	for lo := 0; lo == 0 || lo < len(idx); lo += per {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("coordinator: shard: %w", err)
		}
		part := idx[lo:min(lo+per, len(idx))]
		c := &cohortv1.ShardChunk{Seq: seq, Rows: uint32(len(part)), Features: make([]byte, 0, len(part)*cols*4),
			Labels: make([]float32, len(part)), GlobalRows: make([]uint32, len(part)),
			Last: lo+per >= len(idx)}
		if seq == 0 {
			c.FeatureNames, c.Log1P = g.prep.Dataset.FeatureNames, g.prep.Dataset.Log1p
			c.TotalRows, c.SplitRows = uint64(len(idx)), uint64(data.Rows)
		}
		for i, r := range part {
			for _, v := range data.X[r*cols : (r+1)*cols] {
				c.Features = binary.LittleEndian.AppendUint32(c.Features, math.Float32bits(v))
			}
			c.Labels[i], c.GlobalRows[i] = data.Y[r], uint32(r)
		}
		if err := send(c); err != nil {
			return fmt.Errorf("coordinator: shard: send chunk %d: %w", seq, err)
		}
		seq++
	}
	return nil
}

// current returns the running generation when the request names it.
func (j *Job) current(gen uint64) (*generation, error) {
	id := j.cfg.JobID
	j.mu.Lock()
	g := j.gen
	j.mu.Unlock()
	if g == nil || g.plan.Generation != gen {
		return nil, fmt.Errorf("job %s generation %d is not the current one: %w", id, gen, rpcerr.ErrStaleGeneration)
	}
	return g, nil
}

// reportService serves Coordinator.Report: it hands reports of the
// current generation to Train.
type reportService struct {
	cohortv1.UnimplementedCoordinatorServer
	jobs jobLookup
}

// Report queues a worker's report for Train.
func (s reportService) Report(ctx context.Context, req *cohortv1.ReportRequest) (*cohortv1.ReportResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: report: %w", err)
	}
	j, g, err := s.from(req.GetJobId(), req.GetGeneration(), req.GetRank(), req.GetWorker(), req.GetToken())
	if err != nil {
		return nil, fmt.Errorf("coordinator: report: %w", err)
	}
	switch req.GetReport().(type) {
	case *cohortv1.ReportRequest_Epoch, *cohortv1.ReportRequest_Final, *cohortv1.ReportRequest_Checkpoint:
		// train.proto: only rank 0 reports progress and the model.
		if req.GetRank() != 0 {
			return nil, fmt.Errorf("coordinator: report: %T from rank %d: only rank 0 sends it: %w",
				req.GetReport(), req.GetRank(), rpcerr.ErrInvalidArgument)
		}
	}
	var cerr error
	switch {
	case req.GetEpoch() != nil:
		cerr = g.checkEpoch(req.GetEpoch())
	case req.GetFinal() != nil:
		cerr = g.checkFinal(req.GetFinal())
	case req.GetCheckpoint() != nil:
		cerr = g.checkCheckpoint(req.GetCheckpoint())
	}
	if cerr != nil {
		return nil, fmt.Errorf("coordinator: report: %w", cerr)
	}
	if c := req.GetCheckpoint(); c != nil {
		// A checkpoint is recorded at once, not queued behind epochs:
		// the pointer must reach etcd even while Train is busy.
		if err := j.checkpointed(ctx, req, c); err != nil {
			return nil, fmt.Errorf("coordinator: report: %w", err)
		}
		return &cohortv1.ReportResponse{}, nil
	}
	if err := g.queue(ctx, req); err != nil {
		return nil, fmt.Errorf("coordinator: report: %w", err)
	}
	return &cohortv1.ReportResponse{}, nil
}

// from finds the job and its current generation a report names, and
// checks that the report carries the generation's token and that rank and
// worker are one of that generation's workers.
func (s reportService) from(jobID string, gen uint64, rank uint32, worker string, token []byte) (*Job, *generation, error) {
	j, err := s.jobs.find(jobID)
	if err != nil {
		return nil, nil, err
	}
	g, err := j.current(gen)
	if err != nil {
		return nil, nil, err
	}
	if err := g.authorize(token); err != nil {
		return nil, nil, err
	}
	if err := g.sender(rank, worker); err != nil {
		return nil, nil, err
	}
	return j, g, nil
}

// authorize checks a request's token against the generation's
// (GenerationPlan.token), in constant time: only the plan's readers, the
// generation's workers (etcd clients), know it. Naming the right worker
// is not enough: worker names are no secret (cohort top shows them).
func (g *generation) authorize(token []byte) error {
	if err := cohortv1.CheckToken(token, g.token); err != nil {
		return fmt.Errorf("job %s generation %d: %w", g.plan.Job, g.plan.Generation, err)
	}
	return nil
}

// sender checks that rank and worker name one of the generation's workers.
func (g *generation) sender(rank uint32, worker string) error {
	if int(rank) >= len(g.plan.Workers) || g.plan.Workers[rank] != worker {
		return fmt.Errorf("worker %.128q is not rank %d of job %s generation %d: %w",
			worker, rank, g.plan.Job, g.plan.Generation, rpcerr.ErrInvalidArgument)
	}
	return nil
}

// queue hands a report to Train.
func (g *generation) queue(ctx context.Context, req *cohortv1.ReportRequest) error {
	select {
	case g.reports <- req:
		return nil
	case <-g.done:
		return fmt.Errorf("job %s generation %d no longer listens: %w", req.GetJobId(), req.GetGeneration(), rpcerr.ErrFinished)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReportFinal takes rank 0's final model in chunks and queues it for
// Train as one report. The first chunk names the sender and the model's
// size, which must be the job's network's; nothing beyond it is taken, so
// a sender cannot make the coordinator hold more than the model.
func (s reportService) ReportFinal(st grpc.ClientStreamingServer[cohortv1.FinalModelChunk, cohortv1.ReportResponse]) error {
	ctx := st.Context()
	first, err := st.Recv()
	if err != nil {
		return fmt.Errorf("coordinator: report final model: %w", err)
	}
	if err := first.Validate(); err != nil {
		return fmt.Errorf("coordinator: report final model: %w", err)
	}
	if first.GetSeq() != 0 {
		return fmt.Errorf("coordinator: report final model: first chunk %d, want 0: %w", first.GetSeq(), rpcerr.ErrInvalidArgument)
	}
	_, g, err := s.from(first.GetJobId(), first.GetGeneration(), first.GetRank(), first.GetWorker(), first.GetToken())
	if err != nil {
		return fmt.Errorf("coordinator: report final model: %w", err)
	}
	if first.GetRank() != 0 {
		return fmt.Errorf("coordinator: report final model: from rank %d: only rank 0 sends it: %w", first.GetRank(), rpcerr.ErrInvalidArgument)
	}
	want, err := g.paramBytes()
	if err != nil {
		return fmt.Errorf("coordinator: report final model: %w", err)
	}
	if first.GetParamBytes() != uint64(want) {
		return fmt.Errorf("coordinator: report final model: %d param bytes, the job's network has %d: %w",
			first.GetParamBytes(), want, rpcerr.ErrInvalidArgument)
	}
	if first.GetEpochCount() == 0 {
		return fmt.Errorf("coordinator: report final model: no epochs: a trained model has at least one: %w", rpcerr.ErrInvalidArgument)
	}
	f := proto.CloneOf(first.GetModel())
	f.Params = make([]byte, 0, want)
	// The epochs grow as they come: the count is the sender's word, and
	// a stream that stops early must not have made the coordinator hold
	// room for MaxEpochs of them.
	f.Epochs = make([]*cohortv1.EpochStats, 0, min(first.GetEpochCount(), 1024))
	for c, seq := first, uint32(0); ; seq++ {
		if seq > 0 {
			if c, err = st.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("stream ended before the last chunk: %w", rpcerr.ErrInvalidArgument)
				}
				return fmt.Errorf("coordinator: report final model: chunk %d: %w", seq, err)
			}
			if err := c.Validate(); err != nil {
				return fmt.Errorf("coordinator: report final model: %w", err)
			}
		}
		switch {
		case c.GetSeq() != seq:
			err = fmt.Errorf("chunk %d, want %d", c.GetSeq(), seq)
		case len(f.Params)+len(c.GetParams()) > want:
			err = fmt.Errorf("chunk %d: more than the %d param bytes announced", seq, want)
		case len(f.Epochs)+len(c.GetEpochs()) > int(first.GetEpochCount()):
			err = fmt.Errorf("chunk %d: more than the %d epochs announced", seq, first.GetEpochCount())
		}
		if err != nil {
			return fmt.Errorf("coordinator: report final model: %w: %w", err, rpcerr.ErrInvalidArgument)
		}
		f.Params = append(f.Params, c.GetParams()...)
		f.Epochs = append(f.Epochs, c.GetEpochs()...)
		if c.GetLast() {
			break
		}
	}
	if len(f.Params) != want || len(f.Epochs) != int(first.GetEpochCount()) {
		return fmt.Errorf("coordinator: report final model: got %d param bytes and %d epochs, the first chunk announced %d and %d: %w",
			len(f.Params), len(f.Epochs), want, first.GetEpochCount(), rpcerr.ErrInvalidArgument)
	}
	if err := g.checkFinal(f); err != nil {
		return fmt.Errorf("coordinator: report final model: %w", err)
	}
	req := &cohortv1.ReportRequest{JobId: first.GetJobId(), Generation: first.GetGeneration(), Rank: first.GetRank(),
		Worker: first.GetWorker(), Report: &cohortv1.ReportRequest_Final{Final: f}}
	if err := g.queue(ctx, req); err != nil {
		return fmt.Errorf("coordinator: report final model: %w", err)
	}
	return st.SendAndClose(&cohortv1.ReportResponse{})
}

// paramBytes is the size of the job's network's parameters as
// little-endian float32s: what a final model must carry.
func (g *generation) paramBytes() (int, error) {
	layout, err := g.prep.Spec.Model.WithDefaults().Layout(g.prep.TrainData.Cols)
	if err != nil {
		return 0, fmt.Errorf("job %s: network: %w", g.plan.Job, err)
	}
	return 4 * layout.Size, nil
}
