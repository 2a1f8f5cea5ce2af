package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cohort-clv/cohort/gpustats"
	"github.com/spf13/cobra"
)

// cpuWindow is how long cohort gpus waits between its two host samples:
// CPU busy is a rate, so it needs two readings.
const cpuWindow = 250 * time.Millisecond

func newGpusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gpus",
		Short: "Show this machine's GPUs (NVML), or its CPU and memory without NVML",
		Long: `gpus reads this machine's GPUs through NVML: utilisation, memory, temperature,
power, clocks, throttle reasons, PCIe, ECC, XID errors, processes (cohort's own
marked) and MIG devices. A reading the GPU does not support shows as "-".
Without NVML (no NVIDIA driver, or a binary built without cgo) it says so and
shows the host's CPU and memory instead. --json prints the full sample.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
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
	return cmd
}
