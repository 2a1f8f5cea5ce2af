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

	// The zone database, built in: a Parquet timestamp column names its
	// zone (clv counts purchase days in it), and the FROM scratch image
	// has no /usr/share/zoneinfo to look it up in.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signalContext()
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		msg, code := exitMessage(err, context.Cause(ctx))
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(code)
	}
}

// signalError is the cause of a context ended by a signal, so main exits
// with the shell's code for it: 128 + the signal's number (130 for Ctrl-C,
// 143 for SIGTERM, which Kubernetes and systemd send).
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "received " + e.sig.String() }

// signalContext is cancelled, with a signalError cause, by SIGINT or
// SIGTERM; stop releases the signals. After the first signal the default
// behaviour returns, so a second Ctrl-C ends a run whose shutdown hangs.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			cancel(signalError{s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
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

// Exit statuses beyond 0 (success) and 1 (any other error), so a script
// can tell a job that ended badly from a CLI that lost the cluster. An
// interrupted command exits 128 + the signal's number (130 for Ctrl-C).
const (
	// exitJobFailed: the job a command followed (watch, submit --wait)
	// ended FAILED.
	exitJobFailed = 2
	// exitJobCancelled: the job a command followed ended CANCELLED.
	exitJobCancelled = 3
	// exitUnreachable: no leading coordinator answered; a followed job's
	// outcome is unknown (it may well still run).
	exitUnreachable = 4
)

// codeError is an error that sets main's exit status.
type codeError struct {
	err  error
	code int
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// exitMessage is what main prints for err on stderr and the exit code;
// cause is the cause of the command's context.
func exitMessage(err, cause error) (string, int) {
	if errors.Is(err, context.Canceled) {
		msg, code := "cohort: interrupted", 130
		var se signalError
		if errors.As(cause, &se) {
			if n, ok := se.sig.(syscall.Signal); ok {
				code = 128 + int(n)
			}
		}
		var h *hintError
		if errors.As(err, &h) {
			msg += "; " + h.hint
		}
		return msg, code
	}
	code := 1
	var ce *codeError
	if errors.As(err, &ce) {
		code = ce.code
	}
	return "cohort: " + err.Error(), code
}
