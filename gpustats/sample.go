// Package gpustats samples the local machine's GPUs through NVML and, where
// NVML is not available, the host's CPU and memory; it exports samples as
// Prometheus metrics under dcgm-exporter's names so existing dashboards work.
//
// The shape follows hashicorp's nomad-device-nvidia: a Sampler (the client)
// over a small Driver interface, with the real NVML driver in a cgo file and a
// fake driver in the tests. A field the device does not support is nil in a
// Sample and emits no series: absent, never a misleading zero.
package gpustats

import "time"

// Sample is one reading of the local machine. It is a plain value: safe to
// marshal as JSON (cohort gpus --json, worker status) and to share read-only.
type Sample struct {
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	// NVML reports whether the GPUs were read through NVML; when false,
	// NVMLError says why ("gpustats: NVML not available: ...") and GPUs is empty.
	NVML          bool   `json:"nvml"`
	NVMLError     string `json:"nvml_error,omitempty"`
	DriverVersion string `json:"driver_version,omitempty"`
	// GPUs are the physical GPUs in NVML index order.
	GPUs []GPU `json:"gpus"`
	// Host is the host's CPU and memory; nil where /proc is not readable.
	Host *Host `json:"host,omitempty"`
}

// GPU is one physical GPU. Pointer fields are nil when the device does not
// support the reading (or, with Healthy false, when it could not be read).
type GPU struct {
	Index int    `json:"index"`
	UUID  string `json:"uuid"`
	Name  string `json:"name"`
	// Healthy is false when the GPU could not be read (it fell off the bus,
	// NVML returned GPU_IS_LOST, ...); Error then says what happened and the
	// readings gathered before the failure are kept.
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`

	GPUUtilization    *uint32 `json:"gpu_utilization_percent,omitempty"`
	MemoryUtilization *uint32 `json:"memory_copy_utilization_percent,omitempty"`

	MemoryUsed  *uint64 `json:"memory_used_bytes,omitempty"`
	MemoryFree  *uint64 `json:"memory_free_bytes,omitempty"`
	MemoryTotal *uint64 `json:"memory_total_bytes,omitempty"`

	Temperature       *uint32 `json:"temperature_celsius,omitempty"`
	MemoryTemperature *uint32 `json:"memory_temperature_celsius,omitempty"`

	PowerMilliwatts   *uint32 `json:"power_milliwatts,omitempty"`
	EnergyMillijoules *uint64 `json:"total_energy_millijoules,omitempty"`

	SMClockMHz     *uint32 `json:"sm_clock_mhz,omitempty"`
	MemoryClockMHz *uint32 `json:"memory_clock_mhz,omitempty"`

	// ThrottleReasons is NVML's clocks-event bitmask (nvmlClocksEventReason*).
	ThrottleReasons *uint64 `json:"throttle_reasons,omitempty"`

	// PCIe throughput in KB/s over NVML's 20 ms window, as DCGM reports it.
	PCIeTxKBps              *uint32 `json:"pcie_tx_kbps,omitempty"`
	PCIeRxKBps              *uint32 `json:"pcie_rx_kbps,omitempty"`
	PCIeReplays             *uint64 `json:"pcie_replay_counter,omitempty"`
	ECCCorrectedVolatile    *uint64 `json:"ecc_sbe_volatile,omitempty"`
	ECCUncorrectedVolatile  *uint64 `json:"ecc_dbe_volatile,omitempty"`
	ECCCorrectedAggregate   *uint64 `json:"ecc_sbe_aggregate,omitempty"`
	ECCUncorrectedAggregate *uint64 `json:"ecc_dbe_aggregate,omitempty"`

	// LastXID is the last XID error seen on this GPU since the sampler
	// started (DCGM_FI_DEV_XID_ERRORS); XIDs counts them. LastXID is nil until
	// the first one, or when the device cannot deliver XID events.
	LastXID *uint64 `json:"last_xid,omitempty"`
	XIDs    uint64  `json:"xid_count"`

	// Processes are the compute processes on this GPU; Cohort marks the
	// caller's own (Config.OwnPIDs). Nil when the device cannot list them.
	Processes []Process `json:"processes,omitempty"`
	// MIG lists the MIG devices when MIG mode is enabled.
	MIG []MIGDevice `json:"mig,omitempty"`
}

// Process is a compute process on a GPU.
type Process struct {
	PID int `json:"pid"`
	// MemoryUsed is nil when NVML cannot attribute memory (e.g. under MIG
	// without privileges, or on Windows WDDM).
	MemoryUsed *uint64 `json:"memory_used_bytes,omitempty"`
	Cohort     bool    `json:"cohort"`
}

// MIGDevice is one MIG instance of a physical GPU.
type MIGDevice struct {
	Index             int     `json:"index"`
	UUID              string  `json:"uuid"`
	Name              string  `json:"name,omitempty"`
	GPUInstanceID     *int    `json:"gpu_instance_id,omitempty"`
	ComputeInstanceID *int    `json:"compute_instance_id,omitempty"`
	MemoryUsed        *uint64 `json:"memory_used_bytes,omitempty"`
	MemoryTotal       *uint64 `json:"memory_total_bytes,omitempty"`
}

// Host is the host's CPU and memory, read from /proc on Linux.
type Host struct {
	CPUs int `json:"cpus"`
	// CPUSeconds is the CPU time spent since boot by mode (user, nice,
	// system, idle, iowait, irq, softirq, steal), summed over CPUs.
	CPUSeconds map[string]float64 `json:"cpu_seconds,omitempty"`
	// CPUBusy is the busy fraction (0..1) over all CPUs since the previous
	// sample; nil on the first sample.
	CPUBusy         *float64 `json:"cpu_busy,omitempty"`
	MemoryTotal     *uint64  `json:"memory_total_bytes,omitempty"`
	MemoryAvailable *uint64  `json:"memory_available_bytes,omitempty"`
	MemoryUsed      *uint64  `json:"memory_used_bytes,omitempty"`
}

// XIDEvent is one XID critical error reported by the driver.
type XIDEvent struct {
	UUID string
	XID  uint64
}
