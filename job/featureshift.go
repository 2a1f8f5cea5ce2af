package job

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/cohort-clv/cohort/model"
)

const (
	// shiftSD is how many training standard deviations a scored customer's
	// feature (after the pipeline's log1p) may lie from the training mean
	// and still count as inside what the network saw. A training feature
	// itself lies that far for well under 1% of customers on CDNOW.
	shiftSD = 4
	// maxShiftedShare is the share of the scored customers that may lie
	// beyond shiftSD on one feature before featureShift warns.
	maxShiftedShare = 0.10
	// shiftNamed is how many shifted features the warning names.
	shiftNamed = 3
)

// featureShift warns when the scored customers lie outside the range the
// network was trained on: when, for some feature, more than maxShiftedShare
// of them are more than shiftSD training standard deviations from the
// training mean. A ReLU network extrapolates linearly and arbitrarily
// there: scoring a one-cohort log such as CDNOW at its end, 39 weeks after
// the calibration end the model was trained at, puts every customer's age
// 13 standard deviations out, and three seeds' totals ranged 0.29-3.5
// million against the baseline's 0.57 million. BG/NBD and Gamma-Gamma
// take any age, so the warning points to the baseline's columns. X holds
// rows of raw features in the pipeline's order.
func featureShift(p model.Pipeline, X []float32, rows int) string {
	cols := len(p.Mean)
	if rows == 0 || cols == 0 || len(X) != rows*cols {
		return ""
	}
	z := make([]float32, len(X))
	p.Apply(z, X, rows)
	type shifted struct {
		name     string
		share    float64
		medianSD float64
	}
	var found []shifted
	beyond := make([]float64, 0, rows)
	for j := range cols {
		beyond = beyond[:0]
		for i := range rows {
			if v := math.Abs(float64(z[i*cols+j])); v > shiftSD {
				beyond = append(beyond, v)
			}
		}
		share := float64(len(beyond)) / float64(rows)
		if share <= maxShiftedShare {
			continue
		}
		sort.Float64s(beyond)
		found = append(found, shifted{p.FeatureNames[j], share, beyond[len(beyond)/2]})
	}
	if len(found) == 0 {
		return ""
	}
	slices.SortStableFunc(found, func(a, b shifted) int {
		return cmp.Or(cmp.Compare(b.share, a.share), cmp.Compare(b.medianSD, a.medianSD))
	})
	parts := make([]string, 0, shiftNamed+1)
	for i, f := range found[:min(len(found), shiftNamed)] {
		of := ""
		if i == 0 {
			of = " of them"
		}
		parts = append(parts, fmt.Sprintf("on %s %s%s (typically %.1f SD out)", f.name, percent(f.share), of, f.medianSD))
	}
	if n := len(found) - shiftNamed; n > 0 {
		parts = append(parts, fmt.Sprintf("on %d more features", n))
	}
	return fmt.Sprintf("the scored customers lie outside the range the deep model was trained on: %s, lie more than %d training "+
		"standard deviations from the training customers' mean; the network extrapolates there (different seeds can disagree "+
		"several-fold), so prefer the baseline's columns for these customers, or train the model at a calibration end whose "+
		"customers look like them (a log of one cohort ages all its customers together)",
		strings.Join(parts, ", "), shiftSD)
}

// percent formats a share for a warning, never as 100% or 0% unless it is.
func percent(s float64) string {
	switch {
	case s >= 1:
		return "100%"
	case s > 0.995:
		return ">99%"
	}
	return fmt.Sprintf("%.0f%%", 100*s)
}
