package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cohort-clv/cohort/clusterview"
	"github.com/cohort-clv/cohort/gpustats"
	"github.com/cohort-clv/cohort/membership"
	"github.com/spf13/cobra"
)

// cpuWindow is how long cohort gpus waits between its two host samples:
// CPU busy is a rate, so it needs two readings.
const cpuWindow = 250 * time.Millisecond

func newGpusCmd() *cobra.Command {
	var (
		asJSON bool
		e      etcdFlags
	)
	cmd := &cobra.Command{
		Use:   "gpus [--etcd HOST:PORT]",
		Short: "Show this machine's GPUs (NVML), or with --etcd every GPU of the cluster",
		Long: `gpus reads this machine's GPUs through NVML: utilisation, memory, temperature,
power, clocks, throttle reasons, PCIe, ECC, XID errors, processes (cohort's own
marked) and MIG devices. A reading the GPU does not support shows as "-".
Without NVML (no NVIDIA driver, or a binary built without cgo) it says so and
shows the host's CPU and memory instead. --json prints the full sample.

With --etcd it prints every GPU of the cluster instead, as the workers last
published them (every few seconds): worker, host, utilisation, memory, power,
temperature and health, and a line per machine without GPUs. --etcd takes the
endpoints (it has no default): cohort up prints its etcd's address, or serves
it at 127.0.0.1:2379 with --etcd-listen 127.0.0.1:2379.

Example:
  cohort gpus                                   # this machine
  cohort gpus --json                            # this machine's full sample
  cohort gpus --etcd 127.0.0.1:2379             # the cluster (cohort up --etcd-listen 127.0.0.1:2379)
  cohort gpus --etcd e1:2379,e2:2379,e3:2379 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if e.endpoints != "" {
				return clusterGPUs(cmd, e, asJSON)
			}
			s := gpustats.NewLocal(gpustats.Config{})
			defer s.Close()
			smp, err := s.Sample(ctx)
			if err != nil {
				return fmt.Errorf("gpus: %w", err)
			}
			if smp.Host != nil {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(cpuWindow):
				}
				if smp, err = s.Sample(ctx); err != nil {
					return fmt.Errorf("gpus: %w", err)
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(smp)
			}
			return gpustats.WriteTable(cmd.OutOrStdout(), smp)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the sample as JSON")
	e.bind(cmd.Flags())
	_ = cmd.Flags().MarkHidden("lease-ttl") // gpus holds no lease
	cmd.Flags().Lookup("etcd").Usage = "list every GPU of the cluster at these etcd endpoints instead of this machine's"
	return cmd
}

// clusterGPUs prints every GPU the cluster's workers publish.
func clusterGPUs(cmd *cobra.Command, e etcdFlags, asJSON bool) error {
	ctx := cmd.Context()
	cli, err := membership.Dial(ctx, e.config())
	if err != nil {
		return etcdDialError("gpus", err, false)
	}
	defer cli.Close()
	snap, err := clusterview.Read(ctx, cli, time.Now())
	if err != nil {
		return fmt.Errorf("gpus: %w", err)
	}
	c := clusterview.ClusterOf(snap)
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	return clusterview.WriteGPUTable(cmd.OutOrStdout(), c)
}
