package coordinator

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// validSpecProto is the smallest spec ValidateJobSpec accepts.
func validSpecProto() *cohortv1.JobSpec {
	return &cohortv1.JobSpec{
		Source: &cohortv1.JobSpec_DataPath{DataPath: "/data/cdnow.csv"},
		OutDir: "/runs/cdnow",
		Read:   &cohortv1.ReadOptions{Horizon: "39w"},
	}
}

// TestValidateJobSpecBounds ensures every bound of job.proto's JobSpec is
// refused just past its edge with an error that wraps ErrInvalidArgument and
// names the field, and that the edge itself passes.
func TestValidateJobSpecBounds(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		change func(s *cohortv1.JobSpec)
		want   string // "" for valid
	}{
		{"minimal", func(*cohortv1.JobSpec) {}, ""},
		{"name at 128", func(s *cohortv1.JobSpec) { s.Name = long(128) }, ""},
		{"name over 128", func(s *cohortv1.JobSpec) { s.Name = long(129) }, "spec.name"},
		{"name not UTF-8", func(s *cohortv1.JobSpec) { s.Name = "\xff" }, "spec.name: not valid UTF-8"},
		{"no source", func(s *cohortv1.JobSpec) { s.Source = nil }, "data_path or dataset: required"},
		{"empty data_path", func(s *cohortv1.JobSpec) { s.Source = &cohortv1.JobSpec_DataPath{} }, "spec.data_path: required"},
		{"data_path at 4096", func(s *cohortv1.JobSpec) { s.Source = &cohortv1.JobSpec_DataPath{DataPath: long(4096)} }, ""},
		{"data_path over 4096", func(s *cohortv1.JobSpec) { s.Source = &cohortv1.JobSpec_DataPath{DataPath: long(4097)} }, "spec.data_path"},
		{"dataset", func(s *cohortv1.JobSpec) { s.Source = &cohortv1.JobSpec_Dataset{Dataset: "cdnow"} }, "spec.dataset: not supported yet; use data_path"},
		{"no out_dir", func(s *cohortv1.JobSpec) { s.OutDir = "" }, "spec.out_dir: required"},
		{"out_dir over 4096", func(s *cohortv1.JobSpec) { s.OutDir = long(4097) }, "spec.out_dir"},
		{"no read", func(s *cohortv1.JobSpec) { s.Read = nil }, "spec.read.horizon: required, e.g. 39w"},
		{"no horizon", func(s *cohortv1.JobSpec) { s.Read.Horizon = "" }, "spec.read.horizon: required, e.g. 39w"},
		{"zero horizon", func(s *cohortv1.JobSpec) { s.Read.Horizon = "0d" }, "spec.read.horizon: \"0d\": training needs a holdout"},
		{"bad horizon", func(s *cohortv1.JobSpec) { s.Read.Horizon = "39x" }, "spec.read.horizon: \"39x\": want a whole number"},
		{"horizon over 16", func(s *cohortv1.JobSpec) { s.Read.Horizon = "1" + long(16) }, "spec.read.horizon: 17 bytes"},
		{"format", func(s *cohortv1.JobSpec) { s.Read.Format = "xlsx" }, "spec.read.format"},
		{"header", func(s *cohortv1.JobSpec) { s.Read.Header = "maybe" }, "spec.read.header"},
		{"delimiter", func(s *cohortv1.JobSpec) { s.Read.Delimiter = "#" }, "spec.read.delimiter"},
		{"negative", func(s *cohortv1.JobSpec) { s.Read.Negative = "keep" }, "spec.read.negative"},
		{"customer over 128", func(s *cohortv1.JobSpec) { s.Read.Customer = long(129) }, "spec.read.customer"},
		{"extra 64", func(s *cohortv1.JobSpec) { s.Read.Extra = make([]string, 64); fillAll(s.Read.Extra, "x") }, ""},
		{"extra 65", func(s *cohortv1.JobSpec) { s.Read.Extra = make([]string, 65); fillAll(s.Read.Extra, "x") }, "spec.read.extra: 65 columns"},
		{"extra empty name", func(s *cohortv1.JobSpec) { s.Read.Extra = []string{"a", ""} }, "spec.read.extra[1]: required"},
		{"date_format over 64", func(s *cohortv1.JobSpec) { s.Read.DateFormat = long(65) }, "spec.read.date_format"},
		{"calibration_end", func(s *cohortv1.JobSpec) { s.Read.CalibrationEnd = "30/09/1997" }, "spec.read.calibration_end"},
		{"calibration_end year 1066", func(s *cohortv1.JobSpec) { s.Read.CalibrationEnd = "1066-10-14" },
			"spec.read: calibration end 1066-10-14: outside the supported years"},
		{"data_end", func(s *cohortv1.JobSpec) { s.Read.DataEnd = "1998-06-30" }, ""},
		{"data_end not a date", func(s *cohortv1.JobSpec) { s.Read.DataEnd = "1998-06-31" }, "spec.read.data_end: \"1998-06-31\", want a date"},
		{"data_end year 9999", func(s *cohortv1.JobSpec) { s.Read.DataEnd = "9999-12-31" }, "spec.read: data end 9999-12-31: outside the supported years"},
		{"decimal comma", func(s *cohortv1.JobSpec) { s.Read.Decimal = "," }, ""},
		{"decimal point", func(s *cohortv1.JobSpec) { s.Read.Decimal = "." }, ""},
		{"decimal word", func(s *cohortv1.JobSpec) { s.Read.Decimal = "comma" }, "spec.read.decimal: \"comma\", want one of"},
		{"decimal semicolon", func(s *cohortv1.JobSpec) { s.Read.Decimal = ";" }, "spec.read.decimal"},
		{"amount none", func(s *cohortv1.JobSpec) { s.Read.Amount = "none" }, ""},
		{"amount none with negative drop", func(s *cohortv1.JobSpec) { s.Read.Amount, s.Read.Negative = "none", "drop" },
			"spec.read: negative policy drop: a count-only log (amount none) has no amounts"},
		{"date_format that does not read back", func(s *cohortv1.JobSpec) { s.Read.DateFormat = "01/2006" }, "spec.read: date format"},
		{"periods -1", func(s *cohortv1.JobSpec) { s.Read.Periods = -1 }, ""},
		{"periods -2", func(s *cohortv1.JobSpec) { s.Read.Periods = -2 }, "spec.read.periods"},
		{"periods 521", func(s *cohortv1.JobSpec) { s.Read.Periods = 521 }, "spec.read.periods"},
		{"period_days 3661", func(s *cohortv1.JobSpec) { s.Read.PeriodDays = 3661 }, "spec.read.period_days"},
		{"hidden 16 layers", func(s *cohortv1.JobSpec) {
			s.Model = &cohortv1.ModelConfig{Hidden: make([]uint32, 16)}
			fillAll(s.Model.Hidden, 256)
		}, ""},
		{"hidden 16 layers of 65536: each width in bounds, the network is not", func(s *cohortv1.JobSpec) {
			s.Model = &cohortv1.ModelConfig{Hidden: make([]uint32, 16)}
			fillAll(s.Model.Hidden, 65536)
		}, "parameters (240.0 GiB a float32 buffer), over the limit of 50000000"},
		{"hidden 17 layers", func(s *cohortv1.JobSpec) {
			s.Model = &cohortv1.ModelConfig{Hidden: make([]uint32, 17)}
			fillAll(s.Model.Hidden, 8)
		}, "spec.model.hidden: 17 layers"},
		{"hidden width 0", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Hidden: []uint32{8, 0}} }, "spec.model.hidden[1]"},
		{"hidden width 65537", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Hidden: []uint32{65537}} }, "spec.model.hidden[0]"},
		{"linear with hidden", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Linear: true, Hidden: []uint32{8}} }, "with linear set"},
		{"linear", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Linear: true} }, ""},
		{"lr negative", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Lr: -1e-3} }, "spec.model.lr"},
		{"lr NaN", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Lr: float32(math.NaN())} }, "spec.model.lr"},
		{"lr Inf", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Lr: float32(math.Inf(1))} }, "spec.model.lr"},
		{"weight_decay negative", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{WeightDecay: -1} }, "spec.model.weight_decay"},
		{"beta1 1", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Beta1: 1} }, "spec.model.beta1"},
		{"beta2 negative", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Beta2: -0.1} }, "spec.model.beta2"},
		{"eps negative", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Eps: -1} }, "spec.model.eps"},
		{"clip_norm negative", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{ClipNorm: -1} }, "spec.model.clip_norm"},
		{"batch at 1048576", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Batch: 1 << 20} }, ""},
		{"batch over", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{Batch: 1<<20 + 1} }, "spec.model.batch"},
		{"max_epochs over", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{MaxEpochs: 100001} }, "spec.model.max_epochs"},
		{"warmup_steps over", func(s *cohortv1.JobSpec) { s.Model = &cohortv1.ModelConfig{WarmupSteps: 100000001} }, "spec.model.warmup_steps"},
		{"min_workers 1024", func(s *cohortv1.JobSpec) { s.MinWorkers = 1024 }, ""},
		{"min_workers 1025", func(s *cohortv1.JobSpec) { s.MinWorkers = 1025 }, "spec.min_workers"},
		{"max_workers below min", func(s *cohortv1.JobSpec) { s.MinWorkers, s.MaxWorkers = 4, 3 }, "spec.max_workers"},
		{"max_workers 1025", func(s *cohortv1.JobSpec) { s.MaxWorkers = 1025 }, "spec.max_workers"},
		{"max_workers equal min", func(s *cohortv1.JobSpec) { s.MinWorkers, s.MaxWorkers = 4, 4 }, ""},
		{"checkpoint_every 1e6", func(s *cohortv1.JobSpec) { s.CheckpointEvery = 1000000 }, ""},
		{"checkpoint_every over", func(s *cohortv1.JobSpec) { s.CheckpointEvery = 1000001 }, "spec.checkpoint_every"},
		{"threads over", func(s *cohortv1.JobSpec) { s.Threads = 1025 }, "spec.threads"},
		{"importance_repeats over", func(s *cohortv1.JobSpec) { s.ImportanceRepeats = 101 }, "spec.importance_repeats"},
		{"checkpoint_dir at 4096", func(s *cohortv1.JobSpec) { s.CheckpointDir = long(4096) }, ""},
		{"checkpoint_dir over", func(s *cohortv1.JobSpec) { s.CheckpointDir = long(4097) }, "spec.checkpoint_dir: 4097 bytes"},
		{"checkpoint_dir not UTF-8", func(s *cohortv1.JobSpec) { s.CheckpointDir = "\xfe" }, "spec.checkpoint_dir: not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpecProto()
			tc.change(s)
			err := ValidateJobSpec(s)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ValidateJobSpec: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateJobSpec accepted it; want an error naming %q", tc.want)
			}
			if !errors.Is(err, rpcerr.ErrInvalidArgument) {
				t.Errorf("error %v does not wrap ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		if err := ValidateJobSpec(nil); !errors.Is(err, rpcerr.ErrInvalidArgument) {
			t.Fatalf("ValidateJobSpec(nil) = %v", err)
		}
	})
	t.Run("several problems are all named", func(t *testing.T) {
		s := validSpecProto()
		s.OutDir, s.Source, s.Read.Horizon = "", &cohortv1.JobSpec_Dataset{Dataset: "cdnow"}, ""
		err := ValidateJobSpec(s)
		for _, want := range []string{"spec.out_dir: required", "spec.dataset: not supported", "spec.read.horizon: required"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not name %q", err, want)
			}
		}
	})
}

func fillAll[T any](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}

// TestSpecFromProto ensures a spec converts field for field, that zero
// fields take the defaults job.proto names, and that linear becomes the
// empty (not nil) hidden list model.Config needs.
func TestSpecFromProto(t *testing.T) {
	t.Run("full", func(t *testing.T) {
		s := &cohortv1.JobSpec{
			Name: "cdnow", Source: &cohortv1.JobSpec_DataPath{DataPath: "/d/cdnow.txt"}, OutDir: "/runs/a",
			Threads: 4, ImportanceRepeats: 2, MinWorkers: 2, MaxWorkers: 4,
			Read: &cohortv1.ReadOptions{
				Format: "csv", Customer: "2", Date: "3", Amount: "dollar_value", Quantity: "-", Extra: []string{"visits"},
				Header: "no", Delimiter: "whitespace", DateFormat: "20060102", CalibrationEnd: "1997-09-30",
				Horizon: "39w", SkipBadRows: true, Negative: "drop", Periods: -1, PeriodDays: 14,
				Decimal: ",", DataEnd: "1998-06-30",
			},
			Model: &cohortv1.ModelConfig{Hidden: []uint32{32, 16}, Lr: 3e-3, WeightDecay: 1e-5, Beta1: 0.8, Beta2: 0.99,
				Eps: 1e-7, Batch: 1024, MaxEpochs: 7, Patience: -1, ClipNorm: 1, WarmupSteps: 10, Cosine: true, Seed: 42, Ensemble: 3},
		}
		got, err := SpecFromProto(s)
		if err != nil {
			t.Fatal(err)
		}
		want := job.Spec{
			Data: "/d/cdnow.txt", Out: "/runs/a", Threads: 4, ImportanceRepeats: 2,
			Read: clv.Options{Format: "csv", Customer: "2", Date: "3", Amount: "dollar_value", Quantity: "-",
				Extra: []string{"visits"}, Header: "no", Delimiter: "whitespace", DateFormat: "20060102",
				CalibrationEnd: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), Horizon: clv.Horizon{Days: 273},
				SkipBadRows: true, Negative: clv.DropNegative, Periods: -1, PeriodDays: 14,
				Decimal: ",", DataEnd: time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)},
			Model: model.Config{Hidden: []int{32, 16}, LR: 3e-3, WeightDecay: 1e-5, Beta1: 0.8, Beta2: 0.99, Eps: 1e-7,
				Batch: 1024, MaxEpochs: 7, Patience: -1, ClipNorm: 1, WarmupSteps: 10, Cosine: true, Seed: 42, Ensemble: 3},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("SpecFromProto:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		got, err := SpecFromProto(validSpecProto())
		if err != nil {
			t.Fatal(err)
		}
		d := model.DefaultConfig()
		d.WeightDecay = 0 // zero is "off" for weight_decay
		if !reflect.DeepEqual(got.Model, d) {
			t.Errorf("model %+v, want the defaults with weight decay off %+v", got.Model, d)
		}
		if got.ImportanceRepeats != 0 || got.Read.Negative != clv.NetNegative || got.Read.Horizon != (clv.Horizon{Days: 273}) {
			t.Errorf("spec %+v: want importance off, negative net, horizon 39w", got)
		}
	})
	t.Run("linear", func(t *testing.T) {
		s := validSpecProto()
		s.Model = &cohortv1.ModelConfig{Linear: true}
		got, err := SpecFromProto(s)
		if err != nil {
			t.Fatal(err)
		}
		if got.Model.Hidden == nil || len(got.Model.Hidden) != 0 {
			t.Errorf("hidden %#v, want an empty non-nil slice", got.Model.Hidden)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		s := validSpecProto()
		s.OutDir = ""
		if _, err := SpecFromProto(s); !errors.Is(err, rpcerr.ErrInvalidArgument) || !strings.Contains(err.Error(), "spec.out_dir") {
			t.Errorf("SpecFromProto = %v, want an invalid spec.out_dir", err)
		}
	})
}

// exampleYAML is a job file as a user writes it, with YAML's typing traps:
// a column by index, header: no (a YAML boolean), an unquoted date.
const exampleYAML = `
name: cdnow 39w
data_path: /data/CDNOW_master.txt
out_dir: /runs/cdnow
read:
  customer: 1
  date: 2
  amount: 4
  header: no
  delimiter: whitespace
  calibration_end: 1997-09-30
  data_end: 1998-06-30
  horizon: 39w
  decimal: ","
  extra: [visits, 7]
model:
  hidden: [64, 32]
  lr: 0.002
  weightDecay: 1e-5
  batch: 1024
  patience: -1
  seed: 18446744073709551615
minWorkers: 2
max_workers: 4
checkpoint_every: 500
`

// TestJobSpecFromYAML ensures a YAML job file reads into the JobSpec it
// means, survives a round trip through protojson and YAML, and that a bad
// file's error names the file and the field.
func TestJobSpecFromYAML(t *testing.T) {
	want := &cohortv1.JobSpec{
		Name: "cdnow 39w", Source: &cohortv1.JobSpec_DataPath{DataPath: "/data/CDNOW_master.txt"}, OutDir: "/runs/cdnow",
		Read: &cohortv1.ReadOptions{Customer: "1", Date: "2", Amount: "4", Header: "no", Delimiter: "whitespace",
			CalibrationEnd: "1997-09-30", DataEnd: "1998-06-30", Horizon: "39w", Decimal: ",", Extra: []string{"visits", "7"}},
		Model: &cohortv1.ModelConfig{Hidden: []uint32{64, 32}, Lr: 0.002, WeightDecay: 1e-5, Batch: 1024, Patience: -1,
			Seed: math.MaxUint64},
		MinWorkers: 2, MaxWorkers: 4, CheckpointEvery: 500,
	}
	got, err := JobSpecFromYAML("job.yaml", []byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("JobSpecFromYAML:\n got %v\nwant %v", got, want)
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back, err := yaml.JSONToYAML(js)
	if err != nil {
		t.Fatal(err)
	}
	again, err := JobSpecFromYAML("again.yaml", back)
	if err != nil {
		t.Fatalf("round trip of\n%s: %v", back, err)
	}
	if !proto.Equal(again, want) {
		t.Errorf("round trip:\n got %v\nwant %v", again, want)
	}

	bad := []struct {
		name, yaml, want string
	}{
		{"unknown top-level field", "data_path: a\nout_dir: b\nread: {horizon: 39w}\nlrr: 1\n", `job.yaml: unknown field "lrr"`},
		{"unknown nested field", "data_path: a\nout_dir: b\nread: {horizon: 39w}\nmodel: {lrr: 0.1}\n", `job.yaml: model: unknown field "lrr"`},
		{"wrong type", "data_path: a\nout_dir: b\nread: {horizon: 39w}\nmodel: {batch: many}\n", "job.yaml: "},
		{"negative uint", "data_path: a\nout_dir: b\nread: {horizon: 39w}\nmodel: {batch: -1}\n", "batch"},
		{"boolean string", "data_path: a\nout_dir: b\nread: {horizon: 39w, customer: yes}\n", "read.customer: YAML read a boolean"},
		{"bare comma", "data_path: a\nout_dir: b\nread:\n  horizon: 39w\n  decimal: ,\n", `did not find expected node content (a bare comma is YAML syntax; quote it: decimal: ",")`},
		{"bare comma in a flow mapping", "data_path: a\nout_dir: b\nread: {horizon: 39w, decimal: ,}\n", `job.yaml: read.decimal: no value; a bare comma is YAML syntax; quote it: decimal: ","`},
		{"decimal word", "data_path: a\nout_dir: b\nread: {horizon: 39w, decimal: comma}\n", "spec.read.decimal"},
		{"list expected", "data_path: a\nout_dir: b\nread: {horizon: 39w, extra: visits}\n", "read.extra: want a list"},
		{"both sources", "data_path: a\ndataset: b\nout_dir: c\nread: {horizon: 39w}\n", "job.yaml: "},
		{"out of bounds", "data_path: a\nout_dir: b\nread: {horizon: 39w}\nthreads: 5000\n", "job.yaml: job spec: spec.threads"},
		{"missing horizon", "data_path: a\nout_dir: b\n", "spec.read.horizon: required"},
		{"empty", "", "job.yaml: empty"},
		{"not a mapping", "- a\n- b\n", "job.yaml: want a mapping"},
		{"not YAML", "a: [\n", "job.yaml: "},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := JobSpecFromYAML("job.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted %q", tc.yaml)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "(line 1:") {
				t.Errorf("error %q shows a position in the JSON the user never wrote", err)
			}
		})
	}
}
