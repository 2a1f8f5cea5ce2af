//go:build !linux

package gpustats

// defaultProcRoot is empty off Linux: there is no /proc, so host stats are absent.
const defaultProcRoot = ""
