package eval

import (
	"fmt"
	"math"
)

// Decile is one bucket of metrics.py's decile_stats: customers whose
// prediction falls in (Lower, Upper] (the lowest bucket also takes Lower).
type Decile struct {
	// Index counts buckets from the lowest predictions, like the reference's
	// labels '0'..'9'.
	Index int `json:"index"`
	// Lower and Upper are the bucket's edges: quantiles of the predictions.
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	// Count is the number of customers in the bucket.
	Count         int     `json:"count"`
	MeanPredicted float64 `json:"mean_predicted"`
	MeanActual    float64 `json:"mean_actual"`
	// APE is |MeanPredicted - MeanActual| / |MeanActual|, NaN when the
	// bucket's actual mean is 0.
	APE float64 `json:"ape"`
}

// Deciles cuts customers into ten buckets by prediction as pandas.qcut(pred,
// 10) does in metrics.py's decile_stats: the edges are the 0, 10, ..., 100%
// quantiles of the predictions with linear interpolation, buckets are closed
// on the right and the lowest also holds the minimum.
//
// The reference raises when tied predictions make two edges equal; here the
// repeated edges are dropped (qcut's duplicates='drop'), so fewer than ten
// buckets come back. Empty buckets, which pandas reports as NaN rows, are
// left out.
func Deciles(pred, actual []float64) ([]Decile, error) {
	if err := validate(pred, actual); err != nil {
		return nil, fmt.Errorf("eval: deciles: %w", err)
	}
	return deciles(pred, actual), nil
}

func deciles(pred, actual []float64) []Decile {
	return newDecileCuts(pred, descendingOrder(pred)).stats(pred, actual)
}

// decileCuts are the qcut edges of a prediction vector and each customer's
// bucket, derived from the prediction's descending order.
type decileCuts struct {
	edges  []float64
	bucket []uint8 // per customer, an index into the buckets of edges
}

// newDecileCuts cuts pred, whose descending order (descendingOrder) is
// order, as pandas.qcut(pred, 10) does (see Deciles).
func newDecileCuts(pred []float64, order []int) decileCuts {
	const buckets = 10
	n := len(pred)
	// sorted(k) is the k-th smallest prediction.
	sorted := func(k int) float64 { return pred[order[n-1-k]] }
	edges := make([]float64, 0, buckets+1)
	for i := 0; i <= buckets; i++ {
		// Position i*(n-1)/10 in exact integer arithmetic, so that an edge
		// which lands on a customer is that customer's value exactly.
		pos := i * (n - 1)
		lo, frac := pos/buckets, float64(pos%buckets)/buckets
		e := sorted(lo)
		if frac > 0 {
			e += frac * (sorted(lo+1) - sorted(lo))
		}
		if len(edges) == 0 || e != edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	// Each customer's bucket is one less than the first edge >= its
	// prediction, as numpy's searchsorted(side='left'); the minimum joins
	// the lowest bucket. Walking up the order, that edge only moves up.
	bucket := make([]uint8, n)
	e := 0
	for k := n - 1; k >= 0; k-- {
		j := order[k]
		for e < len(edges) && edges[e] < pred[j] {
			e++
		}
		bucket[j] = uint8(max(e-1, 0))
	}
	return decileCuts{edges: edges, bucket: bucket}
}

// stats returns the non-empty buckets' counts and means, summing in
// customer order.
func (c decileCuts) stats(pred, actual []float64) []Decile {
	edges := c.edges
	out := make([]Decile, max(len(edges)-1, 1))
	for b := range out {
		out[b] = Decile{Index: b, Lower: edges[0], Upper: edges[len(edges)-1]}
		if len(edges) > 1 {
			out[b].Lower, out[b].Upper = edges[b], edges[b+1]
		}
	}
	for i, p := range pred {
		b := c.bucket[i]
		out[b].Count++
		out[b].MeanPredicted += p
		out[b].MeanActual += actual[i]
	}
	kept := out[:0]
	for _, d := range out {
		if d.Count == 0 {
			continue
		}
		d.MeanPredicted /= float64(d.Count)
		d.MeanActual /= float64(d.Count)
		d.APE = math.NaN()
		if d.MeanActual != 0 {
			d.APE = math.Abs(d.MeanPredicted-d.MeanActual) / math.Abs(d.MeanActual)
		}
		kept = append(kept, d)
	}
	return kept
}

// decileMAPE is the notebooks' df_decile['decile_mape'].mean() over the
// buckets whose APE is defined; the reference would return inf as soon as
// one bucket's actual mean is 0, which says nothing about the others.
func decileMAPE(ds []Decile) (mape float64, used int) {
	var s float64
	for _, d := range ds {
		if !math.IsNaN(d.APE) {
			s += d.APE
			used++
		}
	}
	if used == 0 {
		return math.NaN(), 0
	}
	return s / float64(used), used
}
