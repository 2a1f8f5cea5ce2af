//go:build !cuda

package main

import (
	"errors"
	"fmt"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
)

// errNoCUDA is what a CUDA device gets in a binary built without the tag.
var errNoCUDA = errors.New("this cohort was built without CUDA: rebuild with -tags cuda (see kernels/cuda)")

// cudaBuilt reports whether this binary can drive NVIDIA GPUs.
const cudaBuilt = false

// newBackend opens the compute backend named by a --device flag: "cpu", or
// "cuda[:N]", which this build refuses.
func newBackend(device string, threads int) (kernels.Backend, error) {
	kind, _, err := parseDevice(device)
	if err != nil {
		return nil, err
	}
	if kind == "cuda" {
		return nil, fmt.Errorf("--device %s: %w", device, errNoCUDA)
	}
	return cpu.New(cpu.Options{Threads: threads}), nil
}
