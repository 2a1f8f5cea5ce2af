// Package proc answers questions about processes on this machine.
package proc

// Alive reports whether a process with id pid runs on this machine (a
// zombie not yet reaped counts). Where it cannot tell (off unix), it says
// true: callers treat a live process as the cautious answer.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return alive(pid)
}
