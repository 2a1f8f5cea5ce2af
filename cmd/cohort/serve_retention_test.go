package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/coordinator"
)

// TestServerFlagsRetention checks that --job-retention and
// --max-finished-jobs reach the coordinator as the library reads them: 0
// turns a bound off (the library's own 0 would mean its default), the
// flags' defaults are the library's, and a negative value is refused.
func TestServerFlagsRetention(t *testing.T) {
	for _, tc := range []struct {
		age     time.Duration
		max     int
		want    coordinator.Retention
		wantErr string
	}{
		{coordinator.DefaultJobRetention, coordinator.DefaultMaxFinishedJobs,
			coordinator.Retention{MaxAge: coordinator.DefaultJobRetention, MaxFinished: coordinator.DefaultMaxFinishedJobs}, ""},
		{0, 10, coordinator.Retention{MaxAge: -1, MaxFinished: 10}, ""},
		{time.Hour, 0, coordinator.Retention{MaxAge: time.Hour, MaxFinished: -1}, ""},
		{0, 0, coordinator.Retention{MaxAge: -1, MaxFinished: -1}, ""},
		{-time.Hour, 10, coordinator.Retention{}, "--job-retention -1h0m0s, --max-finished-jobs 10: want >= 0"},
		{time.Hour, -1, coordinator.Retention{}, "want >= 0"},
	} {
		f := serverFlags{jobRetention: tc.age, maxFinishedJobs: tc.max}
		got, err := f.retention()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v, %d: err %v, want %q", tc.age, tc.max, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v, %d: %+v, %v; want %+v", tc.age, tc.max, got, err, tc.want)
		}
	}
	var f serverFlags
	fs := pflag.NewFlagSet("coordinator", pflag.ContinueOnError)
	f.bind(fs, "")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.jobRetention != coordinator.DefaultJobRetention || f.maxFinishedJobs != coordinator.DefaultMaxFinishedJobs {
		t.Errorf("flag defaults %v, %d; want the library's", f.jobRetention, f.maxFinishedJobs)
	}
}
