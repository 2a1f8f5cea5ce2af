package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/membership"
)

func newEtcdCmd() *cobra.Command {
	var c membership.MemberConfig
	var listenClient, advertiseClient, listenPeer, advertisePeer string
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "Run an etcd member, for clusters that have no etcd of their own",
		Long: `etcd runs one member of an etcd cluster from the cohort binary, so a cluster
needs nothing else installed. Its flags are etcd's own, with etcd's defaults;
see https://etcd.io/docs/latest/op-guide/clustering/ for how to bootstrap.
It serves until SIGTERM or SIGINT, then stops cleanly.

Unlike etcd itself, it compacts its history by default (--auto-compaction-mode
periodic, --auto-compaction-retention 1h): without compaction the database
grows with every worker status until it reaches --quota-backend-bytes and etcd
refuses every write. Compaction frees space for reuse; etcdctl defrag returns
it to the file system. Health: /livez, /readyz and /health on the client URLs,
and etcd's own /metrics (etcd_mvcc_db_total_size_in_bytes,
etcd_server_quota_backend_bytes).

Point coordinators and workers at the members' client URLs with --etcd.
A single cohort train or cohort up needs none of this: without --etcd it
runs an etcd inside the process.

Example, three members on hosts a, b and c (run on each, with its own name and URLs):
  cohort etcd --name a --data-dir /var/lib/cohort-etcd \
    --listen-client-urls http://10.0.0.1:2379 --advertise-client-urls http://10.0.0.1:2379 \
    --listen-peer-urls http://10.0.0.1:2380 --initial-advertise-peer-urls http://10.0.0.1:2380 \
    --initial-cluster a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380 \
    --initial-cluster-token cohort-prod --initial-cluster-state new`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// membership splits comma-separated lists, as etcd does.
			c.ListenClientURLs = []string{listenClient}
			c.AdvertiseClientURLs = []string{advertiseClient}
			c.ListenPeerURLs = []string{listenPeer}
			c.InitialAdvertisePeerURLs = []string{advertisePeer}
			m, err := membership.StartMember(cmd.Context(), c)
			if err != nil {
				return err
			}
			slog.Info("etcd member serving", "name", c.Name, "client_urls", m.Endpoints(),
				"auto_compaction_mode", c.AutoCompactionMode, "auto_compaction_retention", c.AutoCompactionRetention)
			err = m.Serve(cmd.Context())
			slog.Info("etcd member stopped", "name", c.Name)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&c.Name, "name", "default", "human-readable name for this member")
	fs.StringVar(&c.DataDir, "data-dir", "", `path to the data directory (default "<name>.etcd")`)
	fs.StringVar(&listenClient, "listen-client-urls", "http://localhost:2379", "comma-separated URLs to listen on for client traffic")
	fs.StringVar(&advertiseClient, "advertise-client-urls", "http://localhost:2379", "comma-separated client URLs of this member to advertise to the cluster")
	fs.StringVar(&listenPeer, "listen-peer-urls", "http://localhost:2380", "comma-separated URLs to listen on for peer traffic")
	fs.StringVar(&advertisePeer, "initial-advertise-peer-urls", "http://localhost:2380", "comma-separated peer URLs of this member to advertise to the cluster")
	fs.StringVar(&c.InitialCluster, "initial-cluster", "", `initial cluster configuration for bootstrapping, name=peerURL,... (default "<name>=<initial-advertise-peer-urls>")`)
	fs.StringVar(&c.InitialClusterState, "initial-cluster-state", "new", `initial cluster state: "new" or "existing" (a member joining a running cluster)`)
	fs.StringVar(&c.InitialClusterToken, "initial-cluster-token", "etcd-cluster", "initial cluster token, unique per cluster, so members of two clusters never mix")
	fs.StringVar(&c.AutoCompactionMode, "auto-compaction-mode", "periodic", `auto-compaction mode: "periodic" (keep --auto-compaction-retention of time) or "revision" (keep that many revisions)`)
	fs.StringVar(&c.AutoCompactionRetention, "auto-compaction-retention", membership.DefaultCompactionRetention,
		`history auto-compaction keeps: a duration such as 1h in periodic mode, a number of revisions in revision mode; "0" never compacts, and the database then grows until --quota-backend-bytes stops every write (etcd's own default is "0")`)
	fs.Int64Var(&c.QuotaBackendBytes, "quota-backend-bytes", 0, "size of the database at which etcd refuses writes (NOSPACE alarm) until compacted and defragmented (0: etcd's default, 2 GiB)")
	return cmd
}
