package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/cohort-clv/cohort/internal/atomicfile"
	"math"
	"os"
	"path/filepath"
)

// On-disk format: a directory with ManifestFile (JSON) and WeightsFile (the
// flat parameters as little-endian float32). The manifest records the
// weights' SHA-256, so a torn or edited weights file is detected on Load.
const (
	ManifestFile  = "model.json"
	WeightsFile   = "weights.bin"
	formatName    = "cohort-model"
	formatVersion = 1
)

type manifest struct {
	Format   string          `json:"format"`
	Version  int             `json:"version"`
	Config   Config          `json:"config"`
	Layout   Layout          `json:"layout"`
	Pipeline Pipeline        `json:"pipeline"`
	Meta     json.RawMessage `json:"meta,omitempty"`
	Weights  weightsRef      `json:"weights"`
}

type weightsRef struct {
	File     string `json:"file"`
	Encoding string `json:"encoding"`
	Count    int    `json:"count"`
	SHA256   string `json:"sha256"`
}

// Save writes the model into dir (created if missing). Each file is written
// to a temporary name, fsynced and renamed, weights first, so a crash leaves
// either the old model or the new one, never a manifest without its weights.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	raw := make([]byte, 4*len(m.params))
	for i, w := range m.params {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(w))
	}
	sum := sha256.Sum256(raw)
	man := manifest{
		Format: formatName, Version: formatVersion,
		Config: m.Config, Layout: m.Layout, Pipeline: m.Pipeline, Meta: m.Meta,
		Weights: weightsRef{File: WeightsFile, Encoding: "float32-le", Count: len(m.params), SHA256: hex.EncodeToString(sum[:])},
	}
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fmt.Errorf("model: save: encode %s: %w", ManifestFile, err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, WeightsFile), raw); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, ManifestFile), append(js, '\n')); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	return nil
}

// Load reads a model written by Save, checking the format version, the
// layout and the weights' checksum.
func Load(dir string) (*Model, error) {
	mpath := filepath.Join(dir, ManifestFile)
	js, err := os.ReadFile(mpath)
	if err != nil {
		return nil, fmt.Errorf("model: load: %w", err)
	}
	var man manifest
	if err := json.Unmarshal(js, &man); err != nil {
		return nil, fmt.Errorf("model: load: %s: %w", mpath, err)
	}
	if man.Format != formatName {
		return nil, fmt.Errorf("model: load: %s: format %q, want %q", mpath, man.Format, formatName)
	}
	if man.Version != formatVersion {
		return nil, fmt.Errorf("model: load: %s: format version %d, this build reads version %d", mpath, man.Version, formatVersion)
	}
	if man.Weights.Encoding != "float32-le" || man.Weights.File == "" || filepath.Base(man.Weights.File) != man.Weights.File {
		return nil, fmt.Errorf("model: load: %s: weights entry %q (%s) is not a float32-le file in the model directory", mpath, man.Weights.File, man.Weights.Encoding)
	}
	if err := man.Config.Validate(); err != nil {
		return nil, fmt.Errorf("model: load: %s: %w", mpath, err)
	}
	wpath := filepath.Join(dir, man.Weights.File)
	raw, err := os.ReadFile(wpath)
	if err != nil {
		return nil, fmt.Errorf("model: load: %w", err)
	}
	if len(raw) != 4*man.Weights.Count {
		return nil, fmt.Errorf("model: load: %s: %d bytes, %s records %d float32 values (%d bytes)", wpath, len(raw), ManifestFile, man.Weights.Count, 4*man.Weights.Count)
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != man.Weights.SHA256 {
		return nil, fmt.Errorf("model: load: %s: checksum mismatch: %s records sha256 %s, file has %s", wpath, ManifestFile, man.Weights.SHA256, got)
	}
	params := make([]float32, man.Weights.Count)
	for i := range params {
		params[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	m, err := NewModel(man.Config, man.Layout, man.Pipeline, params)
	if err != nil {
		return nil, fmt.Errorf("model: load: %s: %w", mpath, err)
	}
	if len(man.Meta) > 0 {
		// MarshalIndent re-indented it on Save; hand back the compact form.
		var buf bytes.Buffer
		if err := json.Compact(&buf, man.Meta); err != nil {
			return nil, fmt.Errorf("model: load: %s: meta: %w", mpath, err)
		}
		m.Meta = buf.Bytes()
	}
	return m, nil
}
