package gpustats

import "errors"

// ErrNVMLUnavailable is returned (wrapped, with the reason) when NVML cannot
// be used: built without cgo, no NVIDIA driver, nvml.Init failed.
var ErrNVMLUnavailable = errors.New("gpustats: NVML not available")

// ErrNotSupported is what a Device returns for a reading the hardware or
// driver does not support; the Sampler leaves that field nil.
var ErrNotSupported = errors.New("gpustats: not supported")

// ErrGPULost is what a Device returns (possibly wrapped) when the GPU has
// vanished (fallen off the bus, GPU_IS_LOST); the Sampler marks it unhealthy.
var ErrGPULost = errors.New("gpustats: GPU is lost")

// Driver is the small surface of NVML the Sampler needs. The real one wraps
// go-nvml (cgo); tests use a fake. A Driver is used by one Sampler, which
// serialises calls, so implementations need not be safe for concurrent use.
type Driver interface {
	// DriverVersion is the NVIDIA driver version string.
	DriverVersion() (string, error)
	// DeviceCount is the number of physical GPUs.
	DeviceCount() (int, error)
	// Device returns the GPU at index (0 <= index < DeviceCount).
	Device(index int) (Device, error)
	// XIDEvents drains the XID critical errors seen since the previous call
	// without blocking.
	XIDEvents() ([]XIDEvent, error)
	// Close releases the driver (nvml.Shutdown).
	Close() error
}

// ClockKind picks the clock Device.Clock reads.
type ClockKind int

// Clocks the Sampler reads.
const (
	ClockSM ClockKind = iota
	ClockMemory
)

// ECCKind picks the ECC counter Device.ECCErrors reads.
type ECCKind int

// ECC counters as DCGM names them: SBE = corrected, DBE = uncorrected;
// volatile since the last driver load, aggregate over the device's life.
const (
	ECCCorrectedVolatile ECCKind = iota
	ECCUncorrectedVolatile
	ECCCorrectedAggregate
	ECCUncorrectedAggregate
)

// Device is one GPU's readings, one NVML call each. Every method returns
// ErrNotSupported for a reading the device lacks and ErrGPULost once the GPU
// is gone; any other error leaves the field absent and is logged.
type Device interface {
	Name() (string, error)
	UUID() (string, error)
	// Utilization is GPU and memory-copy utilisation in percent.
	Utilization() (gpu, memory uint32, err error)
	// Memory is framebuffer memory in bytes.
	Memory() (used, free, total uint64, err error)
	// Temperature and MemoryTemperature are in degrees Celsius.
	Temperature() (uint32, error)
	MemoryTemperature() (uint32, error)
	// Power is the current draw in milliwatts.
	Power() (uint32, error)
	// Energy is the energy used since the driver loaded, in millijoules.
	Energy() (uint64, error)
	// Clock is the current clock in MHz.
	Clock(ClockKind) (uint32, error)
	// ThrottleReasons is the clocks-event reasons bitmask.
	ThrottleReasons() (uint64, error)
	// PCIeThroughput is TX and RX in KB/s.
	PCIeThroughput() (tx, rx uint32, err error)
	PCIeReplays() (uint64, error)
	ECCErrors(ECCKind) (uint64, error)
	// Processes lists compute processes; MemoryUsed nil where unavailable.
	Processes() ([]Process, error)
	// MIGDevices lists MIG devices; empty when MIG is disabled.
	MIGDevices() ([]MIGDevice, error)
}
