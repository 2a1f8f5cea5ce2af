//go:build cgo && linux

package gpustats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// maxXIDDrain bounds one XIDEvents call, so a storm of events cannot hold a
// sample up indefinitely; the rest are read on the next sample.
const maxXIDDrain = 256

// nvmlDriver is the real Driver over go-nvml, which loads libnvidia-ml.so
// with dlopen: the binary builds and starts on machines without a driver.
type nvmlDriver struct {
	lib    nvml.Interface
	events nvml.EventSet // nil when no device can deliver XID events
}

// OpenNVML initialises NVML. Without an NVIDIA driver (or with a broken
// one) it fails with ErrNVMLUnavailable and the reason.
func OpenNVML() (Driver, error) {
	lib := nvml.New()
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: nvml.Init: %s", ErrNVMLUnavailable, ret.Error())
	}
	d := &nvmlDriver{lib: lib}
	d.registerXID()
	return d, nil
}

// registerXID subscribes to XID critical errors on every device that can
// report them. Failure is not fatal: XIDs are then absent.
func (d *nvmlDriver) registerXID() {
	set, ret := d.lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		return
	}
	n, ret := d.lib.DeviceGetCount()
	registered := false
	for i := 0; ret == nvml.SUCCESS && i < n; i++ {
		dev, r := d.lib.DeviceGetHandleByIndex(i)
		if r != nvml.SUCCESS {
			continue
		}
		sup, r := dev.GetSupportedEventTypes()
		if r != nvml.SUCCESS || sup&nvml.EventTypeXidCriticalError == 0 {
			continue
		}
		if dev.RegisterEvents(nvml.EventTypeXidCriticalError, set) == nvml.SUCCESS {
			registered = true
		}
	}
	if !registered {
		set.Free()
		return
	}
	d.events = set
}

func nvmlErr(op string, ret nvml.Return) error {
	switch ret {
	case nvml.SUCCESS:
		return nil
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_FUNCTION_NOT_FOUND:
		return ErrNotSupported
	case nvml.ERROR_GPU_IS_LOST:
		return fmt.Errorf("%w: nvml %s", ErrGPULost, op)
	}
	return fmt.Errorf("nvml %s: %s", op, ret.Error())
}

func (d *nvmlDriver) DriverVersion() (string, error) {
	v, ret := d.lib.SystemGetDriverVersion()
	return v, nvmlErr("SystemGetDriverVersion", ret)
}

func (d *nvmlDriver) DeviceCount() (int, error) {
	n, ret := d.lib.DeviceGetCount()
	return n, nvmlErr("DeviceGetCount", ret)
}

func (d *nvmlDriver) Device(index int) (Device, error) {
	dev, ret := d.lib.DeviceGetHandleByIndex(index)
	if err := nvmlErr("DeviceGetHandleByIndex", ret); err != nil {
		return nil, err
	}
	return nvmlDevice{dev}, nil
}

func (d *nvmlDriver) XIDEvents() ([]XIDEvent, error) {
	if d.events == nil {
		return nil, ErrNotSupported
	}
	var out []XIDEvent
	for range maxXIDDrain {
		e, ret := d.events.Wait(0)
		if ret == nvml.ERROR_TIMEOUT {
			break
		}
		if ret != nvml.SUCCESS {
			return out, nvmlErr("EventSetWait", ret)
		}
		if e.EventType&nvml.EventTypeXidCriticalError == 0 || e.Device == nil {
			continue
		}
		uuid, ret := e.Device.GetUUID()
		if ret != nvml.SUCCESS {
			continue
		}
		out = append(out, XIDEvent{UUID: uuid, XID: e.EventData})
	}
	return out, nil
}

func (d *nvmlDriver) Close() error {
	var errs []error
	if d.events != nil {
		errs = append(errs, nvmlErr("EventSetFree", d.events.Free()))
	}
	errs = append(errs, nvmlErr("Shutdown", d.lib.Shutdown()))
	return errors.Join(errs...)
}

// nvmlDevice adapts an nvml.Device (physical or MIG) to Device.
type nvmlDevice struct{ dev nvml.Device }

func (d nvmlDevice) Name() (string, error) {
	v, ret := d.dev.GetName()
	return v, nvmlErr("DeviceGetName", ret)
}

func (d nvmlDevice) UUID() (string, error) {
	v, ret := d.dev.GetUUID()
	return v, nvmlErr("DeviceGetUUID", ret)
}

func (d nvmlDevice) Utilization() (uint32, uint32, error) {
	u, ret := d.dev.GetUtilizationRates()
	return u.Gpu, u.Memory, nvmlErr("DeviceGetUtilizationRates", ret)
}

func (d nvmlDevice) Memory() (uint64, uint64, uint64, error) {
	m, ret := d.dev.GetMemoryInfo()
	return m.Used, m.Free, m.Total, nvmlErr("DeviceGetMemoryInfo", ret)
}

func (d nvmlDevice) Temperature() (uint32, error) {
	v, ret := d.dev.GetTemperature(nvml.TEMPERATURE_GPU)
	return v, nvmlErr("DeviceGetTemperature", ret)
}

// MemoryTemperature has no direct NVML call; it is field FI_DEV_MEMORY_TEMP
// (HBM boards only), which is where DCGM reads it too.
func (d nvmlDevice) MemoryTemperature() (uint32, error) {
	vals := []nvml.FieldValue{{FieldId: nvml.FI_DEV_MEMORY_TEMP}}
	if err := nvmlErr("DeviceGetFieldValues", d.dev.GetFieldValues(vals)); err != nil {
		return 0, err
	}
	if err := nvmlErr("DeviceGetFieldValues(MEMORY_TEMP)", nvml.Return(vals[0].NvmlReturn)); err != nil {
		return 0, err
	}
	v, err := fieldUint(vals[0])
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("nvml memory temperature %d out of range", v)
	}
	return uint32(v), nil
}

// fieldUint decodes an NVML field value union (native byte order).
func fieldUint(f nvml.FieldValue) (uint64, error) {
	b := f.Value[:]
	switch nvml.ValueType(f.ValueType) {
	case nvml.VALUE_TYPE_UNSIGNED_INT:
		return uint64(binary.NativeEndian.Uint32(b)), nil
	case nvml.VALUE_TYPE_SIGNED_INT:
		v := int32(binary.NativeEndian.Uint32(b))
		if v < 0 {
			return 0, ErrNotSupported
		}
		return uint64(v), nil
	case nvml.VALUE_TYPE_UNSIGNED_LONG, nvml.VALUE_TYPE_UNSIGNED_LONG_LONG:
		if bits.UintSize == 32 && nvml.ValueType(f.ValueType) == nvml.VALUE_TYPE_UNSIGNED_LONG {
			return uint64(binary.NativeEndian.Uint32(b)), nil
		}
		return binary.NativeEndian.Uint64(b), nil
	case nvml.VALUE_TYPE_SIGNED_LONG_LONG:
		v := int64(binary.NativeEndian.Uint64(b))
		if v < 0 {
			return 0, ErrNotSupported
		}
		return uint64(v), nil
	case nvml.VALUE_TYPE_DOUBLE:
		v := math.Float64frombits(binary.NativeEndian.Uint64(b))
		if v < 0 || math.IsNaN(v) {
			return 0, ErrNotSupported
		}
		return uint64(v), nil
	}
	return 0, fmt.Errorf("nvml field %d: unknown value type %d", f.FieldId, f.ValueType)
}

func (d nvmlDevice) Power() (uint32, error) {
	v, ret := d.dev.GetPowerUsage()
	return v, nvmlErr("DeviceGetPowerUsage", ret)
}

func (d nvmlDevice) Energy() (uint64, error) {
	v, ret := d.dev.GetTotalEnergyConsumption()
	return v, nvmlErr("DeviceGetTotalEnergyConsumption", ret)
}

func (d nvmlDevice) Clock(k ClockKind) (uint32, error) {
	t := nvml.CLOCK_SM
	if k == ClockMemory {
		t = nvml.CLOCK_MEM
	}
	v, ret := d.dev.GetClockInfo(t)
	return v, nvmlErr("DeviceGetClockInfo", ret)
}

// ThrottleReasons uses the clocks-event call of newer drivers and falls
// back to the deprecated throttle-reasons call of older ones.
func (d nvmlDevice) ThrottleReasons() (uint64, error) {
	v, ret := d.dev.GetCurrentClocksEventReasons()
	if ret == nvml.ERROR_FUNCTION_NOT_FOUND {
		v, ret = d.dev.GetCurrentClocksThrottleReasons()
	}
	return v, nvmlErr("DeviceGetCurrentClocksEventReasons", ret)
}

func (d nvmlDevice) PCIeThroughput() (uint32, uint32, error) {
	tx, ret := d.dev.GetPcieThroughput(nvml.PCIE_UTIL_TX_BYTES)
	if err := nvmlErr("DeviceGetPcieThroughput(TX)", ret); err != nil {
		return 0, 0, err
	}
	rx, ret := d.dev.GetPcieThroughput(nvml.PCIE_UTIL_RX_BYTES)
	return tx, rx, nvmlErr("DeviceGetPcieThroughput(RX)", ret)
}

func (d nvmlDevice) PCIeReplays() (uint64, error) {
	v, ret := d.dev.GetPcieReplayCounter()
	if v < 0 {
		return 0, ErrNotSupported
	}
	return uint64(v), nvmlErr("DeviceGetPcieReplayCounter", ret)
}

func (d nvmlDevice) ECCErrors(k ECCKind) (uint64, error) {
	et, ct := nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC
	if k == ECCUncorrectedVolatile || k == ECCUncorrectedAggregate {
		et = nvml.MEMORY_ERROR_TYPE_UNCORRECTED
	}
	if k == ECCCorrectedAggregate || k == ECCUncorrectedAggregate {
		ct = nvml.AGGREGATE_ECC
	}
	v, ret := d.dev.GetTotalEccErrors(et, ct)
	return v, nvmlErr("DeviceGetTotalEccErrors", ret)
}

func (d nvmlDevice) Processes() ([]Process, error) {
	ps, ret := d.dev.GetComputeRunningProcesses()
	if err := nvmlErr("DeviceGetComputeRunningProcesses", ret); err != nil {
		return nil, err
	}
	out := make([]Process, len(ps))
	for i, p := range ps {
		out[i].PID = int(p.Pid)
		if p.UsedGpuMemory != math.MaxUint64 { // NVML_VALUE_NOT_AVAILABLE
			m := p.UsedGpuMemory
			out[i].MemoryUsed = &m
		}
	}
	return out, nil
}

func (d nvmlDevice) MIGDevices() ([]MIGDevice, error) {
	mode, _, ret := d.dev.GetMigMode()
	if ret == nvml.ERROR_NOT_SUPPORTED || (ret == nvml.SUCCESS && mode != nvml.DEVICE_MIG_ENABLE) {
		return nil, nil
	}
	if err := nvmlErr("DeviceGetMigMode", ret); err != nil {
		return nil, err
	}
	n, ret := d.dev.GetMaxMigDeviceCount()
	if err := nvmlErr("DeviceGetMaxMigDeviceCount", ret); err != nil {
		return nil, err
	}
	var out []MIGDevice
	for i := range n {
		m, ret := d.dev.GetMigDeviceHandleByIndex(i)
		if ret == nvml.ERROR_NOT_FOUND || ret == nvml.ERROR_INVALID_ARGUMENT {
			continue // empty slot
		}
		if err := nvmlErr("DeviceGetMigDeviceHandleByIndex", ret); err != nil {
			return out, err
		}
		md := MIGDevice{Index: i}
		md.UUID, _ = m.GetUUID()
		md.Name, _ = m.GetName()
		if gi, ret := m.GetGpuInstanceId(); ret == nvml.SUCCESS {
			md.GPUInstanceID = &gi
		}
		if ci, ret := m.GetComputeInstanceId(); ret == nvml.SUCCESS {
			md.ComputeInstanceID = &ci
		}
		if mem, ret := m.GetMemoryInfo(); ret == nvml.SUCCESS {
			md.MemoryUsed, md.MemoryTotal = &mem.Used, &mem.Total
		}
		out = append(out, md)
	}
	return out, nil
}
