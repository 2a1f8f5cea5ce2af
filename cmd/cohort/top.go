package main

import (
	"context"
	"encoding/json"
	"errors"
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
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "top [--etcd HOST:PORT]",
		Short: "Live view of the cluster: workers, GPUs, jobs and stragglers",
		Long: `top shows the cluster as its workers publish it in etcd: every worker with
what it trains (job, rank, allreduces entered, about one per step, and the
median compute time before an allreduce over its last 20 steps; a rank more
than 1.5x slower than its job's median is flagged STRAGGLER), every GPU with
bars for utilisation, memory and power (CPU and memory for machines without
GPUs), and every job with its progress.

On a terminal it refreshes every second (or --interval): s cycles the sort
(name, util, memory, power, compute), / filters rows, q quits. When stdout is
not a terminal it prints one snapshot as plain text, or one every --interval.
--json prints one snapshot as JSON: {"time", "workers": [{"name", "status",
"error"}], "jobs": [...]}, with each worker status and job as protojson.

Without --etcd top reads ` + defaultEtcd + `, etcd's default client address;
cohort up prints the address of its etcd (or serves one there with
--etcd-listen ` + defaultEtcd + `).

Example:
  cohort top                                  # etcd at ` + defaultEtcd + `, live on a terminal
  cohort top --etcd http://127.0.0.1:41234    # the etcd address cohort up prints
  cohort top --etcd e1:2379,e2:2379 --json    # one snapshot for scripts
  cohort top --interval 10s > top.log         # not a terminal: a snapshot every 10s`,
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
			defaulted := e.endpoints == ""
			if defaulted {
				e.endpoints = defaultEtcd
			}
			cli, err := membership.Dial(ctx, e.config())
			if err != nil {
				return etcdDialError("top", err, defaulted)
			}
			defer cli.Close()
			if asJSON {
				if interval != 0 {
					return fmt.Errorf("top: --json prints one snapshot; drop --interval")
				}
				s, err := clusterview.Read(ctx, cli, time.Now())
				if err != nil {
					return fmt.Errorf("top: %w", err)
				}
				return writeSnapshotJSON(cmd.OutOrStdout(), s)
			}
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
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one snapshot as JSON and exit")
	return cmd
}

// etcdDialError is the error of top or gpus --etcd when etcd does not
// answer: cohort up's etcd is on a port of its own, which up prints.
func etcdDialError(op string, err error, defaulted bool) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err) // etcd answered: TLS, credentials, ...
	}
	hint := "cohort up prints the address of its etcd (etcd http://127.0.0.1:PORT): pass it with --etcd"
	if defaulted {
		hint = "no --etcd given, so top tried " + defaultEtcd + ", etcd's default; " + hint +
			", or start up with --etcd-listen " + defaultEtcd
	}
	return &hintError{err: fmt.Errorf("%s: %w", op, err), hint: hint}
}

// snapshotJSON is top --json's output: the snapshot, its protobuf
// messages as protojson (as status and watch print them).
type snapshotJSON struct {
	Time    time.Time         `json:"time"`
	Workers []workerJSON      `json:"workers"`
	Jobs    []json.RawMessage `json:"jobs"`
}

type workerJSON struct {
	Name   string          `json:"name"`
	Status json.RawMessage `json:"status,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// writeSnapshotJSON prints s as indented JSON.
func writeSnapshotJSON(w io.Writer, s *clusterview.Snapshot) error {
	out := snapshotJSON{Time: s.Time, Workers: []workerJSON{}, Jobs: []json.RawMessage{}}
	for _, wk := range s.Workers {
		row := workerJSON{Name: wk.Name, Error: wk.Err}
		if wk.Status != nil {
			b, err := jsonOptions().Marshal(wk.Status)
			if err != nil {
				return fmt.Errorf("top: encode worker %s: %w", wk.Name, err)
			}
			row.Status = b
		}
		out.Workers = append(out.Workers, row)
	}
	for _, j := range s.Jobs {
		b, err := jsonOptions().Marshal(j)
		if err != nil {
			return fmt.Errorf("top: encode job %s: %w", j.GetId(), err)
		}
		out.Jobs = append(out.Jobs, b)
	}
	if err := writeJSON(w, out); err != nil {
		return fmt.Errorf("top: write: %w", err)
	}
	return nil
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
