package coordinator

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/grpc"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// chunkBytes bounds a ShardChunk's payload below the 4 MiB the proto
// promises, leaving room for field tags.
const chunkBytes = 3 << 20

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
	j, err := s.jobs.find(req.GetJobId())
	if err != nil {
		return fmt.Errorf("coordinator: shard: %w", err)
	}
	g, err := j.current(req.GetGeneration())
	if err != nil {
		return fmt.Errorf("coordinator: shard: %w", err)
	}
	world, rank := uint32(len(g.plan.Workers)), req.GetRank()
	if req.GetWorldSize() != world || rank >= world {
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
	customers := g.prep.Train
	if req.GetSplit() == cohortv1.Split_SPLIT_VALIDATION {
		customers = g.prep.Val
	}
	return streamShard(st.Context(), st.Send, g, rows[rank], data, customers)
}

// streamShard sends the rows idx of data in chunks under chunkBytes.
func streamShard(ctx context.Context, send func(*cohortv1.ShardChunk) error, g *generation, idx []int, data model.Data, customers []*clv.Customer) error {
	cols := data.Cols
	per := max(1, chunkBytes/(cols*4+4+4+260))
	seq := uint32(0)
	for lo := 0; lo == 0 || lo < len(idx); lo += per {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("coordinator: shard: %w", err)
		}
		part := idx[lo:min(lo+per, len(idx))]
		c := &cohortv1.ShardChunk{Seq: seq, Rows: uint32(len(part)), Features: make([]byte, 0, len(part)*cols*4),
			Labels: make([]float32, len(part)), CustomerIds: make([]string, len(part)), GlobalRows: make([]uint32, len(part)),
			Last: lo+per >= len(idx)}
		if seq == 0 {
			c.FeatureNames, c.Log1P = g.prep.Dataset.FeatureNames, g.prep.Dataset.Log1p
			c.TotalRows, c.SplitRows = uint64(len(idx)), uint64(data.Rows)
		}
		for i, r := range part {
			for _, v := range data.X[r*cols : (r+1)*cols] {
				c.Features = binary.LittleEndian.AppendUint32(c.Features, math.Float32bits(v))
			}
			c.Labels[i], c.CustomerIds[i], c.GlobalRows[i] = data.Y[r], customers[r].ID, uint32(r)
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
	j, err := s.jobs.find(req.GetJobId())
	if err != nil {
		return nil, fmt.Errorf("coordinator: report: %w", err)
	}
	g, err := j.current(req.GetGeneration())
	if err != nil {
		return nil, fmt.Errorf("coordinator: report: %w", err)
	}
	if req.GetReport() == nil {
		return nil, fmt.Errorf("coordinator: report: no epoch, checkpoint, final model or error: %w", rpcerr.ErrInvalidArgument)
	}
	if c := req.GetCheckpoint(); c != nil {
		// A checkpoint is recorded at once, not queued behind epochs:
		// the pointer must reach etcd even while Train is busy.
		if err := j.checkpointed(ctx, req, c); err != nil {
			return nil, fmt.Errorf("coordinator: report: %w", err)
		}
		return &cohortv1.ReportResponse{}, nil
	}
	select {
	case g.reports <- req:
		return &cohortv1.ReportResponse{}, nil
	case <-g.done:
		return nil, fmt.Errorf("coordinator: report: job %s generation %d no longer listens: %w", req.GetJobId(), req.GetGeneration(), rpcerr.ErrFinished)
	case <-ctx.Done():
		return nil, fmt.Errorf("coordinator: report: %w", ctx.Err())
	}
}
