package main

// Output paths of the commands that write one file or one directory.

import (
	"fmt"
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
