package clv

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// stdinPipe returns the read end of a pipe that is fed content, as a shell
// pipeline feeds standard input. The read end is closed at cleanup, which
// also ends a write the load did not wait for (an early error).
func stdinPipe(t *testing.T, content []byte) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		w.Write(content) // fails once the reader is closed: nothing to report
		w.Close()
	})
	t.Cleanup(func() { r.Close(); wg.Wait() })
	return r
}

// stdinFile returns content as a regular file opened for reading, as
// "cohort ... --data - <file" gives it.
func stdinFile(t *testing.T, content []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestLoadStdin ensures the path "-" reads standard input, as a pipe or a
// redirected file: CSV and gzip load as from a file, the messages and the
// report name the input "stdin", and Parquet, which needs random access,
// loads from a redirected file but is refused on a pipe with a message
// that says to pass the file (audit8-auto 9).
func TestLoadStdin(t *testing.T) {
	content := render(sampleTxns(), ",", "\n", true)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(content))
	zw.Close()
	type row struct {
		Customer string  `parquet:"customer_id"`
		Date     int32   `parquet:"date,date"`
		Amount   float64 `parquet:"amount"`
	}
	var rows []row
	for _, x := range sampleTxns() {
		rows = append(rows, row{x.id, dayOf(x.day), x.amount})
	}
	pq := filepath.Join(t.TempDir(), "log.parquet")
	if err := parquet.WriteFile(pq, rows); err != nil {
		t.Fatal(err)
	}
	pqBytes, err := os.ReadFile(pq)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := loadString(content, windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "clv: read transactions: stdin: "
	const streamErr = prefix + "a Parquet file cannot be read from a stream (stdin or a pipe): it needs random access; " +
		"pass the file itself with --data, or stream the log as CSV"
	bad := "customer_id,date,amount\nA,2020-01-01,1\nB,2020-01-02,x\n"
	tests := []struct {
		name       string
		stdin      func(*testing.T, []byte) *os.File
		content    []byte
		format     string
		wantFormat string // of a load that succeeds
		wantErr    string
	}{
		{"CSV on a pipe", stdinPipe, []byte(content), "", "csv", ""},
		{"gzip on a pipe", stdinPipe, gz.Bytes(), "", "csv+gzip", ""},
		{"CSV from a file", stdinFile, []byte(content), "", "csv", ""},
		{"gzip from a file", stdinFile, gz.Bytes(), "", "csv+gzip", ""},
		{"Parquet from a file", stdinFile, pqBytes, "", "parquet", ""},
		{"Parquet from a file, --format parquet", stdinFile, pqBytes, "parquet", "parquet", ""},
		{"bad row names stdin", stdinPipe, []byte(bad), "", "",
			`clv: read transactions: stdin:3: column "amount": "x" is not a number`},
		{"Parquet on a pipe", stdinPipe, pqBytes, "", "", streamErr},
		{"Parquet on a pipe, --format parquet", stdinPipe, pqBytes, "parquet", "", streamErr},
		{"CSV on a pipe, --format parquet", stdinPipe, []byte(content), "parquet", "", streamErr},
		{"empty pipe", stdinPipe, nil, "", "", prefix + "the file is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := windowOpts
			o.Format = tc.format
			stdin := tc.stdin(t, tc.content)
			ds, err := loadFile(context.Background(), StdinPath, stdin, o)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error\n got %v\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Report.File != StdinName || ds.Report.Format != tc.wantFormat {
				t.Errorf("report file %q, format %q; want %q, %q", ds.Report.File, ds.Report.Format, StdinName, tc.wantFormat)
			}
			sameCustomers(t, ref, ds)
			// Standard input is the process's: the load leaves it open.
			if _, err := stdin.Stat(); err != nil {
				t.Errorf("stdin after the load: %v", err)
			}
		})
	}
}

// TestLoadStdinProgress ensures Options.Progress works on a pipe, whose
// size is unknown (a total of 0), and counts every byte read.
func TestLoadStdinProgress(t *testing.T) {
	content := render(sampleTxns(), ",", "\n", true)
	var mu sync.Mutex
	last, total := int64(-1), int64(-1)
	o := windowOpts
	o.Progress = func(read, tot int64) {
		mu.Lock()
		defer mu.Unlock()
		last, total = read, tot
	}
	if _, err := loadFile(context.Background(), StdinPath, stdinPipe(t, []byte(content)), o); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if total != 0 || last != int64(len(content)) {
		t.Errorf("last progress %d of %d, want %d of 0 (unknown)", last, total, len(content))
	}
}

// TestLoadStdinPublic ensures Load itself, not only loadFile, reads "-"
// from the process's standard input.
func TestLoadStdinPublic(t *testing.T) {
	content := render(sampleTxns(), ",", "\n", true)
	saved := os.Stdin
	os.Stdin = stdinPipe(t, []byte(content))
	t.Cleanup(func() { os.Stdin = saved })
	ds, err := Load(context.Background(), "-", windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Report.File != "stdin" {
		t.Errorf("report file %q, want stdin", ds.Report.File)
	}
}

// TestLoadParquetStream ensures Parquet bytes on a reader that cannot seek
// (LoadReader on a plain io.Reader) get the same message as on a pipe.
func TestLoadParquetStream(t *testing.T) {
	const want = "clv: read transactions: s.parquet: a Parquet file cannot be read from a stream (stdin or a pipe): " +
		"it needs random access; pass the file itself with --data, or stream the log as CSV"
	for _, format := range []string{"", "parquet"} {
		r := io.MultiReader(strings.NewReader("PAR1\x15\x04PAR1")) // Read only
		_, err := LoadReader(context.Background(), "s.parquet", r, Options{Format: format, Horizon: Horizon{Days: 7}})
		if err == nil || err.Error() != want {
			t.Errorf("format %q: error\n got %v\nwant %s", format, err, want)
		}
	}
}
