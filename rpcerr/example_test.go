package rpcerr_test

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/status"

	"github.com/cohort-clv/cohort/rpcerr"
)

// A server wraps a sentinel with context and returns ToStatus of it; the
// client applies FromStatus to the call's error and matches with errors.Is.
// Over a real connection the interceptors do both steps.
func Example() {
	// Server side, in a handler:
	handlerErr := fmt.Errorf("coordinator: shard job j1 generation 3: %w", rpcerr.ErrStaleGeneration)
	wire := rpcerr.ToStatus(handlerErr)

	// Client side, on the error the call returned:
	err := rpcerr.FromStatus(wire)
	fmt.Println(status.Code(err))
	fmt.Println(errors.Is(err, rpcerr.ErrStaleGeneration))
	fmt.Println(errors.Is(err, rpcerr.ErrNotFound))
	fmt.Println(err)
	// Output:
	// Aborted
	// true
	// false
	// coordinator: shard job j1 generation 3: cohort: stale generation
}
