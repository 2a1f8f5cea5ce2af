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
	"io"
	"os"
	"path/filepath"
)

// Mode is the permission of written files: outputs are meant to be shared,
// while os.CreateTemp makes 0600 files.
const Mode os.FileMode = 0o644

// Write replaces path with what write produces. write gets a buffered
// writer; its error aborts the replacement and is returned as is.
//
// Errors name path, never the hidden temporary file the data goes to
// first: "write out/p.csv: no space left on device". That holds for the
// errors write gets from the writer too.
func Write(path string, write func(io.Writer) error) (err error) {
	if st, serr := os.Stat(path); serr == nil && !st.Mode().IsRegular() && !st.IsDir() {
		return writeInPlace(path, write)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return pathError("create", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(targetWriter{f: f, path: path}, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return pathError("write", path, err)
	}
	if err := f.Chmod(Mode); err != nil {
		return pathError("chmod", path, err)
	}
	if err := f.Sync(); err != nil {
		return pathError("sync", path, err)
	}
	if err := f.Close(); err != nil {
		return pathError("close", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return pathError("replace", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		// Best effort: some file systems cannot sync a directory.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// targetWriter writes to the temporary file f, reporting its errors as
// errors of path, the file the user asked for.
type targetWriter struct {
	f    *os.File
	path string
}

func (w targetWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = pathError("write", w.path, err)
	}
	return n, err
}

// pathError is err as an *os.PathError of op on path. The *os.PathError
// or *os.LinkError that err wraps names the temporary file, so only its
// cause is kept; one that already names path is returned as is, so that
// the path is not said twice.
func pathError(op, path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		if pe.Path == path {
			return err
		}
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return &os.PathError{Op: op, Path: path, Err: err}
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
		return err // an *os.PathError that names path
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	werr := write(bw)
	if werr == nil {
		werr = bw.Flush()
	}
	return errors.Join(werr, f.Close())
}
