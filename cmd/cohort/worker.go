package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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

func newWorkerCmd() *cobra.Command {
	var e etcdFlags
	var name, listen, advertise, health string
	var exitOnLeaseLoss bool
	cmd := &cobra.Command{
		Use:   "worker --etcd HOST:PORT --name NAME",
		Short: "Run a training worker: register in etcd, train the generations that name it",
		Long: `worker registers under /cohort/workers/NAME with a lease, waits for a
coordinator's generation plan that names it, streams its shard of customers
from the coordinator, and trains its replica of the model with gradients
summed over a ring allreduce with the other workers. It serves /healthz and
/metrics on --health-addr and stops cleanly on SIGTERM. /healthz answers 503
"registering with etcd" until the worker holds its first lease, 503 "lease
lost" while it has lost one, and 200 "ok" otherwise.

A worker cut off from etcd longer than the lease TTL loses its place: the
coordinator goes on without it. The worker then registers again as soon as
etcd answers and is taken into the job's next generation, in the same process
(--exit-on-lease-loss makes it exit instead).

cohort train --workers N starts N of these on the local machine by itself.`,
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
			return worker.Run(cmd.Context(), worker.Config{Name: name, Client: cli, TTL: e.ttl, Listen: listen,
				Advertise: advertise, HealthAddr: health, Logger: slog.Default(), ExitOnLeaseLoss: exitOnLeaseLoss})
		},
	}
	fs := cmd.Flags()
	e.bind(fs)
	fs.StringVar(&name, "name", "", "worker name, unique among live workers: letters, digits, '.', '_', '-' (required)")
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "address of the worker's gRPC server (ring allreduce)")
	fs.StringVar(&advertise, "advertise", "", "host:port other workers dial to reach this one (default: the --listen address; required when it is a wildcard such as 0.0.0.0)")
	fs.StringVar(&health, "health-addr", "127.0.0.1:0", `address of /healthz and /metrics ("" turns them off)`)
	fs.BoolVar(&exitOnLeaseLoss, "exit-on-lease-loss", false, "exit when cut off from etcd longer than the lease TTL, for a supervisor to restart (default: register again once etcd answers and rejoin at the next generation)")
	return cmd
}
