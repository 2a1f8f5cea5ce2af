package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cohort-clv/cohort/job"
)

// resumeMode is train's --resume: off, on (--resume: the checkpoints must
// be there) or auto (--resume=auto: resume when they are there, else
// start a fresh run), the form a scheduler can retry unchanged, as
// Lightning's ckpt_path="last" falls back to a fresh start.
type resumeMode int

const (
	resumeOff resumeMode = iota
	resumeOn
	resumeAuto
)

func (m *resumeMode) String() string {
	switch *m {
	case resumeOn:
		return "true"
	case resumeAuto:
		return "auto"
	}
	return "false"
}

// Set takes what --resume=VALUE gives: auto, or a boolean.
func (m *resumeMode) Set(s string) error {
	if strings.EqualFold(s, "auto") {
		*m = resumeAuto
		return nil
	}
	on, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want auto, true or false")
	}
	*m = resumeOff
	if on {
		*m = resumeOn
	}
	return nil
}

// Type is "bool" so that the help shows --resume as a switch: its other
// value is spelled out in the usage text.
func (m *resumeMode) Type() string { return "bool" }

// resumeFrom decides, under the run directory's lock, whether this run
// resumes and from which checkpoint ("" to start fresh), and refuses a
// fresh start beside an earlier run's checkpoints or a finished run
// unless --overwrite.
func resumeFrom(stderr io.Writer, f *trainFlags) (string, error) {
	ckdir := job.CheckpointDir(f.out)
	mode := f.resume
	if mode == resumeAuto {
		mode = resumeOff
		if job.CheckFresh(ckdir) != nil { // checkpoint files, readable or not
			mode = resumeOn
		}
	}
	if mode == resumeOn {
		path, st, err := job.LatestCheckpoint(ckdir)
		if err != nil {
			how := "train without --resume to start over, or with --resume=auto to resume only when there are checkpoints"
			if job.CheckFresh(ckdir) != nil { // checkpoint files, none readable
				how = "train with --overwrite instead of --resume to start over"
			}
			return "", fmt.Errorf("--resume: %w (%s)", err, how)
		}
		if !f.quiet {
			fmt.Fprintf(stderr, "resuming from %s (epoch %d, step %d), once the data and settings are checked against it\n", path, st.Epoch, st.Adam.Step)
		}
		return path, nil
	}
	if f.overwrite {
		return "", nil // clearRunDir removes what is there
	}
	// Whether or not this run writes checkpoints: --resume and the Ctrl-C
	// hint would find the earlier run's. job.TrainWith refuses them too;
	// here the refusal comes before anything is read, in the terms of the
	// flags.
	if err := freshHint(job.CheckFresh(ckdir), f.out); err != nil {
		return "", err
	}
	if name := finishedRun(f.out); name != "" {
		return "", fmt.Errorf("--out %s: holds a finished run (%s); add --overwrite to replace it, or pick another --out",
			f.out, describeOutputs([]string{name}))
	}
	return "", nil
}

// clearRunDir removes, before training starts, what this run is to
// replace: with --overwrite an earlier run's outputs and checkpoints; on
// a resume the outputs the interrupted run had written (its model without
// the metrics, say), which it writes again at the end. A stale etcd
// directory of a `--workers` run killed with SIGKILL goes in any case: the
// lock says no process uses it.
func clearRunDir(stderr io.Writer, f *trainFlags, resuming bool) error {
	if _, err := removeOutputs(f.out, etcdDir); err != nil {
		return err
	}
	if !resuming && !f.overwrite {
		return nil // resumeFrom found nothing to replace
	}
	removed, err := removeOutputs(f.out, runOutputs()...)
	if err != nil {
		return fmt.Errorf("--out %s: %w", f.out, err)
	}
	what := describeOutputs(removed)
	if resuming {
		if len(removed) > 0 && !f.quiet {
			fmt.Fprintf(stderr, "--resume: removed %s, written before the run stopped; the resumed run writes them again\n", what)
		}
		return nil
	}
	// After every check that could refuse the run: a typo does not cost
	// the checkpoints.
	ckdir := job.CheckpointDir(f.out)
	n, err := job.RemoveCheckpoints(ckdir)
	if err != nil {
		return fmt.Errorf("--overwrite: %w", err)
	}
	if n > 0 {
		removed = append(removed, fmt.Sprintf("%d checkpoint file(s) in %s", n, ckdir))
	}
	if len(removed) > 0 && !f.quiet {
		fmt.Fprintf(stderr, "--overwrite: deleted the earlier run's %s\n", describeOutputs(removed))
	}
	return nil
}
