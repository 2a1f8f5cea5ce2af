//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/cohort-clv/cohort/kernels"
	"gorgonia.org/cu"
)

// Buffer is a span of device memory: an allocation, an offset and a length
// in float32 values. Slices share the allocation, which goes back to its
// Backend's pool once no Buffer refers to it.
type Buffer struct {
	mem *memory
	off int
	n   int
}

// memory is one device allocation; the garbage collector's cleanup of a
// memory returns its block to the pool.
type memory struct {
	be  *Backend
	ptr cu.DevicePtr // 0 for an empty Buffer
}

// Len implements kernels.Buffer.
func (b Buffer) Len() int { return b.n }

// Slice implements kernels.Buffer; the view shares device memory with b.
func (b Buffer) Slice(off, n int) kernels.Buffer {
	if off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("cuda: Slice(%d, %d) out of range of a buffer of %d values", off, n, b.n))
	}
	return Buffer{mem: b.mem, off: b.off + off, n: n}
}

// ptr is the device address of the first value of b.
func (b Buffer) ptr() cu.DevicePtr {
	if b.n == 0 {
		return b.mem.ptr
	}
	return b.mem.ptr + cu.DevicePtr(4*b.off)
}

// pool keeps freed device blocks by size class for reuse. It is guarded by
// a mutex because the garbage collector's cleanups run on their own
// goroutine; the Backend itself is single-goroutine.
type pool struct {
	mu     sync.Mutex
	free   map[int64][]cu.DevicePtr // size class in bytes -> idle blocks
	all    map[cu.DevicePtr]int64   // every block owned, for Close
	closed bool
}

func newPool() *pool {
	return &pool{free: map[int64][]cu.DevicePtr{}, all: map[cu.DevicePtr]int64{}}
}

func (p *pool) get(class int64) (cu.DevicePtr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.free[class]
	if len(l) == 0 {
		return 0, false
	}
	ptr := l[len(l)-1]
	p.free[class] = l[:len(l)-1]
	return ptr, true
}

func (p *pool) put(ptr cu.DevicePtr, class int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.free[class] = append(p.free[class], ptr)
}

func (p *pool) track(ptr cu.DevicePtr, class int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all[ptr] = class
}

// drainFree removes every idle block from the pool and returns them.
func (p *pool) drainFree() []cu.DevicePtr {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []cu.DevicePtr
	for class, l := range p.free {
		for _, ptr := range l {
			out = append(out, ptr)
			delete(p.all, ptr)
		}
		delete(p.free, class)
	}
	return out
}

// closeAll marks the pool closed and returns every block it ever handed
// out, idle or not.
func (p *pool) closeAll() []cu.DevicePtr {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	out := make([]cu.DevicePtr, 0, len(p.all))
	for ptr := range p.all {
		out = append(out, ptr)
	}
	p.all, p.free = nil, nil
	return out
}

// release is what a memory's cleanup needs: not the memory itself.
type release struct {
	p     *pool
	ptr   cu.DevicePtr
	class int64
}

// Alloc implements kernels.Backend. Blocks come from the pool when one of
// the size class is idle; device memory exhaustion first reclaims Buffers
// the program no longer references, then panics.
func (be *Backend) Alloc(n int) kernels.Buffer {
	if n < 0 {
		panic(fmt.Sprintf("cuda: Alloc(%d): negative size", n))
	}
	be.live("Alloc")
	if n == 0 {
		return Buffer{mem: &memory{be: be}}
	}
	defer be.enter()()
	class := sizeClass(4 * int64(n))
	ptr, ok := be.pool.get(class)
	if !ok {
		ptr = be.memAlloc(class)
	}
	mem := &memory{be: be, ptr: ptr}
	runtime.AddCleanup(mem, func(r release) { r.p.put(r.ptr, r.class) }, release{be.pool, ptr, class})
	be.check("Alloc: zero", cu.MemsetD32Async(ptr, 0, int64(n), be.stream))
	return Buffer{mem: mem, n: n}
}

// memAlloc allocates a fresh block of class bytes, reclaiming unreferenced
// Buffers when the device is full.
func (be *Backend) memAlloc(class int64) cu.DevicePtr {
	ptr, err := cu.MemAlloc(class)
	if errors.Is(err, cu.OutOfMemory) {
		// Buffers the program dropped return to the pool only after a
		// garbage collection runs their cleanups.
		runtime.GC()
		for range 20 {
			if p, ok := be.pool.get(class); ok {
				return p
			}
			time.Sleep(time.Millisecond)
		}
		be.check("Alloc: synchronize", be.stream.Synchronize())
		for _, p := range be.pool.drainFree() {
			be.check("Alloc: free idle block", cu.MemFree(p))
		}
		ptr, err = cu.MemAlloc(class)
	}
	be.check(fmt.Sprintf("Alloc of %d bytes", class), err)
	be.pool.track(ptr, class)
	return ptr
}

// buf returns b as a Buffer of this Backend holding want values, or panics
// naming the operation and operand.
func (be *Backend) buf(op, name string, b kernels.Buffer, want int) Buffer {
	cb, ok := b.(Buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: %s: %s is a %T, not a cuda.Buffer", op, name, b))
	}
	if cb.mem == nil || cb.mem.be != be {
		panic(fmt.Sprintf("cuda: %s: %s belongs to another Backend", op, name))
	}
	if want >= 0 && cb.n != want {
		panic(fmt.Sprintf("cuda: %s: %s has %d values, want %d", op, name, cb.n, want))
	}
	return cb
}
