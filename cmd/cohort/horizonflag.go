package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/clv"
)

// refuseZeroHorizon refuses a --horizon that was given but is zero ("0w",
// "0d"): clv reads a zero horizon as none, so it would silently mean no
// holdout (features), "required" although given (train) or the model's
// horizon (eval). advice says what to do instead.
func refuseZeroHorizon(fs *pflag.FlagSet, o clv.Options, advice string) error {
	if !fs.Changed("horizon") || !o.Horizon.IsZero() {
		return nil
	}
	return fmt.Errorf("--horizon %q: a zero horizon is not allowed; %s", fs.Lookup("horizon").Value.String(), advice)
}
