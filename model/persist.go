package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cohort-clv/cohort/internal/atomicfile"
)

// On-disk format: a directory with ManifestFile (JSON) and the weights (the
// flat parameters as little-endian float32) in the file the manifest names,
// weights-<the first 16 hex digits of their SHA-256>.bin. The manifest
// records the weights' SHA-256, so a torn or edited weights file is
// detected on Load. Models written before the weights were named by their
// content keep them in WeightsFile; Load reads those too.
const (
	ManifestFile = "model.json"
	// WeightsFile is where models saved by older cohorts keep their
	// weights; Save now writes weights-<sha>.bin (see Save).
	WeightsFile   = "weights.bin"
	formatName    = "cohort-model"
	formatVersion = 1
)

// weightsHexDigits is how much of the weights' SHA-256 names their file:
// 64 bits, so two different weights in one directory never share a name.
const weightsHexDigits = 16

// weightsName is the file name of weights whose SHA-256 is sum (hex).
func weightsName(sum string) string { return "weights-" + sum[:weightsHexDigits] + ".bin" }

// isWeightsName says whether name is a weights file Save writes, or wrote
// in older cohorts.
func isWeightsName(name string) bool {
	if name == WeightsFile {
		return true
	}
	hexPart, ok := strings.CutPrefix(name, "weights-")
	if !ok {
		return false
	}
	hexPart, ok = strings.CutSuffix(hexPart, ".bin")
	if !ok || len(hexPart) != weightsHexDigits {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}

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

// saveStep names the points between Save's steps, where a crash may stop
// it (see save).
type saveStep string

const (
	// savedWeights: the new weights file is written; the old manifest,
	// and so the old model, is still the one Load reads.
	savedWeights saveStep = "weights written"
	// savedManifest: the new manifest is in place (the commit point);
	// the old weights file may still be there, unreferenced.
	savedManifest saveStep = "manifest committed"
)

// Save writes the model into dir (created if missing), replacing a model
// saved there before. Each file is written to a temporary name, fsynced
// and renamed. The weights go first, under a name of their own (their
// checksum), so the old manifest keeps naming the old weights until the
// new manifest's rename, the one commit point: a crash leaves either the
// old model or the new one, both loadable. The weights files no manifest
// names any more are removed last.
func (m *Model) Save(dir string) error {
	return m.save(dir, func(saveStep) error { return nil })
}

// save is Save; after each step it calls between, and an error from it
// stops the save there, as a crash would (tests look at the directory then).
func (m *Model) save(dir string, between func(saveStep) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	raw := make([]byte, 4*len(m.params))
	for i, w := range m.params {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(w))
	}
	sum := sha256.Sum256(raw)
	hexSum := hex.EncodeToString(sum[:])
	weights := weightsName(hexSum)
	man := manifest{
		Format: formatName, Version: formatVersion,
		Config: m.Config, Layout: m.Layout, Pipeline: m.Pipeline, Meta: m.Meta,
		Weights: weightsRef{File: weights, Encoding: "float32-le", Count: len(m.params), SHA256: hexSum},
	}
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fmt.Errorf("model: save: encode %s: %w", ManifestFile, err)
	}
	// Same name, same content: rewriting the weights of an unchanged model
	// in place changes no byte the old manifest checks.
	if err := atomicfile.WriteBytes(filepath.Join(dir, weights), raw); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	if err := between(savedWeights); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, ManifestFile), append(js, '\n')); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	if err := between(savedManifest); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	removeStaleWeights(dir, weights)
	return nil
}

// removeStaleWeights removes the weights files in dir other than keep: the
// replaced model's, and any a crashed Save left before its commit. The
// model is saved by then, so this is best effort: a file left over takes
// space but cannot be read by mistake, since Load reads only the one the
// manifest names, and the next Save tries again.
func removeStaleWeights(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if name := e.Name(); name != keep && e.Type().IsRegular() && isWeightsName(name) {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
}

// Load reads a model written by Save, checking the format version, the
// layout and the weights' checksum. It reads the weights file the manifest
// names, so models saved by older cohorts (WeightsFile) load too.
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
