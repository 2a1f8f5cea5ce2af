package clv

import (
	"math"
	"strconv"
)

// featureSpec fixes the feature layout of one Load: the names, their log1p
// flags, and what compute needs to fill them in that order.
type featureSpec struct {
	periods, periodDays int
	hasQty              bool
	nExtra              int
	countOnly           bool // every purchase day is worth 1 (Options.CountOnly)
	names               []string
	log1p               []bool
}

// Base features, in order. Log1p marks the heavy-tailed ones (money,
// counts, gap lengths); recency and age are bounded by the calibration
// window and stay linear.
var baseFeatures = []struct {
	name  string
	log1p bool
}{
	{"frequency", true},           // x: repeat purchase days
	{"recency_weeks", false},      // t_x: first to last purchase day
	{"age_weeks", false},          // T: first purchase day to calibration end
	{"weeks_since_last", false},   // T - t_x
	{"purchase_days", true},       // x + 1
	{"spend_total", true},         // over all calibration purchase days
	{"spend_mean", true},          // per purchase day
	{"spend_repeat_mean", true},   // per repeat purchase day (Gamma-Gamma's zbar); 0 when x = 0
	{"spend_max", true},           // largest day
	{"spend_first", true},         // first day
	{"spend_last", true},          // last day
	{"gap_mean_weeks", true},      // between consecutive purchase days; 0 when x = 0
	{"gap_std_weeks", true},       // population standard deviation; 0 when x < 2
	{"gap_min_weeks", true},       //
	{"gap_max_weeks", true},       //
	{"since_last_over_gap", true}, // weeks_since_last / (gap_mean_weeks + 1): overdue-ness, finite for one-time buyers
}

func newFeatureSpec(o *Options, cols *colMap) featureSpec {
	fs := featureSpec{hasQty: cols.hasQuantity(), nExtra: cols.extras(), countOnly: o.CountOnly()}
	fs.periods, fs.periodDays = o.EffectivePeriods()
	add := func(name string, log1p bool) {
		fs.names = append(fs.names, name)
		fs.log1p = append(fs.log1p, log1p)
	}
	for _, f := range baseFeatures {
		add(f.name, f.log1p)
	}
	// Oldest period first, so the block reads as a time series (the input of
	// an optional 1-D convolution); lag1 ends on the calibration end.
	for k := fs.periods; k >= 1; k-- {
		add("spend_lag"+strconv.Itoa(k), true)
	}
	for k := fs.periods; k >= 1; k-- {
		add("days_lag"+strconv.Itoa(k), true)
	}
	if fs.hasQty {
		add("quantity_total", true)
		add("quantity_mean", true)
	}
	for k := range fs.nExtra {
		add(cols.extraFeatureName(k), false)
	}
	return fs
}

// compute fills c and its features (out, len(fs.names)) from a customer's
// merged days, sorted by day, and their extras ex; sums is scratch of
// nExtra values. It reports false when the customer made no purchase on or
// before calEnd, and so is left out.
func (fs *featureSpec) compute(recs []dayRec, ex, sums []float64, calEnd, holdEnd int32, c *Customer, out []float32) bool {
	var (
		first, last    int32
		n              int // calibration purchase days
		total, maxS    float64
		firstS, lastS  float64
		gapSum, gapSq  float64
		gapMin, gapMax float64
		qty            float64
	)
	per := out[len(baseFeatures) : len(baseFeatures)+2*fs.periods]
	clear(per)
	clear(sums)
	c.HoldoutSpend, c.HoldoutPurchases = 0, 0
	for _, r := range recs {
		if !r.buy {
			continue // a day of returns only is not a purchase day
		}
		spend := max(r.spend, 0) // net spend, floored: returns beyond the day's purchases do not count
		if fs.countOnly {
			spend = 1 // a purchase day, however many rows (line items) it merged
		}
		if r.day > calEnd {
			if r.day <= holdEnd {
				c.HoldoutSpend += spend
				c.HoldoutPurchases++
			}
			continue
		}
		if n == 0 {
			first, firstS = r.day, spend
		} else {
			g := float64(r.day-last) / 7
			gapSum += g
			gapSq += g * g
			if n == 1 {
				gapMin, gapMax = g, g
			}
			gapMin, gapMax = min(gapMin, g), max(gapMax, g)
		}
		n++
		last, lastS = r.day, spend
		total += spend
		maxS = max(maxS, spend)
		qty += r.qty
		if k := int(calEnd-r.day) / fs.periodDays; k < fs.periods {
			per[fs.periods-1-k] += float32(spend)
			per[2*fs.periods-1-k]++
		}
		for j := range sums {
			sums[j] += ex[r.extra+j]
		}
	}
	if n == 0 {
		return false
	}
	x := float64(n - 1)
	tx := float64(last-first) / 7
	age := float64(calEnd-first) / 7
	var repeatMean, gapMean, gapStd float64
	if n > 1 {
		repeatMean = (total - firstS) / x
		gapMean = gapSum / x
		gapStd = math.Sqrt(max(gapSq/x-gapMean*gapMean, 0))
	}
	c.X, c.Tx, c.T, c.RepeatMeanSpend = x, tx, age, repeatMean
	base := [...]float64{
		x, tx, age, age - tx, float64(n),
		total, total / float64(n), repeatMean, maxS, firstS, lastS,
		gapMean, gapStd, gapMin, gapMax, (age - tx) / (gapMean + 1),
	}
	for i, v := range base {
		out[i] = float32(v)
	}
	if fs.hasQty {
		q := out[len(baseFeatures)+2*fs.periods:]
		q[0], q[1] = float32(qty), float32(qty/float64(n))
	}
	for j, v := range sums {
		out[len(out)-fs.nExtra+j] = float32(v)
	}
	return true
}
