package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

// TestDoneStateResumesWithoutTraining ensures a run that ends (MaxEpochs
// or early stopping) hands OnDone a Done state ordered after every state
// of the run, which survives a checkpoint and from which a resumed run, on
// 1 or 2 replicas, makes no gradient or validation sums and returns the
// finished run's weights (bit for bit) and History.
func TestDoneStateResumesWithoutTraining(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rows      int
		cfg       func(*Config)
		wantEarly bool
	}{
		{"max epochs", 600, func(c *Config) { c.MaxEpochs, c.Batch, c.Patience = 3, 100, -1 }, false},
		{"early stopping", 400, func(c *Config) {
			c.Hidden = []int{32, 32}
			c.LR, c.WeightDecay, c.MaxEpochs, c.Patience, c.Batch = 1e-2, 0, 200, 3, 32 // overfits fast
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			train, _, log1p := synthetic(tc.rows, 71)
			val, _, _ := synthetic(400, 72)
			cfg := smallConfig()
			tc.cfg(&cfg)
			const n = 2

			var mu sync.Mutex
			done := make([][]*TrainState, n)
			last := make([]*TrainState, n) // the last checkpoint of each rank
			opts := func(rank int) TrainOptions {
				return TrainOptions{Log1p: log1p, Rank: rank, Replicas: n, CheckpointEvery: 1,
					Checkpoint: func(s *TrainState) error {
						mu.Lock()
						defer mu.Unlock()
						if s.Done {
							t.Errorf("rank %d: checkpoint at epoch %d row %d is marked done", rank, s.Epoch, s.Offset)
						}
						last[rank] = s
						return nil
					},
					OnDone: func(s *TrainState) {
						mu.Lock()
						defer mu.Unlock()
						done[rank] = append(done[rank], s)
					}}
			}
			red := newLocalReducer(n)
			fin := runShards(t, n, train, val, cfg, opts, red.replica)
			for rank, r := range fin {
				if r.err != nil {
					t.Fatalf("replica %d: %v", rank, r.err)
				}
				if len(done[rank]) != 1 {
					t.Fatalf("replica %d: OnDone called %d times, want once", rank, len(done[rank]))
				}
			}
			hist := fin[0].hist
			if hist.StoppedEarly != tc.wantEarly {
				t.Fatalf("stopped early %v, want %v", hist.StoppedEarly, tc.wantEarly)
			}
			st := done[0][0]
			if !st.Done || st.Epoch != len(hist.Epochs)+1 || st.Offset != 0 {
				t.Fatalf("final state done %v at epoch %d row %d, want done at epoch %d row 0", st.Done, st.Epoch, st.Offset, len(hist.Epochs)+1)
			}
			if c := last[0]; c.Epoch > st.Epoch || c.Epoch == st.Epoch && c.Offset >= st.Offset {
				t.Errorf("last checkpoint at epoch %d row %d is not before the done state's epoch %d row %d", c.Epoch, c.Offset, st.Epoch, st.Offset)
			}
			if o := done[1][0]; !sameBits(o.Params, st.Params) || !sameBits(o.Best, st.Best) || o.Epoch != st.Epoch {
				t.Fatalf("replicas' done states differ")
			}

			path := filepath.Join(t.TempDir(), "done.ckpt")
			if err := SaveCheckpoint(path, st); err != nil {
				t.Fatal(err)
			}
			loaded, err := LoadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			if !loaded.Done || loaded.Epoch != st.Epoch {
				t.Fatalf("checkpoint loads done %v epoch %d, saved done at epoch %d", loaded.Done, loaded.Epoch, st.Epoch)
			}

			for _, m := range []int{1, 2} {
				for _, from := range []struct {
					name  string
					state *TrainState
				}{{"state", st}, {"checkpoint", loaded}} {
					t.Run(fmt.Sprintf("%s on %d replicas", from.name, m), func(t *testing.T) {
						f := newRecordingReducer(m, -1)
						var again []*TrainState
						res := runShards(t, m, train, val, cfg, func(rank int) TrainOptions {
							return TrainOptions{Log1p: log1p, Rank: rank, Replicas: m, ChecksumEvery: 1, Resume: from.state,
								OnDone: func(s *TrainState) {
									mu.Lock()
									defer mu.Unlock()
									again = append(again, s)
								}}
						}, func(rank int) Reducer {
							if m == 1 {
								return nil
							}
							return f.replica(rank)
						})
						for rank, r := range res {
							if r.err != nil {
								t.Fatalf("replica %d: %v", rank, r.err)
							}
							if !sameBits(r.model.Params(), fin[0].model.Params()) {
								t.Errorf("replica %d: resumed weights differ from the finished run's", rank)
							}
							if !reflect.DeepEqual(r.hist, hist) {
								t.Errorf("replica %d: history\n%+v\nwant\n%+v", rank, r.hist, hist)
							}
							if m > 1 {
								if c := f.calls(rank); c != 1 {
									t.Errorf("replica %d made %d sums, want 1 (the statistics)", rank, c)
								}
							}
						}
						if len(again) != m {
							t.Fatalf("OnDone called %d times on %d replicas", len(again), m)
						}
						for _, s := range again {
							if !s.Done || s.Epoch != st.Epoch || s.Offset != 0 || !sameBits(s.Best, st.Best) {
								t.Errorf("resumed run's final state done %v at epoch %d row %d, want the finished run's", s.Done, s.Epoch, s.Offset)
							}
						}
					})
				}
			}
		})
	}
}

// TestDoneRejectsInconsistentState ensures a Done state that could not
// have come from a finished run fails to resume instead of returning
// weights it does not hold.
func TestDoneRejectsInconsistentState(t *testing.T) {
	train, _, log1p := synthetic(300, 73)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch = 1, 100
	var st *TrainState
	_, _, err := Train(t.Context(), testBackend(t), train, Data{Cols: train.Cols}, cfg, TrainOptions{Log1p: log1p, OnDone: func(s *TrainState) { st = s }})
	if err != nil || st == nil {
		t.Fatalf("train: %v (done state %v)", err, st != nil)
	}
	for _, tc := range []struct {
		name string
		edit func(*TrainState)
		want string
	}{
		{"mid-epoch", func(s *TrainState) { s.Offset = 100 }, "done state at epoch 2 row 100"},
		{"no best weights", func(s *TrainState) { s.Best = nil }, "with 0 best parameters"},
		{"short best weights", func(s *TrainState) { s.Best = s.Best[:3] }, "state has 3 best parameters"},
		{"another architecture", func(s *TrainState) { s.Params = append(s.Params, s.Params...) },
			"resume with the --hidden and --ensemble it was trained with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := *st
			tc.edit(&s)
			_, _, err := Train(t.Context(), testBackend(t), train, Data{Cols: train.Cols}, cfg, TrainOptions{Log1p: log1p, Resume: &s})
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestCheckpointWithoutDoneField ensures a checkpoint written before
// TrainState had Done (no "done" in its header) still loads, as an
// unfinished state.
func TestCheckpointWithoutDoneField(t *testing.T) {
	s := &TrainState{Params: []float32{1, 2}, Adam: AdamState{Step: 3, M: []float32{0, 0}, V: []float32{0, 0}}, Epoch: 2, Offset: 5}
	h := checkpointHeader{State: *s, Params: 2, M: 2, V: 2}
	h.State.Params, h.State.Adam.M, h.State.Adam.V = nil, nil, nil
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.Replace(js, []byte(`,"done":false`), nil, 1)
	if bytes.Equal(old, js) {
		t.Fatalf("header %s has no done field to remove", js)
	}
	var raw bytes.Buffer
	raw.WriteString(checkpointMagic)
	binary.Write(&raw, binary.LittleEndian, uint32(len(old)))
	raw.Write(old)
	binary.Write(&raw, binary.LittleEndian, []float32{1, 2, 0, 0, 0, 0})
	sum := sha256.Sum256(raw.Bytes())
	raw.Write(sum[:])
	path := filepath.Join(t.TempDir(), "old.ckpt")
	if err := os.WriteFile(path, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Done || got.Epoch != 2 || got.Offset != 5 || got.Adam.Step != 3 || !sameBits(got.Params, s.Params) {
		t.Fatalf("loaded %+v, want the saved unfinished state", got)
	}
}
