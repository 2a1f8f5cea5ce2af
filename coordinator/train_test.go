package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

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
// row's features, label, id and global row number, with the schema and
// counts on the first chunk only.
func TestStreamShard(t *testing.T) {
	const cols = 200000 // ~0.8 MB a row: four rows fill a chunk
	p := prepared(10, cols)
	g := &generation{prep: p}
	idx := []int{1, 3, 4, 6, 7, 9}
	var chunks []*cohortv1.ShardChunk
	send := func(c *cohortv1.ShardChunk) error { chunks = append(chunks, c); return nil }
	if err := streamShard(context.Background(), send, g, idx, p.TrainData, p.Train); err != nil {
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
			if c.GetCustomerIds()[k] != p.Train[r].ID || c.GetLabels()[k] != float32(r) || feats[k*cols+7] != float32(int(r)*cols+7) {
				t.Errorf("row %d: id %s label %v feature 7 %v", r, c.GetCustomerIds()[k], c.GetLabels()[k], feats[k*cols+7])
			}
		}
		rows = append(rows, c.GetGlobalRows()...)
	}
	if !slices.Equal(rows, []uint32{1, 3, 4, 6, 7, 9}) {
		t.Errorf("rows %v", rows)
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
