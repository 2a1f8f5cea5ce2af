package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cohort-clv/cohort/model"
)

// keepCheckpoints is how many checkpoint files of a run stay on disk: the
// newest and the one before, in case the newest is cut short by a crash
// (it cannot be half-written, but its directory entry may not survive).
const keepCheckpoints = 2

// CheckpointDir is where a run directory keeps its checkpoints.
func CheckpointDir(out string) string { return filepath.Join(out, "checkpoints") }

// CheckpointName is the file of a run's checkpoint at step; the step is
// zero-padded so names sort by it. Every writer (this process, rank 0 of a
// distributed run) uses it, so LatestCheckpoint finds them all.
func CheckpointName(run string, step int) string {
	return fmt.Sprintf("%s-step-%010d.ckpt", run, step)
}

// checkpointFiles are the checkpoint files in dir (CheckpointName's, of
// any run), the highest step first. A file whose name holds no step is
// not one.
func checkpointFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*-step-*.ckpt"))
	if err != nil {
		return nil, fmt.Errorf("job: find checkpoints in %s: %w", dir, err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return stepOf(f) < 0 })
	slices.SortStableFunc(files, func(a, b string) int { return stepOf(b) - stepOf(a) })
	return files, nil
}

// stepOf is the step in a checkpoint file's name, -1 when it holds none.
func stepOf(path string) int {
	name := filepath.Base(path)
	i := strings.LastIndex(name, "-step-")
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSuffix(name[i+len("-step-"):], ".ckpt"))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// SaveCheckpoint writes st into dir as run's checkpoint at its step and
// prunes run's older checkpoints (see SaveCheckpointWith). It records no
// fingerprint; Local writes its checkpoints with SaveCheckpointWith.
func SaveCheckpoint(dir, run string, st *model.TrainState) error {
	return SaveCheckpointWith(dir, run, st, nil)
}

// SaveCheckpointWith is SaveCheckpoint with the run's fingerprint
// (Prepared.Fingerprint) in the file, which Prepared.CheckResume compares
// before a run resumes from it.
//
// Of run's files it keeps the one just written and the newest before it,
// and removes those with lower steps. A file with a higher step cannot be
// this run's, whose steps only grow: it stays, since it is another run's
// (TrainWith refuses to start a run beside another's checkpoints, see
// CheckFresh). Pruning by rank among all of run's files once removed each
// new file of a run that started beside a finished run's higher steps
// right after writing it.
func SaveCheckpointWith(dir, run string, st *model.TrainState, fingerprint json.RawMessage) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("job: checkpoint: %w", err)
	}
	step := st.Adam.Step
	if err := model.SaveCheckpointWith(filepath.Join(dir, CheckpointName(run, step)), st, fingerprint); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, run+"-step-*.ckpt"))
	if err != nil {
		return nil // the checkpoint is written; a leftover file costs only disk
	}
	var older []string
	for _, f := range files {
		if s := stepOf(f); s >= 0 && s < step {
			older = append(older, f)
		}
	}
	slices.SortFunc(older, func(a, b string) int { return stepOf(a) - stepOf(b) })
	for _, f := range older[:max(len(older)-(keepCheckpoints-1), 0)] {
		os.Remove(f) // best effort: a leftover file costs only disk
	}
	return nil
}

// ErrNoCheckpoint means a directory holds no readable checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")

// LatestCheckpoint returns the checkpoint in dir with the highest step
// that reads back whole (its checksum holds), of any run, and its state.
func LatestCheckpoint(dir string) (string, *model.TrainState, error) {
	files, err := checkpointFiles(dir)
	if err != nil {
		return "", nil, err
	}
	var errs []error
	for _, f := range files {
		st, err := model.LoadCheckpoint(f)
		if err == nil {
			return f, st, nil
		}
		errs = append(errs, err)
	}
	return "", nil, fmt.Errorf("job: %s: %w", dir, errors.Join(append([]error{ErrNoCheckpoint}, errs...)...))
}

// CheckpointsExistError is CheckFresh's refusal: Dir already holds Files
// checkpoint files, which a run that did not finish (or an older cohort,
// which kept a finished run's) left there. A new run beside them would
// mix its checkpoints with theirs: LatestCheckpoint, and so a resume,
// would take whichever has the higher step.
type CheckpointsExistError struct {
	Dir   string
	Files int
	// Latest is the newest of them that reads back whole, at Epoch and
	// Step; "" when none does.
	Latest      string
	Epoch, Step int
}

func (e *CheckpointsExistError) Error() string {
	newest := fmt.Sprintf("%d files, none of which reads back whole", e.Files)
	switch {
	case e.Latest != "":
		newest = fmt.Sprintf("the newest at epoch %d, step %d: %s", e.Epoch, e.Step, e.Latest)
	case e.Files == 1:
		newest = "1 file, which does not read back whole"
	}
	return fmt.Sprintf("job: %s holds the checkpoints of an earlier run (%s)", e.Dir, newest)
}

// CheckFresh returns a *CheckpointsExistError when dir holds checkpoint
// files, and nil when it holds none or does not exist: a run that starts
// over (without Spec.Resume) checks its checkpoint directory with it
// before it trains.
func CheckFresh(dir string) error {
	files, err := checkpointFiles(dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return nil
	}
	e := &CheckpointsExistError{Dir: dir, Files: len(files)}
	if path, st, err := LatestCheckpoint(dir); err == nil {
		e.Latest, e.Epoch, e.Step = path, st.Epoch, st.Adam.Step
	}
	return e
}

// RemoveCheckpoints removes the checkpoint files in dir, every run's, with
// the temporary files of checkpoints whose writing was cut short, and then
// dir itself when nothing else is left in it. It returns how many
// checkpoints it removed; a dir that does not exist holds none.
func RemoveCheckpoints(dir string) (int, error) { return removeCheckpoints(dir, "*", "") }

// RemoveRunCheckpoints removes run's checkpoint files in dir
// (CheckpointName(run, step) for any step, and the temporary files of
// those whose writing was cut short), leaving other runs' alone, then dir
// itself when nothing else is left in it. A cluster job ends with it once
// it succeeded: its run directory holds the model, and the checkpoints
// only cost disk from then on. It returns how many it removed.
func RemoveRunCheckpoints(dir, run string) (int, error) {
	return removeCheckpoints(dir, globEscape(run), " of "+run)
}

// removeCheckpoints removes the checkpoints whose run matches the glob
// pattern runs, their temporary files (atomicfile's: "." + name +
// ".tmp-" + random) and then dir when it is empty; what names the runs
// in errors.
func removeCheckpoints(dir, runs, what string) (int, error) {
	name := runs + "-step-*.ckpt"
	files, err := filepath.Glob(filepath.Join(dir, name))
	if err == nil {
		var temps []string
		temps, err = filepath.Glob(filepath.Join(dir, "."+name+".tmp-*"))
		files = append(files, temps...)
	}
	if err != nil {
		return 0, fmt.Errorf("job: find checkpoints%s in %s: %w", what, dir, err)
	}
	var n int
	var errs []error
	for _, f := range files {
		temp := strings.HasPrefix(filepath.Base(f), ".")
		if !temp && stepOf(f) < 0 {
			continue // "run-step-x.ckpt": not a checkpoint name
		}
		switch err := os.Remove(f); {
		case err == nil:
			if !temp {
				n++
			}
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("job: remove checkpoints%s in %s: %w", what, dir, err)
	}
	os.Remove(dir) // only when empty: anything else in it is not ours
	return n, nil
}

// globEscape quotes filepath.Match's special characters in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// FileSHA256 returns the hex SHA-256 and the size of a file: what a
// checkpoint pointer records, so a reader can tell the file it names is
// the one that was written.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("job: checksum: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("job: checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
