package clusterview

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// SortKey orders the GPU rows (and, for SortCompute, the ranks).
type SortKey int

// Sort keys, in the order the s key cycles through them.
const (
	SortName    SortKey = iota // worker, then GPU index
	SortUtil                   // busiest GPU (or CPU) first
	SortMemory                 // fullest memory first
	SortPower                  // highest power draw first
	SortCompute                // slowest rank first
	sortKeys
)

var sortNames = [...]string{"name", "util", "memory", "power", "compute"}

func (k SortKey) String() string {
	if k < 0 || k >= sortKeys {
		return fmt.Sprintf("SortKey(%d)", int(k))
	}
	return sortNames[k]
}

// Next is the key after k, wrapping around.
func (k SortKey) Next() SortKey { return (k + 1) % sortKeys }

// ParseSortKey reads a sort key by name.
func ParseSortKey(s string) (SortKey, error) {
	for i, n := range sortNames {
		if s == n {
			return SortKey(i), nil
		}
	}
	return 0, fmt.Errorf("clusterview: sort key %q, want one of %s", s, strings.Join(sortNames[:], ", "))
}

// Options shape a rendering.
type Options struct {
	Sort SortKey
	// Filter keeps the rows whose worker, host, GPU name, or job contains
	// it (case-insensitive); "" keeps all.
	Filter string
	// Width cuts lines to this many columns; 0 leaves them whole.
	Width int
}

// barWidth is the width of every bar, in cells.
const barWidth = 12

// Bar draws frac (clamped to 0..1) as a bar of width cells.
func Bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	full := int(frac*float64(width) + 0.5)
	return strings.Repeat("█", full) + strings.Repeat("░", width-full)
}

// Render draws the snapshot: a header line, the workers and what they
// train (stragglers flagged), the GPUs (or CPUs) with bars, and the jobs
// with their progress.
func Render(s *Snapshot, o Options) string {
	var b strings.Builder
	c := ClusterOf(s)
	ranks := Ranks(s)
	jobs := Jobs(s)
	match := matcher(o.Filter)
	fmt.Fprintf(&b, "cohort top  %s  workers %d  gpus %d  jobs %d  sort %s", s.Time.Format("2006-01-02 15:04:05"),
		len(s.Workers), len(c.GPUs), len(jobs), o.Sort)
	if o.Filter != "" {
		fmt.Fprintf(&b, "  filter %q", o.Filter)
	}
	b.WriteString("\n\n")

	byWorker := map[string]RankRow{}
	for _, r := range ranks {
		byWorker[r.Worker] = r
	}
	hosts := c.Hosts
	if o.Sort == SortCompute {
		sort.SliceStable(hosts, func(a, x int) bool {
			return byWorker[hosts[a].Worker].ComputeSeconds > byWorker[hosts[x].Worker].ComputeSeconds
		})
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tHOST\tJOB\tRANK\tALLREDUCES\tCOMPUTE/STEP\t")
	for _, h := range hosts {
		r, busy := byWorker[h.Worker]
		if !match(h.Worker, h.Hostname, r.Job) {
			continue
		}
		job, rank, step, comp, flag := "-", "-", "-", "-", ""
		if busy {
			job, rank, step = r.Job, fmt.Sprint(r.Rank), fmt.Sprint(r.Allreduces)
			if r.ComputeSeconds > 0 {
				comp = stepTime(r.ComputeSeconds)
			}
			if r.Straggler {
				flag = fmt.Sprintf("STRAGGLER %.1fx median", r.Ratio)
			}
		}
		if h.Err != "" {
			flag = strings.TrimSpace(flag + " " + h.Err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Worker, dash(h.Hostname), job, rank, step, comp, flag)
	}
	tw.Flush()
	b.WriteString("\n")

	writeDevices(&b, c, o, match)
	b.WriteString("\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tGEN\tWORKERS\tSTEP\tEPOCH\tPROGRESS\tLOSS\tSAMPLES/S\t")
	for _, j := range jobs {
		if !match(j.ID, j.Name) {
			continue
		}
		prog := "-"
		if j.Progress >= 0 {
			prog = fmt.Sprintf("%s %3.0f%%", Bar(j.Progress, barWidth), j.Progress*100)
		}
		epoch := fmt.Sprint(j.Epoch)
		if j.MaxEpochs > 0 {
			epoch = fmt.Sprintf("%d/%d", j.Epoch, j.MaxEpochs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%.4g\t%.0f\t%s\n", j.ID, j.State, j.Generation, j.Workers, j.Step, epoch,
			prog, j.Loss, j.SamplesPerSecond, firstLine(j.Error))
	}
	tw.Flush()
	return cut(b.String(), o.Width)
}

// writeDevices writes the GPU rows, then a CPU row for every worker
// without GPUs.
func writeDevices(b *strings.Builder, c Cluster, o Options, match func(...string) bool) {
	gpus := c.GPUs
	maxPower := 0.0
	for _, g := range gpus {
		if g.PowerWatts != nil {
			maxPower = max(maxPower, *g.PowerWatts)
		}
	}
	switch o.Sort {
	case SortUtil:
		sort.SliceStable(gpus, func(a, x int) bool { return val(gpus[a].UtilizationPercent) > val(gpus[x].UtilizationPercent) })
	case SortMemory:
		sort.SliceStable(gpus, func(a, x int) bool { return memFrac(gpus[a]) > memFrac(gpus[x]) })
	case SortPower:
		sort.SliceStable(gpus, func(a, x int) bool { return val(gpus[a].PowerWatts) > val(gpus[x].PowerWatts) })
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	// Power has no limit in the compact status: its bar is relative to the
	// hungriest GPU in view.
	fmt.Fprintln(tw, "WORKER\tDEVICE\tNAME\tUTIL\tMEMORY\tPOWER\tTEMP\tHEALTH\t")
	for _, g := range gpus {
		if !match(g.Worker, g.Hostname, g.Name) {
			continue
		}
		util, mem, pow, temp := "-", "-", "-", "-"
		if g.UtilizationPercent != nil {
			util = fmt.Sprintf("%s %3d%%", Bar(float64(*g.UtilizationPercent)/100, barWidth), *g.UtilizationPercent)
		}
		if g.MemoryUsedBytes != nil && g.MemoryTotalBytes != nil {
			mem = fmt.Sprintf("%s %s/%s", Bar(memFrac(g), barWidth), gib(*g.MemoryUsedBytes), gib(*g.MemoryTotalBytes))
		}
		if g.PowerWatts != nil {
			frac := 0.0
			if maxPower > 0 {
				frac = *g.PowerWatts / maxPower
			}
			pow = fmt.Sprintf("%s %.0f W", Bar(frac, barWidth), *g.PowerWatts)
		}
		if g.TemperatureCelsius != nil {
			temp = fmt.Sprintf("%dC", *g.TemperatureCelsius)
		}
		health := "ok"
		if !g.Healthy {
			health = "UNHEALTHY"
		}
		fmt.Fprintf(tw, "%s\tGPU %d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", g.Worker, g.Index, dash(g.Name), util, mem, pow, temp, health)
	}
	hosts := c.Hosts
	if o.Sort == SortUtil {
		sort.SliceStable(hosts, func(a, x int) bool { return val(hosts[a].CPUBusy) > val(hosts[x].CPUBusy) })
	}
	for _, h := range hosts {
		if h.GPUs > 0 || !match(h.Worker, h.Hostname) || (h.CPUs == 0 && h.MemoryTotalBytes == nil) {
			continue
		}
		util, mem := "-", "-"
		if h.CPUBusy != nil {
			util = fmt.Sprintf("%s %3.0f%%", Bar(*h.CPUBusy, barWidth), *h.CPUBusy*100)
		}
		if h.MemoryUsedBytes != nil && h.MemoryTotalBytes != nil && *h.MemoryTotalBytes > 0 {
			mem = fmt.Sprintf("%s %s/%s", Bar(float64(*h.MemoryUsedBytes)/float64(*h.MemoryTotalBytes), barWidth),
				gib(*h.MemoryUsedBytes), gib(*h.MemoryTotalBytes))
		}
		fmt.Fprintf(tw, "%s\tCPU\t%d cpus\t%s\t%s\t-\t-\tno GPU\t\n", h.Worker, h.CPUs, util, mem)
	}
	tw.Flush()
}

// WriteGPUTable prints every GPU of the cluster, then the machines without
// GPUs, for `cohort gpus --etcd`.
func WriteGPUTable(w io.Writer, c Cluster) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tHOST\tGPU\tNAME\tUUID\tUTIL\tMEMORY\tPOWER\tTEMP\tHEALTH")
	for _, g := range c.GPUs {
		mem := "-"
		if g.MemoryUsedBytes != nil && g.MemoryTotalBytes != nil {
			mem = fmt.Sprintf("%d/%d MiB", *g.MemoryUsedBytes>>20, *g.MemoryTotalBytes>>20)
		}
		health := "ok"
		if !g.Healthy {
			health = "UNHEALTHY"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Worker, dash(g.Hostname), g.Index, dash(g.Name), dash(g.UUID),
			ptrf(g.UtilizationPercent, "%d%%"), mem, ptrf(g.PowerWatts, "%.1f W"), ptrf(g.TemperatureCelsius, "%dC"), health)
	}
	for _, h := range c.Hosts {
		if h.GPUs > 0 {
			continue
		}
		why := h.NVMLError
		if h.Err != "" {
			why = h.Err
		}
		fmt.Fprintf(tw, "%s\t%s\t-\tno GPU: %s\t\t%s\t%s\t\t\t\n", h.Worker, dash(h.Hostname), dash(why), cpuPercent(h.CPUBusy),
			hostMem(h))
	}
	return tw.Flush()
}

func hostMem(h HostRow) string {
	if h.MemoryUsedBytes == nil || h.MemoryTotalBytes == nil {
		return "-"
	}
	return gib(*h.MemoryUsedBytes) + "/" + gib(*h.MemoryTotalBytes)
}

// matcher returns whether any of its strings contains filter, ignoring case.
func matcher(filter string) func(...string) bool {
	f := strings.ToLower(filter)
	return func(fields ...string) bool {
		if f == "" {
			return true
		}
		for _, s := range fields {
			if strings.Contains(strings.ToLower(s), f) {
				return true
			}
		}
		return false
	}
}

func memFrac(g GPURow) float64 {
	if g.MemoryUsedBytes == nil || g.MemoryTotalBytes == nil || *g.MemoryTotalBytes == 0 {
		return 0
	}
	return float64(*g.MemoryUsedBytes) / float64(*g.MemoryTotalBytes)
}

func val[T uint32 | float64](p *T) float64 {
	if p == nil {
		return -1
	}
	return float64(*p)
}

func ptrf[T any](p *T, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

// stepTime writes a compute time per step readably at any size: a small
// model's steps take microseconds, which "%.3fs" showed as 0.000s.
func stepTime(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// cpuPercent writes a host's CPU busy share as top's host rows do.
func cpuPercent(busy *float64) string {
	if busy == nil {
		return "-"
	}
	return fmt.Sprintf("cpu %.0f%%", *busy*100)
}

func gib(b uint64) string { return fmt.Sprintf("%.1fG", float64(b)/(1<<30)) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// cut shortens every line of s to width runes (0: no limit).
func cut(s string, width int) string {
	if width <= 0 {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if utf8.RuneCountInString(l) > width {
			lines[i] = string([]rune(l)[:width])
		}
	}
	return strings.Join(lines, "\n")
}
