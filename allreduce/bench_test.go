package allreduce

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// benchBytes is the buffer of the benchmark: 64 MiB of float32.
const benchBytes = 64 << 20

// benchRing times Sum of a 64 MiB buffer on every rank at once and reports
// algorithm and bus bandwidth as nccl-tests define them: algbw = bytes /
// time, busbw = algbw * 2(n-1)/n, the rate each link actually carries.
func benchRing(b *testing.B, ts []Transport) {
	n := len(ts)
	rings := newRings(b, ts, DefaultChunkBytes, 30*time.Second)
	bufs := make([][]float32, n)
	for r := range bufs {
		bufs[r] = make([]float32, benchBytes/4) // zeros stay zeros, however often summed
	}
	sum := func() {
		for r, err := range runAll(n, func(r int) error { return rings[r].Sum(context.Background(), bufs[r]) }) {
			if err != nil {
				b.Fatalf("rank %d: %v", r, err)
			}
		}
	}
	sum() // warm-up: connections, buffers
	cpu0 := cpuSeconds(b)
	b.ResetTimer()
	for range b.N {
		sum()
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	alg := benchBytes / sec / 1e9
	b.ReportMetric(alg, "algGB/s")
	b.ReportMetric(alg*2*float64(n-1)/float64(n), "busGB/s")
	// CPU seconds per allreduce, all ranks together: on a machine shared
	// with other work, the figure that wall-clock bandwidth cannot give.
	b.ReportMetric((cpuSeconds(b)-cpu0)/float64(b.N), "cpu-s/op")
}

// cpuSeconds returns the user and system CPU time of this process.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkGRPCRing is the benchmark: 4 ranks x 64 MiB float32 over
// the gRPC transport on loopback.
func BenchmarkGRPCRing(b *testing.B) {
	for _, lanes := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			ts, _ := newCluster(b, 4).transports(b, 7, lanes)
			benchRing(b, ts)
		})
	}
}

// BenchmarkLocalRing is the same ring with no network: the cost of the
// algorithm itself (summing, copying, scheduling).
func BenchmarkLocalRing(b *testing.B) {
	benchRing(b, localTransports(4))
}

// BenchmarkRawTCPRing is the yardstick: the same ring over plain loopback
// TCP connections with a minimal framing (writev of header and payload).
func BenchmarkRawTCPRing(b *testing.B) {
	benchRing(b, tcpTransports(b, 4))
}

// tcpTransport is a Transport over one plain TCP connection per ordered
// pair of ranks. It trusts its peers: a benchmark yardstick, not a product.
type tcpTransport struct {
	rank    int
	out, in []net.Conn
	job     string
	gen     uint64
	pool    bufferPool // payloads, recycled like the gRPC transport's
}

func tcpTransports(b *testing.B, n int) []Transport {
	ts := make([]*tcpTransport, n)
	for r := range ts {
		ts[r] = &tcpTransport{rank: r, out: make([]net.Conn, n), in: make([]net.Conn, n), job: "job-1", gen: 7}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	for from := range n {
		for to := range n {
			if from == to {
				continue
			}
			c, err := net.Dial("tcp", lis.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			s, err := lis.Accept()
			if err != nil {
				b.Fatal(err)
			}
			ts[from].out[to], ts[to].in[from] = c, s
			b.Cleanup(func() { c.Close(); s.Close() })
		}
	}
	out := make([]Transport, n)
	for r := range out {
		out[r] = ts[r]
	}
	return out
}

// deadline applies ctx's deadline to a connection; the benchmark's contexts
// are never cancelled otherwise.
func deadline(ctx context.Context, c net.Conn) {
	d, _ := ctx.Deadline()
	_ = c.SetDeadline(d)
}

func (t *tcpTransport) Send(ctx context.Context, to int, m Message) error {
	c := t.out[to]
	deadline(ctx, c)
	h := make([]byte, 24)
	binary.LittleEndian.PutUint64(h[0:], m.Step)
	binary.LittleEndian.PutUint32(h[8:], uint32(m.Phase))
	binary.LittleEndian.PutUint32(h[12:], uint32(m.Round))
	binary.LittleEndian.PutUint32(h[16:], uint32(m.Chunk))
	binary.LittleEndian.PutUint32(h[20:], uint32(len(m.Payload)))
	bufs := net.Buffers{h, m.Payload}
	_, err := bufs.WriteTo(c)
	return err
}

func (t *tcpTransport) Recv(ctx context.Context, from int) (Message, error) {
	c := t.in[from]
	deadline(ctx, c)
	h := make([]byte, 24)
	if _, err := io.ReadFull(c, h); err != nil {
		return Message{}, err
	}
	buf := t.pool.Get(int(binary.LittleEndian.Uint32(h[20:])))
	p := *buf
	if _, err := io.ReadFull(c, p); err != nil {
		return Message{}, err
	}
	return Message{Job: t.job, Generation: t.gen, Step: binary.LittleEndian.Uint64(h[0:]),
		Phase: Phase(binary.LittleEndian.Uint32(h[8:])), Round: int(binary.LittleEndian.Uint32(h[12:])),
		Chunk: int(binary.LittleEndian.Uint32(h[16:])), Payload: p, done: func() { t.pool.Put(buf) }}, nil
}
