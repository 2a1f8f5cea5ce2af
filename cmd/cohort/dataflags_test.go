package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/clv"
)

// TestDataFlagsReadOptions ensures --decimal reaches clv.Options, and that
// a bad decimal separator, a date format that is not a Go layout and a
// date outside clv's years are refused before the log is read, naming the
// flag.
func TestDataFlagsReadOptions(t *testing.T) {
	tests := []struct {
		args    []string
		decimal string
		wantErr string
	}{
		{nil, ".", ""},
		{[]string{"--decimal", ","}, ",", ""},
		{[]string{"--decimal", ";"}, "", `--decimal ";": want "." (1234.50, the default) or "," (1234,50)`},
		{[]string{"--date-format", "02.01.2006"}, ".", ""},
		{[]string{"--date-format", "dd/mm/yyyy"}, "",
			`--date-format "dd/mm/yyyy" is not a Go time layout: write the date 2006-01-02 (January 2, 2006) the way the file writes its dates, here 02/01/2006`},
		{[]string{"--calibration-end", "1899-12-31"}, "", "--calibration-end 1899-12-31: outside the supported years 1900-2200"},
		{[]string{"--data-end", "9999-12-31"}, "", "--data-end 9999-12-31: outside the supported years 1900-2200"},
	}
	for _, tt := range tests {
		fs := pflag.NewFlagSet("features", pflag.ContinueOnError)
		var d dataFlags
		d.bind(fs, forFeatures)
		if err := fs.Parse(append([]string{"--data", "log.csv"}, tt.args...)); err != nil {
			t.Fatal(err)
		}
		o, err := d.options(fs)
		switch {
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("%v: error %v\nwant %s", tt.args, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case err == nil && o.Decimal != tt.decimal:
			t.Errorf("%v: decimal %q, want %q", tt.args, o.Decimal, tt.decimal)
		}
	}
}

// TestDataFlagsOverlayModel ensures predict and eval read with the model's
// decimal separator unless --decimal says otherwise, and that only eval
// marks the horizon as fixed, so clv does not suggest a shorter one.
func TestDataFlagsOverlayModel(t *testing.T) {
	base := clv.Options{Decimal: ",", Horizon: clv.Horizon{Days: 273}}
	for _, tt := range []struct {
		use     dataUse
		args    []string
		decimal string
		fixed   bool
	}{
		{forPredict, nil, ",", false},
		{forPredict, []string{"--decimal", "."}, ".", false},
		{forEval, nil, ",", true},
		{forEval, []string{"--horizon", "39w"}, ",", true},
	} {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		var d dataFlags
		d.bind(fs, tt.use)
		if err := fs.Parse(append([]string{"--data", "log.csv"}, tt.args...)); err != nil {
			t.Fatal(err)
		}
		o, err := d.overlay(fs, base)
		if err != nil {
			t.Fatalf("%v %v: %v", tt.use, tt.args, err)
		}
		if o.Decimal != tt.decimal || o.FixedHorizon != tt.fixed {
			t.Errorf("%v %v: decimal %q fixed horizon %v, want %q %v", tt.use, tt.args, o.Decimal, o.FixedHorizon, tt.decimal, tt.fixed)
		}
	}
	if u := newFeaturesCmd().Flags().Lookup("decimal"); u == nil || !strings.Contains(u.Usage, `"," for European files`) {
		t.Errorf("features has no --decimal flag with its usage: %v", u)
	}
}
