package allreduce

import (
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// CodecName is the gRPC content-subtype of the raw framing the gRPC
// transport uses for cohort.v1.Ring.Stream.
const CodecName = "cohort-ring"

// The raw frame of a Chunk or an Ack: a fixed little-endian header, then the
// job id, then the payload, which gRPC writes straight from the sender's
// buffer and the receiver copies once into a recycled buffer, never parsed
// as a protobuf bytes field would be.
//
//	offset size field
//	0      1    kind: 1 Chunk, 2 Ack
//	1      1    phase (cohortv1.Phase)
//	2      2    job length J (<= maxJobLen)
//	4      8    generation
//	12     8    step
//	20     4    round
//	24     4    chunk
//	28     4    from
//	32     4    to
//	36     4    lane
//	40     4    lanes
//	44     J    job
//	44+J   P    zero padding, P = pad(J)
//	44+J+P ...  payload (<= MaxChunkBytes)
//
// A hello (phase PHASE_HELLO) has no payload: its payload bytes carry
// Chunk.token instead (at most cohortv1.MaxTokenLen), the generation's
// secret the receiver checks before it lets the lane in.
//
// The padding puts the payload at a multiple of 4 bytes from the start of
// gRPC's 5-byte message prefix, and so, as gRPC starts each message on a
// new HTTP/2 frame and frames hold 16 KiB, at an aligned address in every
// frame buffer the receiver sums from.
const (
	frameHeader = 44
	kindChunk   = 1
	kindAck     = 2
	maxJobLen   = 256
)

// pad returns the padding after a job id of n bytes.
func pad(n int) int { return (4 - (grpcPrefix+frameHeader+n)%4) % 4 }

// grpcPrefix is the length of the compression flag and length gRPC writes
// before every message.
const grpcPrefix = 5

// codec implements encoding.CodecV2 for *cohortv1.Chunk and *cohortv1.Ack.
// It is stateless, hence safe for concurrent use as gRPC requires.
type codec struct{}

// init registers the codec the way gRPC's own proto codec is registered:
// the registry is gRPC's, keyed by content-subtype, and a server picks the
// codec from each call's content type, so the worker's other services keep
// protobuf.
func init() { encoding.RegisterCodecV2(codec{}) }

func (codec) Name() string { return CodecName }

// sendFrame is a Chunk whose payload the codec does not copy: gRPC writes
// it from the sender's memory and closes written once done with it.
type sendFrame struct {
	chunk   *cohortv1.Chunk
	written writtenSignal
}

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	var (
		hdr     [frameHeader]byte
		m       *cohortv1.Chunk
		written writtenSignal
	)
	switch x := v.(type) {
	case *sendFrame:
		m, written = x.chunk, x.written
	case *cohortv1.Chunk:
		m = x
	case *cohortv1.Ack:
		hdr[0] = kindAck
		binary.LittleEndian.PutUint64(hdr[4:], x.GetGeneration())
		return mem.BufferSlice{mem.SliceBuffer(hdr[:])}, nil
	default:
		return nil, fmt.Errorf("allreduce: %s codec: cannot marshal %T", CodecName, v)
	}
	job, payload := m.GetJob(), m.GetPayload()
	if m.GetPhase() == cohortv1.Phase_PHASE_HELLO {
		if len(payload) != 0 || len(m.GetToken()) > cohortv1.MaxTokenLen {
			return nil, fmt.Errorf("allreduce: %s codec: hello with %d payload bytes and a %d-byte token, want none and <= %d",
				CodecName, len(payload), len(m.GetToken()), cohortv1.MaxTokenLen)
		}
		payload = m.GetToken()
	}
	if len(job) > maxJobLen || len(payload) > MaxChunkBytes {
		return nil, fmt.Errorf("allreduce: %s codec: job %d bytes (max %d) or payload %d bytes (max %d)",
			CodecName, len(job), maxJobLen, len(payload), MaxChunkBytes)
	}
	hdr[0], hdr[1] = kindChunk, byte(m.GetPhase())
	binary.LittleEndian.PutUint16(hdr[2:], uint16(len(job)))
	binary.LittleEndian.PutUint64(hdr[4:], m.GetGeneration())
	binary.LittleEndian.PutUint64(hdr[12:], m.GetStep())
	for i, f := range []uint32{m.GetRound(), m.GetChunk(), m.GetFrom(), m.GetTo(), m.GetLane(), m.GetLanes()} {
		binary.LittleEndian.PutUint32(hdr[20+4*i:], f)
	}
	head := append(append(hdr[:], job...), make([]byte, pad(len(job)))...)
	if written != nil {
		// mem.NewBuffer only tracks (and so only signals) buffers above
		// gRPC's pooling threshold; the sender copies smaller payloads.
		return mem.BufferSlice{mem.SliceBuffer(head), mem.NewBuffer(&payload, written)}, nil
	}
	return mem.BufferSlice{mem.SliceBuffer(append(head, payload...))}, nil
}

// recvFrame is a received Chunk whose payload stays in gRPC's frame
// buffers: frags are views of data, which holds a reference until the Ring
// is done and calls data.Free.
type recvFrame struct {
	chunk cohortv1.Chunk // header fields only
	frags [][]byte
	data  mem.BufferSlice
}

// unmarshalFrame parses the header of a Chunk frame and keeps its payload
// in place, saving a copy of every byte received.
func unmarshalFrame(data mem.BufferSlice, f *recvFrame) error {
	total := data.Len()
	head := gather(data, 0, min(total, frameHeader))
	if len(head) < frameHeader || head[0] != kindChunk {
		return fmt.Errorf("allreduce: %s codec: frame of %d bytes, want a chunk of >= %d", CodecName, total, frameHeader)
	}
	jobLen := int(binary.LittleEndian.Uint16(head[2:]))
	payloadLen := total - frameHeader - jobLen - pad(jobLen)
	if jobLen > maxJobLen || payloadLen < 0 || payloadLen > MaxChunkBytes {
		return fmt.Errorf("allreduce: %s codec: frame of %d bytes with job length %d: want job <= %d and payload <= %d bytes",
			CodecName, total, jobLen, maxJobLen, MaxChunkBytes)
	}
	parseHeader(head, &f.chunk)
	f.chunk.Job = string(gather(data, frameHeader, jobLen))
	skip := frameHeader + jobLen + pad(jobLen)
	f.frags = f.frags[:0]
	for _, b := range data {
		p := b.ReadOnlyData()
		if skip >= len(p) {
			skip -= len(p)
			continue
		}
		f.frags = append(f.frags, p[skip:])
		skip = 0
	}
	data.Ref()
	f.data = data
	return nil
}

// gather copies n bytes at offset off of data, across buffer boundaries.
func gather(data mem.BufferSlice, off, n int) []byte {
	out := make([]byte, 0, n)
	for _, b := range data {
		p := b.ReadOnlyData()
		if off >= len(p) {
			off -= len(p)
			continue
		}
		p = p[off:]
		off = 0
		out = append(out, p[:min(len(p), n-len(out))]...)
		if len(out) == n {
			break
		}
	}
	return out
}

func parseHeader(hdr []byte, m *cohortv1.Chunk) {
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(hdr[off:]) }
	m.Phase = cohortv1.Phase(hdr[1])
	m.Generation = binary.LittleEndian.Uint64(hdr[4:])
	m.Step = binary.LittleEndian.Uint64(hdr[12:])
	m.Round, m.Chunk, m.From, m.To, m.Lane, m.Lanes = u32(20), u32(24), u32(28), u32(32), u32(36), u32(40)
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*recvFrame); ok {
		return unmarshalFrame(data, f)
	}
	total := data.Len()
	r := data.Reader()
	defer r.Close()
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("allreduce: %s codec: frame of %d bytes, want >= %d", CodecName, total, frameHeader)
	}
	switch m := v.(type) {
	case *cohortv1.Chunk:
		if hdr[0] != kindChunk {
			return fmt.Errorf("allreduce: %s codec: frame kind %d, want %d (chunk)", CodecName, hdr[0], kindChunk)
		}
		jobLen := int(binary.LittleEndian.Uint16(hdr[2:]))
		payloadLen := total - frameHeader - jobLen - pad(jobLen)
		if jobLen > maxJobLen || payloadLen < 0 || payloadLen > MaxChunkBytes {
			return fmt.Errorf("allreduce: %s codec: frame of %d bytes with job length %d: want job <= %d and payload <= %d bytes",
				CodecName, total, jobLen, maxJobLen, MaxChunkBytes)
		}
		job := make([]byte, jobLen)
		payload := make([]byte, payloadLen)
		if _, err := io.ReadFull(r, job); err != nil {
			return fmt.Errorf("allreduce: %s codec: read job: %w", CodecName, err)
		}
		if _, err := r.Discard(pad(jobLen)); err != nil {
			return fmt.Errorf("allreduce: %s codec: read padding: %w", CodecName, err)
		}
		if _, err := io.ReadFull(r, payload); err != nil {
			return fmt.Errorf("allreduce: %s codec: read payload: %w", CodecName, err)
		}
		m.Job, m.Payload = string(job), payload
		parseHeader(hdr[:], m)
		if m.Phase == cohortv1.Phase_PHASE_HELLO {
			// A hello's payload bytes are its token.
			if len(payload) > cohortv1.MaxTokenLen {
				return fmt.Errorf("allreduce: %s codec: hello with a %d-byte token, want <= %d", CodecName, len(payload), cohortv1.MaxTokenLen)
			}
			m.Token, m.Payload = payload, nil
		}
	case *cohortv1.Ack:
		if hdr[0] != kindAck || total != frameHeader {
			return fmt.Errorf("allreduce: %s codec: frame kind %d of %d bytes, want kind %d (ack) of %d", CodecName, hdr[0], total, kindAck, frameHeader)
		}
		m.Generation = binary.LittleEndian.Uint64(hdr[4:])
	default:
		return fmt.Errorf("allreduce: %s codec: cannot unmarshal into %T", CodecName, v)
	}
	return nil
}
