//go:build unix

package proc

import (
	"errors"

	"golang.org/x/sys/unix"
)

// alive sends signal 0, which checks that pid exists without touching it:
// EPERM means it exists but belongs to another user.
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
