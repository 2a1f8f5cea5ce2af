package sweeprun_test

import (
	"fmt"

	"github.com/cohort-clv/cohort/sweeprun"
)

// A sweep spec names the data, the search space over model hyperparameters,
// the sampler, the budget and the early-stopping rule; each trial's model
// configuration is the base model with the trial's parameters applied.
func ExampleParseSpec() {
	spec, err := sweeprun.ParseSpec([]byte(`
data: CDNOW_master.txt
calibration_end: "1997-09-30"
horizon: 39w
model: {max_epochs: 27}
space:
  parameters:
    - {name: hidden, type: categorical, values: ["64", "128,64"]}
    - {name: lr, type: float, min: 0.0001, max: 0.01, log: true}
sampler: {algorithm: tpe}
trials: 32
parallel: 4
early_stopping: {rule: asha, asha: {eta: 3}}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	js, err := spec.JobSpec(map[string]any{"hidden": "128,64", "lr": 0.003}, "runs/trial")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Sampler.Algorithm, spec.Trials, spec.Parallel, spec.EarlyStopping.Rule)
	fmt.Println(js.Model.Hidden, js.Model.LR, js.Model.MaxEpochs, js.Read.Horizon)
	// Output:
	// tpe 32 4 asha
	// [128 64] 0.003 27 39w
}
