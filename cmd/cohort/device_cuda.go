//go:build cuda

package main

import (
	"fmt"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/kernels/cuda"
)

// cudaBuilt reports whether this binary can drive NVIDIA GPUs.
const cudaBuilt = true

// newBackend opens the compute backend named by a --device flag: "cpu" or
// "cuda[:N]" (device N, default 0). Close the result when it is an
// io.Closer.
func newBackend(device string, threads int) (kernels.Backend, error) {
	kind, ordinal, err := parseDevice(device)
	if err != nil {
		return nil, err
	}
	if kind == "cpu" {
		return cpu.New(cpu.Options{Threads: threads}), nil
	}
	be, err := cuda.New(cuda.Options{Device: ordinal})
	if err != nil {
		return nil, fmt.Errorf("--device %s: %w", device, err)
	}
	return be, nil
}
