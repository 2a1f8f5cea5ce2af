package main

import "github.com/spf13/cobra"

// commands lists every subcommand constructor. Add a command by writing
// newXxxCmd in its own file and listing it here.
func commands() []func() *cobra.Command {
	return []func() *cobra.Command{
		newVersionCmd,
		newFeaturesCmd,
		newGenCmd,
		newTrainCmd,
		newPredictCmd,
		newEvalCmd,
		newDemoCmd,
		newEtcdCmd,
		newGpusCmd,
		newTopCmd,
		newSelftestCmd,
		newWorkerCmd,
		newSweepCmd,
		newCoordinatorCmd,
		newUpCmd,
		newSubmitCmd,
		newStatusCmd,
		newWatchCmd,
		newCancelCmd,
	}
}
