//go:build unix

package main

import (
	"errors"
	"fmt"

	"github.com/cohort-clv/cohort/internal/dirlock"
)

// lockSweepDir takes the lock that says a cohort process has the embedded
// etcd in dir open, without waiting: errSweepInUse when another process
// holds it. The lock goes with the process, however it ends.
func lockSweepDir(dir string) (unlock func(), err error) {
	l, err := dirlock.TryLock(sweepLockPath(dir))
	if errors.Is(err, dirlock.ErrLocked) {
		return nil, errSweepInUse
	}
	if err != nil {
		return nil, fmt.Errorf("lock sweep: %w", err)
	}
	return l.Unlock, nil
}
