package main

// Output paths of the commands that write one file or one directory.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// checkOutFile refuses an --out file that names a directory before any
// work is done: the write at the end would fail on renaming its temporary
// file. example is a file name to suggest inside it.
func checkOutFile(path, example string) error {
	if path == "-" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--out %s is a directory: name a file, e.g. %s", path, filepath.Join(path, example))
	}
	return nil
}

// makeDirs creates dir and its missing parents, as train does with its
// --out, and returns undo, which removes the directories it created that
// are still empty: a failed command leaves no empty run directory behind,
// while one that holds anything (a checkpoint to --resume from) stays, as
// does every directory that existed before.
func makeDirs(dir string) (undo func(), err error) {
	var created []string // deepest first
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--out: create directory: %w", err)
	}
	return func() {
		for _, d := range created {
			if os.Remove(d) != nil { // not empty, or gone: leave it and its parents
				return
			}
		}
	}, nil
}

// makeOutFileDir creates the missing directories above the --out file path
// (nothing for "-"); undo is as makeDirs'.
func makeOutFileDir(path string) (undo func(), err error) {
	if path == "-" {
		return func() {}, nil
	}
	return makeDirs(filepath.Dir(path))
}

// toStdout reports whether the --out path writes into standard output:
// "-", a name of it (/dev/stdout, /dev/fd/1, /proc/self/fd/1), or the
// file stdout already is (`> p.csv` with --out p.csv). The commands then
// keep their summaries off stdout, as for "-", so the data is not mixed
// with them.
func toStdout(path string, stdout io.Writer) bool {
	if path == "-" {
		return true
	}
	switch filepath.Clean(path) {
	case "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1":
		return true
	}
	f, ok := stdout.(*os.File)
	if !ok {
		return false
	}
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// errWriter keeps the first error of the writes through it, which
// fmt.Fprintf's callers ignore, so that a summary that could not be
// written (stdout on a full disk) fails the command instead of exiting 0.
// After an error it writes nothing more.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// ctxWriter fails every write once ctx is done, so that a long write to a
// stream stops at Ctrl-C or SIGTERM, with ctx's error.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// stoppedAfter is nil, or, when a stop (Ctrl-C, SIGTERM) was requested by
// the time a command had written out, the interruption, saying that out
// is whole: the command exits 130/143 as interrupted, never 0, so that a
// scheduler that stopped it does not read success.
func stoppedAfter(ctx context.Context, out string) error {
	if err := ctx.Err(); err != nil {
		if out == "-" {
			out = "stdout"
		}
		return &hintError{err: err, hint: out + " was written whole before the stop"}
	}
	return nil
}
