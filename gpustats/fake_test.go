package gpustats

import (
	"fmt"
	"strings"
)

// fakeDriver is a Driver over in-memory devices.
type fakeDriver struct {
	version  string
	devices  []*fakeDevice
	pending  []XIDEvent // returned, then cleared, by the next XIDEvents
	countErr error
	closed   bool
}

func (d *fakeDriver) DriverVersion() (string, error) { return d.version, nil }

func (d *fakeDriver) DeviceCount() (int, error) {
	if d.countErr != nil {
		return 0, d.countErr
	}
	return len(d.devices), nil
}

func (d *fakeDriver) Device(i int) (Device, error) {
	if i < 0 || i >= len(d.devices) {
		return nil, fmt.Errorf("fake: no device %d", i)
	}
	if d.devices[i].openErr != nil {
		return nil, d.devices[i].openErr
	}
	return d.devices[i], nil
}

func (d *fakeDriver) XIDEvents() ([]XIDEvent, error) {
	ev := d.pending
	d.pending = nil
	return ev, nil
}

func (d *fakeDriver) Close() error { d.closed = true; return nil }

// fakeDevice answers every reading from its fields. unsupported names the
// readings that return ErrNotSupported; from the reading named lostAt on,
// every call returns ErrGPULost (panicAt panics instead).
type fakeDevice struct {
	name, uuid        string
	gpuUtil, memUtil  uint32
	used, free, total uint64
	temp, memTemp     uint32
	powerMW           uint32
	energyMJ          uint64
	smMHz, memMHz     uint32
	throttle          uint64
	txKBps, rxKBps    uint32
	replays           uint64
	ecc               [4]uint64
	procs             []Process
	mig               []MIGDevice
	unsupported       map[string]bool
	lostAt, panicAt   string
	lost              bool
	openErr           error
}

// fakeFields are the reading names, in the order the Sampler reads them.
var fakeFields = []string{"name", "uuid", "utilization", "memory", "temperature", "memory_temperature",
	"power", "energy", "sm_clock", "mem_clock", "throttle", "pcie_throughput", "pcie_replays",
	"ecc_sbe_vol", "ecc_dbe_vol", "ecc_sbe_agg", "ecc_dbe_agg", "processes", "mig"}

func (d *fakeDevice) check(field string) error {
	if field == d.panicAt {
		panic("fake: device handle freed under us")
	}
	if field == d.lostAt {
		d.lost = true
	}
	if d.lost {
		return fmt.Errorf("fake %s: %w", field, ErrGPULost)
	}
	if d.unsupported[field] {
		return ErrNotSupported
	}
	return nil
}

func (d *fakeDevice) Name() (string, error) { return d.name, d.check("name") }
func (d *fakeDevice) UUID() (string, error) { return d.uuid, d.check("uuid") }
func (d *fakeDevice) Utilization() (uint32, uint32, error) {
	return d.gpuUtil, d.memUtil, d.check("utilization")
}
func (d *fakeDevice) Memory() (uint64, uint64, uint64, error) {
	return d.used, d.free, d.total, d.check("memory")
}
func (d *fakeDevice) Temperature() (uint32, error) { return d.temp, d.check("temperature") }
func (d *fakeDevice) MemoryTemperature() (uint32, error) {
	return d.memTemp, d.check("memory_temperature")
}
func (d *fakeDevice) Power() (uint32, error)  { return d.powerMW, d.check("power") }
func (d *fakeDevice) Energy() (uint64, error) { return d.energyMJ, d.check("energy") }
func (d *fakeDevice) Clock(k ClockKind) (uint32, error) {
	if k == ClockSM {
		return d.smMHz, d.check("sm_clock")
	}
	return d.memMHz, d.check("mem_clock")
}
func (d *fakeDevice) ThrottleReasons() (uint64, error) { return d.throttle, d.check("throttle") }
func (d *fakeDevice) PCIeThroughput() (uint32, uint32, error) {
	return d.txKBps, d.rxKBps, d.check("pcie_throughput")
}
func (d *fakeDevice) PCIeReplays() (uint64, error) { return d.replays, d.check("pcie_replays") }
func (d *fakeDevice) ECCErrors(k ECCKind) (uint64, error) {
	return d.ecc[k], d.check([...]string{"ecc_sbe_vol", "ecc_dbe_vol", "ecc_sbe_agg", "ecc_dbe_agg"}[k])
}
func (d *fakeDevice) Processes() ([]Process, error) {
	return append([]Process(nil), d.procs...), d.check("processes")
}
func (d *fakeDevice) MIGDevices() ([]MIGDevice, error) {
	return append([]MIGDevice(nil), d.mig...), d.check("mig")
}

func ptr[T any](v T) *T { return &v }

// newFakeDevice returns a device supporting everything, with values
// distinct per index so a mix-up between GPUs or fields shows.
func newFakeDevice(i int) *fakeDevice {
	k := uint64(i + 1)
	return &fakeDevice{
		name:    "NVIDIA H100 80GB HBM3",
		uuid:    fmt.Sprintf("GPU-0000000%d-aaaa-bbbb-cccc-dddddddddddd", i),
		gpuUtil: uint32(10 * k), memUtil: uint32(3 * k),
		used: k * 1000 * mib, free: (81559 - k*1000) * mib, total: 81559 * mib,
		temp: uint32(30 + k), memTemp: uint32(40 + k),
		powerMW:  uint32(100000 + 1500*k),
		energyMJ: 5_000_000 * k,
		smMHz:    uint32(1980 - k), memMHz: 2619,
		throttle: 4,
		txKBps:   uint32(1000 * k), rxKBps: uint32(2000 * k),
		replays: k,
		ecc:     [4]uint64{10 * k, 0, 100 * k, 1},
		procs: []Process{
			{PID: 4242, MemoryUsed: ptr(uint64(512 * mib))},
			{PID: 1000 + int(k), MemoryUsed: ptr(uint64(256 * mib))},
			{PID: 7, MemoryUsed: nil},
		},
		unsupported: map[string]bool{},
	}
}

func newFakeDriver(n int) *fakeDriver {
	d := &fakeDriver{version: "570.86.15"}
	for i := range n {
		d.devices = append(d.devices, newFakeDevice(i))
	}
	return d
}

// fakeProc is /proc/stat and /proc/meminfo text for a host with cpus CPUs.
func fakeStat(user, system, idle uint64, cpus int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cpu  %d 0 %d %d 0 0 0 0 0 0\n", user, system, idle)
	for i := range cpus {
		fmt.Fprintf(&b, "cpu%d 1 0 1 1 0 0 0 0 0 0\n", i)
	}
	b.WriteString("intr 12345 0 0 0\nctxt 999\n")
	return b.String()
}

const fakeMeminfo = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    4096000 kB\nBuffers: 1 kB\n"
