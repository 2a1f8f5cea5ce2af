package clusterview

import (
	"slices"
	"sort"
	"strings"
	"time"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// StragglerFactor is how much slower than its job's median a rank's compute
// time per step must be to be flagged.
const StragglerFactor = 1.5

// GPURow is one GPU of the cluster. Pointer fields are nil when the GPU does
// not report the reading.
type GPURow struct {
	Worker             string    `json:"worker"`
	Hostname           string    `json:"hostname"`
	Index              uint32    `json:"index"`
	Name               string    `json:"name,omitempty"`
	UUID               string    `json:"uuid,omitempty"`
	Healthy            bool      `json:"healthy"`
	UtilizationPercent *uint32   `json:"utilization_percent,omitempty"`
	MemoryUsedBytes    *uint64   `json:"memory_used_bytes,omitempty"`
	MemoryTotalBytes   *uint64   `json:"memory_total_bytes,omitempty"`
	PowerWatts         *float64  `json:"power_watts,omitempty"`
	TemperatureCelsius *uint32   `json:"temperature_celsius,omitempty"`
	SampledAt          time.Time `json:"sampled_at"`
}

// HostRow is one worker's machine: its CPU and memory, and why it shows no
// GPUs when it has none.
type HostRow struct {
	Worker           string    `json:"worker"`
	Hostname         string    `json:"hostname"`
	GPUs             int       `json:"gpus"`
	NVMLError        string    `json:"nvml_error,omitempty"`
	CPUs             uint32    `json:"cpus,omitempty"`
	CPUBusy          *float64  `json:"cpu_busy,omitempty"`
	MemoryUsedBytes  *uint64   `json:"memory_used_bytes,omitempty"`
	MemoryTotalBytes *uint64   `json:"memory_total_bytes,omitempty"`
	SampledAt        time.Time `json:"sampled_at"`
	// Err says why the worker's status is missing or unreadable.
	Err string `json:"error,omitempty"`
}

// RankRow is what one worker is training.
type RankRow struct {
	Worker         string  `json:"worker"`
	Job            string  `json:"job"`
	Generation     uint64  `json:"generation"`
	Rank           uint32  `json:"rank"`
	Allreduces     uint64  `json:"allreduces"`
	ComputeSeconds float64 `json:"compute_seconds"`
	// Ratio is ComputeSeconds over the median of the job generation's ranks
	// (0 when unknown); Straggler is Ratio > StragglerFactor.
	Ratio     float64 `json:"ratio"`
	Straggler bool    `json:"straggler"`
}

// JobRow is one job's headline and progress.
type JobRow struct {
	ID, Name, State  string
	Generation       uint64
	Workers          uint32
	Step             uint64
	Epoch, MaxEpochs uint32
	Loss, ValLoss    float64
	SamplesPerSecond float64
	// Progress is the fraction done (epoch over max_epochs, 1 once
	// succeeded), -1 when unknown.
	Progress float64
	Error    string
}

// Cluster is every GPU and host of a snapshot, the JSON of `cohort gpus --etcd`.
type Cluster struct {
	GPUs  []GPURow  `json:"gpus"`
	Hosts []HostRow `json:"hosts"`
}

// ClusterOf flattens a snapshot's workers into GPU and host rows, in worker
// and GPU index order.
func ClusterOf(s *Snapshot) Cluster {
	c := Cluster{GPUs: []GPURow{}, Hosts: []HostRow{}}
	for _, w := range s.Workers {
		n := w.Status.GetNode()
		h := HostRow{Worker: w.Name, Hostname: n.GetHostname(), GPUs: len(n.GetGpus()), NVMLError: n.GetNvmlError(), Err: w.Err}
		if n == nil && w.Err == "" {
			h.Err = "no machine readings yet"
		}
		if n.GetSampledAt() != nil {
			h.SampledAt = n.GetSampledAt().AsTime()
		}
		if hs := n.GetHost(); hs != nil {
			h.CPUs, h.CPUBusy, h.MemoryUsedBytes, h.MemoryTotalBytes = hs.GetCpus(), hs.CpuBusy, hs.MemoryUsedBytes, hs.MemoryTotalBytes
		}
		c.Hosts = append(c.Hosts, h)
		for _, g := range n.GetGpus() {
			r := GPURow{Worker: w.Name, Hostname: h.Hostname, Index: g.GetIndex(), Name: g.GetName(), UUID: g.GetUuid(),
				Healthy: g.GetHealthy(), UtilizationPercent: g.UtilizationPercent, MemoryUsedBytes: g.MemoryUsedBytes,
				MemoryTotalBytes: g.MemoryTotalBytes, TemperatureCelsius: g.TemperatureCelsius, SampledAt: h.SampledAt}
			if g.PowerMilliwatts != nil {
				p := float64(*g.PowerMilliwatts) / 1000
				r.PowerWatts = &p
			}
			c.GPUs = append(c.GPUs, r)
		}
	}
	return c
}

// Ranks returns the ranks the workers train, by job, generation and rank,
// each compared with the median compute time of its job generation.
func Ranks(s *Snapshot) []RankRow {
	var rows []RankRow
	for _, w := range s.Workers {
		a := w.Status.GetNode().GetActivity()
		if a == nil {
			continue
		}
		rows = append(rows, RankRow{Worker: w.Name, Job: a.GetJobId(), Generation: a.GetGeneration(), Rank: a.GetRank(),
			Allreduces: a.GetAllreduces(), ComputeSeconds: a.GetComputeSeconds()})
	}
	sort.Slice(rows, func(a, b int) bool {
		x, y := rows[a], rows[b]
		if x.Job != y.Job {
			return x.Job < y.Job
		}
		if x.Generation != y.Generation {
			return x.Generation < y.Generation
		}
		return x.Rank < y.Rank
	})
	for i := 0; i < len(rows); {
		j := i
		var times []float64
		for ; j < len(rows) && rows[j].Job == rows[i].Job && rows[j].Generation == rows[i].Generation; j++ {
			if rows[j].ComputeSeconds > 0 {
				times = append(times, rows[j].ComputeSeconds)
			}
		}
		// One rank has nobody to be slower than.
		if len(times) >= 2 {
			med := median(times)
			for k := i; k < j; k++ {
				if med > 0 && rows[k].ComputeSeconds > 0 {
					rows[k].Ratio = rows[k].ComputeSeconds / med
					rows[k].Straggler = rows[k].Ratio > StragglerFactor
				}
			}
		}
		i = j
	}
	return rows
}

func median(v []float64) float64 {
	c := slices.Clone(v)
	slices.Sort(c)
	n := len(c)
	if n%2 == 1 {
		return c[n/2]
	}
	return (c[n/2-1] + c[n/2]) / 2
}

// Jobs returns the jobs' rows in snapshot order.
func Jobs(s *Snapshot) []JobRow {
	rows := make([]JobRow, 0, len(s.Jobs))
	for _, j := range s.Jobs {
		r := JobRow{ID: j.GetId(), Name: j.GetSpec().GetName(), State: stateName(j.GetState()), Generation: j.GetGeneration(),
			Workers: j.GetWorkers(), Step: j.GetStep(), Epoch: j.GetEpoch(), MaxEpochs: j.GetSpec().GetModel().GetMaxEpochs(),
			Loss: j.GetLoss(), ValLoss: j.GetValLoss(), SamplesPerSecond: j.GetSamplesPerSecond(), Progress: -1, Error: j.GetError()}
		switch {
		case j.GetState() == cohortv1.JobState_JOB_STATE_SUCCEEDED:
			r.Progress = 1
		case r.MaxEpochs > 0:
			r.Progress = min(float64(r.Epoch)/float64(r.MaxEpochs), 1)
		}
		rows = append(rows, r)
	}
	return rows
}

// stateName is "RUNNING" for JOB_STATE_RUNNING.
func stateName(s cohortv1.JobState) string {
	return strings.TrimPrefix(s.String(), "JOB_STATE_")
}
