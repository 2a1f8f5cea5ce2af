package clv

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// maxHoldoutShortfall is how many days a holdout may run past the last
// transaction, at most; holdoutSlack also caps it at a tenth of the
// horizon. The last transaction only bounds the end of the log from below:
// in a quiet stretch nobody buys on the last days the log covers (small
// synthetic shops often end a few days early), and CDNOW, whose 39-week
// holdout from 1997-09-30 ends on its last date, should not fail for a
// calibration end a day later. A week is far below what a wrong calibration
// end or horizon does (months), when the labels count the spend of a
// fraction of the horizon the model claims to predict.
const maxHoldoutShortfall = 7

// holdoutSlack is the shortfall, in days, allowed for a holdout of
// horizonDays: a tenth of it, so short horizons get little, at most
// maxHoldoutShortfall.
func holdoutSlack(horizonDays int32) int32 {
	return min(maxHoldoutShortfall, horizonDays/10)
}

// checkHoldout refuses a holdout that the data does not cover: its labels
// would count the spend of part of the horizon only, while a model trained
// or evaluated on them is said to predict all of it. calEnd, holdEnd (the
// holdout's last day, inclusive) and the report's dates are known after
// the read. A log with rows after the holdout end covers it whatever its
// last accepted date, and Options.DataEnd, when later than lastDay, stands
// for it; without a calibration end the holdout is the last horizon of the
// data by construction.
func checkHoldout(o *Options, calEnd, holdEnd, firstDay, lastDay int32, rowsAfter int64) error {
	if o.Horizon.IsZero() || o.CalibrationEnd.IsZero() || rowsAfter > 0 {
		return nil
	}
	horizon := holdEnd - calEnd
	if !o.DataEnd.IsZero() {
		if end := dayOf(o.DataEnd); end > lastDay {
			lastDay = end
		}
	}
	short := holdEnd - lastDay
	if lastDay > calEnd && short <= holdoutSlack(horizon) {
		return nil
	}
	date := func(d int32) string { return dayTime(d).Format(time.DateOnly) }
	// A fixed horizon (a model's, in evaluation) leaves the calibration end
	// and the data as the only things to change.
	var advice string
	switch latest := latestCalibrationEnd(o.Horizon, lastDay); {
	case latest >= firstDay && o.FixedHorizon:
		advice = fmt.Sprintf("choose a calibration end on or before %s: the %s horizon is the model's", date(latest), o.Horizon)
	case latest >= firstDay:
		advice = fmt.Sprintf("choose a calibration end on or before %s or a shorter --horizon", date(latest))
	case o.FixedHorizon:
		advice = fmt.Sprintf("the data (%s to %s) is too short for the model's %s holdout after any calibration window: evaluate on a longer log",
			date(firstDay), date(lastDay), o.Horizon)
	default:
		advice = fmt.Sprintf("the data (%s to %s) is too short for a %s holdout after any calibration window: choose a shorter --horizon",
			date(firstDay), date(lastDay), o.Horizon)
	}
	if lastDay <= calEnd {
		return fmt.Errorf("no transactions after the calibration end %s: the last is %s, so the %s holdout (%s to %s) would have no labels; %s",
			date(calEnd), date(lastDay), o.Horizon, date(calEnd+1), date(holdEnd), advice)
	}
	last := "the last transaction in the file"
	if !o.DataEnd.IsZero() {
		last = "the end of the data"
	} else {
		advice += " (or, if the log runs later than its last sale, say until when with --data-end)"
	}
	return fmt.Errorf("holdout %s to %s (%s) ends after %s (%s): labels would cover %s of %s weeks; %s",
		date(calEnd+1), date(holdEnd), o.Horizon, last, date(lastDay), weeks(lastDay-calEnd), weeks(horizon), advice)
}

// latestCalibrationEnd is the last calibration end whose holdout of h ends
// on or before lastDay. Months are added by calendar, and AddDate
// normalises a day past a month's end into the next month (2020-01-31
// plus 1m is 2020-03-02), so lastDay minus h is only a guess: the search
// starts a few days after it and walks back to the first day that fits.
func latestCalibrationEnd(h Horizon, lastDay int32) int32 {
	d := dayOf(dayTime(lastDay).AddDate(0, -h.Months, -h.Days)) + 3
	for dayOf(h.End(dayTime(d))) > lastDay {
		d--
	}
	return d
}

// weeks formats days as weeks with at most one decimal: "39", "4.1".
func weeks(days int32) string {
	return strconv.FormatFloat(math.Round(float64(days)/7*10)/10, 'f', -1, 64)
}
