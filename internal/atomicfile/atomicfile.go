// Package atomicfile writes files so that readers see the old content or the
// complete new content, never half a file, and a failed write leaves no
// trace: the data goes to a temporary file in the same directory, which is
// synced and renamed over the target, and the directory is synced so the
// rename survives a crash.
//
// A target that exists and is not a regular file (/dev/null, /dev/stdout, a
// FIFO) is written in place instead: renaming over it would replace the
// device with a file.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Mode is the permission of written files: outputs are meant to be shared,
// while os.CreateTemp makes 0600 files.
const Mode os.FileMode = 0o644

// Write replaces path with what write produces. write gets a buffered
// writer; its error aborts the replacement and is returned as is.
func Write(path string, write func(io.Writer) error) (err error) {
	if st, serr := os.Stat(path); serr == nil && !st.Mode().IsRegular() && !st.IsDir() {
		return writeInPlace(path, write)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(Mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		// Best effort: some file systems cannot sync a directory.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteBytes replaces path with data.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func writeInPlace(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	werr := write(bw)
	if werr == nil {
		werr = bw.Flush()
	}
	return errors.Join(werr, f.Close())
}
