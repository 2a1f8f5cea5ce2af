//go:build cuda

// Package cuinit initialises the CUDA driver before gorgonia.org/cu does, so
// that a cuda-tagged binary started on a machine without a GPU or driver
// stops with a message that says what is wrong and what to do, instead of
// cu's bare "Error in initialization".
//
// Go initialises packages in import-path order among those whose imports
// are ready; "github.com/cohort-clv/..." sorts before "gorgonia.org/cu" and
// this package imports nothing of cu's, so its init runs first.
package cuinit

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

static const char* cohort_cu_error_name(CUresult r) {
	const char* s = 0;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == 0) return "unknown CUDA error";
	return s;
}
*/
import "C"

import (
	"fmt"
	"os"
)

func init() {
	if r := C.cuInit(0); r != C.CUDA_SUCCESS {
		fmt.Fprintf(os.Stderr, "cohort: this binary was built with -tags cuda and needs an NVIDIA GPU and driver, "+
			"but cuInit failed: %s (%d); on a machine without a GPU use a build without -tags cuda\n",
			C.GoString(C.cohort_cu_error_name(r)), int(r))
		os.Exit(1)
	}
}
