//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFeaturesToFIFO ensures --out naming a pipe (or device) writes into it
// rather than renaming a file over it.
func TestFeaturesToFIFO(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(data, []byte("customer_id,date,amount\nA,2020-01-01,1\nB,2020-01-02,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "out.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	if _, _, err := runCohort(t, "features", "--data", data, "--out", fifo); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is no longer a pipe: %v %v", fifo, st.Mode(), err) // and the reader waits forever
	}
	if out := <-got; strings.Count(out, "\n") != 3 || !strings.HasPrefix(out, "customer_id,") {
		t.Errorf("the pipe carried %q, want a header and 2 rows", out)
	}
}
