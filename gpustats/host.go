package gpustats

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of /proc/stat's CPU times. It is 100 on every Linux
// architecture Go supports (the kernel's USER_HZ, not CONFIG_HZ).
const userHZ = 100

// cpuModes are /proc/stat's first eight columns; guest and guest_nice are
// already counted in user and nice, so they are left out of totals.
var cpuModes = [...]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

type cpuTotals struct {
	busy, total float64
}

// readHost reads /proc/stat and /proc/meminfo; a file that cannot be read
// leaves its fields absent.
func (s *Sampler) readHost() *Host {
	h := &Host{}
	if f, err := os.Open(filepath.Join(s.cfg.ProcRoot, "stat")); err == nil {
		secs, cpus, err := parseStat(f)
		f.Close()
		if err == nil {
			h.CPUSeconds, h.CPUs = secs, cpus
			cur := cpuTotals{}
			for _, m := range cpuModes {
				cur.total += secs[m]
			}
			cur.busy = cur.total - secs["idle"] - secs["iowait"]
			if p := s.prevCPU; p != nil && cur.total > p.total {
				b := (cur.busy - p.busy) / (cur.total - p.total)
				h.CPUBusy = &b
			}
			s.prevCPU = &cur
		} else {
			s.cfg.Logger.Debug("gpustats: host cpu", "err", err)
		}
	}
	if f, err := os.Open(filepath.Join(s.cfg.ProcRoot, "meminfo")); err == nil {
		total, avail, err := parseMeminfo(f)
		f.Close()
		if err == nil {
			used := total - min(avail, total)
			h.MemoryTotal, h.MemoryAvailable, h.MemoryUsed = &total, &avail, &used
		} else {
			s.cfg.Logger.Debug("gpustats: host memory", "err", err)
		}
	}
	if h.CPUSeconds == nil && h.MemoryTotal == nil {
		return nil
	}
	return h
}

// parseStat reads the aggregate "cpu" line (seconds by mode) and counts the
// per-CPU lines; it stops at the first line after them, so the long
// interrupt lines are never read.
func parseStat(r io.Reader) (map[string]float64, int, error) {
	sc := bufio.NewScanner(r)
	var secs map[string]float64
	cpus := 0
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			if secs != nil {
				break
			}
			continue
		}
		if fields[0] != "cpu" {
			cpus++
			continue
		}
		if len(fields) < 1+len(cpuModes) {
			return nil, 0, fmt.Errorf("gpustats: /proc/stat line %d: %d cpu columns, want at least %d", line, len(fields)-1, len(cpuModes))
		}
		secs = make(map[string]float64, len(cpuModes))
		for i, m := range cpuModes {
			v, err := strconv.ParseUint(fields[1+i], 10, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("gpustats: /proc/stat line %d: %s: %w", line, m, err)
			}
			secs[m] = float64(v) / userHZ
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("gpustats: /proc/stat: %w", err)
	}
	if secs == nil {
		return nil, 0, fmt.Errorf("gpustats: /proc/stat: no aggregate cpu line")
	}
	return secs, cpus, nil
}

// parseMeminfo returns MemTotal and MemAvailable in bytes.
func parseMeminfo(r io.Reader) (total, avail uint64, err error) {
	sc := bufio.NewScanner(r)
	var haveTotal, haveAvail bool
	for line := 1; sc.Scan() && !(haveTotal && haveAvail); line++ {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("gpustats: /proc/meminfo line %d: %s: want \"<n> kB\", got %q", line, key, strings.TrimSpace(rest))
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("gpustats: /proc/meminfo line %d: %s: %w", line, key, err)
		}
		if key == "MemTotal" {
			total, haveTotal = v*1024, true
		} else {
			avail, haveAvail = v*1024, true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("gpustats: /proc/meminfo: %w", err)
	}
	if !haveTotal || !haveAvail {
		return 0, 0, fmt.Errorf("gpustats: /proc/meminfo: want MemTotal and MemAvailable")
	}
	return total, avail, nil
}
