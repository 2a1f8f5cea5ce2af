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

	"github.com/cohort-clv/cohort/internal/atomicfile"
)

// A checkpoint file holds a TrainState: the magic line, a little-endian
// uint32 length and that many bytes of JSON (everything but the float
// arrays, with their lengths), the arrays as little-endian float32 in the
// order params, adam m, adam v, best, and a sha256 of all that precedes it.
// It is written atomically, so a crash leaves the previous checkpoint.
const checkpointMagic = "cohort-checkpoint/1\n"

// maxCheckpointHeader bounds the JSON header a reader accepts.
const maxCheckpointHeader = 64 << 20

type checkpointHeader struct {
	State  TrainState `json:"state"` // float arrays emptied
	Params int        `json:"params"`
	M      int        `json:"adam_m"`
	V      int        `json:"adam_v"`
	Best   int        `json:"best"`
}

// SaveCheckpoint writes s to path.
func SaveCheckpoint(path string, s *TrainState) error {
	h := checkpointHeader{State: *s, Params: len(s.Params), M: len(s.Adam.M), V: len(s.Adam.V), Best: len(s.Best)}
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

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint, verifying
// its format and checksum.
func LoadCheckpoint(path string) (*TrainState, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: load checkpoint: %w", err)
	}
	s, err := decodeCheckpoint(raw)
	if err != nil {
		return nil, fmt.Errorf("model: load checkpoint %s: %w", path, err)
	}
	return s, nil
}

func decodeCheckpoint(raw []byte) (*TrainState, error) {
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
	s := h.State
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
	return &s, nil
}
