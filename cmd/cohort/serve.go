package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/clusterview"
	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/telemetry"
)

// serverFlags bind a long-running coordinator's settings.
type serverFlags struct {
	name, listen, advertise, health string
	threads, checkpointEvery        int
	// jobRetention and maxFinishedJobs bound the finished jobs' records
	// kept in etcd; 0 turns each bound off.
	jobRetention    time.Duration
	maxFinishedJobs int
	// boundHealth is the address the health server bound (--health-addr
	// with its port picked), set before serve calls ready.
	boundHealth string
}

func (f *serverFlags) bind(fs *pflag.FlagSet, health string) {
	host, _ := os.Hostname()
	if membership.ValidName(host) != nil {
		host = "coordinator"
	}
	fs.StringVar(&f.name, "name", host, `coordinator name, unique among coordinators (default: the host name, or "coordinator" when that is not a valid name)`)
	// The usage states the default; without this the help would show it
	// a second time, as this machine's host name.
	fs.Lookup("name").DefValue = ""
	fs.StringVar(&f.listen, "listen", coordinator.DefaultServerListen, "address of the gRPC services: Jobs for clients, Data and Coordinator for workers")
	fs.StringVar(&f.advertise, "advertise", "", "host:port clients and workers dial (default: the --listen address; required when it is a wildcard)")
	fs.StringVar(&f.health, "health-addr", health, `address of /metrics, /livez (liveness) and /readyz or /healthz (readiness: etcd answers) ("" turns them off)`)
	fs.IntVar(&f.threads, "threads", 0, "CPU threads for the evaluation here and for workers, unless a job sets its own (0: every core)")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", coordinator.DefaultCheckpointEvery, "optimizer steps between checkpoints, unless a job sets its own")
	fs.DurationVar(&f.jobRetention, "job-retention", coordinator.DefaultJobRetention,
		"remove a finished job's record from etcd this long after it ended; its model, report and checkpoint files stay (0: keep forever)")
	fs.IntVar(&f.maxFinishedJobs, "max-finished-jobs", coordinator.DefaultMaxFinishedJobs,
		"keep at most this many finished jobs' records, the most recently finished (0: no cap)")
}

// retention is the coordinator.Retention the flags ask for.
func (f *serverFlags) retention() (coordinator.Retention, error) {
	if f.jobRetention < 0 || f.maxFinishedJobs < 0 {
		return coordinator.Retention{}, fmt.Errorf("--job-retention %v, --max-finished-jobs %d: want >= 0 (0: no bound)",
			f.jobRetention, f.maxFinishedJobs)
	}
	r := coordinator.Retention{MaxAge: f.jobRetention, MaxFinished: f.maxFinishedJobs}
	// The library reads 0 as its default and a negative value as off.
	if r.MaxAge == 0 {
		r.MaxAge = -1
	}
	if r.MaxFinished == 0 {
		r.MaxFinished = -1
	}
	return r, nil
}

// serve runs a coordinator Server (and its /healthz, /metrics) until ctx ends.
func (f *serverFlags) serve(ctx context.Context, e etcdFlags, endpoints []string, ready func(addr string)) error {
	retention, err := f.retention()
	if err != nil {
		return err
	}
	cfg := e.config()
	cfg.Endpoints = endpoints
	cli, err := membership.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	srv, err := coordinator.NewServer(coordinator.ServerConfig{Client: cli, Name: f.name, Listen: f.listen, Advertise: f.advertise,
		TTL: e.ttl, Threads: f.threads, CheckpointEvery: f.checkpointEvery, Retention: retention, Logger: slog.Default()})
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("--listen %s: %w; pick a free port with --listen", f.listen, err)
	}
	if err != nil {
		return err
	}
	if f.health != "" {
		// The leader's /metrics is the cluster's: workers, GPUs, every
		// job's progress and the stragglers, read from etcd per scrape.
		reg := telemetry.NewRegistry()
		reg.MustRegister(clusterview.NewCollector(func(ctx context.Context) (*clusterview.Snapshot, error) {
			return clusterview.Read(ctx, cli, time.Now())
		}, srv.Leading, 5*time.Second, slog.Default()))
		readiness := newEtcdHealth(func(ctx context.Context) error {
			// Linearizable, so it needs a quorum, as leading does.
			_, err := cli.Get(ctx, membership.ElectionPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			return err
		}, e.ttl)
		hs, err := telemetry.Listen(telemetry.ServerConfig{Addr: f.health, Gatherer: reg, Logger: slog.Default(),
			Health: readiness.check, State: func() string { return coordinatorState(srv.Leading()) }})
		if err != nil {
			srv.Close()
			return fmt.Errorf("--health-addr %s: %w; pick a free address with --health-addr, or --health-addr \"\" "+
				"to turn /healthz and /metrics off", f.health, err)
		}
		f.boundHealth = hs.Addr().String()
		hctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- hs.Serve(hctx) }()
		defer func() { stop(); <-done }()
		slog.Info("coordinator: serving /healthz, /readyz, /livez and /metrics", "addr", hs.Addr().String())
	}
	if ready != nil {
		ready(srv.Addr())
	}
	stopping := context.AfterFunc(ctx, func() {
		slog.Info("coordinator: stopping; resigning so a standby takes over", "coordinator", f.name, "cause", context.Cause(ctx))
	})
	defer stopping()
	err = srv.Run(ctx)
	slog.Info("coordinator: stopped", "coordinator", f.name)
	return err
}

// coordinatorState is what a coordinator's /readyz says it is.
func coordinatorState(leading bool) string {
	if leading {
		return "leader"
	}
	return "standby"
}

// etcdHealth is a coordinator's readiness: etcd answers a linearizable
// read, so a quorum is up and reachable from here. A coordinator without
// etcd can neither lead nor take over, so it is not ready; a failure is
// forgiven while the last answer is younger than grace (the lease TTL, the
// time etcd itself gives a silent coordinator), so one slow read does not
// take it out of a Service. Leader and standby are both ready: the standby
// answers clients with the leader's address, and a rolling update of the
// coordinators needs its new standby ready to go on.
type etcdHealth struct {
	probe func(context.Context) error
	grace time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last time.Time // of the last answer; zero before the first
}

func newEtcdHealth(probe func(context.Context) error, grace time.Duration) *etcdHealth {
	return &etcdHealth{probe: probe, grace: grace, now: time.Now}
}

func (h *etcdHealth) check(ctx context.Context) error {
	err := h.probe(ctx)
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.last = now
		return nil
	}
	if h.last.IsZero() {
		return fmt.Errorf("etcd has not answered: %w", err)
	}
	if silent := now.Sub(h.last); silent >= h.grace {
		return fmt.Errorf("etcd unreachable for %v: %w", silent.Round(time.Second), err)
	}
	return nil
}

func newCoordinatorCmd() *cobra.Command {
	var e etcdFlags
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "coordinator --etcd HOST:PORT[,...] [--name NAME] [--listen ADDR --advertise HOST:PORT]",
		Short: "Run a coordinator: serve the Jobs API and run submitted jobs on the cluster's workers",
		Long: `coordinator campaigns in the coordinators' election in etcd. The leader serves the
Jobs API (cohort submit, status, watch, cancel), plans generations of the live
workers for every job, streams them their shards, records progress and
checkpoints in etcd, and evaluates and writes each finished job's model and
report into its out_dir. Run two or more for high availability: the others wait
as hot standbys (their Jobs API answers "not the leading coordinator") and, when
the leader's lease ends (--lease-ttl after it dies), one takes over its running
jobs: the workers keep their training state and go on in a new generation, or
resume from the last checkpoint when none of them is left.

A job's data_path and out_dir are paths on the coordinators; put out_dir (and
so its checkpoints) on storage every coordinator and worker shares when
workers or coordinators may move between machines.

It serves /metrics, /livez and /readyz on --health-addr. /livez answers 200
while the process serves (a liveness probe); /readyz (also /healthz) answers
200 "ok: leader" or "ok: standby" while etcd answers, and 503 once etcd has been
unreachable for --lease-ttl. It stops cleanly on SIGTERM, resigning at once so a
standby takes over without waiting for the lease.

Example (two coordinators against a three-member etcd):
  cohort coordinator --etcd e1:2379,e2:2379,e3:2379 --name c1 --listen 0.0.0.0:7070 --advertise c1:7070
  cohort coordinator --etcd e1:2379,e2:2379,e3:2379 --name c2 --listen 0.0.0.0:7070 --advertise c2:7070
  cohort submit job.yaml --coordinator c1:7070,c2:7070`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.endpoints == "" {
				return fmt.Errorf("--etcd is required: the etcd endpoints (cohort up runs a one-machine cluster without one)")
			}
			return f.serve(cmd.Context(), e, e.config().Endpoints, nil)
		},
	}
	fs := cmd.Flags()
	e.bind(fs)
	f.bind(fs, "127.0.0.1:9090")
	return cmd
}
