package allreduce

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// Size classes of bufferPool: powers of two from 1 KiB to 8 MiB.
const (
	minClass   = 10
	maxClass   = 23
	numClasses = maxClass - minClass + 1
)

// bufferPool is a mem.BufferPool that, unlike gRPC's default, does not clear
// the buffers it hands out. Every user here overwrites all of a buffer before
// reading it (gRPC reads a frame with io.ReadFull, the codec fills a payload
// in full), and clearing cost a fifth of the CPU of a 64 MiB allreduce.
type bufferPool struct {
	classes [numClasses]sync.Pool
}

var _ mem.BufferPool = (*bufferPool)(nil)

func sizeClass(n int) int {
	return max(minClass, bits.Len(uint(max(n, 1)-1)))
}

// Get returns a buffer of length n with unspecified contents.
func (p *bufferPool) Get(n int) *[]byte {
	k := sizeClass(n)
	if k > maxClass {
		b := make([]byte, n)
		return &b
	}
	if v, ok := p.classes[k-minClass].Get().(*[]byte); ok {
		*v = (*v)[:n]
		return v
	}
	b := make([]byte, n, 1<<k)
	return &b
}

// Put keeps a buffer for reuse when its capacity is one of the classes.
func (p *bufferPool) Put(b *[]byte) {
	c := cap(*b)
	if k := sizeClass(c); k <= maxClass && c == 1<<k {
		p.classes[k-minClass].Put(b)
	}
}

// writtenSignal is the "pool" of a payload sent without copying: gRPC
// returns a buffer to its pool once the last of it is written to the
// connection, which is exactly when the sender may reuse the memory.
type writtenSignal chan struct{}

func (writtenSignal) Get(int) *[]byte { panic("allreduce: writtenSignal is not a real pool") }

func (w writtenSignal) Put(*[]byte) { close(w) }
