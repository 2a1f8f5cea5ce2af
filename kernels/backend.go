// Package kernels defines the compute Backend that the CLV model runs on.
//
// A Backend owns memory (Buffers) and the handful of dense operations a
// multilayer perceptron with a zero-inflated lognormal (ZILN) head needs:
// GEMM with transposes, bias + activation, activation gradients, column sums,
// the ZILN loss and its gradient, and the Adam update. The CPU backend
// (kernels/cpu) is pure Go and the reference; a CUDA backend (kernels/cuda,
// build tag `cuda`) implements the same contract on device memory.
//
// All matrices are dense and row-major. Backends are not safe for concurrent
// use: a worker owns one Backend and drives it from one goroutine.
package kernels

// Buffer is a span of float32 values owned by a Backend. For the CPU backend it
// is host memory; for a GPU backend it is device memory, reachable from the
// host only through Upload and Download.
type Buffer interface {
	// Len is the number of float32 values in the span.
	Len() int
	// Slice returns a view of n values starting at off that shares storage
	// with the receiver. It panics when [off, off+n) is out of range.
	Slice(off, n int) Buffer
}

// Activation selects the elementwise nonlinearity of a layer.
type Activation int

const (
	// Identity leaves values unchanged (the output layer).
	Identity Activation = iota
	// ReLU is max(x, 0).
	ReLU
)

// AdamParams are the hyperparameters of one decoupled-weight-decay Adam
// (AdamW, Loshchilov & Hutter 2019) update.
type AdamParams struct {
	LR          float32
	Beta1       float32
	Beta2       float32
	Eps         float32
	WeightDecay float32 // decoupled: p -= LR*WeightDecay*p
}

// ZILNOutputs is the width of the ZILN head: a logit for P(spend > 0), the
// lognormal location mu, and a raw scale mapped to sigma = softplus(raw).
const ZILNOutputs = 3

// Backend is the set of operations the model needs. Every method panics on
// shape mismatches: they are programming errors, not input errors.
type Backend interface {
	// Name identifies the backend in logs and benchmarks ("cpu", "cuda:0").
	Name() string
	// Alloc returns a zeroed Buffer of n values.
	Alloc(n int) Buffer
	// Upload copies src into dst; len(src) must equal dst.Len().
	Upload(dst Buffer, src []float32)
	// Download copies src into dst; len(dst) must equal src.Len().
	Download(dst []float32, src Buffer)

	// Gemm computes C = alpha*op(A)*op(B) + beta*C where op(A) is m×k,
	// op(B) is k×n and C is m×n. A is stored k×m when transA, B is stored
	// n×k when transB. When beta is 0, C is not read (NaNs in C vanish).
	Gemm(transA, transB bool, m, n, k int, alpha float32, a, b Buffer, beta float32, c Buffer)
	// BiasAct sets x[i,j] = act(x[i,j] + bias[j]) for a rows×cols x.
	BiasAct(x Buffer, rows, cols int, bias Buffer, act Activation)
	// ActBackward multiplies grad elementwise by act'(.) evaluated from the
	// layer's output out (for ReLU: grad = 0 where out <= 0).
	ActBackward(grad, out Buffer, act Activation)
	// ColSum sets dst[j] = beta*dst[j] + sum_i x[i,j] for a rows×cols x.
	ColSum(dst, x Buffer, rows, cols int, beta float32)

	// ZILNLoss evaluates the mean ZILN loss over rows samples. logits is
	// rows×ZILNOutputs, labels has rows values (spend, >= 0). It writes
	// d(mean loss)/d(logits) into grad (rows×ZILNOutputs) and returns the
	// mean loss. The loss per sample is binary cross-entropy of the first
	// logit against 1{label>0} plus, for positive labels, the negative
	// lognormal log-density of the label with mu = logits[1] and
	// sigma = max(softplus(logits[2]), sqrt(1e-7)), as in Wang, Liu & Miao
	// (2019) and google/lifetime_value.
	ZILNLoss(grad, logits, labels Buffer, rows int) float64
	// ZILNPredict writes, per sample, p = sigmoid(logits[0]) to p and the
	// expected spend p*exp(mu + sigma^2/2) to mean.
	ZILNPredict(p, mean, logits Buffer, rows int)

	// Adam applies one AdamW step (1-based step for bias correction) to
	// params using grads, updating the moment buffers m and v in place.
	Adam(params, grads, m, v Buffer, step int, h AdamParams)
	// Scale sets x = a*x.
	Scale(x Buffer, a float32)
	// Axpy sets y = a*x + y.
	Axpy(a float32, x, y Buffer)
}
