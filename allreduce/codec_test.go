package allreduce

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestCodecRoundTrip ensures every field of a Chunk survives the raw
// framing, through the copying and the zero-copy paths, split into frames
// at awkward places as HTTP/2 delivers them.
func TestCodecRoundTrip(t *testing.T) {
	in := &cohortv1.Chunk{Job: "job-ü", Generation: 1 << 40, Step: 9, Phase: cohortv1.Phase_PHASE_ALL_GATHER,
		Round: 3, Chunk: 1 << 20, From: 5, To: 6, Lane: 2, Lanes: 4, Payload: bytes.Repeat([]byte{1, 2, 3, 4, 5}, 999)}
	for _, zeroCopy := range []bool{false, true} {
		var v any = in
		written := make(writtenSignal)
		if zeroCopy {
			v = &sendFrame{chunk: in, written: written}
		}
		enc, err := codec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		flat := enc.Materialize()
		enc.Free()
		if zeroCopy {
			select {
			case <-written:
			default:
				t.Fatal("freeing the frame did not signal that the payload is written")
			}
		}
		// Re-split the frame into 7-byte pieces.
		var split mem.BufferSlice
		for len(flat) > 0 {
			k := min(7, len(flat))
			split = append(split, mem.SliceBuffer(flat[:k]))
			flat = flat[k:]
		}
		out := &cohortv1.Chunk{Payload: make([]byte, 0, 10)}
		if err := (codec{}).Unmarshal(split, out); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(in, out) {
			t.Fatalf("zero copy %v: got %v, want %v", zeroCopy, out, in)
		}
	}
}

// TestCodecRefuses ensures malformed or oversized frames are errors, not
// panics or huge allocations.
func TestCodecRefuses(t *testing.T) {
	frame := func(kind byte, jobLen uint16, rest int) []byte {
		b := make([]byte, frameHeader+rest)
		b[0] = kind
		binary.LittleEndian.PutUint16(b[2:], jobLen)
		return b
	}
	tests := []struct {
		name string
		b    []byte
		into any
	}{
		{"short header", make([]byte, frameHeader-1), &cohortv1.Chunk{}},
		{"job longer than frame", frame(kindChunk, 10, 5), &cohortv1.Chunk{}},
		{"job too long", frame(kindChunk, maxJobLen+1, maxJobLen+1), &cohortv1.Chunk{}},
		{"payload too large", frame(kindChunk, 0, 3+MaxChunkBytes+4), &cohortv1.Chunk{}},
		{"ack as chunk", frame(kindAck, 0, 0), &cohortv1.Chunk{}},
		{"chunk as ack", frame(kindChunk, 0, 0), &cohortv1.Ack{}},
		{"ack with payload", frame(kindAck, 0, 4), &cohortv1.Ack{}},
		{"other type", frame(kindChunk, 0, 0), &cohortv1.ShardRequest{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := (codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(tc.b)}, tc.into); err == nil {
				t.Fatal("Unmarshal accepted a bad frame")
			}
		})
	}
	if _, err := (codec{}).Marshal(&cohortv1.Chunk{Payload: make([]byte, MaxChunkBytes+1)}); err == nil {
		t.Error("Marshal accepted an oversized payload")
	}
}

// TestCodecFrames ensures the zero-copy receive path (recvFrame, then
// applyFrags) sums and copies exactly, whatever the alignment and length of
// the pieces the payload arrives in, values split across pieces included.
func TestCodecFrames(t *testing.T) {
	src := inputs(2, 1001, 5)
	payload := bytesOf(src[0])
	payload = append([]byte(nil), payload...)
	in := &cohortv1.Chunk{Job: "job-1", Generation: 3, Phase: cohortv1.Phase_PHASE_REDUCE_SCATTER, Payload: payload}
	enc, err := codec{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	flat := enc.Materialize()
	for _, piece := range []int{1, 3, 7, 16, 4093, len(flat)} {
		t.Run(fmt.Sprintf("piece=%d", piece), func(t *testing.T) {
			var split mem.BufferSlice
			for rest := flat; len(rest) > 0; {
				k := min(piece, len(rest))
				split = append(split, mem.SliceBuffer(rest[:k]))
				rest = rest[k:]
			}
			var f recvFrame
			if err := (codec{}).Unmarshal(split, &f); err != nil {
				t.Fatal(err)
			}
			defer f.data.Free()
			if f.chunk.GetJob() != "job-1" || f.chunk.GetGeneration() != 3 {
				t.Fatalf("header: got job %q generation %d", f.chunk.GetJob(), f.chunk.GetGeneration())
			}
			sum := append([]float32(nil), src[1]...)
			applyFrags(sum, f.frags, true)
			cp := make([]float32, len(src[0]))
			applyFrags(cp, f.frags, false)
			for i := range sum {
				if want := src[1][i] + src[0][i]; math.Float32bits(sum[i]) != math.Float32bits(want) {
					t.Fatalf("sum[%d] = %v, want %v", i, sum[i], want)
				}
				if math.Float32bits(cp[i]) != math.Float32bits(src[0][i]) {
					t.Fatalf("copy[%d] = %v, want %v", i, cp[i], src[0][i])
				}
			}
		})
	}
}
