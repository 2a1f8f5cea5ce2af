package main

import (
	"encoding/json"
	"fmt"
	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/internal/buildinfo"
)

// buildInfo is what `cohort version` reports.
type buildInfo struct {
	buildinfo.Info
	CUDA bool `json:"cuda"` // built with -tags cuda
}

func readBuildInfo() buildInfo { return buildInfo{Info: buildinfo.Read(), CUDA: cudaBuilt} }

// String is the one line `cohort version` and `cohort --version` print.
func (b buildInfo) String() string {
	return fmt.Sprintf("cohort %s %s %s/%s", b.Version, b.Go, b.OS, b.Arch)
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the cohort version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuildInfo()
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(b)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), b)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build information as JSON")
	return cmd
}
