//go:build cuda

package cuda

import (
	_ "embed"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/cohort-clv/cohort/kernels"
	_ "github.com/cohort-clv/cohort/kernels/cuda/internal/cuinit" // clear error before cu's init exits
	"gorgonia.org/cu"
)

// The kernels, as PTX for compute_80 made by scripts/gen-ptx.sh; the driver
// JIT-compiles them for the device once, when a Backend loads them.
var (
	//go:embed gemm.ptx
	gemmPTX string
	//go:embed ops.ptx
	opsPTX string
)

// Options configures a Backend.
type Options struct {
	// Device is the CUDA device ordinal (0 for "cuda:0").
	Device int
	// SyncEachLaunch waits for every kernel to finish and checks its
	// result, so an asynchronous fault is reported with the kernel that
	// caused it rather than at the next copy. For tests and the self-test;
	// it costs a host round trip per launch.
	SyncEachLaunch bool
}

// DeviceInfo describes the GPU a Backend runs on.
type DeviceInfo struct {
	Ordinal           int    `json:"ordinal"`
	Name              string `json:"name"`
	ComputeCapability string `json:"compute_capability"`
	SMs               int    `json:"sms"`
	MemoryBytes       int64  `json:"memory_bytes"`
	DriverVersion     int    `json:"driver_version"` // e.g. 12040 for CUDA 12.4
}

// Backend is the CUDA implementation of kernels.Backend on one device. It
// uses the device's primary context, loads the kernel modules once, and
// issues every operation on its own stream; Upload, Download and ZILNLoss
// wait for the stream, the other methods return once their kernels are
// queued. Like every Backend it is not safe for concurrent use. A CUDA
// failure (out of memory, a faulting kernel) panics with an error that
// names the operation and the kernel.
type Backend struct {
	info    DeviceInfo
	dev     cu.Device
	ctx     cu.CUContext
	mods    []cu.Module
	stream  cu.Stream
	fn      functions
	pool    *pool
	sync    bool
	last    string       // the last kernel queued, named in asynchronous errors
	scratch cu.DevicePtr // reduction partials, grown on demand
	scrLen  int64
	closed  bool
}

var _ kernels.Backend = (*Backend)(nil)

// functions are the kernels of gemm.ptx and ops.ptx.
type functions struct {
	gemm128, gemm64                  [4]cu.Function // index: transA | transB<<1
	biasAct, reluBackward            cu.Function
	scale, axpy, adamw               cu.Function
	colsumPartial, colsumFinal       cu.Function
	zilnPartial, zilnFinal, zilnPred cu.Function
}

// threads is the block size of every kernel but the column sums.
const threads = 256

// New opens device opts.Device: it retains its primary context, loads the
// kernels and creates a stream. Close releases them.
func New(opts Options) (*Backend, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	count, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: count devices: %w", err)
	}
	if opts.Device < 0 || opts.Device >= count {
		return nil, fmt.Errorf("cuda: device %d: this machine has %d CUDA device(s)", opts.Device, count)
	}
	dev, err := cu.GetDevice(opts.Device)
	if err != nil {
		return nil, fmt.Errorf("cuda: get device %d: %w", opts.Device, err)
	}
	be := &Backend{dev: dev, pool: newPool(), sync: opts.SyncEachLaunch}
	if be.info, err = deviceInfo(opts.Device, dev); err != nil {
		return nil, err
	}
	if be.ctx, err = dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("cuda: retain primary context of device %d: %w", opts.Device, err)
	}
	if err := be.init(); err != nil {
		_ = be.Close()
		return nil, err
	}
	return be, nil
}

func deviceInfo(ordinal int, dev cu.Device) (DeviceInfo, error) {
	info := DeviceInfo{Ordinal: ordinal, DriverVersion: cu.Version()}
	var err error
	if info.Name, err = dev.Name(); err != nil {
		return info, fmt.Errorf("cuda: device %d name: %w", ordinal, err)
	}
	if info.MemoryBytes, err = dev.TotalMem(); err != nil {
		return info, fmt.Errorf("cuda: device %d memory: %w", ordinal, err)
	}
	attr := func(a cu.DeviceAttribute, what string) int {
		v, e := dev.Attribute(a)
		if e != nil && err == nil {
			err = fmt.Errorf("cuda: device %d %s: %w", ordinal, what, e)
		}
		return v
	}
	info.SMs = attr(cu.MultiprocessorCount, "multiprocessor count")
	major := attr(cu.ComputeCapabilityMajor, "compute capability")
	minor := attr(cu.ComputeCapabilityMinor, "compute capability")
	info.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	if maxT := attr(cu.MaxThreadsPerBlock, "max threads per block"); err == nil && maxT < threads {
		err = fmt.Errorf("cuda: device %d allows %d threads per block, the kernels need %d", ordinal, maxT, threads)
	}
	if err == nil && major < 8 {
		err = fmt.Errorf("cuda: device %d (%s) has compute capability %s; the kernels are built for 8.0 and newer", ordinal, info.Name, info.ComputeCapability)
	}
	return info, err
}

// init loads the modules, looks up the kernels and creates the stream; the
// calling goroutine is locked to its thread.
func (be *Backend) init() error {
	if err := cu.SetCurrentContext(be.ctx); err != nil {
		return fmt.Errorf("cuda: make context current: %w", err)
	}
	lookup := func(m cu.Module, file, name string, dst *cu.Function) error {
		f, err := m.Function(name)
		if err != nil {
			return fmt.Errorf("cuda: kernel %s in %s: %w", name, file, err)
		}
		*dst = f
		return nil
	}
	var gemm, ops cu.Module
	for _, src := range []struct {
		file, ptx string
		dst       *cu.Module
	}{{"gemm.ptx", gemmPTX, &gemm}, {"ops.ptx", opsPTX, &ops}} {
		m, err := cu.LoadData(src.ptx)
		if err != nil {
			return fmt.Errorf("cuda: load module %s: %w", src.file, err)
		}
		be.mods = append(be.mods, m)
		*src.dst = m
	}
	f := &be.fn
	for i, suffix := range []string{"nn", "tn", "nt", "tt"} { // transA | transB<<1
		if err := lookup(gemm, "gemm.ptx", "sgemm128_"+suffix, &f.gemm128[i]); err != nil {
			return err
		}
		if err := lookup(gemm, "gemm.ptx", "sgemm64_"+suffix, &f.gemm64[i]); err != nil {
			return err
		}
	}
	for name, dst := range map[string]*cu.Function{
		"bias_act": &f.biasAct, "relu_backward": &f.reluBackward, "scale": &f.scale, "axpy": &f.axpy,
		"adamw": &f.adamw, "colsum_partial": &f.colsumPartial, "colsum_final": &f.colsumFinal,
		"ziln_loss_partial": &f.zilnPartial, "ziln_loss_final": &f.zilnFinal, "ziln_predict": &f.zilnPred,
	} {
		if err := lookup(ops, "ops.ptx", name, dst); err != nil {
			return err
		}
	}
	s, err := cu.MakeStream(cu.NonBlocking)
	if err != nil {
		return fmt.Errorf("cuda: create stream: %w", err)
	}
	be.stream = s
	return nil
}

// Close waits for queued work and releases the device memory, stream,
// modules and context. It is idempotent; the Backend and its Buffers must
// not be used afterwards.
func (be *Backend) Close() error {
	if be.closed {
		return nil
	}
	be.closed = true
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var first error
	keep := func(op string, err error) {
		if err != nil && first == nil {
			first = fmt.Errorf("cuda: close: %s: %w", op, err)
		}
	}
	keep("make context current", cu.SetCurrentContext(be.ctx))
	if be.stream != (cu.Stream{}) {
		keep("synchronize", be.stream.Synchronize())
		keep("destroy stream", be.stream.Destroy())
	}
	for _, ptr := range be.pool.closeAll() {
		keep("free", cu.MemFree(ptr))
	}
	if be.scratch != 0 {
		keep("free scratch", cu.MemFree(be.scratch))
	}
	for _, m := range be.mods {
		keep("unload module", m.Unload())
	}
	keep("release primary context", be.dev.ReleasePrimaryCtx())
	return first
}

// Info describes the device.
func (be *Backend) Info() DeviceInfo { return be.info }

// Describe is a one-line description of the device, for logs and reports.
func (be *Backend) Describe() string {
	i := be.info
	return fmt.Sprintf("%s %s (compute capability %s, %d SMs, %.1f GiB, driver %d.%d)", be.Name(), i.Name,
		i.ComputeCapability, i.SMs, float64(i.MemoryBytes)/(1<<30), i.DriverVersion/1000, i.DriverVersion%1000/10)
}

// Name implements kernels.Backend.
func (be *Backend) Name() string { return fmt.Sprintf("cuda:%d", be.info.Ordinal) }

// Synchronize waits until every queued operation has finished, for timing.
func (be *Backend) Synchronize() error {
	be.live("Synchronize")
	defer be.enter()()
	if err := be.stream.Synchronize(); err != nil {
		return fmt.Errorf("cuda: synchronize (last kernel %s): %w", be.last, err)
	}
	return nil
}

// live panics when the Backend was closed.
func (be *Backend) live(op string) {
	if be.closed {
		panic(fmt.Sprintf("cuda: %s on a closed Backend", op))
	}
}

// enter locks the goroutine to its OS thread and makes the Backend's
// context current there, since CUDA contexts are per thread and goroutines
// move between threads; call the returned func to unlock.
func (be *Backend) enter() func() {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(be.ctx); err != nil {
		runtime.UnlockOSThread()
		panic(fmt.Errorf("cuda: make context current: %w", err))
	}
	return runtime.UnlockOSThread
}

// check panics with op's name when a CUDA call failed.
func (be *Backend) check(op string, err error) {
	if err != nil {
		panic(fmt.Errorf("cuda: %s (last kernel %s): %w", op, be.last, err))
	}
}

// arg is one kernel argument widened to the 8 bytes gorgonia.org/cu copies
// for every argument: pointers and int64 as they are, float32 in the low
// half, float64 as its bits.
type arg uint64

func ptrArg(p cu.DevicePtr) arg { return arg(p) }
func intArg(v int) arg          { return arg(int64(v)) }
func f32Arg(v float32) arg      { return arg(math.Float32bits(v)) }
func f64Arg(v float64) arg      { return arg(math.Float64bits(v)) }

// launch queues fn on the stream; the caller holds enter().
func (be *Backend) launch(name string, fn cu.Function, grid, block [3]int, args ...arg) {
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	be.last = name
	err := fn.Launch(grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, be.stream, params)
	if err != nil {
		panic(fmt.Errorf("cuda: launch %s %v x %v: %w", name, grid, block, err))
	}
	if be.sync {
		be.check("run "+name, be.stream.Synchronize())
	}
}

// elemGrid sizes a grid-stride launch over n elements: enough blocks to
// fill every SM several times over, no more than the work needs.
func (be *Backend) elemGrid(n int) [3]int {
	blocks := min((n+threads-1)/threads, 32*be.info.SMs)
	return [3]int{max(blocks, 1), 1, 1}
}

// scratchFor returns device scratch of at least bytes, growing it when
// needed; the caller holds enter().
func (be *Backend) scratchFor(bytes int64) cu.DevicePtr {
	if bytes <= be.scrLen {
		return be.scratch
	}
	if be.scratch != 0 {
		// Queued kernels may still read the old scratch.
		be.check("grow scratch: synchronize", be.stream.Synchronize())
		be.check("grow scratch: free", cu.MemFree(be.scratch))
		be.scratch, be.scrLen = 0, 0
	}
	bytes = sizeClass(bytes)
	p, err := cu.MemAlloc(bytes)
	be.check(fmt.Sprintf("allocate %d bytes of scratch", bytes), err)
	be.scratch, be.scrLen = p, bytes
	return p
}

// Upload implements kernels.Backend; it returns once the copy is done.
func (be *Backend) Upload(dst kernels.Buffer, src []float32) {
	be.live("Upload")
	d := be.buf("Upload", "dst", dst, -1)
	if d.n != len(src) {
		panic(fmt.Sprintf("cuda: Upload of %d values into a buffer of %d", len(src), d.n))
	}
	if d.n == 0 {
		return
	}
	defer be.enter()()
	be.check("Upload", cu.MemcpyHtoDAsync(d.ptr(), unsafe.Pointer(&src[0]), 4*int64(d.n), be.stream))
	be.check("Upload: synchronize", be.stream.Synchronize())
}

// Download implements kernels.Backend; it waits for queued work first.
func (be *Backend) Download(dst []float32, src kernels.Buffer) {
	be.live("Download")
	s := be.buf("Download", "src", src, -1)
	if s.n != len(dst) {
		panic(fmt.Sprintf("cuda: Download of a buffer of %d values into %d", s.n, len(dst)))
	}
	if s.n == 0 {
		return
	}
	defer be.enter()()
	be.check("Download", cu.MemcpyDtoHAsync(unsafe.Pointer(&dst[0]), s.ptr(), 4*int64(s.n), be.stream))
	be.check("Download: synchronize", be.stream.Synchronize())
}

// checkDims panics when a dimension is negative.
func checkDims(op string, dims ...int) {
	for _, d := range dims {
		if d < 0 {
			panic(fmt.Sprintf("cuda: %s: negative dimension %v", op, dims))
		}
	}
}

func checkAct(op string, act kernels.Activation) {
	if act != kernels.Identity && act != kernels.ReLU {
		panic(fmt.Sprintf("cuda: %s: unknown activation %d", op, act))
	}
}
