//go:build unix

package dirlock

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTryLock ensures a second TryLock on a held lock fails at once with
// the holder's pid, and that Unlock lets the next one in. flock locks
// belong to open files, so two TryLocks in one process conflict as two
// processes do.
func TestTryLock(t *testing.T) {
	tests := []struct {
		name     string
		unlock   bool // release the first lock before the second try
		wantHeld bool
	}{
		{name: "held", wantHeld: true},
		{name: "released", unlock: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			first, err := TryLock(path)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Unlock()
			if tt.unlock {
				first.Unlock()
				first.Unlock() // twice is fine
			}
			second, err := TryLock(path)
			if !tt.wantHeld {
				if err != nil {
					t.Fatalf("TryLock after Unlock: %v", err)
				}
				second.Unlock()
				return
			}
			var held *HeldError
			if !errors.Is(err, ErrLocked) || !errors.As(err, &held) {
				t.Fatalf("second TryLock: err = %v, want a HeldError", err)
			}
			if held.PID != os.Getpid() || held.Path != path {
				t.Fatalf("HeldError = %+v, want pid %d and path %s", held, os.Getpid(), path)
			}
		})
	}
}

// TestTryLockMissingDir ensures a lock file that cannot be created is an
// error of its own, not ErrLocked.
func TestTryLockMissingDir(t *testing.T) {
	_, err := TryLock(filepath.Join(t.TempDir(), "no", "lock"))
	if err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock in a missing directory: err = %v, want an open error", err)
	}
}

// TestBusy ensures the probe sees another open file's lock, and no lock
// (or no file) as free, without taking the lock for itself.
func TestBusy(t *testing.T) {
	dir := t.TempDir()
	held := filepath.Join(dir, "held")
	l, err := TryLock(held)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	free := filepath.Join(dir, "free")
	if err := os.WriteFile(free, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       bool
	}{
		{"held", held, true},
		{"free", free, false},
		{"missing", filepath.Join(dir, "missing"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Busy(tt.path)
			if err != nil || got != tt.want {
				t.Fatalf("Busy = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	// The probe of a free file left it free.
	l2, err := TryLock(free)
	if err != nil {
		t.Fatalf("TryLock after a probe: %v", err)
	}
	l2.Unlock()
}

// TestRemoveOnUnlock ensures a lock taken with RemoveOnUnlock leaves no
// file once released, that a lock file left by a crash (a stale pid, no
// lock) is taken over, and that a process which opened the file before
// the holder removed it does not count the removed file as the lock: it
// starts over on a new one (stillAt).
func TestRemoveOnUnlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	if err := os.WriteFile(path, []byte("999999999\n"), 0o644); err != nil { // a crashed holder's
		t.Fatal(err)
	}
	l, err := TryLock(path, RemoveOnUnlock())
	if err != nil {
		t.Fatalf("TryLock over a stale lock file: %v", err)
	}
	late, err := os.Open(path) // opened before the holder lets go
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	l.Unlock()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Unlock: %v, want the lock file gone", err)
	}
	if held, err := tryLock(late); err != nil || held {
		t.Fatalf("lock of the removed file: held %v, %v", held, err)
	}
	if stillAt(late, path) {
		t.Error("stillAt: the removed file counts as the lock")
	}
	l2, err := TryLock(path, RemoveOnUnlock())
	if err != nil {
		t.Fatalf("TryLock after the removal: %v", err)
	}
	if !stillAt(l2.f, path) {
		t.Error("stillAt: the new lock file does not count")
	}
	l2.Unlock()
}

// TestRemoveOnUnlockExclusive ensures that lockers which remove the file
// on Unlock never hold the lock two at a time: goroutines take and release
// it in a loop (two TryLocks in one process conflict as two processes do)
// and count the holders.
func TestRemoveOnUnlockExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	var holders, most, taken atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				l, err := TryLock(path, RemoveOnUnlock())
				if errors.Is(err, ErrLocked) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				n := holders.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				taken.Add(1)
				time.Sleep(20 * time.Microsecond) // let others open the file meanwhile
				holders.Add(-1)
				l.Unlock()
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 || taken.Load() == 0 {
		t.Errorf("at most %d holders at once (%d locks taken), want 1", most.Load(), taken.Load())
	}
}
