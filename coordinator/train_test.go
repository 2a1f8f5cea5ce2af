package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// prepared is a fake prepared job of n training customers with cols
// features each; row i's features are i*cols .. i*cols+cols-1.
func prepared(n, cols int) *job.Prepared {
	p := &job.Prepared{Dataset: &clv.Dataset{FeatureNames: make([]string, cols), Log1p: make([]bool, cols)},
		TrainData: model.Data{Rows: n, Cols: cols}}
	for i := range cols {
		p.Dataset.FeatureNames[i] = fmt.Sprintf("f%d", i)
	}
	for i := range n {
		p.Train = append(p.Train, &clv.Customer{ID: fmt.Sprintf("c%05d", i), HoldoutSpend: float64(i)})
		p.TrainData.Y = append(p.TrainData.Y, float32(i))
		for c := range cols {
			p.TrainData.X = append(p.TrainData.X, float32(i*cols+c))
		}
	}
	return p
}

// TestShardRows ensures every row lands in exactly one shard, the one the
// plan's Owner names, in increasing order.
func TestShardRows(t *testing.T) {
	for _, workers := range []int{1, 2, 5} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			names := make([]string, workers)
			for i := range names {
				names[i] = fmt.Sprintf("w%d", i)
			}
			plan, err := NewPlan("j", 1, names)
			if err != nil {
				t.Fatal(err)
			}
			p := prepared(1000, 1)
			seen := make([]int, len(p.Train))
			for rank, rows := range shardRows(plan, p.Train) {
				if !slices.IsSorted(rows) {
					t.Errorf("rank %d rows not sorted", rank)
				}
				for _, r := range rows {
					seen[r]++
					if o := plan.Owner(p.Train[r].ID); o != rank {
						t.Errorf("row %d in shard %d, owner %d", r, rank, o)
					}
				}
			}
			for r, n := range seen {
				if n != 1 {
					t.Fatalf("row %d in %d shards", r, n)
				}
			}
		})
	}
}

// TestStreamShard ensures a shard streams in several chunks carrying each
// row's features, label and global row number, with the schema and counts
// on the first chunk only.
func TestStreamShard(t *testing.T) {
	const cols = 200000 // ~0.8 MB a row: five rows fill a chunk
	p := prepared(10, cols)
	g := &generation{prep: p}
	idx := []int{1, 3, 4, 6, 7, 9}
	var chunks []*cohortv1.ShardChunk
	send := func(c *cohortv1.ShardChunk) error { chunks = append(chunks, c); return nil }
	if err := streamShard(context.Background(), send, g, idx, p.TrainData); err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 2 || !chunks[len(chunks)-1].GetLast() {
		t.Fatalf("%d chunks, want several ending with last", len(chunks))
	}
	var rows []uint32
	for i, c := range chunks {
		if c.GetSeq() != uint32(i) || (i == 0) != (c.GetTotalRows() == 6 && c.GetSplitRows() == 10 && len(c.GetFeatureNames()) == cols) {
			t.Errorf("chunk %d: seq %d total %d split %d names %d", i, c.GetSeq(), c.GetTotalRows(), c.GetSplitRows(), len(c.GetFeatureNames()))
		}
		feats, err := decodeFloats(c.GetFeatures())
		if err != nil {
			t.Fatal(err)
		}
		for k, r := range c.GetGlobalRows() {
			if c.GetLabels()[k] != float32(r) || feats[k*cols+7] != float32(int(r)*cols+7) {
				t.Errorf("row %d: label %v feature 7 %v", r, c.GetLabels()[k], feats[k*cols+7])
			}
		}
		rows = append(rows, c.GetGlobalRows()...)
	}
	if !slices.Equal(rows, []uint32{1, 3, 4, 6, 7, 9}) {
		t.Errorf("rows %v", rows)
	}
}

// TestStreamShardChunksFit ensures every chunk streamShard sends passes
// the worker's ShardChunk.Validate and fits the worker's 4 MiB receive
// limit, whatever the length of the data's customer ids: the ids are not
// sent (the workers do not use them), where a long one once pushed chunks
// past the limit and failed every worker after the whole load.
func TestStreamShardChunksFit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows, cols int
		idLen      int
	}{
		{"one feature, short ids", 40000, 1, 6},
		{"one feature, long ids", 20000, 1, 1000},
		{"most features, long ids", 3000, cohortv1.MaxFeatures, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := prepared(tc.rows, tc.cols)
			for i, c := range p.Train {
				c.ID = fmt.Sprintf("%0*d", tc.idLen, i)
			}
			idx := make([]int, tc.rows)
			for i := range idx {
				idx[i] = i
			}
			var chunks, rows int
			send := func(c *cohortv1.ShardChunk) error {
				chunks++
				rows += int(c.GetRows())
				if err := c.Validate(tc.cols); err != nil {
					return err
				}
				if n := proto.Size(c); n > cohortv1.MaxChunkBytes {
					return fmt.Errorf("chunk %d: %d bytes", c.GetSeq(), n)
				}
				return nil
			}
			if err := streamShard(t.Context(), send, &generation{prep: p}, idx, p.TrainData); err != nil {
				t.Fatal(err)
			}
			if rows != tc.rows || chunks < 2 {
				t.Errorf("%d rows in %d chunks, want %d rows in several", rows, chunks, tc.rows)
			}
		})
	}
}

// TestShardValidatesRequest ensures Shard refuses a request out of bounds
// before it looks the job up.
func TestShardValidatesRequest(t *testing.T) {
	svc := dataService{jobs: func(string) (*Job, bool) { return nil, false }}
	valid := func() *cohortv1.ShardRequest {
		return &cohortv1.ShardRequest{JobId: "j", Generation: 1, Rank: 0, WorldSize: 2, Split: cohortv1.Split_SPLIT_TRAIN}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*cohortv1.ShardRequest)
		want   error
	}{
		{"valid, unknown job", func(*cohortv1.ShardRequest) {}, rpcerr.ErrNotFound},
		{"bad job id", func(r *cohortv1.ShardRequest) { r.JobId = "J/1" }, rpcerr.ErrInvalidArgument},
		{"no generation", func(r *cohortv1.ShardRequest) { r.Generation = 0 }, rpcerr.ErrInvalidArgument},
		{"rank past world", func(r *cohortv1.ShardRequest) { r.Rank = 2 }, rpcerr.ErrInvalidArgument},
		{"world too large", func(r *cohortv1.ShardRequest) { r.WorldSize = cohortv1.MaxWorkers + 1 }, rpcerr.ErrInvalidArgument},
		{"no split", func(r *cohortv1.ShardRequest) { r.Split = cohortv1.Split_SPLIT_UNSPECIFIED }, rpcerr.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := valid()
			tc.mutate(req)
			if err := svc.Shard(req, nil); !errors.Is(err, tc.want) {
				t.Errorf("Shard = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCurrent ensures shard and report requests for another job or
// generation are refused with the sentinel errors of rpcerr.
func TestCurrent(t *testing.T) {
	plan, err := NewPlan("j", 3, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	j := &Job{cfg: Config{JobID: "j"}}
	lookup := jobLookup(func(id string) (*Job, bool) { return j, id == "j" })
	if _, err := j.current(3); !errors.Is(err, rpcerr.ErrStaleGeneration) {
		t.Errorf("before any generation: %v, want stale generation", err)
	}
	j.gen = &generation{plan: plan}
	for _, tc := range []struct {
		id   string
		gen  uint64
		want error
	}{{"j", 3, nil}, {"j", 2, rpcerr.ErrStaleGeneration}, {"k", 3, rpcerr.ErrNotFound}} {
		_, err := lookup.find(tc.id)
		if err == nil {
			_, err = j.current(tc.gen)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("job %q generation %d: %v, want %v", tc.id, tc.gen, err, tc.want)
		}
	}
}

// TestLostWorkers ensures a plan member is lost when it is missing from
// the live list or registered again under another lease.
func TestLostWorkers(t *testing.T) {
	m := func(name string, lease clientv3.LeaseID) membership.Member {
		return membership.Member{Name: name, Lease: lease}
	}
	plan := []membership.Member{m("a", 1), m("b", 2)}
	for _, tc := range []struct {
		name string
		live []membership.Member
		want []string
	}{
		{"all live", []membership.Member{m("a", 1), m("b", 2), m("c", 3)}, nil},
		{"one gone", []membership.Member{m("a", 1)}, []string{"b"}},
		{"re-registered", []membership.Member{m("a", 9), m("b", 2)}, []string{"a"}},
		{"none", nil, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lostWorkers(plan, tc.live); !slices.Equal(got, tc.want) {
				t.Errorf("lost %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConfigFill ensures a coordinator config is refused with a reason
// when it cannot work.
func TestConfigFill(t *testing.T) {
	cli := &clientv3.Client{}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no client", Config{Workers: 1}},
		{"no workers", Config{Client: cli}},
		{"bad id", Config{Client: cli, Workers: 1, JobID: "Job_1"}},
		{"negative timeout", Config{Client: cli, Workers: 1, Timeout: -1}},
		{"too many workers", Config{Client: cli, Workers: cohortv1.MaxWorkers + 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.fill(); err == nil {
				t.Error("accepted")
			}
		})
	}
	ok := Config{Client: cli, WorkerNames: []string{"a", "b"}}
	if err := ok.fill(); err != nil || ok.Workers != 2 || ok.JobID == "" {
		t.Errorf("fill = %v, workers %d, id %q", err, ok.Workers, ok.JobID)
	}
}
