package model

import (
	"encoding/json"
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

// TestCheckpointFingerprint ensures a fingerprint saved with a checkpoint
// loads back unchanged with its state, a checkpoint saved without one (as
// before fingerprints existed) loads with none, and a fingerprint that is
// not JSON is refused before anything is written.
func TestCheckpointFingerprint(t *testing.T) {
	st := &TrainState{Params: []float32{1, 2}, Adam: AdamState{Step: 3, M: []float32{0, 0}, V: []float32{0, 0}}, Epoch: 2, Offset: 5}
	dir := t.TempDir()
	fp := json.RawMessage(`{"format":"test/v1","seed":1}`)
	with := filepath.Join(dir, "with.ckpt")
	if err := SaveCheckpointWith(with, st, fp); err != nil {
		t.Fatal(err)
	}
	got, gotFP, err := LoadCheckpointWith(with)
	if err != nil {
		t.Fatal(err)
	}
	if string(gotFP) != string(fp) || got.Adam.Step != 3 || !sameBits(got.Params, st.Params) {
		t.Fatalf("loaded fingerprint %s step %d, want %s step 3", gotFP, got.Adam.Step, fp)
	}
	if s, err := LoadCheckpoint(with); err != nil || s.Epoch != 2 {
		t.Fatalf("LoadCheckpoint of a fingerprinted checkpoint: %v", err)
	}
	without := filepath.Join(dir, "without.ckpt")
	if err := SaveCheckpoint(without, st); err != nil {
		t.Fatal(err)
	}
	if _, gotFP, err := LoadCheckpointWith(without); err != nil || gotFP != nil {
		t.Fatalf("checkpoint saved without a fingerprint loads one %q (err %v)", gotFP, err)
	}
	if raw, _ := os.ReadFile(without); strings.Contains(string(raw), "fingerprint") {
		t.Errorf("a checkpoint without a fingerprint has the key in its header")
	}
	bad := filepath.Join(dir, "bad.ckpt")
	if err := SaveCheckpointWith(bad, st, json.RawMessage(`{"seed":`)); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("invalid fingerprint: %v, want a refusal", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a refused checkpoint left a file: %v", err)
	}
}

// TestResumeMismatches ensures every Config field that shapes the
// training trajectory is compared, with its user-facing name and values,
// and that MaxEpochs and Patience may change, except MaxEpochs under a
// cosine schedule, whose length it sets. A field added to Config fails
// here until it is classified.
func TestResumeMismatches(t *testing.T) {
	base := DefaultConfig()
	base.WarmupSteps, base.ClipNorm = 10, 1
	mayChange := map[string]bool{"MaxEpochs": true, "Patience": true}
	want := map[string]Mismatch{
		"Hidden":      {"hidden layers", "128,64", "32"},
		"LR":          {"lr", "0.001", "0.01"},
		"WeightDecay": {"weight decay", "0.0001", "0.5"},
		"Beta1":       {"beta1", "0.9", "0.5"},
		"Beta2":       {"beta2", "0.999", "0.5"},
		"Eps":         {"eps", "1e-08", "0.5"},
		"Batch":       {"batch", "512", "7"},
		"ClipNorm":    {"clip norm", "1", "0.5"},
		"WarmupSteps": {"warmup steps", "10", "7"},
		"Cosine":      {"cosine decay", "off", "on"},
		"Seed":        {"seed", "1", "7"},
		"Ensemble":    {"ensemble", "1", "7"},
	}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			run := base
			run.Hidden = []int{128, 64}
			v := reflect.ValueOf(&run).Elem().Field(i)
			switch f.Type.Kind() {
			case reflect.Slice:
				v.Set(reflect.ValueOf([]int{32}))
			case reflect.Float32:
				v.SetFloat(0.5)
				if f.Name == "LR" {
					v.SetFloat(0.01)
				}
			case reflect.Int:
				v.SetInt(7)
			case reflect.Uint64:
				v.SetUint(7)
			case reflect.Bool:
				v.SetBool(true)
			default:
				t.Fatalf("Config.%s of kind %v: teach this test to change it", f.Name, f.Type.Kind())
			}
			got := ResumeMismatches(base, run)
			if mayChange[f.Name] {
				if len(got) != 0 {
					t.Fatalf("changing %s: mismatches %v, want none", f.Name, got)
				}
				return
			}
			w, ok := want[f.Name]
			if !ok {
				t.Fatalf("Config.%s is new: decide whether a resume may change it (ResumeMismatches) and add it here", f.Name)
			}
			if len(got) != 1 || got[0] != w {
				t.Fatalf("changing %s: mismatches %v, want [%v]", f.Name, got, w)
			}
		})
	}

	// Zero fields are their defaults (but for those whose zero means off,
	// and the seed).
	if got := ResumeMismatches(Config{Seed: 1, WeightDecay: 1e-4}, DefaultConfig()); len(got) != 0 {
		t.Errorf("the zero Config and the defaults: mismatches %v, want none", got)
	}
	// With cosine decay the epochs set the schedule.
	a, b := base, base
	a.Cosine, b.Cosine, b.MaxEpochs = true, true, 200
	want2 := []Mismatch{{"epochs (the length of the cosine schedule)", "100", "200"}}
	if got := ResumeMismatches(a, b); !reflect.DeepEqual(got, want2) {
		t.Errorf("cosine schedule of 100 vs 200 epochs: mismatches %v, want %v", got, want2)
	}
}
