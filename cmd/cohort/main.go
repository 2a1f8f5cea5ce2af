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
		msg, code := exitMessage(err)
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(code)
	}
}

// hintError is an error with advice for the user. main prints the advice
// after "interrupted" too, where an interruption's own text is not shown.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "; " + e.hint }
func (e *hintError) Unwrap() error { return e.err }

// exitMessage is what main prints for err on stderr and the exit code.
func exitMessage(err error) (string, int) {
	if errors.Is(err, context.Canceled) {
		msg := "cohort: interrupted"
		var h *hintError
		if errors.As(err, &h) {
			msg += "; " + h.hint
		}
		return msg, 130
	}
	return "cohort: " + err.Error(), 1
}
