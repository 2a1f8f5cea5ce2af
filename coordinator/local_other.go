//go:build !linux

package coordinator

import "syscall"

// childAttr is empty where there is no Pdeathsig; Stop ends the workers.
func childAttr() *syscall.SysProcAttr { return nil }
