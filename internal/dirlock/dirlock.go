// Package dirlock keeps two cohort processes out of one directory: a
// process takes an advisory lock on a file in it, without waiting, and
// records its pid there so the one refused can name the holder. The lock
// goes with the process, however it ends (the kernel drops it), so a crash
// never leaves a directory locked.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ErrLocked means another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// HeldError is the error of TryLock on a lock another process holds. It
// matches ErrLocked with errors.Is.
type HeldError struct {
	// Path is the lock file.
	Path string
	// PID is the holder's process id as it recorded it; 0 when unknown
	// (an older holder that did not record it, or a platform without
	// locks).
	PID int
}

func (e *HeldError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s: %v (pid %d)", e.Path, ErrLocked, e.PID)
	}
	return fmt.Sprintf("%s: %v", e.Path, ErrLocked)
}

// Unwrap makes errors.Is(err, ErrLocked) hold.
func (e *HeldError) Unwrap() error { return ErrLocked }

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f      *os.File
	path   string
	remove bool // RemoveOnUnlock
	once   sync.Once
}

// Option configures TryLock.
type Option func(*options)

type options struct {
	remove bool
}

// RemoveOnUnlock makes Unlock remove the lock file, for a lock in a
// directory that people read (a run directory), where a file left behind is
// clutter. A crash still leaves it, unlocked; the next TryLock takes it.
//
// Removing a lock file races with a process that opened it just before:
// that one would lock the removed file while a third creates and locks a
// new one. TryLock closes that gap for every caller, with or without this
// option: once it holds the lock it checks that path still names the file
// it locked, and starts over when not. Unlock removes the file before it
// lets the lock go, so a process that gets the lock of a removed file sees
// that it is gone.
func RemoveOnUnlock() Option { return func(o *options) { o.remove = true } }

// maxTries bounds TryLock's start-overs after the file it locked was
// removed or replaced: each is a holder that let go in between, so more
// than a few mean something else keeps replacing the file.
const maxTries = 10

// TryLock takes the lock on the file at path, creating it, without
// waiting. If another process holds it, the error is a *HeldError (which
// matches ErrLocked) naming that process when it recorded its pid. On
// success the file holds this process's pid until Unlock. Without
// RemoveOnUnlock the file itself is never removed.
//
// Off unix there is no lock to take: TryLock always succeeds.
func TryLock(path string, opts ...Option) (*Lock, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for range maxTries {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("dirlock: lock %s: %w", path, err)
		}
		held, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("dirlock: lock %s: %w", path, err)
		}
		if held {
			pid := readPID(f)
			f.Close()
			return nil, &HeldError{Path: path, PID: pid}
		}
		if !stillAt(f, path) {
			// A holder removed the file between our open and our lock
			// (RemoveOnUnlock): the lock we hold is on a file no one else
			// will open.
			unlock(f)
			f.Close()
			continue
		}
		// Best effort: the pid only makes the refusal of the next process
		// more helpful.
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		return &Lock{f: f, path: path, remove: o.remove}, nil
	}
	return nil, fmt.Errorf("dirlock: lock %s: the file was replaced %d times while locking it", path, maxTries)
}

// stillAt reports whether path names the open file f.
func stillAt(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// Unlock releases the lock, and with RemoveOnUnlock removes the file
// first. It is safe to call more than once.
func (l *Lock) Unlock() {
	l.once.Do(func() {
		if l.remove {
			_ = os.Remove(l.path) // best effort: a file left behind is only clutter
		} else {
			_ = l.f.Truncate(0) // no stale pid for the next reader
		}
		unlock(l.f)
		l.f.Close()
	})
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Busy reports whether another open file holds a lock on the existing
// file at path (an flock, as bbolt takes on its database): it takes a
// shared lock without waiting and drops it at once. It is a probe for
// holders that predate TryLock's lock file; a missing file is not busy.
// Off unix it always reports false.
func Busy(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("dirlock: probe %s: %w", path, err)
	}
	defer f.Close()
	held, err := tryShared(f)
	if err != nil {
		return false, fmt.Errorf("dirlock: probe %s: %w", path, err)
	}
	if !held {
		unlock(f)
	}
	return held, nil
}
