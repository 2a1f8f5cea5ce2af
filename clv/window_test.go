package clv

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestHoldoutPastTheData ensures a holdout that runs past the last
// transaction is refused at read time with the dates, how much of the
// horizon the labels would cover and the latest calibration end that fits,
// while one that ends on the last date, or up to a week (a tenth of the
// horizon for short ones) after it, loads.
func TestHoldoutPastTheData(t *testing.T) {
	// A CDNOW-like log: 1997-01-01 to 1998-06-30.
	const log = "customer_id,date,amount\n" +
		"A,1997-01-01,10\nA,1997-06-01,20\n" +
		"B,1997-03-01,5\nB,1998-06-30,7\n" +
		"C,1997-09-01,3\nC,1998-01-15,4\n"
	const prefix = "clv: read transactions: log.csv: "
	// The hint every "ends after the last transaction" message ends with.
	const hint = " (or, if the log runs later than its last sale, say until when with --data-end)"
	tests := []struct {
		name    string
		calEnd  string // empty: none (the holdout is the data's last horizon)
		horizon Horizon
		want    string // error after prefix (and hint); empty: loads
	}{
		{"holdout ends on the last date", "1997-09-30", Horizon{Days: 273}, ""},
		{"one day past", "1997-10-01", Horizon{Days: 273}, ""},
		{"a week past", "1997-10-07", Horizon{Days: 273}, ""},
		{"eight days past", "1997-10-08", Horizon{Days: 273},
			"holdout 1997-10-09 to 1998-07-08 (39w) ends after the last transaction in the file (1998-06-30): labels would cover 37.9 of 39 weeks; choose a calibration end on or before 1997-09-30 or a shorter --horizon"},
		{"audit: a month before the end", "1998-06-01", Horizon{Days: 273},
			"holdout 1998-06-02 to 1999-03-01 (39w) ends after the last transaction in the file (1998-06-30): labels would cover 4.1 of 39 weeks; choose a calibration end on or before 1997-09-30 or a shorter --horizon"},
		{"longer than the data", "1998-06-01", Horizon{Months: 24},
			"holdout 1998-06-02 to 2000-06-01 (2y) ends after the last transaction in the file (1998-06-30): labels would cover 4.1 of 104.4 weeks; the data (1997-01-01 to 1998-06-30) is too short for a 2y holdout after any calibration window: choose a shorter --horizon"},
		{"calibration end after the data", "1999-01-01", Horizon{Days: 273},
			"no transactions after the calibration end 1999-01-01: the last is 1998-06-30, so the 39w holdout (1999-01-02 to 1999-10-01) would have no labels; choose a calibration end on or before 1997-09-30 or a shorter --horizon"},
		{"calibration end on the last date", "1998-06-30", Horizon{Days: 182},
			"no transactions after the calibration end 1998-06-30: the last is 1998-06-30, so the 26w holdout (1998-07-01 to 1998-12-29) would have no labels; choose a calibration end on or before 1997-12-30 or a shorter --horizon"},
		// Short horizons get a tenth of their length: none for a week.
		{"1w on the last date", "1998-06-23", Horizon{Days: 7}, ""},
		{"1w one day past", "1998-06-24", Horizon{Days: 7},
			"holdout 1998-06-25 to 1998-07-01 (1w) ends after the last transaction in the file (1998-06-30): labels would cover 0.9 of 1 weeks; choose a calibration end on or before 1998-06-23 or a shorter --horizon"},
		{"4w two days past", "1998-06-04", Horizon{Days: 28}, ""},
		{"4w three days past", "1998-06-05", Horizon{Days: 28},
			"holdout 1998-06-06 to 1998-07-03 (4w) ends after the last transaction in the file (1998-06-30): labels would cover 3.6 of 4 weeks; choose a calibration end on or before 1998-06-02 or a shorter --horizon"},
		// Calendar months: 1997-12-31 plus 6m is 1998-06-31, i.e. 07-01.
		{"6m one day past", "1997-12-31", Horizon{Months: 6}, ""},
		{"6m two weeks past", "1998-01-15", Horizon{Months: 6},
			"holdout 1998-01-16 to 1998-07-15 (6m) ends after the last transaction in the file (1998-06-30): labels would cover 23.7 of 25.9 weeks; choose a calibration end on or before 1997-12-30 or a shorter --horizon"},
		// Rows after the holdout end show the data covers it.
		{"rows after the holdout", "1997-12-31", Horizon{Days: 28}, ""},
		// Without a calibration end the holdout is the last horizon.
		{"no calibration end", "", Horizon{Days: 273}, ""},
		{"no calibration end, months", "", Horizon{Months: 1}, ""},
		// No holdout: nothing to cover.
		{"prediction after the data", "1999-01-01", Horizon{}, ""},
		// A calibration end before the data is the plainer mistake (the rows
		// after its holdout are not read, so the data "runs" to 1997-09-01).
		{"calibration end before the data", "1996-12-31", Horizon{Days: 273},
			"no customer bought on or before the calibration end 1996-12-31 (the data runs 1997-01-01 to 1997-09-01)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Horizon: tc.horizon}
			if tc.calEnd != "" {
				o.CalibrationEnd = mustDate(tc.calEnd)
			}
			want := tc.want
			if strings.Contains(want, "after the last transaction in the file") {
				want += hint
			}
			ds, err := loadString(log, o)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.want == "":
				if len(ds.Customers) == 0 {
					t.Errorf("no customers")
				}
			case err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case err.Error() != prefix+want:
				t.Errorf("error\n got %q\nwant %q", err, prefix+want)
			}
		})
	}
}

// TestHoldoutDataEnd ensures a stated end of the data (Options.DataEnd)
// stands for the last transaction where it is later, so a shop that was
// quiet on its last days can still be held to a holdout that ends then.
func TestHoldoutDataEnd(t *testing.T) {
	const log = "customer_id,date,amount\n" +
		"A,1997-01-01,10\nA,1997-06-01,20\n" +
		"B,1997-03-01,5\nB,1998-06-30,7\n"
	tests := []struct {
		name, calEnd, dataEnd string
		want                  string // error suffix; empty: loads
	}{
		{"covers a holdout past the last sale", "1997-10-08", "1998-07-08", ""},
		{"earlier than the last sale changes nothing", "1997-09-30", "1998-01-01", ""},
		{"short of the holdout", "1998-01-15", "1998-07-31",
			"holdout 1998-01-16 to 1998-10-15 (39w) ends after the end of the data (1998-07-31): labels would cover 28.1 of 39 weeks; choose a calibration end on or before 1997-10-31 or a shorter --horizon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Horizon: Horizon{Days: 273}, CalibrationEnd: mustDate(tc.calEnd), DataEnd: mustDate(tc.dataEnd)}
			_, err := loadString(log, o)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.want)):
				t.Fatalf("error %v, want one ending %q", err, tc.want)
			}
		})
	}
}

// TestLatestCalibrationEnd ensures the suggested calibration end is the
// last day whose holdout ends on or before the last date, also where
// calendar months normalise past a month's end.
func TestLatestCalibrationEnd(t *testing.T) {
	tests := []struct {
		h          Horizon
		last, want string
	}{
		{Horizon{Days: 273}, "1998-06-30", "1997-09-30"},
		{Horizon{Days: 1}, "1998-06-30", "1998-06-29"},
		{Horizon{Months: 6}, "1998-06-30", "1997-12-30"},
		{Horizon{Months: 1}, "2020-03-02", "2020-02-02"},  // 01-31 + 1m is 03-02 too, but earlier
		{Horizon{Months: 1}, "2020-02-29", "2020-01-29"},  // 01-30 + 1m is 03-01
		{Horizon{Months: 1}, "2021-03-01", "2021-02-01"},  // 01-29..31 + 1m spill into March
		{Horizon{Months: 12}, "2021-02-28", "2020-02-28"}, // 02-29 + 1y is 2021-03-01
		{Horizon{Months: 1, Days: 3}, "2020-03-31", "2020-02-28"},
	}
	for _, tc := range tests {
		got := dayTime(latestCalibrationEnd(tc.h, dayOf(mustDate(tc.last)))).Format(time.DateOnly)
		if got != tc.want {
			t.Errorf("%s before %s: latest calibration end %s, want %s", tc.h, tc.last, got, tc.want)
		}
		if end := tc.h.End(mustDate(got)); end.After(mustDate(tc.last)) {
			t.Errorf("%s after %s ends %s, past %s", tc.h, got, end.Format(time.DateOnly), tc.last)
		}
	}
}

// TestHoldoutFixedHorizon ensures that when the horizon is not the
// caller's to choose (evaluating a model, Options.FixedHorizon), a holdout
// past the data is refused with advice about the calibration end or the
// data only, never "a shorter --horizon" (audit5 item 10).
func TestHoldoutFixedHorizon(t *testing.T) {
	const log = "customer_id,date,amount\n" +
		"A,1997-01-01,10\nA,1997-06-01,20\n" +
		"B,1997-03-01,5\nB,1998-06-30,7\n"
	const prefix = "clv: read transactions: log.csv: "
	tests := []struct {
		name    string
		calEnd  string
		horizon Horizon
		want    string
	}{
		{"past the data", "1998-01-01", Horizon{Days: 273},
			"holdout 1998-01-02 to 1998-10-01 (39w) ends after the last transaction in the file (1998-06-30): labels would cover 25.7 of 39 weeks; choose a calibration end on or before 1997-09-30: the 39w horizon is the model's (or, if the log runs later than its last sale, say until when with --data-end)"},
		{"after the data", "1999-01-01", Horizon{Days: 273},
			"no transactions after the calibration end 1999-01-01: the last is 1998-06-30, so the 39w holdout (1999-01-02 to 1999-10-01) would have no labels; choose a calibration end on or before 1997-09-30: the 39w horizon is the model's"},
		{"data too short", "1998-01-01", Horizon{Months: 24},
			"holdout 1998-01-02 to 2000-01-01 (2y) ends after the last transaction in the file (1998-06-30): labels would cover 25.7 of 104.3 weeks; the data (1997-01-01 to 1998-06-30) is too short for the model's 2y holdout after any calibration window: evaluate on a longer log (or, if the log runs later than its last sale, say until when with --data-end)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(log, Options{CalibrationEnd: mustDate(tc.calEnd), Horizon: tc.horizon, FixedHorizon: true})
			if err == nil || err.Error() != prefix+tc.want {
				t.Errorf("error\n got %v\nwant %s", err, prefix+tc.want)
			}
		})
	}
}

// TestExtremeDates ensures the dates at the ends of the supported years,
// with any calibration end, horizon and recent periods, load with finite
// features or fail with an error, and never index out of range: a 1900 row
// with a 2024 calibration end spans 124 years of periods and gaps.
func TestExtremeDates(t *testing.T) {
	const log = "customer_id,date,amount\n" +
		"A,1900-01-01,10\nA,2024-01-15,20\nA,2024-06-01,5\n" +
		"B,2200-12-31,7\nB,1900-01-01,1\n" +
		"C,2024-03-01,3\nC,2024-09-30,4\n"
	for _, calEnd := range []string{"", "1900-01-01", "2024-06-30", "2200-12-31"} {
		for _, h := range []Horizon{{}, {Days: 273}, {Months: 1200}} {
			for _, p := range [][2]int{{0, 0}, {520, 1}, {1, 1 << 30}, {-1, 0}} {
				o := Options{Horizon: h, Periods: p[0], PeriodDays: p[1], DataEnd: mustDate("2200-12-31")}
				if calEnd != "" {
					o.CalibrationEnd = mustDate(calEnd)
				}
				ds, err := loadString(log, o)
				if err != nil {
					continue // a calibration end before every customer, say
				}
				for _, c := range ds.Customers {
					for j, v := range c.Features {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Errorf("%+v: customer %s: %s = %v", o, c.ID, ds.FeatureNames[j], v)
						}
					}
				}
				if _, err := json.Marshal(ds.Report); err != nil {
					t.Errorf("%+v: report: %v", o, err)
				}
			}
		}
	}
	ds, err := loadString(log, Options{CalibrationEnd: mustDate("2024-06-30"), Periods: 520, PeriodDays: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := ds.Customers[0]
	if a.ID != "A" || a.X != 2 || a.T != float64(dayOf(mustDate("2024-06-30"))-dayOf(mustDate("1900-01-01")))/7 {
		t.Errorf("customer %s: X %v, T %v", a.ID, a.X, a.T)
	}
}

// TestDefaultCalibrationEnd ensures that without a calibration end the
// holdout is the last horizon of the data and never runs past it: the
// calibration end is the latest day whose holdout ends on or before the
// last date. For a month horizon that is not always the last date minus
// the horizon, since calendar months normalise past a month's end
// (2021-07-31 minus 3m is 05-01, whose holdout would end 08-01), and where
// no day gives a holdout that ends on the last date exactly, the holdout
// ends before it (audit8-lifecycle 7). Day and week horizons subtract.
func TestDefaultCalibrationEnd(t *testing.T) {
	tests := []struct {
		last    string
		h       Horizon
		calEnd  string
		holdEnd string
	}{
		{"2021-01-31", Horizon{Months: 1}, "2020-12-31", "2021-01-31"},
		{"2021-01-31", Horizon{Months: 3}, "2020-10-31", "2021-01-31"},
		{"2021-01-31", Horizon{Months: 12}, "2020-01-31", "2021-01-31"},
		{"2021-02-28", Horizon{Months: 1}, "2021-01-28", "2021-02-28"},
		{"2021-02-28", Horizon{Months: 3}, "2020-11-28", "2021-02-28"},
		{"2021-02-28", Horizon{Months: 12}, "2020-02-28", "2021-02-28"},
		{"2020-02-29", Horizon{Months: 1}, "2020-01-29", "2020-02-29"},
		{"2020-02-29", Horizon{Months: 3}, "2019-11-29", "2020-02-29"},
		{"2020-02-29", Horizon{Months: 12}, "2019-02-28", "2020-02-28"}, // not 2019-03-01, to 2020-03-01
		{"2021-03-31", Horizon{Months: 1}, "2021-02-28", "2021-03-28"},  // not 03-03, to 04-03: 03-01 + 1m is 04-01
		{"2020-03-31", Horizon{Months: 1}, "2020-02-29", "2020-03-29"},  // not 03-02, to 04-02
		{"2021-03-31", Horizon{Months: 3}, "2020-12-31", "2021-03-31"},
		{"2021-03-31", Horizon{Months: 12}, "2020-03-31", "2021-03-31"},
		{"2021-06-30", Horizon{Months: 1}, "2021-05-30", "2021-06-30"},
		{"2021-06-30", Horizon{Months: 3}, "2021-03-30", "2021-06-30"}, // 03-31 + 3m is 07-01
		{"2021-06-30", Horizon{Months: 12}, "2020-06-30", "2021-06-30"},
		{"2021-07-31", Horizon{Months: 1}, "2021-06-30", "2021-07-30"}, // not 07-01, to 08-01
		{"2021-07-31", Horizon{Months: 3}, "2021-04-30", "2021-07-30"}, // not 05-01, to 08-01
		{"2021-07-31", Horizon{Months: 12}, "2020-07-31", "2021-07-31"},
		{"2021-12-31", Horizon{Months: 1}, "2021-11-30", "2021-12-30"}, // not 12-01, to 2022-01-01
		{"2021-12-31", Horizon{Months: 3}, "2021-09-30", "2021-12-30"}, // not 10-01, to 2022-01-01
		{"2021-12-31", Horizon{Months: 12}, "2020-12-31", "2021-12-31"},
		// Days and weeks: the last date minus the horizon, as before.
		{"2021-07-31", Horizon{Days: 7}, "2021-07-24", "2021-07-31"},
		{"2021-07-31", Horizon{Days: 91}, "2021-05-01", "2021-07-31"},
		{"1998-06-30", Horizon{Days: 273}, "1997-09-30", "1998-06-30"},
		{"2021-03-31", Horizon{Days: 10}, "2021-03-21", "2021-03-31"},
	}
	for _, tc := range tests {
		t.Run(tc.last+" "+tc.h.String(), func(t *testing.T) {
			last := mustDate(tc.last)
			day := func(days int) string { return last.AddDate(0, 0, days).Format(time.DateOnly) }
			log := "customer_id,date,amount\n" +
				"A," + day(-800) + ",10\nA," + day(-400) + ",20\n" +
				"B," + day(-500) + ",5\nB," + day(-1) + ",7\nB," + tc.last + ",3\n"
			ds, err := loadString(log, Options{Horizon: tc.h})
			if err != nil {
				t.Fatal(err)
			}
			r := ds.Report
			got, gotEnd := r.CalibrationEnd.Format(time.DateOnly), r.HoldoutEnd.Format(time.DateOnly)
			if got != tc.calEnd || gotEnd != tc.holdEnd {
				t.Errorf("calibration end %s, holdout to %s; want %s, to %s", got, gotEnd, tc.calEnd, tc.holdEnd)
			}
			if r.HoldoutEnd.After(r.LastDate) {
				t.Errorf("holdout ends %s, after the last date %s", gotEnd, r.LastDate.Format(time.DateOnly))
			}
		})
	}
}

// TestLatestCalibrationEndIsLatest ensures, for every last day of four
// years (two Februaries of each length) and month and mixed horizons, that
// the calibration end the default takes has a holdout within the data and
// that no later day within two months has one.
func TestLatestCalibrationEndIsLatest(t *testing.T) {
	for _, h := range []Horizon{{Months: 1}, {Months: 3}, {Months: 12}, {Months: 1, Days: 3}, {Days: 28}} {
		for last := dayOf(mustDate("2019-01-01")); last <= dayOf(mustDate("2022-12-31")); last++ {
			got := latestCalibrationEnd(h, last)
			if end := dayOf(h.End(dayTime(got))); end > last {
				t.Fatalf("%s before %s: %s ends %s, past it", h, dayTime(last).Format(time.DateOnly),
					dayTime(got).Format(time.DateOnly), dayTime(end).Format(time.DateOnly))
			}
			for d := got + 1; d <= got+62; d++ {
				if dayOf(h.End(dayTime(d))) <= last {
					t.Fatalf("%s before %s: %s fits, later than %s", h, dayTime(last).Format(time.DateOnly),
						dayTime(d).Format(time.DateOnly), dayTime(got).Format(time.DateOnly))
				}
			}
		}
	}
}
