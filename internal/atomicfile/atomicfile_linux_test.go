//go:build linux

package atomicfile

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteFullDiskNamesTarget ensures a write that fails part way (a file
// size limit stands in for a full disk: the kernel fails the write with
// EFBIG) reports the target, once, both through the writer the callback
// gets and at the final flush; the old content stays and no temporary
// file is left.
func TestWriteFullDiskNamesTarget(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Skip(err)
	}
	// Past the limit the kernel sends SIGXFSZ, which would end the test
	// binary; ignored, the write fails with EFBIG instead.
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	tests := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"through the callback", func(w io.Writer) error {
			_, err := w.Write(make([]byte, 3<<20)) // more than the buffer: written through
			return err
		}},
		{"at the flush", func(w io.Writer) error {
			_, err := w.Write(make([]byte, 64<<10)) // buffered until Write flushes it
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "p.csv")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			lim := unix.Rlimit{Cur: 4096, Max: old.Max}
			if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
				t.Skip(err)
			}
			err := Write(path, tt.write)
			if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
			want := "write " + path + ": file too large"
			if err == nil || err.Error() != want || !errors.Is(err, syscall.EFBIG) {
				t.Fatalf("error %v, want %q", err, want)
			}
			if got, _ := os.ReadFile(path); string(got) != "old" {
				t.Errorf("the target holds %q, want the old content", got)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("left %s", e.Name())
				}
			}
		})
	}
}
