package gpustats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func countSeries(t *testing.T, c prometheus.Collector, name string) int {
	t.Helper()
	return testutil.CollectAndCount(c, name)
}

// exampleSample is two fake GPUs (the second with unsupported memory
// temperature and ECC, lost at its process list) and a host sampled twice.
func exampleSample(t *testing.T) *Sample {
	t.Helper()
	dir := t.TempDir()
	writeProc(t, dir, fakeStat(100, 50, 850, 2), fakeMeminfo)
	d := newFakeDriver(2)
	g1 := d.devices[1]
	for _, f := range []string{"memory_temperature", "ecc_sbe_vol", "ecc_dbe_vol", "ecc_sbe_agg", "ecc_dbe_agg"} {
		g1.unsupported[f] = true
	}
	d.pending = []XIDEvent{{UUID: d.devices[0].uuid, XID: 79}}
	s := newTestSampler(d, dir)
	if _, err := s.Sample(t.Context()); err != nil {
		t.Fatal(err)
	}
	g1.lostAt = "processes" // vanishes during the second sample
	writeProc(t, dir, fakeStat(300, 150, 950, 2), fakeMeminfo)
	smp, err := s.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return smp
}

// Label sets in the sorted order client_golang exposes them.
const (
	l0 = `Hostname="node-a",UUID="GPU-00000000-aaaa-bbbb-cccc-dddddddddddd",device="nvidia0",gpu="0",job="clv-7",modelName="NVIDIA H100 80GB HBM3",rank="1"`
	l1 = `Hostname="node-a",UUID="GPU-00000001-aaaa-bbbb-cccc-dddddddddddd",device="nvidia1",gpu="1",job="clv-7",modelName="NVIDIA H100 80GB HBM3",rank="1"`
	lh = `Hostname="node-a",job="clv-7",rank="1"`
	lp = `Hostname="node-a",UUID="GPU-00000000-aaaa-bbbb-cccc-dddddddddddd",cohort="%s",device="nvidia0",gpu="0",job="clv-7",modelName="NVIDIA H100 80GB HBM3",pid="%d",rank="1"`
)

// wantExposition is worked out by hand from newFakeDevice's values in DCGM
// units (MiB floored, W from mW, mJ, MHz, KB/s).
var wantExposition = `
# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{` + l0 + `} 1979
DCGM_FI_DEV_SM_CLOCK{` + l1 + `} 1978
# HELP DCGM_FI_DEV_MEM_CLOCK Memory clock frequency (in MHz).
# TYPE DCGM_FI_DEV_MEM_CLOCK gauge
DCGM_FI_DEV_MEM_CLOCK{` + l0 + `} 2619
DCGM_FI_DEV_MEM_CLOCK{` + l1 + `} 2619
# HELP DCGM_FI_DEV_MEMORY_TEMP Memory temperature (in C).
# TYPE DCGM_FI_DEV_MEMORY_TEMP gauge
DCGM_FI_DEV_MEMORY_TEMP{` + l0 + `} 41
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{` + l0 + `} 31
DCGM_FI_DEV_GPU_TEMP{` + l1 + `} 32
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{` + l0 + `} 101.5
DCGM_FI_DEV_POWER_USAGE{` + l1 + `} 103
# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).
# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{` + l0 + `} 5e+06
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{` + l1 + `} 1e+07
# HELP DCGM_FI_DEV_PCIE_TX_THROUGHPUT Total number of bytes transmitted through PCIe TX (in KB) via NVML.
# TYPE DCGM_FI_DEV_PCIE_TX_THROUGHPUT counter
DCGM_FI_DEV_PCIE_TX_THROUGHPUT{` + l0 + `} 1000
DCGM_FI_DEV_PCIE_TX_THROUGHPUT{` + l1 + `} 2000
# HELP DCGM_FI_DEV_PCIE_RX_THROUGHPUT Total number of bytes received through PCIe RX (in KB) via NVML.
# TYPE DCGM_FI_DEV_PCIE_RX_THROUGHPUT counter
DCGM_FI_DEV_PCIE_RX_THROUGHPUT{` + l0 + `} 2000
DCGM_FI_DEV_PCIE_RX_THROUGHPUT{` + l1 + `} 4000
# HELP DCGM_FI_DEV_PCIE_REPLAY_COUNTER Total number of PCIe retries.
# TYPE DCGM_FI_DEV_PCIE_REPLAY_COUNTER counter
DCGM_FI_DEV_PCIE_REPLAY_COUNTER{` + l0 + `} 1
DCGM_FI_DEV_PCIE_REPLAY_COUNTER{` + l1 + `} 2
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{` + l0 + `} 10
DCGM_FI_DEV_GPU_UTIL{` + l1 + `} 20
# HELP DCGM_FI_DEV_MEM_COPY_UTIL Memory utilization (in %).
# TYPE DCGM_FI_DEV_MEM_COPY_UTIL gauge
DCGM_FI_DEV_MEM_COPY_UTIL{` + l0 + `} 3
DCGM_FI_DEV_MEM_COPY_UTIL{` + l1 + `} 6
# HELP DCGM_FI_DEV_XID_ERRORS Value of the last XID error encountered.
# TYPE DCGM_FI_DEV_XID_ERRORS gauge
DCGM_FI_DEV_XID_ERRORS{` + l0 + `} 79
# HELP DCGM_FI_DEV_CLOCK_THROTTLE_REASONS Current clock throttle reasons (bitmask of DCGM_CLOCKS_THROTTLE_REASON_*).
# TYPE DCGM_FI_DEV_CLOCK_THROTTLE_REASONS gauge
DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{` + l0 + `} 4
DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{` + l1 + `} 4
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{` + l0 + `} 80559
DCGM_FI_DEV_FB_FREE{` + l1 + `} 79559
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{` + l0 + `} 1000
DCGM_FI_DEV_FB_USED{` + l1 + `} 2000
# HELP DCGM_FI_DEV_ECC_SBE_VOL_TOTAL Total number of single-bit volatile ECC errors.
# TYPE DCGM_FI_DEV_ECC_SBE_VOL_TOTAL counter
DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{` + l0 + `} 10
# HELP DCGM_FI_DEV_ECC_DBE_VOL_TOTAL Total number of double-bit volatile ECC errors.
# TYPE DCGM_FI_DEV_ECC_DBE_VOL_TOTAL counter
DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{` + l0 + `} 0
# HELP DCGM_FI_DEV_ECC_SBE_AGG_TOTAL Total number of single-bit persistent ECC errors.
# TYPE DCGM_FI_DEV_ECC_SBE_AGG_TOTAL counter
DCGM_FI_DEV_ECC_SBE_AGG_TOTAL{` + l0 + `} 100
# HELP DCGM_FI_DEV_ECC_DBE_AGG_TOTAL Total number of double-bit persistent ECC errors.
# TYPE DCGM_FI_DEV_ECC_DBE_AGG_TOTAL counter
DCGM_FI_DEV_ECC_DBE_AGG_TOTAL{` + l0 + `} 1
# HELP cohort_gpu_healthy Whether the GPU could be read on the last sample (0: it vanished or NVML failed on it).
# TYPE cohort_gpu_healthy gauge
cohort_gpu_healthy{` + l0 + `} 1
cohort_gpu_healthy{` + l1 + `} 0
# HELP cohort_gpu_process_memory_bytes GPU memory used by a compute process; cohort="true" marks cohort's own processes.
# TYPE cohort_gpu_process_memory_bytes gauge
cohort_gpu_process_memory_bytes{` + fmt.Sprintf(lp, "true", 4242) + `} 536870912
cohort_gpu_process_memory_bytes{` + fmt.Sprintf(lp, "false", 1001) + `} 268435456
# HELP cohort_gpu_nvml_available Whether NVML could be used on the last sample (0: no driver, no cgo, or NVML failed).
# TYPE cohort_gpu_nvml_available gauge
cohort_gpu_nvml_available{` + lh + `} 1
# HELP cohort_host_cpus Number of logical CPUs.
# TYPE cohort_host_cpus gauge
cohort_host_cpus{` + lh + `} 2
# HELP cohort_host_cpu_seconds_total CPU time spent since boot by mode, summed over CPUs (from /proc/stat).
# TYPE cohort_host_cpu_seconds_total counter
cohort_host_cpu_seconds_total{Hostname="node-a",job="clv-7",mode="user",rank="1"} 3
cohort_host_cpu_seconds_total{Hostname="node-a",job="clv-7",mode="nice",rank="1"} 0
cohort_host_cpu_seconds_total{Hostname="node-a",job="clv-7",mode="system",rank="1"} 1.5
cohort_host_cpu_seconds_total{Hostname="node-a",job="clv-7",mode="idle",rank="1"} 9.5
cohort_host_cpu_seconds_total{Hostname="node-a",job="clv-7",mode="iowait",rank="1"} 0
cohort_host_cpu_seconds_total{Hostname="node-a",job="clv-7",mode="irq",rank="1"} 0
cohort_host_cpu_seconds_total{Hostname="node-a",job="clv-7",mode="softirq",rank="1"} 0
cohort_host_cpu_seconds_total{Hostname="node-a",job="clv-7",mode="steal",rank="1"} 0
# HELP cohort_host_cpu_busy_ratio Fraction of CPU time not idle or iowait since the previous sample.
# TYPE cohort_host_cpu_busy_ratio gauge
cohort_host_cpu_busy_ratio{` + lh + `} 0.75
# HELP cohort_host_memory_total_bytes Total usable memory (MemTotal).
# TYPE cohort_host_memory_total_bytes gauge
cohort_host_memory_total_bytes{` + lh + `} 16777216000
# HELP cohort_host_memory_available_bytes Memory available for new work without swapping (MemAvailable).
# TYPE cohort_host_memory_available_bytes gauge
cohort_host_memory_available_bytes{` + lh + `} 4194304000
# HELP cohort_host_memory_used_bytes MemTotal minus MemAvailable.
# TYPE cohort_host_memory_used_bytes gauge
cohort_host_memory_used_bytes{` + lh + `} 12582912000
`

// TestCollectorExposition ensures a fake sample is exported exactly as
// dcgm-exporter would name it, with cohort's labels, absent fields sending
// no series, and the host under cohort_host_*.
func TestCollectorExposition(t *testing.T) {
	smp := exampleSample(t)
	c := NewCollector(func() *Sample { return smp }, CollectorOptions{Job: "clv-7", Rank: "1"})
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantExposition)); err != nil {
		t.Fatal(err)
	}
}

// TestCollectorLabelsFunc ensures a Labels function is asked on every
// scrape and overrides the fixed Job and Rank, so a worker's series follow
// the job it trains now and carry empty labels while it is idle.
func TestCollectorLabelsFunc(t *testing.T) {
	smp := exampleSample(t)
	job, rank := "", ""
	c := NewCollector(func() *Sample { return smp }, CollectorOptions{Job: "fixed", Rank: "9",
		Labels: func() (string, string) { return job, rank }})
	for _, tc := range []struct{ job, rank string }{{"", ""}, {"clv-7", "2"}, {"clv-8", "0"}, {"", ""}} {
		job, rank = tc.job, tc.rank
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range families {
			for _, m := range mf.GetMetric() {
				got := map[string]string{}
				for _, l := range m.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				if got["job"] != tc.job || got["rank"] != tc.rank {
					t.Errorf("%s: job %q rank %q, want %q %q", mf.GetName(), got["job"], got["rank"], tc.job, tc.rank)
				}
				n++
			}
		}
		if n == 0 {
			t.Fatal("no series")
		}
	}
}

// TestCollectorUnsupportedEmitsNoSeries ensures that for every DCGM metric,
// a device that cannot read its field sends no series for it, and a device
// that can sends exactly one.
func TestCollectorUnsupportedEmitsNoSeries(t *testing.T) {
	source := map[string]string{
		"DCGM_FI_DEV_SM_CLOCK": "sm_clock", "DCGM_FI_DEV_MEM_CLOCK": "mem_clock",
		"DCGM_FI_DEV_MEMORY_TEMP": "memory_temperature", "DCGM_FI_DEV_GPU_TEMP": "temperature",
		"DCGM_FI_DEV_POWER_USAGE": "power", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": "energy",
		"DCGM_FI_DEV_PCIE_TX_THROUGHPUT": "pcie_throughput", "DCGM_FI_DEV_PCIE_RX_THROUGHPUT": "pcie_throughput",
		"DCGM_FI_DEV_PCIE_REPLAY_COUNTER": "pcie_replays", "DCGM_FI_DEV_GPU_UTIL": "utilization",
		"DCGM_FI_DEV_MEM_COPY_UTIL": "utilization", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": "throttle",
		"DCGM_FI_DEV_FB_FREE": "memory", "DCGM_FI_DEV_FB_USED": "memory",
		"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": "ecc_sbe_vol", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "ecc_dbe_vol",
		"DCGM_FI_DEV_ECC_SBE_AGG_TOTAL": "ecc_sbe_agg", "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL": "ecc_dbe_agg",
	}
	for _, m := range gpuMetrics {
		if m.name == "DCGM_FI_DEV_XID_ERRORS" {
			continue // driven by events, checked below
		}
		field, ok := source[m.name]
		if !ok {
			t.Fatalf("no fake field for %s", m.name)
		}
		t.Run(m.name, func(t *testing.T) {
			for _, supported := range []bool{true, false} {
				d := newFakeDriver(1)
				d.devices[0].unsupported[field] = !supported
				s := sampled(t, newTestSampler(d, "-"))
				c := NewCollector(s.Latest, CollectorOptions{})
				want := 0
				if supported {
					want = 1
				}
				if n := countSeries(t, c, m.name); n != want {
					t.Errorf("supported=%v: %d series, want %d", supported, n, want)
				}
			}
		})
	}
	t.Run("DCGM_FI_DEV_XID_ERRORS", func(t *testing.T) {
		d := newFakeDriver(1)
		s := sampled(t, newTestSampler(d, "-"))
		c := NewCollector(s.Latest, CollectorOptions{})
		if n := countSeries(t, c, "DCGM_FI_DEV_XID_ERRORS"); n != 0 {
			t.Errorf("%d XID series before any XID", n)
		}
		d.pending = []XIDEvent{{UUID: d.devices[0].uuid, XID: 94}}
		if _, err := s.Sample(t.Context()); err != nil {
			t.Fatal(err)
		}
		if v := testutil.ToFloat64(onlyMetric(c, "DCGM_FI_DEV_XID_ERRORS")); v != 94 {
			t.Errorf("XID = %v, want 94", v)
		}
	})
}

// onlyMetric narrows a collector to one family, for testutil.ToFloat64.
func onlyMetric(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	prometheus.Collector
	name string
}

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.Collector.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

// TestCollectorLint ensures the exposition passes client_golang's linter
// except for the deviations dcgm-exporter compatibility forces on us (its
// counters without "_total", its camelCase modelName label), and that those
// are exactly the expected ones: a new lint problem fails the test.
func TestCollectorLint(t *testing.T) {
	smp := exampleSample(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(func() *Sample { return smp }, CollectorOptions{Job: "j", Rank: "0"}))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	const (
		noTotal   = `counter metrics should have "_total" suffix`
		typeName  = `metric name should not include type 'counter'`
		camelCase = `label names should be written in 'snake_case' not 'camelCase'`
	)
	want := map[string][]string{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		name := mf.GetName()
		if strings.HasPrefix(name, "DCGM_") && mf.GetType().String() == "COUNTER" {
			want[name] = append(want[name], noTotal)
		}
		if name == "DCGM_FI_DEV_PCIE_REPLAY_COUNTER" {
			want[name] = append(want[name], typeName)
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "modelName" {
					want[name] = append(want[name], camelCase)
				}
			}
		}
	}
	got := map[string][]string{}
	for _, p := range problems {
		got[p.Metric] = append(got[p.Metric], p.Text)
	}
	for name := range got {
		slices.Sort(got[name])
		slices.Sort(want[name])
		if !slices.Equal(got[name], want[name]) {
			t.Errorf("%s: lint problems %q, want only %q", name, got[name], want[name])
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: expected lint problems %q did not appear (linter changed?)", name, want[name])
		}
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "cohort_host_") || p.Metric == "cohort_gpu_nvml_available" {
			t.Errorf("cohort metric %s has lint problem %q", p.Metric, p.Text)
		}
	}
}

// TestCollectorBadLabels ensures a GPU name that is not UTF-8 is exported
// with replacement characters, and a job label Prometheus rejects fails the
// scrape's series with an error instead of panicking the process.
func TestCollectorBadLabels(t *testing.T) {
	d := newFakeDriver(1)
	d.devices[0].name = "bad\xff"
	s := sampled(t, newTestSampler(d, "-"))
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(s.Latest, CollectorOptions{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == "modelName" && l.GetValue() == "bad\uFFFD")
			}
		}
	}
	if !found {
		t.Error("no series with the sanitised model name")
	}

	bad := prometheus.NewRegistry()
	bad.MustRegister(NewCollector(s.Latest, CollectorOptions{Job: "j\xff"}))
	if _, err := bad.Gather(); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Fatalf("Gather err = %v, want a label error", err)
	}
}

// TestSampleCancelled ensures a cancelled sample fails with the context's
// error and is not kept as the latest.
func TestSampleCancelled(t *testing.T) {
	s := newTestSampler(newFakeDriver(1), "-")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if smp, err := s.Sample(ctx); smp != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Sample = %v, %v; want nil, context.Canceled", smp, err)
	}
}

// sampled takes a first sample with s, for Latest (and so a Collector) to
// export, and returns s.
func sampled(t *testing.T, s *Sampler) *Sampler {
	t.Helper()
	if _, err := s.Sample(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}
