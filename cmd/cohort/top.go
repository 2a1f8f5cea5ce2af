package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/term"

	"github.com/cohort-clv/cohort/clusterview"
	"github.com/cohort-clv/cohort/membership"
)

// defaultEtcd is etcd's own default client address, where a cluster's
// etcd usually is when top runs on one of its machines.
const defaultEtcd = "127.0.0.1:2379"

func newTopCmd() *cobra.Command {
	var (
		e        etcdFlags
		interval time.Duration
		sortBy   string
		filter   string
	)
	cmd := &cobra.Command{
		Use:   "top [--etcd HOST:PORT]",
		Short: "Live view of the cluster: workers, GPUs, jobs and stragglers",
		Long: `top shows the cluster as its workers publish it in etcd: every worker with
what it trains (job, rank, allreduces entered, mean compute time before each
allreduce, about one per step; a rank more than 1.5x slower than its job's
median is flagged STRAGGLER), every GPU with bars for
utilisation, memory and power (CPU and memory for machines without GPUs), and
every job with its progress.

On a terminal it refreshes every second (or --interval): s cycles the sort
(name, util, memory, power, compute), / filters rows, q quits. When stdout is
not a terminal it prints one snapshot as plain text, or one every --interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := clusterview.ParseSortKey(sortBy)
			if err != nil {
				return fmt.Errorf("top: --sort: %w", err)
			}
			if interval < 0 {
				return fmt.Errorf("top: --interval %v, want >= 0", interval)
			}
			ctx := cmd.Context()
			if e.endpoints == "" {
				e.endpoints = defaultEtcd
			}
			cli, err := membership.Dial(ctx, e.config())
			if err != nil {
				return fmt.Errorf("top: %w", err)
			}
			defer cli.Close()
			fetch := func(ctx context.Context) (*clusterview.Snapshot, error) {
				return clusterview.Read(ctx, cli, time.Now())
			}
			opts := clusterview.Options{Sort: key, Filter: filter}
			out := cmd.OutOrStdout()
			if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				if interval == 0 {
					interval = time.Second
				}
				m := clusterview.NewModel(ctx, fetch, interval, opts)
				_, err := tea.NewProgram(m, tea.WithContext(ctx), tea.WithAltScreen(), tea.WithOutput(f),
					tea.WithInput(cmd.InOrStdin())).Run()
				if err != nil && ctx.Err() == nil {
					return fmt.Errorf("top: %w", err)
				}
				return nil
			}
			return plainTop(ctx, out, cli, interval, opts)
		},
	}
	e.bind(cmd.Flags())
	_ = cmd.Flags().MarkHidden("lease-ttl") // top holds no lease
	cmd.Flags().Lookup("etcd").Usage = "etcd endpoints, host:port[,host:port...] or URLs (default " + defaultEtcd + ")"
	cmd.Flags().DurationVar(&interval, "interval", 0, "refresh period; without a terminal, 0 prints one snapshot (default 1s on a terminal)")
	cmd.Flags().StringVar(&sortBy, "sort", "name", "sort GPUs by name, util, memory, power or compute (ranks)")
	cmd.Flags().StringVar(&filter, "filter", "", "show only rows whose worker, host, GPU or job contains this")
	return cmd
}

// plainTop prints snapshots as text: one, or one every interval until ctx ends.
func plainTop(ctx context.Context, out io.Writer, kv clientv3.KV, interval time.Duration, opts clusterview.Options) error {
	for {
		s, err := clusterview.Read(ctx, kv, time.Now())
		if err != nil {
			return fmt.Errorf("top: %w", err)
		}
		if _, err := io.WriteString(out, clusterview.Render(s, opts)+"\n"); err != nil {
			return fmt.Errorf("top: %w", err)
		}
		if interval == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
		if _, err := io.WriteString(out, "\n"); err != nil {
			return fmt.Errorf("top: %w", err)
		}
	}
}
