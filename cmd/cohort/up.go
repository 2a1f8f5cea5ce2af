package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/membership"
)

// defaultUpDir is where cohort up keeps its etcd: the same place every
// time, so a cluster restarted after a crash finds its jobs and resumes
// them from their checkpoints.
func defaultUpDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "cohort", "up")
	}
	return ".cohort-up"
}

func newUpCmd() *cobra.Command {
	var e etcdFlags
	var f serverFlags
	var workers int
	var dir string
	cmd := &cobra.Command{
		Use:   "up [--workers N] [--listen ADDR]",
		Short: "Run a one-machine cluster: an embedded etcd, a coordinator and N workers",
		Long: `up runs a whole cohort cluster on this machine, in the foreground, until Ctrl-C
or SIGTERM: an etcd inside this process (its data in --data-dir), a coordinator
serving the Jobs API on --listen, and --workers worker processes of this binary.
Submit, follow and cancel jobs from another terminal:

  cohort up --workers 2
  cohort submit job.yaml --wait        # dials 127.0.0.1:7070, where up listens
  cohort status
  cohort watch JOB_ID
  cohort top --etcd <the etcd endpoint up prints>

The etcd data stays in --data-dir, so after a crash or a restart of up, jobs
that were running resume from their last checkpoint. A worker process that
dies is started again, and its jobs take it back at their next generation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if workers < 0 || workers > 1024 {
				return fmt.Errorf("--workers %d, want 0..1024", workers)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("--data-dir: %w", err)
			}
			emb, err := membership.StartEmbedded(ctx, filepath.Join(dir, "etcd"), membership.WithServerLogger(slog.Default()))
			if err != nil {
				return err
			}
			defer emb.Close()
			endpoints := emb.Endpoints()
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this binary to start workers: %w", err)
			}
			wctx, stopWorkers := context.WithCancel(ctx)
			var supervised sync.WaitGroup
			ready := func(addr string) {
				for i := range workers {
					args := []string{"--log-level", "warn", "worker", "--etcd", strings.Join(endpoints, ","),
						"--name", fmt.Sprintf("up-w%d", i), "--lease-ttl", e.ttl.String()}
					supervised.Go(func() { superviseWorker(wctx, exe, args, cmd.ErrOrStderr()) })
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cohort up: coordinator %s, etcd %s, %d workers; submit jobs with: cohort submit job.yaml\n",
					addr, strings.Join(endpoints, ","), workers)
			}
			if f.threads == 0 && workers > 0 {
				// The local workers share the cores.
				f.threads = max(1, runtime.NumCPU()/workers)
			}
			err = f.serve(ctx, e, endpoints, ready)
			stopWorkers()
			supervised.Wait()
			return err
		},
	}
	fs := cmd.Flags()
	e.bind(fs)
	for _, n := range []string{"etcd", "etcd-cacert", "etcd-cert", "etcd-key", "etcd-user", "etcd-password"} {
		_ = fs.MarkHidden(n) // up runs its own etcd
	}
	f.bind(fs, "127.0.0.1:9090")
	fs.IntVar(&workers, "workers", 2, "local worker processes to run")
	fs.StringVar(&dir, "data-dir", defaultUpDir(), "directory of the embedded etcd's data")
	return cmd
}

// superviseWorker runs one local worker process until ctx ends, starting
// it again when it dies (after 1 s, doubling to 30 s while it keeps dying
// within a minute), as a supervisor would: the cluster's jobs take the new
// process in at their next generation.
func superviseWorker(ctx context.Context, exe string, args []string, stderr io.Writer) {
	backoff := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		lw, err := coordinator.StartLocal(ctx, coordinator.LocalConfig{Exe: exe, N: 1, Stderr: stderr,
			Args: func(int) []string { return args }})
		if err == nil {
			select {
			case <-ctx.Done():
				lw.Stop()
				return
			case err = <-lw.Exited():
				lw.Stop()
			}
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		slog.Warn("cohort up: worker process ended; starting it again", "args", strings.Join(args, " "), "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
