package gpustats

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints a sample for people: one row per GPU, "-" for a reading
// the device does not support, then the host's CPU and memory. Without NVML
// it says why before the host lines.
func WriteTable(w io.Writer, s *Sample) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "host %s", s.Hostname)
	if s.DriverVersion != "" {
		fmt.Fprintf(ew, "  driver %s", s.DriverVersion)
	}
	fmt.Fprintln(ew)
	if !s.NVML {
		fmt.Fprintln(ew, s.NVMLError)
	} else if len(s.GPUs) == 0 {
		fmt.Fprintln(ew, "no GPUs")
	} else {
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "GPU\tNAME\tUUID\tUTIL\tMEM-COPY\tMEMORY\tTEMP\tPOWER\tSM-CLOCK\tPROCS\tMIG\tHEALTH")
		for i := range s.GPUs {
			g := &s.GPUs[i]
			health := "ok"
			if !g.Healthy {
				health = "UNHEALTHY: " + g.Error
			} else if g.LastXID != nil {
				health = fmt.Sprintf("ok (last XID %d)", *g.LastXID)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Index, orDash(g.Name), orDash(g.UUID),
				fmtPtr(g.GPUUtilization, "%d%%"), fmtPtr(g.MemoryUtilization, "%d%%"), memory(g),
				fmtPtr(g.Temperature, "%dC"), power(g.PowerMilliwatts), fmtPtr(g.SMClockMHz, "%d MHz"),
				procs(g), migs(g), health)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if h := s.Host; h != nil {
		if h.CPUSeconds != nil {
			busy := ""
			if h.CPUBusy != nil {
				busy = fmt.Sprintf(", %.1f%% busy", *h.CPUBusy*100)
			}
			fmt.Fprintf(ew, "cpu     %d CPUs%s\n", h.CPUs, busy)
		}
		if h.MemoryTotal != nil {
			fmt.Fprintf(ew, "memory  %s used of %s, %s available\n", gib(*h.MemoryUsed), gib(*h.MemoryTotal), gib(*h.MemoryAvailable))
		}
	}
	return ew.err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtPtr[T any](p *T, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

func memory(g *GPU) string {
	if g.MemoryUsed == nil || g.MemoryTotal == nil {
		return "-"
	}
	return fmt.Sprintf("%d/%d MiB", *g.MemoryUsed/mib, *g.MemoryTotal/mib)
}

func power(mw *uint32) string {
	if mw == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f W", float64(*mw)/1000)
}

func procs(g *GPU) string {
	if g.Processes == nil {
		return "-"
	}
	own := 0
	for _, p := range g.Processes {
		if p.Cohort {
			own++
		}
	}
	return fmt.Sprintf("%d (%d cohort)", len(g.Processes), own)
}

func migs(g *GPU) string {
	if len(g.MIG) == 0 {
		return "-"
	}
	return fmt.Sprintf("%d", len(g.MIG))
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// errWriter keeps the first write error so the printing code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
