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

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/membership"
)

// distFlags bind the distributed settings of cohort train.
type distFlags struct {
	workers    int
	minWorkers int
	etcd       etcdFlags
}

func (d *distFlags) bind(fs *pflag.FlagSet) {
	fs.IntVar(&d.workers, "workers", 0, "train data-parallel on N local worker processes over a ring allreduce (0: in this process)")
	fs.IntVar(&d.minWorkers, "min-workers", 1, "with --workers: the fewest workers training goes on with after others die (fewer fail the job)")
	d.etcd.bind(fs)
}

// trainDistributed runs spec as `cohort train --workers N`: an etcd (the
// embedded one unless --etcd), this process as the coordinator, and N
// worker processes of this binary. The job's stages other than training
// run here, exactly as in the single-process path.
func trainDistributed(ctx context.Context, stderr io.Writer, d distFlags, spec job.Spec, be kernels.Backend, p *progress) (*job.Result, error) {
	if d.workers < 1 || d.workers > 1024 {
		return nil, fmt.Errorf("--workers %d, want 1..1024", d.workers)
	}
	if d.minWorkers < 1 || d.minWorkers > d.workers {
		return nil, fmt.Errorf("--min-workers %d, want 1..%d (--workers)", d.minWorkers, d.workers)
	}
	endpoints := d.etcd.endpoints
	if endpoints == "" {
		// Under the run directory, which runTrain has locked: a run
		// killed with SIGKILL leaves it there (not in $TMPDIR, where
		// nothing would ever remove it), and the next run in the
		// directory removes it before it starts (clearRunDir). A run
		// never reopens an earlier one's data: it starts clean.
		dir := filepath.Join(spec.Out, etcdDir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("embedded etcd: %w", err)
		}
		defer os.RemoveAll(dir)
		emb, err := membership.StartEmbedded(ctx, dir, membership.WithServerLogger(slog.Default()))
		if err != nil {
			return nil, err
		}
		defer emb.Close()
		endpoints = strings.Join(emb.Endpoints(), ",")
	}
	ecfg := d.etcd.config()
	ecfg.Endpoints = strings.Split(endpoints, ",")
	cli, err := membership.Dial(ctx, ecfg)
	if err != nil {
		return nil, err
	}
	defer cli.Close()

	threads := spec.Threads
	if threads == 0 {
		// N local workers share the cores; the result does not depend on it.
		threads = max(1, runtime.NumCPU()/d.workers)
	}
	id := fmt.Sprintf("train-%x", time.Now().UnixNano())
	names := make([]string, d.workers)
	for i := range names {
		// Names place customers on the consistent-hash ring, so the same
		// names give the same shards and, run to run, the same sums. The
		// embedded etcd is this run's alone; a shared one needs names no
		// other run holds.
		names[i] = fmt.Sprintf("w%d", i)
		if d.etcd.endpoints != "" {
			names[i] = fmt.Sprintf("%s-w%d", id, i)
		}
	}
	cfg := coordinator.Config{Client: cli, JobID: id, WorkerNames: names, MinWorkers: d.minWorkers, Timeout: d.etcd.ttl, Threads: threads,
		StartTimeout: 30 * time.Second, Logger: slog.Default(),
		CheckpointEvery: spec.CheckpointEvery, CheckpointDir: job.CheckpointDir(spec.Out), ChecksumEvery: coordinator.DefaultChecksumEvery}
	if spec.Resume != "" {
		// The workers resume: rank 0 loads the checkpoint and the ring
		// agrees on it.
		if cfg.ResumeFrom, err = coordinator.PointerOf(spec.Resume); err != nil {
			return nil, err
		}
	}
	if p != nil {
		cfg.OnProgress = p.generation
	}
	j, err := coordinator.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary to start workers: %w", err)
	}
	lw, err := coordinator.StartLocal(ctx, coordinator.LocalConfig{Exe: exe, N: d.workers, Stderr: stderr,
		Args: func(i int) []string {
			// The parent's format, so one stream never mixes JSON and
			// text lines; warn or quieter unless the parent logs debug.
			args := append(childLogFlags(slog.Default().Handler(), slog.LevelWarn), "worker", "--etcd", endpoints,
				"--name", names[i], "--lease-ttl", d.etcd.ttl.String())
			for _, f := range [][2]string{{"--etcd-cacert", d.etcd.cacert}, {"--etcd-cert", d.etcd.cert}, {"--etcd-key", d.etcd.key},
				{"--etcd-user", d.etcd.username}, {"--etcd-password", d.etcd.password}} {
				if f[1] != "" {
					args = append(args, f[0], f[1])
				}
			}
			return args
		}})
	if err != nil {
		return nil, err
	}
	defer lw.Stop()
	// A worker that dies is the job's business (its lease ends); say it
	// here too, for the user, until Stop ends them on purpose.
	watching := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case err := <-lw.Exited():
				slog.Warn("worker process ended", "err", err)
			case <-watching:
				return
			}
		}
	})
	defer func() { close(watching); watcher.Wait() }()
	var ev job.Events
	if p != nil {
		ev = p.events()
		ev.Epoch = nil // p.generation prints the epochs, with the generation and throughput
	}
	res, err := job.TrainWith(ctx, be, spec, ev, j.Train)
	if eerr := j.End(ctx, res, err); eerr != nil {
		slog.Warn("record the job's end", "job", j.ID(), "err", eerr)
	}
	return res, err
}
