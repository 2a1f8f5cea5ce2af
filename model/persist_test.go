package model

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// trainedModel trains a small model for persistence tests.
func trainedModel(t *testing.T) (*Model, Data) {
	t.Helper()
	train, _, log1p := synthetic(300, 20)
	test, _, _ := synthetic(100, 21)
	cfg := smallConfig()
	cfg.MaxEpochs = 3
	names := []string{"spend", "count", "recency", "a", "b", "noise"}
	m, _, err := Train(context.Background(), testBackend(t), train, Data{}, cfg, TrainOptions{FeatureNames: names, Log1p: log1p})
	if err != nil {
		t.Fatal(err)
	}
	m.Meta = json.RawMessage(`{"customer":"id","horizon":"39w"}`)
	return m, test
}

// TestSaveLoadRoundTrip ensures a loaded model has the same configuration,
// pipeline and metadata and predicts bit-identically.
func TestSaveLoadRoundTrip(t *testing.T) {
	m, test := trainedModel(t)
	dir := filepath.Join(t.TempDir(), "model")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Config, m.Config) || !reflect.DeepEqual(got.Pipeline, m.Pipeline) || !reflect.DeepEqual(got.Layout, m.Layout) {
		t.Errorf("loaded config/pipeline/layout differ:\n%+v\n%+v", got, m)
	}
	if string(got.Meta) != string(m.Meta) {
		t.Errorf("meta = %s, want %s", got.Meta, m.Meta)
	}
	be := testBackend(t)
	p1, s1 := m.Predict(be, test.X, test.Rows)
	p2, s2 := got.Predict(be, test.X, test.Rows)
	if !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(s1, s2) {
		t.Error("predictions differ after save and load")
	}
	entries, _ := os.ReadDir(dir)
	if w := weightsFile(t, dir); len(entries) != 2 || !strings.HasPrefix(w, "weights-") {
		t.Errorf("model dir holds %d entries, weights %q; want only %s and weights-<sha>.bin (no temp files)", len(entries), w, ManifestFile)
	}
}

// weightsFile is the weights file the manifest in dir names.
func weightsFile(t *testing.T, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var man manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	return man.Weights.File
}

// TestLoadRejectsDamagedModels ensures Load names the file and the problem
// for a flipped weight byte, a truncated weights file and foreign or newer
// manifests.
func TestLoadRejectsDamagedModels(t *testing.T) {
	m, _ := trainedModel(t)
	editManifest := func(f func(map[string]any)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			path := filepath.Join(dir, ManifestFile)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var man map[string]any
			if err := json.Unmarshal(raw, &man); err != nil {
				t.Fatal(err)
			}
			f(man)
			raw, _ = json.Marshal(man)
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	const weightsMark = "<the weights file>" // the name the manifest records
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []string
	}{
		{"flipped byte", func(t *testing.T, dir string) {
			path := filepath.Join(dir, weightsFile(t, dir))
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)/2] ^= 0x01
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{weightsMark, "checksum mismatch"}},
		{"truncated weights", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, weightsFile(t, dir)), 8); err != nil {
				t.Fatal(err)
			}
		}, []string{weightsMark, "8 bytes"}},
		{"newer version", editManifest(func(m map[string]any) { m["version"] = 2 }), []string{ManifestFile, "version 2"}},
		{"foreign format", editManifest(func(m map[string]any) { m["format"] = "keras" }), []string{ManifestFile, `"keras"`}},
		{"layout mismatch", editManifest(func(m map[string]any) { m["layout"].(map[string]any)["inputs"] = 9 }), []string{ManifestFile, "layout"}},
		{"missing weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, weightsFile(t, dir))) }, []string{weightsMark}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			weights := weightsFile(t, dir)
			tt.damage(t, dir)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load accepted a damaged model")
			}
			for _, w := range tt.want {
				if w == weightsMark {
					w = weights
				}
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

// TestSaveRejectsInvalidMeta ensures metadata that is not JSON fails the
// save instead of producing an unreadable manifest.
func TestSaveRejectsInvalidMeta(t *testing.T) {
	m, _ := trainedModel(t)
	m.Meta = json.RawMessage(`{not json`)
	dir := t.TempDir()
	if err := m.Save(dir); err == nil || !strings.Contains(err.Error(), ManifestFile) {
		t.Errorf("err = %v, want an encode error naming %s", err, ManifestFile)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !os.IsNotExist(err) {
		t.Errorf("manifest written despite the error (stat: %v)", err)
	}
}

// otherModel is m with different weights: what a re-run saves over m.
func otherModel(t *testing.T, m *Model) *Model {
	t.Helper()
	params := m.Params()
	for i := range params {
		params[i] += 0.25
	}
	o, err := NewModel(m.Config, m.Layout, m.Pipeline, params)
	if err != nil {
		t.Fatal(err)
	}
	o.Meta = m.Meta
	return o
}

// saveOldLayout writes m as cohorts before content-addressed weights did:
// the weights in WeightsFile, which the manifest names.
func saveOldLayout(t *testing.T, m *Model, dir string) {
	t.Helper()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	weights := man["weights"].(map[string]any)
	if err := os.Rename(filepath.Join(dir, weights["file"].(string)), filepath.Join(dir, WeightsFile)); err != nil {
		t.Fatal(err)
	}
	weights["file"] = WeightsFile
	if raw, err = json.MarshalIndent(man, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadsAs fails the test unless dir loads as a model with want's weights.
func loadsAs(t *testing.T, dir string, want *Model, what string) {
	t.Helper()
	got, err := Load(dir)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(got.Params(), want.Params()) {
		t.Fatalf("%s: loaded weights differ", what)
	}
}

// TestLoadOldLayout ensures a model saved by an older cohort (weights in
// weights.bin) loads, and that saving over it leaves the new model and
// removes weights.bin.
func TestLoadOldLayout(t *testing.T) {
	m, _ := trainedModel(t)
	dir := t.TempDir()
	saveOldLayout(t, m, dir)
	loadsAs(t, dir, m, "old layout")
	next := otherModel(t, m)
	if err := next.Save(dir); err != nil {
		t.Fatal(err)
	}
	loadsAs(t, dir, next, "saved over the old layout")
	if _, err := os.Stat(filepath.Join(dir, WeightsFile)); !os.IsNotExist(err) {
		t.Errorf("%s still there after a save over it (stat: %v)", WeightsFile, err)
	}
}

// errCrash stops a save between two steps, as a crash would.
var errCrash = errors.New("crash")

// TestSaveOverwriteCrash saves a model over another and stops the save
// after each of its steps, as a crash would: the directory must load as
// the old model before the manifest's rename and as the new one after,
// never fail. The next save must then leave only the new model's two
// files. The old model is in the current layout or the older one.
func TestSaveOverwriteCrash(t *testing.T) {
	old, _ := trainedModel(t)
	next := otherModel(t, old)
	for _, layout := range []string{"current", "weights.bin"} {
		for _, tc := range []struct {
			crashAfter saveStep // "" : no crash
			want       *Model
		}{
			{savedWeights, old},
			{savedManifest, next},
			{"", next},
		} {
			t.Run(fmt.Sprintf("%s/%s", layout, cmp.Or(string(tc.crashAfter), "no crash")), func(t *testing.T) {
				dir := t.TempDir()
				if layout == "current" {
					if err := old.Save(dir); err != nil {
						t.Fatal(err)
					}
				} else {
					saveOldLayout(t, old, dir)
				}
				var steps []saveStep
				err := next.save(dir, func(s saveStep) error {
					steps = append(steps, s)
					// At every step the directory holds a whole model.
					want := old
					if s == savedManifest {
						want = next
					}
					loadsAs(t, dir, want, fmt.Sprintf("after %q", s))
					if s == tc.crashAfter {
						return errCrash
					}
					return nil
				})
				if tc.crashAfter == "" && (err != nil || len(steps) != 2) {
					t.Fatalf("save = %v after steps %q, want nil after 2", err, steps)
				}
				if tc.crashAfter != "" && !errors.Is(err, errCrash) {
					t.Fatalf("save = %v, want the crash", err)
				}
				loadsAs(t, dir, tc.want, "after the crash")

				// The next save cleans up whatever the crash left.
				if err := next.Save(dir); err != nil {
					t.Fatal(err)
				}
				loadsAs(t, dir, next, "saved again")
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				if want := []string{ManifestFile, weightsFile(t, dir)}; !reflect.DeepEqual(names, want) {
					t.Errorf("model dir holds %q, want %q", names, want)
				}
			})
		}
	}
}
