//go:build !amd64

package allreduce

// add sums src into dst element by element; see addScalar.
func add(dst, src []float32) { addScalar(dst, src) }
