package gpustats

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func writeProc(t *testing.T, dir, stat, meminfo string) {
	t.Helper()
	for name, text := range map[string]string{"stat": stat, "meminfo": meminfo} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fixedNow() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

func newTestSampler(d Driver, procRoot string) *Sampler {
	var drv Driver
	if d != nil {
		drv = d
	}
	return New(drv, Config{Hostname: "node-a", ProcRoot: procRoot, OwnPIDs: func() []int { return []int{4242} }, Now: fixedNow})
}

// TestSamplerReadsEveryField ensures every reading of every fake GPU lands
// in the right field of the right GPU, in DCGM-independent units.
func TestSamplerReadsEveryField(t *testing.T) {
	d := newFakeDriver(2)
	d.devices[1].mig = []MIGDevice{{Index: 0, UUID: "MIG-1", Name: "1g.10gb", GPUInstanceID: ptr(7), ComputeInstanceID: ptr(0)}}
	d.pending = []XIDEvent{{UUID: d.devices[1].uuid, XID: 48}, {UUID: d.devices[1].uuid, XID: 79}}
	smp, err := newTestSampler(d, "-").Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !smp.NVML || smp.NVMLError != "" || smp.DriverVersion != "570.86.15" || smp.Hostname != "node-a" || !smp.Time.Equal(fixedNow()) {
		t.Fatalf("sample header = %+v", smp)
	}
	if len(smp.GPUs) != 2 {
		t.Fatalf("got %d GPUs, want 2", len(smp.GPUs))
	}
	for i, g := range smp.GPUs {
		f := d.devices[i]
		if g.Index != i || g.Name != f.name || g.UUID != f.uuid || !g.Healthy || g.Error != "" {
			t.Errorf("GPU %d identity = %d %q %q healthy=%v err=%q", i, g.Index, g.Name, g.UUID, g.Healthy, g.Error)
		}
		for _, c := range []struct {
			field string
			got   any
			want  any
		}{
			{"gpu util", deref(g.GPUUtilization), f.gpuUtil},
			{"mem util", deref(g.MemoryUtilization), f.memUtil},
			{"used", deref(g.MemoryUsed), f.used},
			{"free", deref(g.MemoryFree), f.free},
			{"total", deref(g.MemoryTotal), f.total},
			{"temp", deref(g.Temperature), f.temp},
			{"mem temp", deref(g.MemoryTemperature), f.memTemp},
			{"power", deref(g.PowerMilliwatts), f.powerMW},
			{"energy", deref(g.EnergyMillijoules), f.energyMJ},
			{"sm clock", deref(g.SMClockMHz), f.smMHz},
			{"mem clock", deref(g.MemoryClockMHz), f.memMHz},
			{"throttle", deref(g.ThrottleReasons), f.throttle},
			{"tx", deref(g.PCIeTxKBps), f.txKBps},
			{"rx", deref(g.PCIeRxKBps), f.rxKBps},
			{"replays", deref(g.PCIeReplays), f.replays},
			{"sbe vol", deref(g.ECCCorrectedVolatile), f.ecc[0]},
			{"dbe vol", deref(g.ECCUncorrectedVolatile), f.ecc[1]},
			{"sbe agg", deref(g.ECCCorrectedAggregate), f.ecc[2]},
			{"dbe agg", deref(g.ECCUncorrectedAggregate), f.ecc[3]},
		} {
			if c.got != c.want {
				t.Errorf("GPU %d %s = %v, want %v", i, c.field, c.got, c.want)
			}
		}
		if len(g.Processes) != 3 || !g.Processes[0].Cohort || g.Processes[1].Cohort || g.Processes[2].MemoryUsed != nil {
			t.Errorf("GPU %d processes = %+v; want pid 4242 marked cohort, others not, pid 7 without memory", i, g.Processes)
		}
	}
	if smp.GPUs[0].MIG != nil || len(smp.GPUs[1].MIG) != 1 || smp.GPUs[1].MIG[0].UUID != "MIG-1" || *smp.GPUs[1].MIG[0].GPUInstanceID != 7 {
		t.Errorf("MIG = %+v / %+v", smp.GPUs[0].MIG, smp.GPUs[1].MIG)
	}
	if smp.GPUs[0].LastXID != nil || smp.GPUs[0].XIDs != 0 {
		t.Errorf("GPU 0 has XID %v (%d) without events", smp.GPUs[0].LastXID, smp.GPUs[0].XIDs)
	}
	if g := smp.GPUs[1]; g.LastXID == nil || *g.LastXID != 79 || g.XIDs != 2 {
		t.Errorf("GPU 1 XID = %v (%d), want last 79 of 2", g.LastXID, g.XIDs)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestSamplerXIDPersists ensures the last XID survives samples without new
// events (DCGM's "last XID" semantics) and the count accumulates.
func TestSamplerXIDPersists(t *testing.T) {
	d := newFakeDriver(1)
	s := newTestSampler(d, "-")
	uuid := d.devices[0].uuid
	for i, step := range []struct {
		events    []XIDEvent
		last, cnt uint64
	}{
		{[]XIDEvent{{UUID: uuid, XID: 13}}, 13, 1},
		{nil, 13, 1},
		{[]XIDEvent{{UUID: uuid, XID: 31}, {UUID: "GPU-elsewhere", XID: 1}}, 31, 2},
	} {
		d.pending = step.events
		smp, err := s.Sample(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if g := smp.GPUs[0]; g.LastXID == nil || *g.LastXID != step.last || g.XIDs != step.cnt {
			t.Errorf("sample %d: XID = %v (%d), want %d (%d)", i, deref(g.LastXID), g.XIDs, step.last, step.cnt)
		}
	}
}

// gpuField maps each fake reading to the GPU fields it fills.
func gpuField(g *GPU, field string) []bool {
	switch field {
	case "name":
		return []bool{g.Name != ""}
	case "uuid":
		return []bool{g.UUID != ""}
	case "utilization":
		return []bool{g.GPUUtilization != nil, g.MemoryUtilization != nil}
	case "memory":
		return []bool{g.MemoryUsed != nil, g.MemoryFree != nil, g.MemoryTotal != nil}
	case "temperature":
		return []bool{g.Temperature != nil}
	case "memory_temperature":
		return []bool{g.MemoryTemperature != nil}
	case "power":
		return []bool{g.PowerMilliwatts != nil}
	case "energy":
		return []bool{g.EnergyMillijoules != nil}
	case "sm_clock":
		return []bool{g.SMClockMHz != nil}
	case "mem_clock":
		return []bool{g.MemoryClockMHz != nil}
	case "throttle":
		return []bool{g.ThrottleReasons != nil}
	case "pcie_throughput":
		return []bool{g.PCIeTxKBps != nil, g.PCIeRxKBps != nil}
	case "pcie_replays":
		return []bool{g.PCIeReplays != nil}
	case "ecc_sbe_vol":
		return []bool{g.ECCCorrectedVolatile != nil}
	case "ecc_dbe_vol":
		return []bool{g.ECCUncorrectedVolatile != nil}
	case "ecc_sbe_agg":
		return []bool{g.ECCCorrectedAggregate != nil}
	case "ecc_dbe_agg":
		return []bool{g.ECCUncorrectedAggregate != nil}
	case "processes":
		return []bool{g.Processes != nil}
	case "mig":
		return []bool{g.MIG != nil}
	}
	panic("unknown field " + field)
}

// TestSamplerUnsupportedFieldsAbsent ensures a reading the device does not
// support leaves exactly its own fields nil, keeps the GPU healthy and
// leaves every other reading in place.
func TestSamplerUnsupportedFieldsAbsent(t *testing.T) {
	for _, field := range fakeFields {
		t.Run(field, func(t *testing.T) {
			d := newFakeDriver(1)
			d.devices[0].mig = []MIGDevice{{UUID: "MIG-x"}}
			d.devices[0].unsupported[field] = true
			smp, err := newTestSampler(d, "-").Sample(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			g := &smp.GPUs[0]
			if !g.Healthy {
				t.Fatalf("unsupported %s made the GPU unhealthy: %s", field, g.Error)
			}
			for _, other := range fakeFields {
				for _, present := range gpuField(g, other) {
					if want := other != field; present != want {
						t.Errorf("with %s unsupported, %s present = %v, want %v", field, other, present, want)
					}
				}
			}
		})
	}
}

// TestSamplerVanishingGPU ensures a GPU that disappears mid-sample (lost at
// open, partway through its readings, or panicking in the binding) is
// reported unhealthy with the error, keeps what was read before, and does
// not disturb the other GPUs or later samples.
func TestSamplerVanishingGPU(t *testing.T) {
	for _, tc := range []struct {
		name      string
		break_    func(*fakeDevice)
		wantErr   string
		keptName  bool
		keptPower bool
	}{
		{"open", func(d *fakeDevice) { d.openErr = ErrGPULost }, "open: gpustats: GPU is lost", false, false},
		{"mid-sample", func(d *fakeDevice) { d.lostAt = "energy" }, "energy: fake energy: gpustats: GPU is lost", true, true},
		{"first read", func(d *fakeDevice) { d.lostAt = "name" }, "name: fake name", false, false},
		{"panic", func(d *fakeDevice) { d.panicAt = "pcie_replays" }, "panic: fake: device handle freed", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDriver(3)
			tc.break_(d.devices[1])
			s := newTestSampler(d, "-")
			for round := range 2 {
				smp, err := s.Sample(t.Context())
				if err != nil {
					t.Fatalf("round %d: a lost GPU failed the whole sample: %v", round, err)
				}
				if len(smp.GPUs) != 3 {
					t.Fatalf("round %d: %d GPUs, want 3", round, len(smp.GPUs))
				}
				g := smp.GPUs[1]
				wantErr := tc.wantErr
				if round > 0 && tc.name != "open" && tc.name != "panic" {
					wantErr = "name: fake name: gpustats: GPU is lost" // stays lost from the first read on
				}
				if g.Healthy || !strings.Contains(g.Error, wantErr) || !strings.HasPrefix(g.Error, "gpustats: GPU 1: ") {
					t.Errorf("round %d: GPU 1 healthy=%v err=%q, want unhealthy with %q", round, g.Healthy, g.Error, wantErr)
				}
				if round == 0 && (g.Name != "") != tc.keptName {
					t.Errorf("name kept = %v, want %v", g.Name != "", tc.keptName)
				}
				if round == 0 && (g.PowerMilliwatts != nil) != tc.keptPower {
					t.Errorf("power kept = %v, want %v", g.PowerMilliwatts != nil, tc.keptPower)
				}
				if g.ECCCorrectedAggregate != nil || g.Processes != nil {
					t.Errorf("GPU 1 has readings after it was lost: %+v", g)
				}
				for _, i := range []int{0, 2} {
					if o := smp.GPUs[i]; !o.Healthy || o.PCIeReplays == nil {
						t.Errorf("GPU %d disturbed by GPU 1: %+v", i, o)
					}
				}
				// The collector must export the unhealthy GPU without panicking.
				if n := countSeries(t, NewCollector(func() *Sample { return smp }, CollectorOptions{}), "cohort_gpu_healthy"); n != 3 {
					t.Errorf("cohort_gpu_healthy series = %d, want 3", n)
				}
			}
		})
	}
}

// TestSamplerDriverFailure ensures a driver that cannot list GPUs fails the
// sample with a wrapped error yet still returns the host stats.
func TestSamplerDriverFailure(t *testing.T) {
	dir := t.TempDir()
	writeProc(t, dir, fakeStat(100, 50, 850, 2), fakeMeminfo)
	d := newFakeDriver(1)
	d.countErr = errors.New("fake: driver/library version mismatch")
	smp, err := newTestSampler(d, dir).Sample(t.Context())
	if err == nil || !strings.Contains(err.Error(), "gpustats: device count: fake: driver/library version mismatch") {
		t.Fatalf("err = %v", err)
	}
	if smp == nil || smp.NVML || smp.NVMLError == "" || smp.Host == nil || smp.Host.CPUs != 2 {
		t.Fatalf("sample = %+v", smp)
	}
}

// TestSamplerWithoutNVML ensures a Sampler with no driver says NVML is not
// available and reports host CPU and memory from /proc.
func TestSamplerWithoutNVML(t *testing.T) {
	dir := t.TempDir()
	writeProc(t, dir, fakeStat(100, 50, 850, 4), fakeMeminfo)
	s := newTestSampler(nil, dir)
	smp, err := s.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if smp.NVML || smp.NVMLError != "gpustats: NVML not available" || len(smp.GPUs) != 0 {
		t.Fatalf("sample = %+v", smp)
	}
	h := smp.Host
	if h == nil || h.CPUs != 4 || h.CPUSeconds["user"] != 1 || h.CPUSeconds["idle"] != 8.5 || h.CPUBusy != nil {
		t.Fatalf("host = %+v", h)
	}
	if *h.MemoryTotal != 16384000*1024 || *h.MemoryAvailable != 4096000*1024 || *h.MemoryUsed != (16384000-4096000)*1024 {
		t.Fatalf("memory = %d %d %d", *h.MemoryTotal, *h.MemoryAvailable, *h.MemoryUsed)
	}
	// 300 more busy ticks and 100 more idle: 75% busy since the last sample.
	writeProc(t, dir, fakeStat(300, 150, 950, 4), fakeMeminfo)
	smp, err = s.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if b := smp.Host.CPUBusy; b == nil || *b != 0.75 {
		t.Fatalf("cpu busy = %v, want 0.75", deref(b))
	}
}

// TestNewLocal ensures opening NVML on this machine either works or fails
// cleanly into a host-only sampler that says NVML is not available.
func TestNewLocal(t *testing.T) {
	s := NewLocal(Config{})
	defer s.Close()
	smp, err := s.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !smp.NVML && !strings.Contains(smp.NVMLError, "NVML not available") {
		t.Fatalf("NVML off without the message: %q", smp.NVMLError)
	}
	t.Logf("nvml=%v %s gpus=%d", smp.NVML, smp.NVMLError, len(smp.GPUs))
}

// TestRunSamplesEachInterval ensures Run samples immediately and then once
// per interval, keeps the latest for Latest, and returns when cancelled.
func TestRunSamplesEachInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var samples atomic.Int32
		now := func() time.Time { samples.Add(1); return time.Now() }
		s := New(newFakeDriver(1), Config{ProcRoot: "-", Now: now})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		start := time.Now()
		go func() { done <- s.Run(ctx, time.Second) }()
		synctest.Wait()
		if got := s.Latest().Time; !got.Equal(start) || samples.Load() != 1 {
			t.Errorf("first sample at %v (%d samples), want one immediately (%v)", got, samples.Load(), start)
		}
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		if l := s.Latest(); l.Time.Sub(start) != 3*time.Second || samples.Load() != 4 {
			t.Errorf("latest at +%v after %d samples, want +3s after 4", l.Time.Sub(start), samples.Load())
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		if err := s.Run(t.Context(), 0); err == nil {
			t.Error("Run with interval 0 did not fail")
		}
	})
}

// blockingDriver is a fakeDriver whose GPU list read blocks, as a hung
// NVML call does: each DeviceCount says it entered, then waits for release.
type blockingDriver struct {
	*fakeDriver
	entered chan struct{}
	release chan struct{}
}

func (d *blockingDriver) DeviceCount() (int, error) {
	d.entered <- struct{}{}
	<-d.release
	return d.fakeDriver.DeviceCount()
}

// TestLatestNeverBlocks ensures Latest, on the scrape path, returns the
// last sample (nil before the first) at once, even while a sample is stuck
// in the driver: it used to take a sample itself, without a deadline, and
// so waited on a hung NVML call. Close closes the driver.
func TestLatestNeverBlocks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first bool // a sample completed before the one that blocks
	}{
		{"before the first sample", false},
		{"after a sample", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &blockingDriver{fakeDriver: newFakeDriver(1), entered: make(chan struct{}), release: make(chan struct{})}
			s := newTestSampler(d, "-")
			var want *Sample
			if tc.first {
				go func() { <-d.entered; d.release <- struct{}{} }()
				var err error
				if want, err = s.Sample(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Latest(); got != want {
				t.Fatalf("Latest = %p before the stuck sample, want %p", got, want)
			}
			sampled := make(chan *Sample, 1)
			go func() {
				smp, _ := s.Sample(t.Context())
				sampled <- smp
			}()
			<-d.entered // the sample is stuck in the driver
			got := make(chan *Sample, 1)
			go func() { got <- s.Latest() }()
			select {
			case l := <-got:
				if l != want {
					t.Errorf("Latest = %p while a sample is stuck, want the last one, %p", l, want)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Latest waited for a sample stuck in the driver")
			}
			d.release <- struct{}{}
			if smp := <-sampled; smp == nil || s.Latest() != smp {
				t.Errorf("Latest after the sample = %p, want it (%p)", s.Latest(), smp)
			}
			if err := s.Close(); err != nil || !d.closed {
				t.Errorf("Close = %v, closed = %v", err, d.closed)
			}
		})
	}
}
