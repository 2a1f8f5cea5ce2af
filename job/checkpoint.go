package job

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

// SaveCheckpoint writes st into dir as run's checkpoint at its step and
// removes run's older checkpoints but the one before it.
func SaveCheckpoint(dir, run string, st *model.TrainState) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("job: checkpoint: %w", err)
	}
	if err := model.SaveCheckpoint(filepath.Join(dir, CheckpointName(run, st.Adam.Step)), st); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, run+"-step-*.ckpt"))
	if err == nil && len(files) > keepCheckpoints {
		slices.Sort(files)
		for _, f := range files[:len(files)-keepCheckpoints] {
			os.Remove(f) // best effort: a leftover file costs only disk
		}
	}
	return nil
}

// ErrNoCheckpoint means a directory holds no readable checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")

// LatestCheckpoint returns the checkpoint in dir with the highest step
// that reads back whole (its checksum holds), of any run, and its state.
func LatestCheckpoint(dir string) (string, *model.TrainState, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*-step-*.ckpt"))
	if err != nil {
		return "", nil, fmt.Errorf("job: find checkpoints in %s: %w", dir, err)
	}
	step := func(f string) int {
		i := strings.LastIndex(f, "-step-")
		n, _ := strconv.Atoi(strings.TrimSuffix(f[i+len("-step-"):], ".ckpt"))
		return n
	}
	slices.SortFunc(files, func(a, b string) int { return step(b) - step(a) })
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
