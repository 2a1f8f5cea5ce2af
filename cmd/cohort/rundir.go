package main

// Run directories: the --out of train, eval and demo. One process at a
// time writes into one (a lock), a finished run is replaced only on
// request, and what a run is about to replace goes before it starts, so
// that an interruption never leaves one run's model beside another run's
// metrics.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cohort-clv/cohort/eval/report"
	"github.com/cohort-clv/cohort/internal/dirlock"
	"github.com/cohort-clv/cohort/job"
)

const (
	// runLockFile is the lock a process holds on its --out while it writes
	// there. It is hidden and removed when the process lets go; a crash
	// leaves it, unlocked, and the next run takes it over.
	runLockFile = ".cohort.lock"
	// etcdDir is where `train --workers` keeps its embedded etcd's data:
	// under the run directory, so that a run killed with SIGKILL leaves it
	// where the user looks, and the next run there removes it, rather than
	// leaking it into $TMPDIR.
	etcdDir = ".etcd"
)

// runOutputs are what a finished run leaves in its directory, in the
// order they are looked for. A directory holding any of them holds a
// finished run (as coordinator's submit check has it for model and
// metrics.json); the lock file, checkpoints and .etcd do not count.
func runOutputs() []string { return []string{job.ModelDir, report.MetricsFile, report.HTMLFile} }

// runDir is an --out directory this process has created as needed,
// locked and checked to be writable.
type runDir struct {
	path   string
	undo   func() // removes the directories makeDirs created, if empty
	unlock func()
}

// openRunDir creates dir and its missing parents, takes its lock without
// waiting and checks that files can be created in it, before any
// expensive work. Another process holding the lock is named in the
// error. close releases it all.
func openRunDir(dir string) (*runDir, error) {
	undo, err := makeDirs(dir)
	if err != nil {
		return nil, err
	}
	l, err := dirlock.TryLock(filepath.Join(dir, runLockFile), dirlock.RemoveOnUnlock())
	if err != nil {
		undo()
		var held *dirlock.HeldError
		if errors.As(err, &held) {
			who := "another cohort process"
			if held.PID > 0 {
				who = fmt.Sprintf("another cohort process (pid %d)", held.PID)
			}
			return nil, fmt.Errorf("--out %s is in use by %s: wait for it to end, or pick another --out", dir, who)
		}
		return nil, fmt.Errorf("--out %s: cannot be written: %w", dir, causeOf(err))
	}
	if err := checkWritable(dir); err != nil {
		l.Unlock()
		undo()
		return nil, err
	}
	return &runDir{path: dir, undo: undo, unlock: l.Unlock}, nil
}

// close lets the lock go, and after a failure removes the directories
// openRunDir created if nothing is left in them (a run that wrote
// checkpoints keeps them for --resume).
func (d *runDir) close(failed bool) {
	d.unlock() // first: its file would keep a new directory from being empty
	if failed {
		d.undo()
	}
}

// finishedRun is the first of runOutputs that dir holds, "" for none.
func finishedRun(dir string) string {
	for _, name := range runOutputs() {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return name
		}
	}
	return ""
}

// removeOutputs removes the names in dir (files or directories) and
// returns those that were there.
func removeOutputs(dir string, names ...string) ([]string, error) {
	var removed []string
	for _, name := range names {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, fmt.Errorf("remove %s: %w", p, causeOf(err))
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// describeOutputs names outputs for a message: "model/, metrics.json".
func describeOutputs(names []string) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = n
		if n == job.ModelDir {
			s[i] += "/"
		}
	}
	return strings.Join(s, ", ")
}

// checkWritable creates and removes a file in dir, so that an --out that
// cannot be written (read-only, full, not ours) fails before the data is
// read rather than after hours of training.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".cohort-write-check-*")
	if err != nil {
		return fmt.Errorf("--out %s: cannot be written: %w", dir, causeOf(err))
	}
	name := f.Name()
	err = f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("--out %s: cannot be written: %w", dir, causeOf(err))
	}
	return nil
}

// checkOutFileWritable is checkWritable for an --out file: it probes the
// file's directory, or the nearest one above it that exists when the
// command is to create the rest. Standard output ("-") and a file written
// in place (a device, a FIFO) need no probe.
func checkOutFileWritable(path string) error {
	if path == "-" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil
	}
	dir := filepath.Dir(path)
	for {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				return nil // makeOutFileDir says what is wrong with it
			}
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			return nil
		}
		dir = up
	}
	f, err := os.CreateTemp(dir, ".cohort-write-check-*")
	if err != nil {
		return fmt.Errorf("--out %s: cannot be written: %w", path, causeOf(err))
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

// causeOf is the cause inside an *os.PathError or *os.LinkError, whose
// path (a temporary or lock file) means nothing to the user; other errors
// are returned as they are.
func causeOf(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
