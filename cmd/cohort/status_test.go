package main

import (
	"testing"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestReadSummary ensures cohort status shows every read option a job's spec
// set, and only those.
func TestReadSummary(t *testing.T) {
	tests := []struct {
		name string
		r    *cohortv1.ReadOptions
		want string
	}{
		{"defaults", &cohortv1.ReadOptions{}, "calibration end default, horizon -"},
		{"window", &cohortv1.ReadOptions{CalibrationEnd: "1997-09-30", Horizon: "39w"},
			"calibration end 1997-09-30, horizon 39w"},
		{"european export", &cohortv1.ReadOptions{Horizon: "26w", Delimiter: ";", Decimal: ",", DateFormat: "02.01.2006"},
			`calibration end default, horizon 26w, delimiter ";", date format "02.01.2006", decimal ","`},
		{"count-only, skipping", &cohortv1.ReadOptions{Horizon: "52w", Amount: "none", SkipBadRows: true, DataEnd: "2007-12-31"},
			`calibration end default, horizon 52w, data end "2007-12-31", amount "none", skip bad rows`},
		{"columns and periods", &cohortv1.ReadOptions{Horizon: "39w", Customer: "2", Extra: []string{"visits", "coupons"}, Periods: 4, PeriodDays: 7},
			`calibration end default, horizon 39w, customer "2", extra "visits,coupons", periods 4, period days 7`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readSummary(tt.r); got != tt.want {
				t.Errorf("readSummary:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
