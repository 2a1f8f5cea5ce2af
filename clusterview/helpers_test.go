package clusterview

import (
	"time"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

func ptr[T any](v T) *T { return &v }

// gpuWorker is a worker with one GPU per utilisation given.
func gpuWorker(name string, utils ...uint32) Worker {
	n := &cohortv1.NodeStatus{Hostname: name + ".host"}
	for i, u := range utils {
		n.Gpus = append(n.Gpus, &cohortv1.GPUSummary{Index: uint32(i), Name: "NVIDIA H100", Healthy: true,
			UtilizationPercent: ptr(u), MemoryUsedBytes: ptr(uint64(u) << 30), MemoryTotalBytes: ptr[uint64](100 << 30),
			PowerMilliwatts: ptr(u * 7000), TemperatureCelsius: ptr[uint32](60)})
	}
	return Worker{Name: name, Status: &cohortv1.WorkerStatus{Node: n}}
}

// cpuWorker is a worker without NVML.
func cpuWorker(name string, busy float64) Worker {
	return Worker{Name: name, Status: &cohortv1.WorkerStatus{Node: &cohortv1.NodeStatus{Hostname: name + ".host",
		NvmlError: "gpustats: NVML not available",
		Host: &cohortv1.HostSummary{Cpus: 8, CpuBusy: ptr(busy), MemoryUsedBytes: ptr[uint64](2 << 30),
			MemoryTotalBytes: ptr[uint64](16 << 30)}}}}
}

// training sets what w trains.
func training(w Worker, job string, rank uint32, compute float64) Worker {
	w.Status.Node.Activity = &cohortv1.WorkerActivity{JobId: job, Generation: 1, Rank: rank, Allreduces: 40, ComputeSeconds: compute}
	return w
}

var snapTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
