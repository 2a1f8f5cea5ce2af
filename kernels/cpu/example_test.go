package cpu_test

import (
	"fmt"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
)

// A dense layer's forward pass on the CPU backend: y = relu(x*w + b).
func Example() {
	be := cpu.New(cpu.Options{Threads: 2})
	defer be.Close()

	x := cpu.Wrap([]float32{1, 2, 3, 4})    // 2 samples × 2 features
	w := cpu.Wrap([]float32{1, -1, 0.5, 1}) // 2 inputs × 2 outputs
	b := cpu.Wrap([]float32{0, -5})
	y := be.Alloc(4)
	be.Gemm(false, false, 2, 2, 2, 1, x, w, 0, y)
	be.BiasAct(y, 2, 2, b, kernels.ReLU)
	fmt.Println(cpu.Floats(y))
	// Output: [2 0 5 0]
}
