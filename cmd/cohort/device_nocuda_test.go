//go:build !cuda

package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestSelftestWithoutCUDA ensures a binary built without the cuda tag
// answers --device cuda with the rebuild hint, and cpu still works.
func TestSelftestWithoutCUDA(t *testing.T) {
	for _, dev := range []string{"cuda", "cuda:0", "cuda:1"} {
		err := runSelftest(context.Background(), &bytes.Buffer{}, &selftestFlags{device: dev})
		if !errors.Is(err, errNoCUDA) {
			t.Errorf("--device %s: error %v, want errNoCUDA", dev, err)
		}
	}
	be, err := newBackend("cpu", 1)
	if err != nil || be.Name() != "cpu" {
		t.Fatalf("newBackend(cpu) = %v, %v", be, err)
	}
	closeBackend(be)
}
