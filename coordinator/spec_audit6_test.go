package coordinator

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestJobSpecFromYAMLErrors ensures spec errors name the YAML path and say
// what the field wants (not protojson's "invalid value for uint32 field
// minWorkers"), report every unknown key with the nearest valid one,
// refuse duplicate keys with their path, and carry no "cohort:" of their
// own (the CLI adds one).
func TestJobSpecFromYAMLErrors(t *testing.T) {
	const base = "data_path: /d.csv\nout_dir: /out\nread: {horizon: 39w}\n"
	tests := []struct {
		name, yaml string
		want       []string
		not        []string
	}{
		{"negative uint", base + "min_workers: -1\n", []string{"job.yaml: min_workers: want a whole number >= 0, got -1"},
			[]string{"minWorkers", "invalid value"}},
		{"word for a number", base + "model: {max_epochs: three}\n", []string{"model.max_epochs: want a whole number >= 0, got three"}, nil},
		{"fraction for a seed", base + "model: {seed: 1.5}\n", []string{"model.seed: want a whole number >= 0, got 1.5"}, nil},
		{"string for a bool", base + "model: {cosine: maybe}\n", []string{"model.cosine: want true or false, got maybe"}, nil},
		{"mapping for a number", base + "threads: {a: 1}\n", []string{"threads: want a whole number >= 0, got a mapping"}, nil},
		{"every unknown key, with a suggestion", base + "min_worker: 1\nmodel: {max_epoch: 3}\n",
			[]string{`unknown field "min_worker"; did you mean min_workers?`, `model: unknown field "max_epoch"; did you mean max_epochs?`}, nil},
		{"a nested key at the top", base + "seed: 1\n", []string{`unknown field "seed"; did you mean model.seed?`}, nil},
		{"no suggestion for nonsense", base + "zzzzqqq: 1\n", []string{`unknown field "zzzzqqq" (want one of`}, []string{"did you mean"}},
		{"duplicate nested key", "data_path: /d.csv\nout_dir: /out\nread: {calibration_end: \"1997-09-30\", horizon: 39w, calibration_end: \"1997-08-30\"}\n",
			[]string{"job.yaml: duplicate key read.calibration_end", "line 3"}, nil},
		{"duplicate top-level key", "name: a\nname: b\n" + base, []string{"duplicate key name (again on line 2)"}, nil},
		{"bound", base + "threads: 5000\n", []string{"job.yaml: job spec: spec.threads: 5000"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := JobSpecFromYAML("job.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted %q", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, n := range append(tc.not, "cohort:") {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q contains %q", err, n)
				}
			}
		})
	}
	if _, err := JobSpecFromYAML("job.yaml", []byte(base+"threads: 5000\n")); !errors.Is(err, rpcerr.ErrInvalidArgument) {
		t.Errorf("bound error %v does not wrap ErrInvalidArgument", err)
	}
	if _, err := JobSpecFromYAML("job.yaml", []byte(base+"overwrite: true\nmodel: {seed: 7}\n")); err != nil {
		t.Errorf("overwrite and a seed: %v", err)
	}
}

// TestSpecTerms ensures the flags clv and job name in their advice become
// the spec keys that set the same thing, and other text stays.
func TestSpecTerms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"or a shorter --horizon (or declare the data's end with --data-end)",
			"or a shorter read.horizon (or declare the data's end with read.data_end)"},
		{"--calibration-end 1997-09-30 or --skip-bad-rows", "read.calibration_end 1997-09-30 or read.skip_bad_rows"},
		{"--date-format and --date", "read.date_format and read.date"},
		{"--split is not a spec key", "--split is not a spec key"},
		{"a - b -- c", "a - b -- c"},
	} {
		if got := SpecTerms(tc.in); got != tc.want {
			t.Errorf("SpecTerms(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestResolvePaths ensures relative paths resolve against the spec's
// directory and absolute ones stay.
func TestResolvePaths(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name                  string
		in                    *cohortv1.JobSpec
		data, out, checkpoint string
	}{
		{"relative", &cohortv1.JobSpec{Source: &cohortv1.JobSpec_DataPath{DataPath: "mydata.txt"}, OutDir: "relruns/out", CheckpointDir: "../ck"},
			filepath.Join(dir, "mydata.txt"), filepath.Join(dir, "relruns/out"), filepath.Join(filepath.Dir(dir), "ck")},
		{"absolute", &cohortv1.JobSpec{Source: &cohortv1.JobSpec_DataPath{DataPath: "/d.csv"}, OutDir: "/out"}, "/d.csv", "/out", ""},
		{"dataset", &cohortv1.JobSpec{Source: &cohortv1.JobSpec_Dataset{Dataset: "cdnow"}, OutDir: "o"}, "", filepath.Join(dir, "o"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ResolvePaths(tc.in, dir); err != nil {
				t.Fatal(err)
			}
			if tc.in.GetDataPath() != tc.data || tc.in.GetOutDir() != tc.out || tc.in.GetCheckpointDir() != tc.checkpoint {
				t.Errorf("got %q %q %q, want %q %q %q", tc.in.GetDataPath(), tc.in.GetOutDir(), tc.in.GetCheckpointDir(),
					tc.data, tc.out, tc.checkpoint)
			}
		})
	}
}

// TestResolvePathsRefusesStdin ensures a spec's data_path "-" (cohort
// train's stdin) is refused by name, not resolved to a file called "-".
func TestResolvePathsRefusesStdin(t *testing.T) {
	spec := &cohortv1.JobSpec{Source: &cohortv1.JobSpec_DataPath{DataPath: "-"}, OutDir: "out"}
	err := ResolvePaths(spec, t.TempDir())
	if !errors.Is(err, rpcerr.ErrInvalidArgument) || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("ResolvePaths(data_path -) = %v; want invalid argument naming stdin", err)
	}
}
