package coordinator

// Submit's checks of a spec against the leader's machine and its other
// jobs: paths made absolute, the data file readable and regular, the output
// directories writable, one active job per out_dir, the queue's bound.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// absolutePaths refuses a relative data_path, out_dir or checkpoint_dir:
// the coordinator would resolve it against its own working directory,
// which is not the submitter's. cohort submit sends absolute paths (it
// resolves them against the spec file's directory); older clients and
// other tools may not. Jobs recorded before this check keep running: it
// applies to Submit only.
func absolutePaths(sp *cohortv1.JobSpec) error {
	var errs []error
	for _, p := range []struct{ field, path string }{
		{"data_path", sp.GetDataPath()}, {"out_dir", sp.GetOutDir()}, {"checkpoint_dir", sp.GetCheckpointDir()},
	} {
		if p.path != "" && !filepath.IsAbs(p.path) {
			errs = append(errs, fmt.Errorf("spec.%s: %q is a relative path, which the coordinator would resolve "+
				"against its own working directory, not yours: give an absolute path (cohort submit resolves relative "+
				"paths against the spec file's directory)", p.field, p.path))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &invalidError{msg: "job spec: " + errors.Join(errs...).Error()}
}

// where names this coordinator in errors about its files: "coordinator c1
// (host vm)", or the one name both share.
func (s *JobsService) where() string {
	switch h, n := s.opts.Host, s.opts.Name; {
	case h == "" && n == "":
		return "the coordinator"
	case h == "" || h == n:
		return "coordinator " + cmp.Or(n, h)
	case n == "":
		return "coordinator " + h
	default:
		return fmt.Sprintf("coordinator %s (host %s)", n, h)
	}
}

// checkPaths checks on this (the leading) coordinator's machine, where the
// job will read and write them, that data_path is a file it can read, that
// out_dir and checkpoint_dir can be created and written, and that out_dir
// holds no finished run unless the spec sets overwrite. A job then fails
// at submit, not after its training.
func (s *JobsService) checkPaths(sp *cohortv1.JobSpec) error {
	var errs []error
	if p := sp.GetDataPath(); p != "" {
		if err := readable(p); err != nil {
			errs = append(errs, fmt.Errorf("spec.data_path %s: %s on %s", p, err, s.where()))
		}
	}
	out := sp.GetOutDir()
	for _, d := range []struct{ field, dir string }{{"out_dir", out}, {"checkpoint_dir", sp.GetCheckpointDir()}} {
		if d.dir == "" {
			continue
		}
		if err := writable(d.dir); err != nil {
			errs = append(errs, fmt.Errorf("spec.%s %s: cannot be written on %s: %w", d.field, d.dir, s.where(), err))
		}
	}
	if !sp.GetOverwrite() && out != "" {
		for _, name := range []string{"model", "metrics.json"} {
			if _, err := os.Stat(filepath.Join(out, name)); err == nil {
				errs = append(errs, fmt.Errorf("spec.out_dir %s: holds a finished run (%s); set overwrite: true in the "+
					"job spec to replace it, or pick another out_dir", out, name))
				break
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &invalidError{msg: "job spec: " + errors.Join(errs...).Error()}
}

// readable says why path is not a regular file this process can read, or
// nil. It stats before it opens: opening a FIFO blocks until a writer comes
// (and a device may never answer), in the kernel, where no context reaches.
// The open itself does not block either (O_NONBLOCK), so a FIFO put in the
// file's place between the stat and the open is refused too.
func readable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file")
	case err != nil:
		return fmt.Errorf("cannot stat: %w", unwrapPath(err))
	}
	if err := regular(fi); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("cannot open: %w", unwrapPath(err))
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat: %w", unwrapPath(err))
	}
	return regular(fi)
}

// regular refuses what is not a regular file, naming what it is.
func regular(fi fs.FileInfo) error {
	m := fi.Mode()
	var what string
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return errors.New("is a directory, not a file")
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a device"
	default:
		what = "a special file (mode " + m.String() + ")"
	}
	return fmt.Errorf("is %s, not a regular file; the coordinator reads data only from regular files", what)
}

// writable checks that dir can be created and written: in dir when it
// exists, else in its nearest existing parent, it creates and removes a
// temporary file. It creates no directory.
func writable(dir string) error {
	at := filepath.Clean(dir)
	for {
		fi, err := os.Stat(at)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is a file, not a directory", at)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return unwrapPath(err)
		}
		up := filepath.Dir(at)
		if up == at {
			return fmt.Errorf("no part of %s exists", dir)
		}
		at = up
	}
	f, err := os.CreateTemp(at, ".cohort-write-check-*")
	if err != nil {
		return fmt.Errorf("create a file in %s: %w", at, unwrapPath(err))
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("write in %s: %w", at, err)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// unwrapPath drops the *fs.PathError around err: the message names the
// path already.
func unwrapPath(err error) error {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// admit refuses sp when a PENDING or RUNNING job writes to the same
// out_dir (outDirFree), and when MaxPending jobs are PENDING already.
func (s *JobsService) admit(ctx context.Context, sp *cohortv1.JobSpec) error {
	jobs, err := s.readJobs(ctx)
	if err != nil {
		return err
	}
	if err := outDirFree(jobs, sp); err != nil {
		return err
	}
	if s.opts.MaxPending < 0 {
		return nil
	}
	pending := 0
	for _, j := range jobs {
		if j.GetState() == cohortv1.JobState_JOB_STATE_PENDING {
			pending++
		}
	}
	if pending >= s.opts.MaxPending {
		return fmt.Errorf("job queue full: %d jobs are PENDING, the most this coordinator queues "+
			"is %d; submit again once some have started or ended (cohort status lists them), or cancel some: %w",
			pending, s.opts.MaxPending, rpcerr.ErrLimitReached)
	}
	return nil
}

// outDirFree refuses sp's out_dir when one of jobs, PENDING or RUNNING,
// writes to the same directory: the two would overwrite each other's
// model, metrics and checkpoints.
func outDirFree(jobs []*cohortv1.Job, sp *cohortv1.JobSpec) error {
	out := sameDir(sp.GetOutDir())
	for _, j := range jobs {
		switch j.GetState() {
		case cohortv1.JobState_JOB_STATE_PENDING, cohortv1.JobState_JOB_STATE_RUNNING:
		default:
			continue
		}
		if d := j.GetSpec().GetOutDir(); d != "" && sameDir(d) == out {
			name := ""
			if n := j.GetSpec().GetName(); n != "" {
				name = " (" + n + ")"
			}
			return invalidf("job spec: spec.out_dir %s: job %s%s, %s, writes there; pick another out_dir, "+
				"or wait for it to end (cohort watch %s) or cancel it (cohort cancel %s)",
				out, j.GetId(), name, jobStateName(j.GetState()), j.GetId(), j.GetId())
		}
	}
	return nil
}

// sameDir is the directory dir names on this machine, for comparing two
// jobs' out_dirs: cleaned, with the symbolic links of its longest existing
// prefix resolved, so that runs-link/j7 (runs-link -> runs) is runs/j7. The
// part that does not exist yet is kept as written.
func sameDir(dir string) string {
	dir = filepath.Clean(dir)
	rest := ""
	for p := dir; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		if p == filepath.Dir(p) {
			return dir
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}
