package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWrite ensures a write replaces the file whole with mode 0644, and a
// failed write keeps the old content and leaves no temporary file.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := WriteBytes(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "first" {
		t.Fatalf("after a failed write: %q, %v; want the old content", got, err)
	}
	if err := WriteBytes(path, []byte("second")); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(got) != "second" || st.Mode().Perm() != Mode {
		t.Fatalf("got %q mode %v, want %q mode %v", got, st.Mode().Perm(), "second", Mode)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only out.txt", len(entries))
	}
}

// TestWriteDevice ensures a device is written in place, not replaced.
func TestWriteDevice(t *testing.T) {
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Skip("no null device")
	}
	if err := WriteBytes(os.DevNull, []byte("discarded")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(os.DevNull)
	if err != nil || st.Mode().IsRegular() {
		t.Fatalf("%s became a regular file (%v, %v)", os.DevNull, st, err)
	}
}

// TestWriteErrorsNameTarget ensures an error in creating the temporary
// file names the file asked for, once, and not the temporary file (write
// errors: atomicfile_linux_test.go).
func TestWriteErrorsNameTarget(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, path, want string
	}{
		{"missing directory", filepath.Join(dir, "no", "p.csv"), "create " + filepath.Join(dir, "no", "p.csv") + ": no such file or directory"},
		{"under a file", filepath.Join(dir, "f", "p.csv"), "create " + filepath.Join(dir, "f", "p.csv") + ": not a directory"},
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteBytes(tt.path, []byte("x"))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			var pe *os.PathError
			if !errors.As(err, &pe) || pe.Path != tt.path {
				t.Errorf("error %#v, want an *os.PathError of %s", err, tt.path)
			}
		})
	}
}

// TestPathError ensures pathError keeps the cause of an error about the
// temporary file under the target's name, and leaves one that names the
// target alone.
func TestPathError(t *testing.T) {
	tmp, target := "d/.p.csv.tmp-1", "d/p.csv"
	enospc := errors.New("no space left on device")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"temporary file", &os.PathError{Op: "write", Path: tmp, Err: enospc}, "write d/p.csv: no space left on device"},
		{"wrapped", fmt.Errorf("flush: %w", &os.PathError{Op: "write", Path: tmp, Err: enospc}), "write d/p.csv: no space left on device"},
		{"rename", &os.LinkError{Op: "rename", Old: tmp, New: target, Err: enospc}, "replace d/p.csv: no space left on device"},
		{"already the target", &os.PathError{Op: "write", Path: target, Err: enospc}, "write d/p.csv: no space left on device"},
		{"plain", enospc, "write d/p.csv: no space left on device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := "write"
			if tt.name == "rename" {
				op = "replace"
			}
			err := pathError(op, target, tt.err)
			if err.Error() != tt.want || !errors.Is(err, enospc) {
				t.Errorf("pathError = %q, want %q wrapping the cause", err, tt.want)
			}
		})
	}
}
