package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// LocalConfig describes the worker processes of `cohort train --workers N`.
type LocalConfig struct {
	// Exe is the binary to run (os.Executable()).
	Exe string
	// Args returns worker i's arguments (0-based), e.g. "worker --etcd ...".
	Args func(i int) []string
	// N is the number of workers.
	N int
	// Stderr receives the workers' standard error (nil: discarded).
	Stderr io.Writer
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL
	// (default 5s).
	StopTimeout time.Duration
	Logger      *slog.Logger
}

// LocalWorkers are worker processes that are children of this one. On
// Linux they get SIGKILL when this process dies (Pdeathsig); Stop ends them
// otherwise.
type LocalWorkers struct {
	cfg   LocalConfig
	procs []*exec.Cmd
	wg    sync.WaitGroup
	exits chan error // one per process that ended, buffered
}

// StartLocal starts cfg.N worker processes. ctx bounds the starting only:
// once ctx ends, StartLocal starts no more, stops those it started and
// fails. The workers it returns outlive ctx; Stop ends them.
func StartLocal(ctx context.Context, cfg LocalConfig) (*LocalWorkers, error) {
	if cfg.N < 1 || cfg.Exe == "" || cfg.Args == nil {
		return nil, fmt.Errorf("coordinator: start local workers: want N >= 1 (got %d), an executable and args", cfg.N)
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	lw := &LocalWorkers{cfg: cfg, exits: make(chan error, cfg.N)}
	for i := range cfg.N {
		if err := context.Cause(ctx); err != nil {
			lw.Stop()
			return nil, fmt.Errorf("coordinator: start local worker %d: %w", i, err)
		}
		// Not CommandContext: the caller ends them with Stop, gracefully.
		cmd := exec.Command(cfg.Exe, cfg.Args(i)...)
		cmd.Stdout, cmd.Stderr = cfg.Stderr, cfg.Stderr
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			lw.Stop()
			return nil, fmt.Errorf("coordinator: start local worker %d: %w", i, err)
		}
		lw.procs = append(lw.procs, cmd)
		lw.wg.Go(func() {
			err := cmd.Wait()
			if err != nil {
				err = fmt.Errorf("worker process %d (pid %d): %w", i, cmd.Process.Pid, err)
			}
			lw.exits <- err
		})
	}
	return lw, nil
}

// Exited delivers, once per worker process, how it ended (nil: exit
// status 0), as it ends. It is never closed.
func (lw *LocalWorkers) Exited() <-chan error { return lw.exits }

// Pids returns the workers' process ids, by index.
func (lw *LocalWorkers) Pids() []int {
	out := make([]int, len(lw.procs))
	for i, p := range lw.procs {
		out[i] = p.Process.Pid
	}
	return out
}

// Stop sends SIGTERM to every worker, waits up to StopTimeout for them to
// exit, then kills the rest. It returns once all have exited.
func (lw *LocalWorkers) Stop() {
	for _, p := range lw.procs {
		if err := p.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			lw.cfg.Logger.Debug("coordinator: signal worker", "pid", p.Process.Pid, "err", err)
		}
	}
	done := make(chan struct{})
	go func() { lw.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(lw.cfg.StopTimeout):
	}
	for _, p := range lw.procs {
		_ = p.Process.Kill() // already gone is fine
	}
	<-done
}
