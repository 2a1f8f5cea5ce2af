package coordinator

import "syscall"

// childAttr makes the kernel SIGKILL a worker when its parent dies, so a
// crashed `cohort train` leaves no orphans.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
