package model

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCheckpointRoundTrip ensures a saved state loads back equal, and a
// damaged or foreign file fails with an error that says so.
func TestCheckpointRoundTrip(t *testing.T) {
	train, _, log1p := synthetic(300, 51)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch = 1, 100
	var st *TrainState
	_, _, err := Train(t.Context(), testBackend(t), train, Data{Cols: train.Cols}, cfg, TrainOptions{
		Log1p: log1p, CheckpointEvery: 2, Checkpoint: func(s *TrainState) error { st = s; return nil }})
	if err != nil || st == nil {
		t.Fatalf("train: %v (state %v)", err, st != nil)
	}
	st.History.BestValLoss = 1.5 // NaN-free, so reflect.DeepEqual can compare
	path := filepath.Join(t.TempDir(), "ckpt")
	if err := SaveCheckpoint(path, st); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Params, st.Params) || !reflect.DeepEqual(got.Adam, st.Adam) ||
		got.Epoch != st.Epoch || got.Offset != st.Offset || !reflect.DeepEqual(got.Pipeline, st.Pipeline) {
		t.Fatalf("loaded state differs from the saved one")
	}
	raw, _ := os.ReadFile(path)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"flipped byte", flip(raw, len(raw)/2), "checksum mismatch"},
		{"truncated", raw[:len(raw)-10], "checksum mismatch"},
		{"foreign", []byte("hello world, this is not a checkpoint at all........"), "bad magic"},
		{"empty", nil, "bad magic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad")
			os.WriteFile(p, tc.data, 0o644)
			_, err := LoadCheckpoint(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want it to name %s and say %q", err, p, tc.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}
