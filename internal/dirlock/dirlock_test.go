//go:build unix

package dirlock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
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
