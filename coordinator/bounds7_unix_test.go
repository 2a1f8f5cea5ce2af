//go:build unix

package coordinator

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestReadableRefusesSpecialFiles ensures readable takes regular files only
// and names what a path is instead, without opening (and blocking on) it.
func TestReadableRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	file, fifo, sock := filepath.Join(dir, "data.csv"), filepath.Join(dir, "fifo"), filepath.Join(dir, "s.sock")
	if err := os.WriteFile(file, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("unix", sock); err == nil {
		defer l.Close()
	} else {
		sock = ""
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	fileLink := filepath.Join(dir, "filelink")
	if err := os.Symlink(file, fileLink); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string // want "": readable
	}{
		{"regular file", file, ""},
		{"link to a regular file", fileLink, ""},
		{"directory", dir, "is a directory"},
		{"FIFO", fifo, "is a named pipe (FIFO), not a regular file"},
		{"link to a FIFO", link, "is a named pipe (FIFO)"},
		{"socket", sock, "is a socket"},
		{"character device", "/dev/null", "is a character device"},
		{"missing", filepath.Join(dir, "nope"), "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path == "" {
				t.Skip("no unix socket here")
			}
			done := make(chan error, 1)
			go func() { done <- readable(tc.path) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("readable(%s) blocked", tc.path)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("readable = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("readable = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestSubmitFIFOReturnsPromptly is the audit's repro: a Submit whose
// data_path is a FIFO with no writer used to block in open(2) while it held
// submitMu, so every later Submit hung too. It must now be refused at once
// with INVALID_ARGUMENT, and the next Submit must go through.
func TestSubmitFIFOReturnsPromptly(t *testing.T) {
	cli := jobsEtcd(t)
	dir := t.TempDir()
	fifo, data := filepath.Join(dir, "fifo"), filepath.Join(dir, "data.csv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := NewJobsService(cli, fakeLeadership{}, JobsOptions{Name: "c1", Host: "vm"})
	spec := func(path, out string) *cohortv1.JobSpec {
		return &cohortv1.JobSpec{Source: &cohortv1.JobSpec_DataPath{DataPath: path},
			OutDir: filepath.Join(dir, out), Read: &cohortv1.ReadOptions{Horizon: "39w"}}
	}
	for _, tc := range []struct {
		name, path, out, want string
	}{
		{"FIFO", fifo, "a", "spec.data_path " + fifo + ": is a named pipe (FIFO), not a regular file"},
		{"device", "/dev/zero", "b", "is a character device"},
		{"regular file after them", data, "c", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := svc.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: spec(tc.path, tc.out)})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Submit blocked")
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Submit = %v", err)
				}
				return
			}
			if !errors.Is(err, rpcerr.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Submit = %v, want INVALID_ARGUMENT naming %q", err, tc.want)
			}
		})
	}
}
