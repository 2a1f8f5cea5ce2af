package gpustats

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// gpuLabels are dcgm-exporter's per-GPU labels, so its dashboards work
// unchanged, plus the cohort job and rank of the exporting process, so GPU
// use is attributable to jobs.
var gpuLabels = []string{"gpu", "UUID", "device", "modelName", "Hostname", "job", "rank"}

// hostLabels label host-wide series.
var hostLabels = []string{"Hostname", "job", "rank"}

// gpuMetric is one per-GPU series: its name, help and type copied from
// dcgm-exporter's default-counters.csv (types included, quirks and all: the
// PCIe throughput "counters" are KB/s rates in DCGM too), converted to
// DCGM's units; ok false means the field is absent and no series is sent.
type gpuMetric struct {
	name, help string
	typ        prometheus.ValueType
	value      func(g *GPU) (v float64, ok bool)
}

const mib = 1 << 20

func u32(p *uint32, scale float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return float64(*p) * scale, true
}

func u64(p *uint64, scale float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return float64(*p) * scale, true
}

// mibFloor reports bytes in whole MiB, as DCGM and nvidia-smi do.
func mibFloor(p *uint64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return float64(*p / mib), true
}

// gpuMetrics is an immutable table; its order is the exposition order.
var gpuMetrics = [...]gpuMetric{
	{"DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u32(g.SMClockMHz, 1) }},
	{"DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u32(g.MemoryClockMHz, 1) }},
	{"DCGM_FI_DEV_MEMORY_TEMP", "Memory temperature (in C).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u32(g.MemoryTemperature, 1) }},
	{"DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u32(g.Temperature, 1) }},
	{"DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u32(g.PowerMilliwatts, 1e-3) }},
	{"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "Total energy consumption since boot (in mJ).", prometheus.CounterValue,
		func(g *GPU) (float64, bool) { return u64(g.EnergyMillijoules, 1) }},
	{"DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "Total number of bytes transmitted through PCIe TX (in KB) via NVML.", prometheus.CounterValue,
		func(g *GPU) (float64, bool) { return u32(g.PCIeTxKBps, 1) }},
	{"DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "Total number of bytes received through PCIe RX (in KB) via NVML.", prometheus.CounterValue,
		func(g *GPU) (float64, bool) { return u32(g.PCIeRxKBps, 1) }},
	{"DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "Total number of PCIe retries.", prometheus.CounterValue,
		func(g *GPU) (float64, bool) { return u64(g.PCIeReplays, 1) }},
	{"DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u32(g.GPUUtilization, 1) }},
	{"DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u32(g.MemoryUtilization, 1) }},
	{"DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u64(g.LastXID, 1) }},
	{"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "Current clock throttle reasons (bitmask of DCGM_CLOCKS_THROTTLE_REASON_*).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return u64(g.ThrottleReasons, 1) }},
	{"DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return mibFloor(g.MemoryFree) }},
	{"DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", prometheus.GaugeValue,
		func(g *GPU) (float64, bool) { return mibFloor(g.MemoryUsed) }},
	{"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "Total number of single-bit volatile ECC errors.", prometheus.CounterValue,
		func(g *GPU) (float64, bool) { return u64(g.ECCCorrectedVolatile, 1) }},
	{"DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "Total number of double-bit volatile ECC errors.", prometheus.CounterValue,
		func(g *GPU) (float64, bool) { return u64(g.ECCUncorrectedVolatile, 1) }},
	{"DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "Total number of single-bit persistent ECC errors.", prometheus.CounterValue,
		func(g *GPU) (float64, bool) { return u64(g.ECCCorrectedAggregate, 1) }},
	{"DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "Total number of double-bit persistent ECC errors.", prometheus.CounterValue,
		func(g *GPU) (float64, bool) { return u64(g.ECCUncorrectedAggregate, 1) }},
}

// CollectorOptions are the cohort labels put on every series.
type CollectorOptions struct {
	Job  string // cohort job id; "" outside a job
	Rank string // worker rank in the job's ring; "" outside a job
	// Labels, when set, is called on every scrape and overrides Job and
	// Rank: a worker moves from job to job (and rank to rank) over its
	// life, and its GPU series must name the job it trains at the time.
	// It must be safe to call from the scraping goroutine.
	Labels func() (job, rank string)
}

// Collector is a prometheus.Collector over a Sampler's samples.
//
// It reads the latest sample at scrape time rather than sampling itself:
// the Sampler's Run loop (1 Hz for cohort top) pays for NVML once however
// many scrapers there are, and a scrape never waits on NVML's 20 ms PCIe
// windows. Before the first sample, it exports nothing.
type Collector struct {
	latest    func() *Sample
	labels    func() (job, rank string)
	job, rank string

	gpu                      []*prometheus.Desc // aligned with gpuMetrics
	healthy, process, nvmlUp *prometheus.Desc
	hostCPUs, hostCPUSeconds *prometheus.Desc
	hostBusy, hostMemTotal   *prometheus.Desc
	hostMemAvail, hostMemUse *prometheus.Desc
}

// NewCollector returns a Collector exporting latest() on every scrape;
// latest is usually a Sampler's Latest method. A nil sample exports nothing.
func NewCollector(latest func() *Sample, opts CollectorOptions) *Collector {
	c := &Collector{latest: latest, labels: opts.Labels, job: opts.Job, rank: opts.Rank}
	for _, m := range gpuMetrics {
		c.gpu = append(c.gpu, prometheus.NewDesc(m.name, m.help, gpuLabels, nil))
	}
	c.healthy = prometheus.NewDesc("cohort_gpu_healthy",
		"Whether the GPU could be read on the last sample (0: it vanished or NVML failed on it).", gpuLabels, nil)
	c.process = prometheus.NewDesc("cohort_gpu_process_memory_bytes",
		"GPU memory used by a compute process; cohort=\"true\" marks cohort's own processes.",
		append(append([]string{}, gpuLabels...), "pid", "cohort"), nil)
	c.nvmlUp = prometheus.NewDesc("cohort_gpu_nvml_available",
		"Whether NVML could be used on the last sample (0: no driver, no cgo, or NVML failed).", hostLabels, nil)
	c.hostCPUs = prometheus.NewDesc("cohort_host_cpus", "Number of logical CPUs.", hostLabels, nil)
	c.hostCPUSeconds = prometheus.NewDesc("cohort_host_cpu_seconds_total",
		"CPU time spent since boot by mode, summed over CPUs (from /proc/stat).",
		append(append([]string{}, hostLabels...), "mode"), nil)
	c.hostBusy = prometheus.NewDesc("cohort_host_cpu_busy_ratio",
		"Fraction of CPU time not idle or iowait since the previous sample.", hostLabels, nil)
	c.hostMemTotal = prometheus.NewDesc("cohort_host_memory_total_bytes", "Total usable memory (MemTotal).", hostLabels, nil)
	c.hostMemAvail = prometheus.NewDesc("cohort_host_memory_available_bytes",
		"Memory available for new work without swapping (MemAvailable).", hostLabels, nil)
	c.hostMemUse = prometheus.NewDesc("cohort_host_memory_used_bytes", "MemTotal minus MemAvailable.", hostLabels, nil)
	return c
}

// Describe sends every descriptor the Collector may use.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.gpu {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.healthy, c.process, c.nvmlUp, c.hostCPUs, c.hostCPUSeconds,
		c.hostBusy, c.hostMemTotal, c.hostMemAvail, c.hostMemUse} {
		ch <- d
	}
}

// Collect exports the latest sample; absent fields send no series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.latest()
	if s == nil {
		return
	}
	job, rank := c.job, c.rank
	if c.labels != nil {
		job, rank = c.labels()
	}
	host := []string{s.Hostname, job, rank}
	ch <- constMetric(c.nvmlUp, prometheus.GaugeValue, boolValue(s.NVML), host...)
	for i := range s.GPUs {
		g := &s.GPUs[i]
		idx := strconv.Itoa(g.Index)
		// NVML strings come from the driver; Prometheus wants UTF-8.
		labels := []string{idx, strings.ToValidUTF8(g.UUID, "\uFFFD"), "nvidia" + idx,
			strings.ToValidUTF8(g.Name, "\uFFFD"), s.Hostname, job, rank}
		ch <- constMetric(c.healthy, prometheus.GaugeValue, boolValue(g.Healthy), labels...)
		for j, m := range gpuMetrics {
			if v, ok := m.value(g); ok {
				ch <- constMetric(c.gpu[j], m.typ, v, labels...)
			}
		}
		c.collectProcesses(ch, g, labels)
	}
	if h := s.Host; h != nil {
		c.collectHost(ch, h, host)
	}
}

// collectProcesses sums memory per PID: NVML may list a PID once per
// context, and a duplicate series would fail the whole scrape.
func (c *Collector) collectProcesses(ch chan<- prometheus.Metric, g *GPU, labels []string) {
	type acc struct {
		bytes  float64
		cohort bool
	}
	var order []int
	byPID := map[int]*acc{}
	for _, p := range g.Processes {
		if p.MemoryUsed == nil {
			continue
		}
		a, ok := byPID[p.PID]
		if !ok {
			a = &acc{}
			byPID[p.PID] = a
			order = append(order, p.PID)
		}
		a.bytes += float64(*p.MemoryUsed)
		a.cohort = a.cohort || p.Cohort
	}
	for _, pid := range order {
		a := byPID[pid]
		ch <- constMetric(c.process, prometheus.GaugeValue, a.bytes,
			append(labels[:len(labels):len(labels)], strconv.Itoa(pid), strconv.FormatBool(a.cohort))...)
	}
}

func (c *Collector) collectHost(ch chan<- prometheus.Metric, h *Host, labels []string) {
	if h.CPUSeconds != nil {
		ch <- constMetric(c.hostCPUs, prometheus.GaugeValue, float64(h.CPUs), labels...)
		for _, m := range cpuModes {
			if v, ok := h.CPUSeconds[m]; ok {
				ch <- constMetric(c.hostCPUSeconds, prometheus.CounterValue, v,
					append(labels[:len(labels):len(labels)], m)...)
			}
		}
	}
	if h.CPUBusy != nil {
		ch <- constMetric(c.hostBusy, prometheus.GaugeValue, *h.CPUBusy, labels...)
	}
	for _, x := range []struct {
		d *prometheus.Desc
		v *uint64
	}{{c.hostMemTotal, h.MemoryTotal}, {c.hostMemAvail, h.MemoryAvailable}, {c.hostMemUse, h.MemoryUsed}} {
		if x.v != nil {
			ch <- constMetric(x.d, prometheus.GaugeValue, float64(*x.v), labels...)
		}
	}
}

// constMetric is MustNewConstMetric without the panic: a label value
// Prometheus rejects (a caller's job name that is not UTF-8) fails that one
// series in the scrape, not the process.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
