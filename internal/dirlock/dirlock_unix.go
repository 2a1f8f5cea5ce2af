//go:build unix

package dirlock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLock takes an exclusive flock on f without waiting: held reports that
// another open file (another process, or another TryLock in this one)
// holds it.
func tryLock(f *os.File) (held bool, err error) { return flock(f, unix.LOCK_EX) }

// tryShared takes a shared flock on f without waiting: held reports that
// another open file holds an exclusive one.
func tryShared(f *os.File) (held bool, err error) { return flock(f, unix.LOCK_SH) }

func flock(f *os.File, how int) (held bool, err error) {
	for {
		err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}

func unlock(f *os.File) { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }
