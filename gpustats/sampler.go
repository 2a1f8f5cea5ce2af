package gpustats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Config configures a Sampler; the zero value is usable.
type Config struct {
	// Hostname labels every sample; default os.Hostname().
	Hostname string
	// OwnPIDs returns the PIDs of cohort's own processes, so per-GPU
	// process lists mark them (GPU use attributable to jobs). Called once per
	// sample; default: this process only.
	OwnPIDs func() []int
	// ProcRoot is where host CPU and memory are read from; default "/proc"
	// on Linux. "-" disables host stats.
	ProcRoot string
	// Logger receives per-field read errors at debug level; default slog.Default().
	Logger *slog.Logger
	// Now stamps samples; default time.Now.
	Now func() time.Time
}

func (c *Config) fill() {
	if c.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			c.Hostname = h
		}
	}
	if c.OwnPIDs == nil {
		pid := os.Getpid()
		c.OwnPIDs = func() []int { return []int{pid} }
	}
	if c.ProcRoot == "" {
		c.ProcRoot = defaultProcRoot
	}
	if c.ProcRoot == "-" {
		c.ProcRoot = ""
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Sampler reads the local GPUs (through a Driver) and host. Sample and Run
// may be called from several goroutines; samples are taken one at a time.
type Sampler struct {
	cfg         Config
	driver      Driver // nil: no NVML
	unavailable error  // why driver is nil

	mu      sync.Mutex // serialises sampling and guards the state below
	prevCPU *cpuTotals
	xids    map[string]xidState

	latestMu sync.RWMutex
	latest   *Sample
}

type xidState struct {
	last  uint64
	count uint64
}

// New returns a Sampler over d. A nil d samples the host only, and every
// Sample says NVML is not available.
func New(d Driver, cfg Config) *Sampler {
	cfg.fill()
	s := &Sampler{cfg: cfg, driver: d, xids: map[string]xidState{}}
	if d == nil {
		s.unavailable = ErrNVMLUnavailable
	}
	return s
}

// NewLocal opens NVML on this machine and returns a Sampler over it. When
// NVML cannot be opened (no cgo, no driver, nvml.Init failed) it returns a
// host-only Sampler whose samples carry the reason; it never fails.
func NewLocal(cfg Config) *Sampler {
	d, err := OpenNVML()
	s := New(d, cfg)
	if err != nil {
		s.unavailable = err
	}
	return s
}

// Close releases the driver.
func (s *Sampler) Close() error {
	if s.driver == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.driver.Close(); err != nil {
		return fmt.Errorf("gpustats: close driver: %w", err)
	}
	return nil
}

// Latest returns the most recent sample taken by Sample or Run, or nil
// before the first. It never samples and never waits on one in progress:
// it is on the scrape path (Collector), and an NVML call can block. Callers
// must not modify the sample.
func (s *Sampler) Latest() *Sample {
	s.latestMu.RLock()
	defer s.latestMu.RUnlock()
	return s.latest
}

// Run samples every interval until ctx is done, keeping the latest sample
// for Latest (and so for the Collector); the first sample is taken at once.
// It returns ctx's error.
func (s *Sampler) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("gpustats: run: interval %v: want > 0", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Sample(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("gpustats: sample", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Sample reads every GPU and the host once. A GPU that cannot be read is
// reported unhealthy in the sample rather than failing it; the error is
// only for the driver failing as a whole (the GPU list could not be read),
// in which case the returned sample still has the host stats.
func (s *Sampler) Sample(ctx context.Context) (*Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gpustats: sample: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	smp := &Sample{Time: s.cfg.Now(), Hostname: s.cfg.Hostname, GPUs: []GPU{}}
	var err error
	if s.driver == nil {
		smp.NVMLError = s.unavailable.Error()
	} else {
		err = s.sampleGPUs(ctx, smp)
	}
	if s.cfg.ProcRoot != "" {
		smp.Host = s.readHost()
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("gpustats: sample: %w", cerr) // cut short: not one to keep
	}
	s.latestMu.Lock()
	s.latest = smp
	s.latestMu.Unlock()
	return smp, err
}

func (s *Sampler) sampleGPUs(ctx context.Context, smp *Sample) error {
	n, err := s.driver.DeviceCount()
	if err != nil {
		smp.NVMLError = fmt.Sprintf("gpustats: device count: %v", err)
		return fmt.Errorf("gpustats: device count: %w", err)
	}
	smp.NVML = true
	if v, err := s.driver.DriverVersion(); err == nil {
		smp.DriverVersion = v
	}
	if evs, err := s.driver.XIDEvents(); err == nil {
		for _, e := range evs {
			st := s.xids[e.UUID]
			st.last, st.count = e.XID, st.count+1
			s.xids[e.UUID] = st
		}
	} else if !errors.Is(err, ErrNotSupported) {
		s.cfg.Logger.Debug("gpustats: xid events", "err", err)
	}
	own := map[int]bool{}
	for _, pid := range s.cfg.OwnPIDs() {
		own[pid] = true
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gpustats: sample: %w", err)
		}
		g := s.readGPU(i, own)
		if st, ok := s.xids[g.UUID]; ok && g.UUID != "" {
			last := st.last
			g.LastXID, g.XIDs = &last, st.count
		}
		smp.GPUs = append(smp.GPUs, g)
	}
	return nil
}

// reader reads one GPU's fields, stopping at the first sign the GPU is gone.
type reader struct {
	g      *GPU
	logger *slog.Logger
}

// ok classifies err: nil reads, ErrNotSupported leaves the field absent, a
// lost GPU marks it unhealthy and stops further reads.
func (r *reader) ok(field string, err error) bool {
	switch {
	case !r.g.Healthy:
		return false
	case err == nil:
		return true
	case errors.Is(err, ErrNotSupported):
		return false
	case errors.Is(err, ErrGPULost):
		r.fail(field, err)
		return false
	}
	r.logger.Debug("gpustats: read", "gpu", r.g.Index, "field", field, "err", err)
	return false
}

func (r *reader) fail(field string, err error) {
	r.g.Healthy = false
	r.g.Error = fmt.Sprintf("gpustats: GPU %d: %s: %v", r.g.Index, field, err)
}

func one[T any](r *reader, field string, f func() (T, error)) *T {
	if !r.g.Healthy {
		return nil
	}
	v, err := f()
	if !r.ok(field, err) {
		return nil
	}
	return &v
}

func (s *Sampler) readGPU(index int, own map[int]bool) (g GPU) {
	g = GPU{Index: index, Healthy: true}
	r := &reader{g: &g, logger: s.cfg.Logger}
	// A binding that panics on a vanished device must not take the
	// training process down with it: report the GPU unhealthy instead.
	defer func() {
		if p := recover(); p != nil {
			r.fail("panic", fmt.Errorf("%v", p))
		}
	}()
	dev, err := s.driver.Device(index)
	if err != nil {
		r.fail("open", err)
		return g
	}
	if v := one(r, "name", dev.Name); v != nil {
		g.Name = *v
	}
	if v := one(r, "uuid", dev.UUID); v != nil {
		g.UUID = *v
	}
	if r.g.Healthy {
		gu, mu, err := dev.Utilization()
		if r.ok("utilization", err) {
			g.GPUUtilization, g.MemoryUtilization = &gu, &mu
		}
	}
	if r.g.Healthy {
		used, free, total, err := dev.Memory()
		if r.ok("memory", err) {
			g.MemoryUsed, g.MemoryFree, g.MemoryTotal = &used, &free, &total
		}
	}
	g.Temperature = one(r, "temperature", dev.Temperature)
	g.MemoryTemperature = one(r, "memory temperature", dev.MemoryTemperature)
	g.PowerMilliwatts = one(r, "power", dev.Power)
	g.EnergyMillijoules = one(r, "energy", dev.Energy)
	g.SMClockMHz = one(r, "sm clock", func() (uint32, error) { return dev.Clock(ClockSM) })
	g.MemoryClockMHz = one(r, "memory clock", func() (uint32, error) { return dev.Clock(ClockMemory) })
	g.ThrottleReasons = one(r, "throttle reasons", dev.ThrottleReasons)
	if r.g.Healthy {
		tx, rx, err := dev.PCIeThroughput()
		if r.ok("pcie throughput", err) {
			g.PCIeTxKBps, g.PCIeRxKBps = &tx, &rx
		}
	}
	g.PCIeReplays = one(r, "pcie replays", dev.PCIeReplays)
	ecc := func(k ECCKind) func() (uint64, error) {
		return func() (uint64, error) { return dev.ECCErrors(k) }
	}
	g.ECCCorrectedVolatile = one(r, "ecc sbe volatile", ecc(ECCCorrectedVolatile))
	g.ECCUncorrectedVolatile = one(r, "ecc dbe volatile", ecc(ECCUncorrectedVolatile))
	g.ECCCorrectedAggregate = one(r, "ecc sbe aggregate", ecc(ECCCorrectedAggregate))
	g.ECCUncorrectedAggregate = one(r, "ecc dbe aggregate", ecc(ECCUncorrectedAggregate))
	if ps := one(r, "processes", dev.Processes); ps != nil {
		g.Processes = make([]Process, len(*ps))
		for i, p := range *ps {
			p.Cohort = own[p.PID]
			g.Processes[i] = p
		}
	}
	if ms := one(r, "mig devices", dev.MIGDevices); ms != nil && len(*ms) > 0 {
		g.MIG = *ms
	}
	return g
}
