package worker

import (
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// fakeData is a Data client whose Shard stream returns chunks, then io.EOF;
// it counts the chunks the receiver asked for.
type fakeData struct {
	chunks []*cohortv1.ShardChunk
	recvs  int
}

func (f *fakeData) Shard(context.Context, *cohortv1.ShardRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[cohortv1.ShardChunk], error) {
	return fakeShardStream{f: f}, nil
}

// fakeShardStream's other methods (grpc.ClientStream) are not used by
// fetchSplit.
type fakeShardStream struct {
	grpc.ClientStream
	f *fakeData
}

func (s fakeShardStream) Recv() (*cohortv1.ShardChunk, error) {
	if s.f.recvs >= len(s.f.chunks) {
		return nil, io.EOF
	}
	s.f.recvs++
	return s.f.chunks[s.f.recvs-1], nil
}

// shardChunk is chunk seq of a stream of 2-feature rows numbered from
// first; seq 0 carries the schema and announces total rows of a split of
// 100.
func shardChunk(seq uint32, first, rows, total int, last bool) *cohortv1.ShardChunk {
	c := &cohortv1.ShardChunk{Seq: seq, Rows: uint32(rows), Features: make([]byte, rows*2*4),
		Labels: make([]float32, rows), GlobalRows: make([]uint32, rows), Last: last}
	for i := range rows {
		c.GlobalRows[i] = uint32(first + i)
	}
	if seq == 0 {
		c.FeatureNames, c.Log1P, c.TotalRows, c.SplitRows = []string{"a", "b"}, []bool{false, true}, uint64(total), 100
	}
	return c
}

// TestFetchSplitChecksChunks ensures fetchSplit checks every chunk against
// its bounds and the stream's schema (ShardChunk.Validate), and stops at
// the first chunk that takes the rows past what the first one announced,
// rather than reading on to the end.
func TestFetchSplitChecksChunks(t *testing.T) {
	endless := []*cohortv1.ShardChunk{shardChunk(0, 0, 3, 4, false)}
	for seq := uint32(1); seq < 50; seq++ {
		endless = append(endless, shardChunk(seq, int(seq)*3, 3, 0, false))
	}
	for _, tc := range []struct {
		name   string
		chunks []*cohortv1.ShardChunk
		want   string // "" = accepted
		recvs  int    // the most chunks fetchSplit may read
	}{
		{"whole", []*cohortv1.ShardChunk{shardChunk(0, 0, 3, 5, false), shardChunk(1, 3, 2, 0, true)}, "", 2},
		{"ids may come", func() []*cohortv1.ShardChunk {
			c := shardChunk(0, 0, 2, 2, true)
			c.CustomerIds = []string{"c1", "c2"}
			return []*cohortv1.ShardChunk{c}
		}(), "", 1},
		{"more rows than announced", endless, "more than the 4", 2},
		{"first chunk over", []*cohortv1.ShardChunk{shardChunk(0, 0, 3, 2, true)}, "more than the 2", 1},
		{"fewer rows than announced", []*cohortv1.ShardChunk{shardChunk(0, 0, 3, 5, true)}, "announced 5", 1},
		{"schema on a later chunk", func() []*cohortv1.ShardChunk {
			c := shardChunk(1, 3, 2, 0, true)
			c.FeatureNames = []string{"x"}
			return []*cohortv1.ShardChunk{shardChunk(0, 0, 3, 5, false), c}
		}(), "first chunk only", 2},
		{"no features", []*cohortv1.ShardChunk{func() *cohortv1.ShardChunk {
			c := shardChunk(0, 0, 0, 0, true)
			c.FeatureNames, c.Log1P = nil, nil
			return c
		}()}, "feature_names: 0", 1},
		{"too many features", []*cohortv1.ShardChunk{func() *cohortv1.ShardChunk {
			c := shardChunk(0, 0, 0, 0, true)
			c.FeatureNames, c.Log1P = make([]string, cohortv1.MaxFeatures+1), make([]bool, cohortv1.MaxFeatures+1)
			for i := range c.FeatureNames {
				c.FeatureNames[i] = "f"
			}
			return c
		}()}, "feature_names: 1025", 1},
		{"long customer id", []*cohortv1.ShardChunk{func() *cohortv1.ShardChunk {
			c := shardChunk(0, 0, 1, 1, true)
			c.CustomerIds = []string{strings.Repeat("c", cohortv1.MaxCustomerIDLen+1)}
			return c
		}()}, "customer_ids[0]", 1},
		{"row numbers missing", []*cohortv1.ShardChunk{func() *cohortv1.ShardChunk {
			c := shardChunk(0, 0, 2, 2, true)
			c.GlobalRows = c.GlobalRows[:1]
			return c
		}()}, "global_rows", 1},
		{"row number past the split", []*cohortv1.ShardChunk{shardChunk(0, 99, 2, 2, true)}, "global row 100", 1},
		{"chunk out of order", []*cohortv1.ShardChunk{shardChunk(0, 0, 3, 5, false), shardChunk(2, 3, 2, 0, true)}, "chunk 2, want 1", 2},
		{"no last chunk", []*cohortv1.ShardChunk{shardChunk(0, 0, 3, 5, false)}, "before the last chunk", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeData{chunks: tc.chunks}
			s, err := fetchSplit(t.Context(), f, &cohortv1.ShardRequest{JobId: "j", Generation: 1, WorldSize: 1, Split: cohortv1.Split_SPLIT_TRAIN})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && (s.data.Rows != len(s.data.Y) || len(s.data.X) != 2*s.data.Rows || len(s.global) != s.data.Rows):
				t.Errorf("got %d rows with %d labels, %d features, %d row numbers", s.data.Rows, len(s.data.Y), len(s.data.X), len(s.global))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err %v, want one containing %q", err, tc.want)
			}
			if f.recvs > tc.recvs {
				t.Errorf("read %d chunks, want at most %d", f.recvs, tc.recvs)
			}
		})
	}
}
