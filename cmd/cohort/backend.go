package main

import (
	"io"

	"github.com/cohort-clv/cohort/kernels"
)

// deviceHelp documents --device for every command that computes.
const deviceHelp = "compute device: cpu, or cuda / cuda:N in a binary built with -tags cuda"

// openBackend opens the --device backend and returns it with the function
// that releases it (the CPU backend's worker pool, a GPU context).
func openBackend(device string, threads int) (kernels.Backend, func(), error) {
	be, err := newBackend(device, threads)
	if err != nil {
		return nil, nil, err
	}
	release := func() {}
	if c, ok := be.(io.Closer); ok {
		release = func() { c.Close() }
	}
	return be, release, nil
}
