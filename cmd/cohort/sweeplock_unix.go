//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockSweepDir takes the lock that says a cohort process has the embedded
// etcd in dir open, without waiting: errSweepInUse when another process
// holds it. The lock goes with the process, however it ends.
func lockSweepDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(sweepLockPath(dir), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock sweep: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errSweepInUse
		}
		return nil, fmt.Errorf("lock sweep: %w", err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
