package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cohort-clv/cohort/internal/atomicfile"
)

// A checkpoint file holds a TrainState: the magic line, a little-endian
// uint32 length and that many bytes of JSON (everything but the float
// arrays, with their lengths), the arrays as little-endian float32 in the
// order params, adam m, adam v, best, and a sha256 of all that precedes it.
// It is written atomically, so a crash leaves the previous checkpoint.
//
// The header may also hold a fingerprint of the run that wrote it (see
// SaveCheckpointWith): JSON the caller defines, which model stores and
// returns but does not interpret. It is a new key in the JSON header, not a
// new layout, so the magic stays /1: files written before fingerprints
// existed read as checkpoints without one, and a reader that does not know
// the key (an older cohort) still reads the state.
const checkpointMagic = "cohort-checkpoint/1\n"

// maxCheckpointHeader bounds the JSON header a reader accepts.
const maxCheckpointHeader = 64 << 20

type checkpointHeader struct {
	State  TrainState `json:"state"` // float arrays emptied
	Params int        `json:"params"`
	M      int        `json:"adam_m"`
	V      int        `json:"adam_v"`
	Best   int        `json:"best"`
	// Fingerprint is the caller's record of what fixed the run's
	// trajectory (SaveCheckpointWith); absent when it gave none.
	Fingerprint json.RawMessage `json:"fingerprint,omitempty"`
}

// SaveCheckpoint writes s to path, without a fingerprint.
func SaveCheckpoint(path string, s *TrainState) error {
	return SaveCheckpointWith(path, s, nil)
}

// SaveCheckpointWith writes s to path with fingerprint, a JSON value that
// identifies the run (its data and the settings that fix its trajectory),
// so that a later resume can tell a checkpoint of another run from its own
// (LoadCheckpointWith). A nil fingerprint writes none.
func SaveCheckpointWith(path string, s *TrainState, fingerprint json.RawMessage) error {
	if fingerprint != nil && !json.Valid(fingerprint) {
		return fmt.Errorf("model: save checkpoint %s: the fingerprint is not valid JSON", path)
	}
	h := checkpointHeader{State: *s, Params: len(s.Params), M: len(s.Adam.M), V: len(s.Adam.V), Best: len(s.Best),
		Fingerprint: fingerprint}
	h.State.Params, h.State.Adam.M, h.State.Adam.V, h.State.Best = nil, nil, nil, nil
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("model: save checkpoint %s: %w", path, err)
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		sum := sha256.New()
		mw := io.MultiWriter(w, sum)
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(js)))
		for _, b := range [][]byte{[]byte(checkpointMagic), n[:], js} {
			if _, err := mw.Write(b); err != nil {
				return err
			}
		}
		for _, a := range [][]float32{s.Params, s.Adam.M, s.Adam.V, s.Best} {
			if err := binary.Write(mw, binary.LittleEndian, a); err != nil {
				return err
			}
		}
		_, err := w.Write(sum.Sum(nil))
		return err
	})
	if err != nil {
		return fmt.Errorf("model: save checkpoint: %w", err)
	}
	return nil
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint or
// SaveCheckpointWith, verifying its format and checksum.
func LoadCheckpoint(path string) (*TrainState, error) {
	s, _, err := LoadCheckpointWith(path)
	return s, err
}

// LoadCheckpointWith reads a checkpoint like LoadCheckpoint and also
// returns the fingerprint it was saved with: nil for a checkpoint written
// without one (by SaveCheckpoint, or before fingerprints existed).
func LoadCheckpointWith(path string) (*TrainState, json.RawMessage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("model: load checkpoint: %w", err)
	}
	h, err := decodeCheckpoint(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("model: load checkpoint %s: %w", path, err)
	}
	return &h.State, h.Fingerprint, nil
}

func decodeCheckpoint(raw []byte) (*checkpointHeader, error) {
	if !bytes.HasPrefix(raw, []byte(checkpointMagic)) {
		return nil, errors.New("not a cohort checkpoint (bad magic)")
	}
	if len(raw) < len(checkpointMagic)+4+sha256.Size {
		return nil, errors.New("truncated")
	}
	body, tail := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], tail) {
		return nil, errors.New("checksum mismatch: the file is damaged")
	}
	p := body[len(checkpointMagic):]
	n := binary.LittleEndian.Uint32(p)
	p = p[4:]
	if n > maxCheckpointHeader || int(n) > len(p) {
		return nil, fmt.Errorf("header of %d bytes in a file of %d", n, len(raw))
	}
	var h checkpointHeader
	if err := json.Unmarshal(p[:n], &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	p = p[n:]
	s := &h.State
	for _, a := range []struct {
		dst *[]float32
		n   int
	}{{&s.Params, h.Params}, {&s.Adam.M, h.M}, {&s.Adam.V, h.V}, {&s.Best, h.Best}} {
		if a.n < 0 || a.n > len(p)/4 {
			return nil, fmt.Errorf("array of %d values in %d bytes left", a.n, len(p))
		}
		*a.dst = make([]float32, a.n)
		for i := range a.n {
			(*a.dst)[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
		}
		p = p[4*a.n:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%d bytes after the arrays", len(p))
	}
	if string(h.Fingerprint) == "null" {
		h.Fingerprint = nil
	}
	return &h, nil
}

// A Mismatch is a setting in which a run differs from the checkpoint it
// would resume: What names it as a user sets it ("seed", "lr"), Checkpoint
// and Run are its values in the checkpoint's run and in this one.
type Mismatch struct {
	What, Checkpoint, Run string
}

// ResumeMismatches lists the settings of run that differ from ckpt's, the
// configuration a checkpoint was trained with, in ways that change the
// training trajectory: resuming with any of them would give a model that
// neither configuration trains. Zero fields count as their defaults.
//
// MaxEpochs and Patience may differ: they only say when training stops,
// so raising them trains an interrupted run longer, and lowering them
// stops it sooner, exactly as an uninterrupted run with the new values
// would (a Done state trains no further either way). The exception is
// MaxEpochs with Cosine, where it sets the length of the learning-rate
// schedule of every step.
func ResumeMismatches(ckpt, run Config) []Mismatch {
	a, b := ckpt.WithDefaults(), run.WithDefaults()
	var ms []Mismatch
	add := func(what string, x, y string) {
		if x != y {
			ms = append(ms, Mismatch{What: what, Checkpoint: x, Run: y})
		}
	}
	f32 := func(x float32) string { return strconv.FormatFloat(float64(x), 'g', -1, 32) }
	onOff := func(v bool) string {
		if v {
			return "on"
		}
		return "off"
	}
	hidden := func(h []int) string {
		if len(h) == 0 {
			return "none"
		}
		s := make([]string, len(h))
		for i, w := range h {
			s[i] = strconv.Itoa(w)
		}
		return strings.Join(s, ",")
	}
	if !slices.Equal(a.Hidden, b.Hidden) {
		add("hidden layers", hidden(a.Hidden), hidden(b.Hidden))
	}
	add("ensemble", strconv.Itoa(a.Ensemble), strconv.Itoa(b.Ensemble))
	add("seed", strconv.FormatUint(a.Seed, 10), strconv.FormatUint(b.Seed, 10))
	add("lr", f32(a.LR), f32(b.LR))
	add("weight decay", f32(a.WeightDecay), f32(b.WeightDecay))
	add("batch", strconv.Itoa(a.Batch), strconv.Itoa(b.Batch))
	add("beta1", f32(a.Beta1), f32(b.Beta1))
	add("beta2", f32(a.Beta2), f32(b.Beta2))
	add("eps", f32(a.Eps), f32(b.Eps))
	add("clip norm", f32(a.ClipNorm), f32(b.ClipNorm))
	add("warmup steps", strconv.Itoa(a.WarmupSteps), strconv.Itoa(b.WarmupSteps))
	add("cosine decay", onOff(a.Cosine), onOff(b.Cosine))
	if a.Cosine && b.Cosine {
		add("epochs (the length of the cosine schedule)", strconv.Itoa(a.MaxEpochs), strconv.Itoa(b.MaxEpochs))
	}
	return ms
}
