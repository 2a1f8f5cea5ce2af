//go:build cuda

package cuda_test

import (
	"fmt"
	"log"

	"github.com/cohort-clv/cohort/kernels/cuda"
)

// Example multiplies two small matrices on GPU 0. It has no Output line:
// examples compile everywhere but need a GPU to run.
func Example() {
	be, err := cuda.New(cuda.Options{Device: 0})
	if err != nil {
		log.Fatal(err)
	}
	defer be.Close()
	a, b, c := be.Alloc(6), be.Alloc(6), be.Alloc(4)
	be.Upload(a, []float32{1, 2, 3, 4, 5, 6})     // 2x3
	be.Upload(b, []float32{1, 0, 0, 1, 1, 1})     // 3x2
	be.Gemm(false, false, 2, 2, 3, 1, a, b, 0, c) // c = a*b
	out := make([]float32, 4)
	be.Download(out, c)
	fmt.Println(be.Describe(), out) // [4 5 10 11]
}
