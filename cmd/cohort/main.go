// Command cohort trains, evaluates and serves deep customer-lifetime-value
// models, on one machine or across a cluster. Each subcommand lives in its own
// file and only wires packages together; the logic lives in the packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "cohort: interrupted")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "cohort:", err)
		os.Exit(1)
	}
}
