package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/gpustats"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/worker"
)

// etcdFlags bind the client settings of an external etcd cluster.
type etcdFlags struct {
	endpoints          string
	cacert, cert, key  string
	username, password string
	ttl                time.Duration
}

func (e *etcdFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&e.endpoints, "etcd", "", "etcd endpoints, host:port[,host:port...] or URLs")
	fs.StringVar(&e.cacert, "etcd-cacert", "", "CA certificate of the etcd cluster (TLS)")
	fs.StringVar(&e.cert, "etcd-cert", "", "client certificate for etcd (TLS)")
	fs.StringVar(&e.key, "etcd-key", "", "client key for etcd (TLS)")
	fs.StringVar(&e.username, "etcd-user", "", "etcd user name")
	fs.StringVar(&e.password, "etcd-password", "", "etcd password")
	fs.DurationVar(&e.ttl, "lease-ttl", membership.DefaultTTL, "worker lease TTL: a worker silent this long is gone (whole seconds)")
}

func (e *etcdFlags) config() membership.Config {
	return membership.Config{Endpoints: strings.Split(e.endpoints, ","), CACert: e.cacert, Cert: e.cert, Key: e.key,
		Username: e.username, Password: e.password, Logger: slog.Default()}
}

// logNVML says once, at INFO, when this worker has no NVML: a GPU node
// whose container lacks the driver would otherwise show only
// cohort_gpu_nvml_available 0. open is gpustats.OpenNVML.
func logNVML(log *slog.Logger, open func() (gpustats.Driver, error)) {
	d, err := open()
	if err != nil {
		log.Info("worker: NVML not available: no GPU metrics or GPU status (cohort_gpu_nvml_available 0)", "nvml_error", err.Error())
		return
	}
	if err := d.Close(); err != nil {
		log.Debug("worker: close NVML", "err", err)
	}
}

func newWorkerCmd() *cobra.Command {
	var e etcdFlags
	var name, listen, advertise, health, healthAdvertise string
	var exitOnLeaseLoss bool
	cmd := &cobra.Command{
		Use:   "worker --etcd HOST:PORT --name NAME",
		Short: "Run a training worker: register in etcd, train the generations that name it",
		Long: `worker registers under /cohort/workers/NAME with a lease, waits for a
coordinator's generation plan that names it, streams its shard of customers
from the coordinator, and trains its replica of the model with gradients
summed over a ring allreduce with the other workers. It serves /metrics,
/livez and /readyz (also /healthz) on --health-addr and stops cleanly on
SIGTERM. /livez answers 200 while the process serves: point liveness probes
at it. /readyz answers 503 "registering with etcd" until the worker holds its
first lease, 503 "lease lost" while it has lost one, and 200 "ok" otherwise:
point readiness probes and alerts at it, not liveness probes, or an etcd
outage restarts every worker and loses their training state. The worker
publishes the address in etcd as health_addr (cohort top --json): with a
wildcard --health-addr such as 0.0.0.0:9091, the --advertise host (or the
host name) with that port, or --health-advertise.

A worker cut off from etcd longer than the lease TTL loses its place: the
coordinator goes on without it. The worker then registers again as soon as
etcd answers and is taken into the job's next generation, in the same process
(--exit-on-lease-loss makes it exit instead).

Workers on other machines dial the ring address the worker registers
(--advertise, else --listen), so a worker of a multi-machine cluster needs a
--listen on a reachable interface and fixed port, and an --advertise naming
it: the default --listen, 127.0.0.1 at a random port, is only for workers of
one machine.

cohort train --workers N starts N of these on the local machine by itself.

Example:
  cohort worker --etcd etcd-1:2379 --name w1 --listen 0.0.0.0:7071 --advertise w1:7071 --health-addr 0.0.0.0:9091
  cohort worker --etcd 127.0.0.1:2379 --name local1     # on the etcd's machine: loopback ring and metrics`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.endpoints == "" {
				return fmt.Errorf("--etcd is required: the etcd endpoints the coordinator uses")
			}
			cli, err := membership.Dial(cmd.Context(), e.config())
			if err != nil {
				return err
			}
			defer cli.Close()
			logNVML(slog.Default(), gpustats.OpenNVML)
			stopping := context.AfterFunc(cmd.Context(), func() {
				slog.Info("worker: stopping; revoking the lease", "worker", name, "cause", context.Cause(cmd.Context()))
			})
			defer stopping()
			err = worker.Run(cmd.Context(), worker.Config{Name: name, Client: cli, TTL: e.ttl, Listen: listen,
				Advertise: advertise, HealthAddr: health, HealthAdvertise: healthAdvertise, Logger: slog.Default(), ExitOnLeaseLoss: exitOnLeaseLoss})
			if cmd.Context().Err() != nil {
				slog.Info("worker: stopped", "worker", name)
			}
			return err
		},
	}
	fs := cmd.Flags()
	e.bind(fs)
	fs.StringVar(&name, "name", "", "worker name, unique among live workers: letters, digits, '.', '_', '-' (required)")
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "address of the worker's gRPC server (ring allreduce); on a multi-machine cluster a reachable interface and fixed port, such as 0.0.0.0:7071, with --advertise")
	fs.StringVar(&advertise, "advertise", "", "host:port other workers dial to reach this one (default: the --listen address; required when it is a wildcard such as 0.0.0.0)")
	fs.StringVar(&health, "health-addr", "127.0.0.1:0", `address of /metrics, /livez and /readyz or /healthz ("" turns them off)`)
	fs.StringVar(&healthAdvertise, "health-advertise", "", "host or host:port scrapers dial to reach --health-addr, published as health_addr in etcd (default: the bound address; for a wildcard, the --advertise host, else the host name, with the bound port)")
	fs.BoolVar(&exitOnLeaseLoss, "exit-on-lease-loss", false, "exit when cut off from etcd longer than the lease TTL, for a supervisor to restart (default: register again once etcd answers and rejoin at the next generation)")
	return cmd
}
