package model

import (
	"context"
	"encoding/json"
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
	if len(entries) != 2 {
		t.Errorf("model dir holds %d entries, want only %s and %s (no temp files)", len(entries), ManifestFile, WeightsFile)
	}
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
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []string
	}{
		{"flipped byte", func(t *testing.T, dir string) {
			path := filepath.Join(dir, WeightsFile)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)/2] ^= 0x01
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{WeightsFile, "checksum mismatch"}},
		{"truncated weights", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, WeightsFile), 8); err != nil {
				t.Fatal(err)
			}
		}, []string{WeightsFile, "8 bytes"}},
		{"newer version", editManifest(func(m map[string]any) { m["version"] = 2 }), []string{ManifestFile, "version 2"}},
		{"foreign format", editManifest(func(m map[string]any) { m["format"] = "keras" }), []string{ManifestFile, `"keras"`}},
		{"layout mismatch", editManifest(func(m map[string]any) { m["layout"].(map[string]any)["inputs"] = 9 }), []string{ManifestFile, "layout"}},
		{"missing weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, WeightsFile)) }, []string{WeightsFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, dir)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load accepted a damaged model")
			}
			for _, w := range tt.want {
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
