package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// horizonHelp says what a horizon looks like, for every error about one.
const horizonHelp = "a whole number and a unit d, w, m or y, e.g. 39w, 180d, 6m"

// ValidateJobSpec checks every bound job.proto documents for a JobSpec, and
// what the coordinator needs beyond the bounds before it queues a job: a
// horizon that parses (training needs a holdout), read options clv accepts
// (clv.Options.Validate: a date layout that reads back, dates in clv's
// years, no negative policy for a count-only log) and a data_path (datasets
// are not served yet). It checks before anything is stored, so a job never
// fails minutes later on a typo. The error wraps rpcerr.ErrInvalidArgument
// and names every bad field in the proto's snake_case
// ("spec.read.horizon: required, e.g. 39w").
func ValidateJobSpec(s *cohortv1.JobSpec) error {
	if s == nil {
		return fmt.Errorf("%w: job spec: spec: required", rpcerr.ErrInvalidArgument)
	}
	var errs []error
	if err := s.Validate(); err != nil {
		// cohortv1 reports the bounds; its errors already wrap the sentinel,
		// so keep only the field list to report it with the checks below.
		errs = append(errs, errors.New(strings.TrimPrefix(err.Error(), rpcerr.ErrInvalidArgument.Error()+": job spec: ")))
	} else if o, err := readOptions(s.GetRead()); err == nil {
		// Within their bounds the read options may still contradict each
		// other (amount none with a negative policy) or name a year clv
		// does not read; a job would fail on them once it runs.
		if err := o.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("spec.read: %s", strings.TrimPrefix(err.Error(), "clv: ")))
		}
	}
	if _, ok := s.GetSource().(*cohortv1.JobSpec_Dataset); ok {
		errs = append(errs, errors.New("spec.dataset: not supported yet; use data_path"))
	}
	if d := s.GetCheckpointDir(); len(d) > cohortv1.MaxPathLen {
		errs = append(errs, fmt.Errorf("spec.checkpoint_dir: %d bytes, want 0..%d", len(d), cohortv1.MaxPathLen))
	} else if !utf8.ValidString(d) {
		errs = append(errs, errors.New("spec.checkpoint_dir: not valid UTF-8"))
	}
	if h := s.GetRead().GetHorizon(); len(h) <= cohortv1.MaxHorizonLen {
		if err := checkHorizon(h); err != nil {
			errs = append(errs, fmt.Errorf("spec.read.horizon: %w", err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: job spec: %w", rpcerr.ErrInvalidArgument, errors.Join(errs...))
}

// checkHorizon refuses a horizon that is absent, zero or does not parse.
func checkHorizon(h string) error {
	if strings.TrimSpace(h) == "" {
		return errors.New("required, e.g. 39w")
	}
	v, err := clv.ParseHorizon(h)
	if err != nil {
		return fmt.Errorf("%q: want %s", h, horizonHelp)
	}
	if v.IsZero() {
		return fmt.Errorf("%q: training needs a holdout; want %s", h, horizonHelp)
	}
	return nil
}

// SpecFromProto validates s (ValidateJobSpec) and turns it into the
// job.Spec the training job runs. Zero fields take the defaults job.proto
// names: model.DefaultConfig's values, except weight_decay, clip_norm,
// warmup_steps and cosine, whose zero is "off"; importance_repeats 0 turns
// permutation importance off. The distributed settings (min/max workers,
// checkpoints) have no job.Spec field; the coordinator reads them from s.
// The error wraps rpcerr.ErrInvalidArgument.
func SpecFromProto(s *cohortv1.JobSpec) (job.Spec, error) {
	if err := ValidateJobSpec(s); err != nil {
		return job.Spec{}, err
	}
	sp := job.DefaultSpec()
	sp.Data = s.GetDataPath()
	sp.Out = s.GetOutDir()
	sp.Threads = int(s.GetThreads())
	sp.ImportanceRepeats = int(s.GetImportanceRepeats())
	read, err := readOptions(s.GetRead())
	if err != nil {
		return job.Spec{}, fmt.Errorf("%w: job spec: %w", rpcerr.ErrInvalidArgument, err)
	}
	sp.Read = read
	sp.Model = modelConfig(s.GetModel())
	if err := sp.Validate(); err != nil {
		return job.Spec{}, fmt.Errorf("%w: %w", rpcerr.ErrInvalidArgument, err)
	}
	return sp, nil
}

// readOptions maps ReadOptions onto clv.Options as cmd/cohort's data flags
// do; r has passed ValidateJobSpec, so the parses fail only on values the
// bounds cannot see.
func readOptions(r *cohortv1.ReadOptions) (clv.Options, error) {
	o := clv.Options{
		Format: r.GetFormat(), Customer: r.GetCustomer(), Date: r.GetDate(), Amount: r.GetAmount(),
		Quantity: r.GetQuantity(), Header: r.GetHeader(), Delimiter: r.GetDelimiter(),
		DateFormat: r.GetDateFormat(), Decimal: r.GetDecimal(), SkipBadRows: r.GetSkipBadRows(),
		Periods: int(r.GetPeriods()), PeriodDays: int(r.GetPeriodDays()),
	}
	if len(r.GetExtra()) > 0 {
		o.Extra = slices.Clone(r.GetExtra())
	}
	for _, d := range []struct {
		field, value, example string
		to                    *time.Time
	}{
		{"calibration_end", r.GetCalibrationEnd(), "1997-09-30", &o.CalibrationEnd},
		{"data_end", r.GetDataEnd(), "1998-06-30", &o.DataEnd},
	} {
		if d.value == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.value)
		if err != nil {
			return clv.Options{}, fmt.Errorf("spec.read.%s: %q: want a date like %s", d.field, d.value, d.example)
		}
		*d.to = t
	}
	h, err := clv.ParseHorizon(r.GetHorizon())
	if err != nil {
		return clv.Options{}, fmt.Errorf("spec.read.horizon: %q: want %s", r.GetHorizon(), horizonHelp)
	}
	o.Horizon = h
	if o.Negative, err = clv.ParseNegativePolicy(r.GetNegative()); err != nil {
		return clv.Options{}, fmt.Errorf("spec.read.negative: %q: want net, drop or error", r.GetNegative())
	}
	return o, nil
}

// modelConfig is m with model.DefaultConfig's values in its zero fields,
// seed included (the proto's zero seed means the default one).
func modelConfig(m *cohortv1.ModelConfig) model.Config {
	c := m.Config().WithDefaults()
	if c.Seed == 0 {
		c.Seed = model.DefaultConfig().Seed
	}
	return c
}

// JobSpecFromYAML reads a job spec written as YAML (cohort submit -f
// job.yaml). Field names are the proto's, snake_case or lowerCamelCase.
// YAML's own typing is undone where a string field is meant: a column given
// by index (customer: 2) becomes "2", and header: yes (a YAML boolean)
// becomes "yes". Errors start with name and the path of the bad field
// (`job.yaml: model: unknown field "lrr"`); the spec is then checked with
// ValidateJobSpec.
func JobSpecFromYAML(name string, raw []byte) (*cohortv1.JobSpec, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		if bareComma.Match(raw) {
			return nil, fmt.Errorf("%s: %w (%s)", name, err, bareCommaHelp)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // keep integers such as seeds exact
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		if doc == nil {
			return nil, fmt.Errorf("%s: empty; want a job spec (data_path, out_dir, read, model, ...)", name)
		}
		return nil, fmt.Errorf("%s: want a mapping of job spec fields, got %s", name, yamlKind(doc))
	}
	spec := &cohortv1.JobSpec{}
	if err := fixYAMLMessage(spec.ProtoReflect().Descriptor(), top, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fixed, err := json.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := protojson.Unmarshal(fixed, spec); err != nil {
		// protojson's positions are in the JSON made from the YAML, which
		// the user never sees.
		return nil, fmt.Errorf("%s: %s", name, protojsonPrefix.ReplaceAllString(err.Error(), ""))
	}
	if err := ValidateJobSpec(spec); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return spec, nil
}

// bareComma matches a decimal separator written as a bare comma, which YAML
// reads as its own syntax: an error in a block mapping, nothing (null) in a
// flow mapping such as read: {decimal: ,}.
var bareComma = regexp.MustCompile(`(?m)\bdecimal\s*:\s*,`)

const bareCommaHelp = `a bare comma is YAML syntax; quote it: decimal: ","`

// protojsonPrefix matches "proto: (line 1:23): " (protobuf-go puts a
// non-breaking space in it at random, to discourage matching its text).
var protojsonPrefix = regexp.MustCompile(`^proto:[\s\x{a0}]*(\(line \d+:\d+\):[\s\x{a0}]*)?`)

// fixYAMLMessage checks the keys of one message in the decoded YAML against
// md, naming the path of an unknown one, and turns scalars YAML typed as
// numbers or booleans back into the strings md's string fields want.
func fixYAMLMessage(md protoreflect.MessageDescriptor, m map[string]any, path string) error {
	fields := md.Fields()
	for k, v := range m {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByTextName(k)
		}
		if fd == nil {
			names := make([]string, fields.Len())
			for i := range names {
				names[i] = string(fields.Get(i).Name())
			}
			return fmt.Errorf("%sunknown field %q (want one of %s)", pathPrefix(path), k, strings.Join(names, ", "))
		}
		at := joinPath(path, string(fd.Name()))
		if fd.IsList() {
			list, ok := v.([]any)
			if !ok {
				if v == nil {
					continue
				}
				return fmt.Errorf("%s: want a list, got %s", at, yamlKind(v))
			}
			for i, e := range list {
				fe, err := fixYAMLValue(fd, e, fmt.Sprintf("%s[%d]", at, i))
				if err != nil {
					return err
				}
				list[i] = fe
			}
			continue
		}
		fv, err := fixYAMLValue(fd, v, at)
		if err != nil {
			return err
		}
		m[k] = fv
	}
	return nil
}

// fixYAMLValue fixes one value of field fd.
func fixYAMLValue(fd protoreflect.FieldDescriptor, v any, at string) (any, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if sub, ok := v.(map[string]any); ok {
			return v, fixYAMLMessage(fd.Message(), sub, at)
		}
	case protoreflect.StringKind:
		switch x := v.(type) {
		case nil:
			// protojson would read null as "", which for decimal quietly
			// means "." when a comma was meant.
			if fd.Name() == "decimal" {
				return nil, fmt.Errorf("%s: no value; %s", at, bareCommaHelp)
			}
		case json.Number:
			return x.String(), nil
		case bool:
			if fd.Name() == "header" {
				return map[bool]string{true: "yes", false: "no"}[x], nil
			}
			return nil, fmt.Errorf("%s: YAML read a boolean (%v); quote the value to mean a string", at, x)
		}
	}
	return v, nil
}

func pathPrefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// yamlKind names the kind of a decoded YAML value for errors.
func yamlKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}
