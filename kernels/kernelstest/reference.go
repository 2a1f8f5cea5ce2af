package kernelstest

import "math"

// The plain float64 references the backends are checked against. They are
// written for obviousness, not speed.

// refGemm returns alpha*op(A)*op(B) + beta*C (C ignored when beta is 0)
// and, per element, sum |alpha*a*b| + |beta*c|, the scale of its rounding
// error.
func refGemm(transA, transB bool, m, n, k int, alpha float64, a, b []float32, beta float64, c []float32) (out, mag []float64) {
	out = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := range m {
		for j := range n {
			s, abs := 0.0, 0.0
			for p := range k {
				av := float64(a[i*k+p])
				if transA {
					av = float64(a[p*m+i])
				}
				bv := float64(b[p*n+j])
				if transB {
					bv = float64(b[j*k+p])
				}
				s += av * bv
				abs += math.Abs(av * bv)
			}
			out[i*n+j] = alpha * s
			mag[i*n+j] = math.Abs(alpha) * abs
			if beta != 0 {
				out[i*n+j] += beta * float64(c[i*n+j])
				mag[i*n+j] += math.Abs(beta * float64(c[i*n+j]))
			}
		}
	}
	return out, mag
}

// zilnMinSigma is sqrt(1e-7), the floor of the lognormal scale.
const zilnMinSigma = 3.1622776601683793e-4

func refSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func refSoftplus(x float64) float64 {
	if x > 30 {
		return x // log(1+e^x) = x to double precision; e^x would overflow later
	}
	return math.Log1p(math.Exp(x))
}

// refZILNSample is the loss of one sample, written straight from its
// definition: BCE of sigmoid(z) against 1{y>0}, plus the negative
// lognormal log-density of y for y > 0.
func refZILNSample(z, mu, raw, y float64) float64 {
	// -log(sigmoid(z)) = softplus(-z) and -log(1-sigmoid(z)) = softplus(z),
	// written so that large |z| does not take log(0).
	if y <= 0 {
		return refSoftplus(z)
	}
	sigma := math.Max(refSoftplus(raw), zilnMinSigma)
	ly := math.Log(y)
	logpdf := -ly - math.Log(sigma) - 0.5*math.Log(2*math.Pi) - (ly-mu)*(ly-mu)/(2*sigma*sigma)
	return refSoftplus(-z) - logpdf
}

// refZILN returns the mean loss and its analytic gradient.
func refZILN(logits, labels []float32) (float64, []float64) {
	rows := len(labels)
	grad := make([]float64, 3*rows)
	sum := 0.0
	for i := range rows {
		z, mu, raw, y := float64(logits[3*i]), float64(logits[3*i+1]), float64(logits[3*i+2]), float64(labels[i])
		sum += refZILNSample(z, mu, raw, y)
		pos := 0.0
		if y > 0 {
			pos = 1
		}
		grad[3*i] = (refSigmoid(z) - pos) / float64(rows)
		if y <= 0 {
			continue
		}
		sigma := refSoftplus(raw)
		dsigma := refSigmoid(raw)
		if sigma < zilnMinSigma {
			sigma, dsigma = zilnMinSigma, 0
		}
		d := math.Log(y) - mu
		grad[3*i+1] = -d / (sigma * sigma) / float64(rows)
		grad[3*i+2] = (1/sigma - d*d/(sigma*sigma*sigma)) * dsigma / float64(rows)
	}
	return sum / float64(rows), grad
}

// refAdam applies one AdamW step in float64, in the textbook form
// p -= lr*(mhat/(sqrt(vhat)+eps) + wd*p).
func refAdam(p, g, m, v []float64, step int, lr, b1, b2, eps, wd float64) {
	for i := range p {
		m[i] = b1*m[i] + (1-b1)*g[i]
		v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
		mhat := m[i] / (1 - math.Pow(b1, float64(step)))
		vhat := v[i] / (1 - math.Pow(b2, float64(step)))
		p[i] -= lr * (mhat/(math.Sqrt(vhat)+eps) + wd*p[i])
	}
}
