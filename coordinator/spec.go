package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	yaml2 "go.yaml.in/yaml/v2"
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
	} else {
		o, err := readOptions(s.GetRead())
		if err == nil {
			// Within their bounds the read options may still contradict each
			// other (amount none with a negative policy) or name a year clv
			// does not read; a job would fail on them once it runs.
			if err := o.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("spec.read: %s", SpecTerms(strings.TrimPrefix(err.Error(), "clv: "))))
			}
		}
		// Each model field has its bound, their product has none: refuse a
		// network no worker can hold before a job is queued, on the most
		// features these read options can give (a worker would otherwise
		// die allocating it, and so would every worker the job took next).
		if err := modelConfig(s.GetModel()).CheckSize(maxFeatures(o)); err != nil {
			errs = append(errs, fmt.Errorf("spec.model: %s", SpecTerms(strings.TrimPrefix(err.Error(), "model: config: "))))
		}
	}
	if _, ok := s.GetSource().(*cohortv1.JobSpec_Dataset); ok {
		// job.proto reserves dataset; no coordinator serves datasets yet.
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

// baseFeatureCount is how many features clv computes for every log, before
// the per-period, quantity and extra ones (clv's baseFeatures).
const baseFeatureCount = 16

// maxFeatures is the most input features a job with read options o can
// have: clv's base features, spend and days per period, the quantity pair
// (a quantity column may be found in the header without being named) and
// one per extra column. TestMaxFeaturesBoundsClv holds it to clv.
func maxFeatures(o clv.Options) int {
	periods, _ := o.EffectivePeriods()
	return baseFeatureCount + 2*periods + 2 + len(o.Extra)
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
		// job.Spec words its errors for cohort train's flags.
		return job.Spec{}, fmt.Errorf("%w: %w", rpcerr.ErrInvalidArgument, &specTermsError{err: err})
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
// becomes "yes". A key given twice in one mapping is refused (YAML would
// keep the last value quietly). Errors start with name and the path of the
// bad field (`job.yaml: model: unknown field "lrr"; did you mean lr?`),
// every unknown key and mistyped value at once, in the spec's snake_case
// names; the spec is then checked with ValidateJobSpec. Relative paths stay
// relative: cohort submit resolves them (ResolvePaths).
func JobSpecFromYAML(name string, raw []byte) (*cohortv1.JobSpec, error) {
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		if bareComma.Match(raw) {
			return nil, fmt.Errorf("%s: %w (%s)", name, err, bareCommaHelp)
		}
		if dup := duplicateKeys(raw); len(dup) > 0 {
			// A duplicate key is the one thing the strict decode refuses
			// that the lax one takes (its last value would win quietly).
			var lines []string
			for _, m := range dupLine.FindAllStringSubmatch(err.Error(), -1) {
				lines = append(lines, m[1])
			}
			where := ""
			if len(lines) > 0 {
				where = " (again on line " + strings.Join(lines, ", ") + ")"
			}
			return nil, invalidf("%s: duplicate key %s%s: each key may appear once; remove the extra one",
				name, strings.Join(dup, ", "), where)
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
	var errs []error
	fixYAMLMessage(spec.ProtoReflect().Descriptor(), top, "", &errs)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", name, errors.Join(errs...))
	}
	fixed, err := json.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := protojson.Unmarshal(fixed, spec); err != nil {
		// protojson's positions are in the JSON made from the YAML, which
		// the user never sees, and its field names are the JSON ones.
		return nil, fmt.Errorf("%s: %s", name, protojsonText(spec.ProtoReflect().Descriptor(), err))
	}
	if err := ValidateJobSpec(spec); err != nil {
		// The spec's own error, without the sentinel's "cohort: invalid
		// argument" that cmd/cohort's "cohort: " would double.
		return nil, &invalidError{msg: name + ": " + strings.TrimPrefix(err.Error(), rpcerr.ErrInvalidArgument.Error()+": ")}
	}
	return spec, nil
}

// invalidError is an invalid-argument error whose text is msg alone: it
// matches rpcerr.ErrInvalidArgument (and gets its gRPC code) without
// repeating the sentinel's "cohort: invalid argument" in front of text a
// CLI prints after its own "cohort: ".
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func (e *invalidError) Unwrap() error { return rpcerr.ErrInvalidArgument }

// invalidf is an invalidError of a formatted message.
func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// duplicateKeys returns the paths of the keys a YAML document maps twice
// in one mapping ("read.calibration_end"), in document order.
func duplicateKeys(raw []byte) []string {
	var doc yaml2.MapSlice
	if yaml2.Unmarshal(raw, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case yaml2.MapSlice:
			seen := map[string]bool{}
			for _, it := range x {
				k := fmt.Sprint(it.Key)
				at := joinPath(path, k)
				if seen[k] && !slices.Contains(out, at) {
					out = append(out, at)
				}
				seen[k] = true
				walk(it.Value, at)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(doc, "")
	return out
}

// dupLine matches the YAML decoder's text about a duplicate key.
var dupLine = regexp.MustCompile(`line (\d+): key .* already set in map`)

// protojsonField matches protojson's text about a value of the wrong type:
// "invalid value for uint32 field minWorkers: -1".
var protojsonField = regexp.MustCompile(`invalid value for (\w+) field (\w+):[\s\x{a0}]*(.*)$`)

// protojsonText is protojson's error for the message md, in the terms of
// the YAML the user wrote: snake_case field names and what the field wants.
func protojsonText(md protoreflect.MessageDescriptor, err error) string {
	msg := protojsonPrefix.ReplaceAllString(err.Error(), "")
	m := protojsonField.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	name := m[2]
	if fd := findField(md, m[2]); fd != nil {
		name = string(fd.Name())
	}
	return fmt.Sprintf("%s: want %s, got %s", name, kindWant(m[1]), m[3])
}

// findField finds the field of md or of a message below it whose JSON or
// proto name is name.
func findField(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	fields := md.Fields()
	if fd := fields.ByJSONName(name); fd != nil {
		return fd
	}
	if fd := fields.ByTextName(name); fd != nil {
		return fd
	}
	for i := range fields.Len() {
		if sub := fields.Get(i).Message(); sub != nil && sub != md {
			if fd := findField(sub, name); fd != nil {
				return fd
			}
		}
	}
	return nil
}

// kindWant says what a value of a proto scalar kind looks like.
func kindWant(kind string) string {
	switch kind {
	case "uint32", "uint64", "fixed32", "fixed64":
		return "a whole number >= 0"
	case "int32", "int64", "sint32", "sint64", "sfixed32", "sfixed64":
		return "a whole number"
	case "float", "double":
		return "a number"
	case "bool":
		return "true or false"
	}
	return "a " + kind
}

// checkNumber checks a YAML scalar for a numeric or boolean field of kind
// k, so the error names the field's path and what it wants rather than
// protojson's "invalid value for uint32 field minWorkers".
func checkNumber(k protoreflect.Kind, v any, at string) error {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case string:
		text = x // protojson reads quoted numbers too
	case bool:
		if k == protoreflect.BoolKind {
			return nil
		}
		return fmt.Errorf("%s: want %s, got %s (%v)", at, kindWant(k.String()), yamlKind(v), x)
	case nil:
		return nil
	default:
		return fmt.Errorf("%s: want %s, got %s", at, kindWant(k.String()), yamlKind(v))
	}
	bad := func() error { return fmt.Errorf("%s: want %s, got %s", at, kindWant(k.String()), text) }
	var err error
	switch k {
	case protoreflect.BoolKind:
		_, err = strconv.ParseBool(text)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err = strconv.ParseUint(text, 10, 32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err = strconv.ParseUint(text, 10, 64)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err = strconv.ParseInt(text, 10, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err = strconv.ParseInt(text, 10, 64)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		_, err = strconv.ParseFloat(text, 64)
	default:
		return nil
	}
	if err == nil {
		return nil
	}
	var ne *strconv.NumError
	if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
		if strings.HasPrefix(text, "-") && k != protoreflect.FloatKind && k != protoreflect.DoubleKind {
			return bad()
		}
		return fmt.Errorf("%s: %s is out of range for the field", at, text)
	}
	return bad()
}

// nestedField returns "model.seed" when key is no field of md but is one
// of a message field of md (seed written at the top level), else "".
func nestedField(md protoreflect.MessageDescriptor, key string) string {
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		sub := f.Message()
		if sub == nil || f.IsList() {
			continue
		}
		if fd := sub.Fields().ByTextName(key); fd != nil {
			return string(f.Name()) + "." + string(fd.Name())
		}
		if fd := sub.Fields().ByJSONName(key); fd != nil {
			return string(f.Name()) + "." + string(fd.Name())
		}
	}
	return ""
}

// nearest returns the candidate closest to key in edit distance, or ""
// when none is close enough to be a likely typo.
func nearest(key string, candidates []string) string {
	best, bestD := "", 0
	k := strings.ToLower(key)
	for _, c := range candidates {
		d := editDistance(k, strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(1, len(key)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// flagKeys maps the cmd/cohort flags clv's messages suggest to the job
// spec keys that set the same thing.
var flagKeys = map[string]string{
	"amount": "read.amount", "calibration-end": "read.calibration_end", "customer": "read.customer",
	"data-end": "read.data_end", "date": "read.date", "date-format": "read.date_format", "decimal": "read.decimal",
	"delimiter": "read.delimiter", "extra": "read.extra", "format": "read.format", "header": "read.header",
	"horizon": "read.horizon", "negative": "read.negative", "period-days": "read.period_days", "periods": "read.periods",
	"quantity": "read.quantity", "skip-bad-rows": "read.skip_bad_rows", "out": "out_dir", "overwrite": "overwrite",
	"epochs": "model.max_epochs",
}

var flagRef = regexp.MustCompile(`--([a-z][a-z-]*[a-z])`)

// SpecTerms rewrites the cmd/cohort flags a message from clv or job names
// ("a shorter --horizon (or ... with --data-end)") into the job spec keys
// that set the same thing (read.horizon, read.data_end), for errors about
// a submitted job. Flags without a spec key stay as they are.
func SpecTerms(msg string) string {
	return flagRef.ReplaceAllStringFunc(msg, func(f string) string {
		if k, ok := flagKeys[f[2:]]; ok {
			return k
		}
		return f
	})
}

// ResolvePaths makes the relative data_path, out_dir and checkpoint_dir of
// s absolute against dir (cohort submit passes the spec file's directory),
// so a coordinator never resolves them against its own working directory.
// dir itself is made absolute first.
func ResolvePaths(s *cohortv1.JobSpec, dir string) error {
	base, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolve paths against %s: %w", dir, err)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	if src, ok := s.GetSource().(*cohortv1.JobSpec_DataPath); ok {
		if src.DataPath == "-" {
			// cohort train's stdin; the coordinator reads the log itself.
			return fmt.Errorf("%w: data_path: \"-\" (stdin) cannot be read by the coordinator: give the log's path", rpcerr.ErrInvalidArgument)
		}
		src.DataPath = abs(src.DataPath)
	}
	s.OutDir = abs(s.GetOutDir())
	s.CheckpointDir = abs(s.GetCheckpointDir())
	return nil
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
// md, adding to errs an error naming the path of every unknown key (with
// the nearest valid one) and of every value of the wrong type, and turns
// scalars YAML typed as numbers or booleans back into the strings md's
// string fields want. Keys are visited in order, so errors come out the
// same on every run.
func fixYAMLMessage(md protoreflect.MessageDescriptor, m map[string]any, path string, errs *[]error) {
	fields := md.Fields()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByTextName(k)
		}
		if fd == nil {
			names := make([]string, fields.Len())
			for i := range names {
				names[i] = string(fields.Get(i).Name())
			}
			hint := ""
			if n := nestedField(md, k); n != "" {
				hint = fmt.Sprintf("; did you mean %s?", joinPath(path, n))
			} else if n := nearest(k, names); n != "" {
				hint = fmt.Sprintf("; did you mean %s?", n)
			}
			*errs = append(*errs, fmt.Errorf("%sunknown field %q%s (want one of %s)", pathPrefix(path), k, hint, strings.Join(names, ", ")))
			continue
		}
		at := joinPath(path, string(fd.Name()))
		if fd.IsList() {
			list, ok := v.([]any)
			if !ok {
				if v != nil {
					*errs = append(*errs, fmt.Errorf("%s: want a list, got %s", at, yamlKind(v)))
				}
				continue
			}
			for i, e := range list {
				fe, err := fixYAMLValue(fd, e, fmt.Sprintf("%s[%d]", at, i), errs)
				if err != nil {
					*errs = append(*errs, err)
					continue
				}
				list[i] = fe
			}
			continue
		}
		fv, err := fixYAMLValue(fd, v, at, errs)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		m[k] = fv
	}
}

// fixYAMLValue fixes one value of field fd.
func fixYAMLValue(fd protoreflect.FieldDescriptor, v any, at string, errs *[]error) (any, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if sub, ok := v.(map[string]any); ok {
			fixYAMLMessage(fd.Message(), sub, at, errs)
			return v, nil
		}
		if v != nil && fd.Message().FullName() != "google.protobuf.Timestamp" {
			return nil, fmt.Errorf("%s: want a mapping, got %s", at, yamlKind(v))
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
	case protoreflect.EnumKind, protoreflect.BytesKind:
	default:
		if err := checkNumber(fd.Kind(), v, at); err != nil {
			return nil, err
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
