package job

import (
	"errors"
	"fmt"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/model"
)

// Spec is everything a training job needs. Fill it with DefaultSpec and
// override fields; Validate reports contradictions before any work starts.
type Spec struct {
	// Data is the transaction log (CSV, gzip CSV or Parquet).
	Data string `json:"data"`
	// Read says how to read Data and where calibration ends.
	Read clv.Options `json:"read"`
	// Model is the network and optimizer configuration.
	Model model.Config `json:"model"`
	// Out is the run directory: Out/model, Out/metrics.json, Out/report.html.
	Out string `json:"out"`
	// Threads bounds the CPU backend's threads; 0 uses every core.
	Threads int `json:"threads"`
	// ImportanceRepeats is how many shuffles per feature the permutation
	// importance of the report averages; 0 turns it off.
	ImportanceRepeats int `json:"importance_repeats"`
	// CheckpointEvery is how many optimizer steps lie between the
	// checkpoints training writes into Out/checkpoints (0: none).
	CheckpointEvery int `json:"checkpoint_every,omitempty"`
	// Resume is a checkpoint file to continue training from (see
	// LatestCheckpoint); the spec must be the one that wrote it.
	Resume string `json:"resume,omitempty"`
	// Calibration is how expected spend is calibrated after training:
	// "factor" (or ""): one factor over the training and validation
	// customers; "isotonic": a monotone map fitted on the validation
	// customers (see Calibration), which keeps the ranking.
	Calibration string `json:"calibration,omitempty"`
}

// DefaultSpec returns a Spec with the model's defaults and a report with
// permutation importance.
func DefaultSpec() Spec {
	return Spec{Model: model.DefaultConfig(), ImportanceRepeats: 3}
}

// Validate checks the fields a user sets, naming the flag-level field.
func (s Spec) Validate() error {
	var errs []error
	if s.Data == "" {
		errs = append(errs, errors.New("data: a transaction log is required"))
	}
	if s.Out == "" {
		errs = append(errs, errors.New("out: an output directory is required"))
	}
	if s.Read.Horizon.IsZero() {
		errs = append(errs, errors.New("horizon: training needs a holdout horizon such as 39w, 26w or 180d"))
	}
	// Contradictions within the read options (a count-only read with a
	// negative policy, say) are refused here too, so that a submitted job
	// fails at once rather than when its data is read.
	if err := s.Read.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("read: %w", err))
	}
	if s.Threads < 0 {
		errs = append(errs, fmt.Errorf("threads: %d, want >= 0", s.Threads))
	}
	if s.Calibration != "" && s.Calibration != "factor" && s.Calibration != "isotonic" {
		errs = append(errs, fmt.Errorf("calibration: %q, want factor or isotonic", s.Calibration))
	}
	if s.CheckpointEvery < 0 {
		errs = append(errs, fmt.Errorf("checkpoint every: %d, want >= 0", s.CheckpointEvery))
	}
	if s.ImportanceRepeats < 0 {
		errs = append(errs, fmt.Errorf("importance repeats: %d, want >= 0", s.ImportanceRepeats))
	}
	if err := s.Model.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("job: invalid spec: %w", err)
	}
	return nil
}

// Events receives progress from a running job. Any field may be nil.
type Events struct {
	// Stage is called when a stage starts ("read", "baseline", "train",
	// "evaluate", "write").
	Stage func(name string)
	// Epoch is called after every training epoch.
	Epoch func(model.EpochStats)
	// Read is told how far reading the log got: bytes of total (0:
	// unknown), a few times a second, from another goroutine.
	Read func(read, total int64)
	// Step is told the evaluation's sub-steps as they start, and how far
	// the permutation importance got, on the job's goroutine: after
	// Stage("evaluate") in a training job, and in Trained.EvaluateWith.
	Step func(EvalStep)
}

func (e Events) stage(name string) {
	if e.Stage != nil {
		e.Stage(name)
	}
}

func (e Events) step(s EvalStep) {
	if e.Step != nil {
		e.Step(s)
	}
}

// EvalStep is one sub-step of the evaluation, or progress within one.
type EvalStep struct {
	// Name is "predict", "importance", "noise", "bootstrap", "report" or
	// "write".
	Name string
	// Done of Total units (features, resamples, simulated holdouts, or
	// customers for "predict"); Done is 0 when the step starts. Total is 0
	// for a step without units.
	Done, Total int
	// Customers is how many customers the step scores; for "importance"
	// Of is how many it sampled them from (0: all of them).
	Customers, Of int
	// Repeats is the shuffles per feature of "importance".
	Repeats int
}

// String is the step as a progress line, such as "permutation importance:
// 7/32 features (3 shuffles each on 50000 of 150000 customers)".
func (s EvalStep) String() string {
	switch s.Name {
	case "predict":
		return fmt.Sprintf("scoring %d customers with the deep model and the baseline", s.Customers)
	case "importance":
		on := fmt.Sprintf("%d customers", s.Customers)
		if s.Of > 0 {
			on = fmt.Sprintf("a stable sample of %d of the %d customers", s.Customers, s.Of)
		}
		shuffles := "shuffles"
		if s.Repeats == 1 {
			shuffles = "shuffle"
		}
		return fmt.Sprintf("permutation importance: %d/%d features (%d %s each, on %s)", s.Done, s.Total, s.Repeats, shuffles, on)
	case "noise":
		return fmt.Sprintf("sampling-noise band: %d simulated holdouts", s.Total)
	case "bootstrap":
		return fmt.Sprintf("bootstrap: %d resamples of %d customers", s.Total, s.Customers)
	case "report":
		return "building the report: metrics, gain curves, deciles and plots"
	case "write":
		return "writing report"
	}
	return s.Name
}
