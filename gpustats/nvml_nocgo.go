//go:build !(cgo && linux)

package gpustats

import "fmt"

// OpenNVML always fails in a binary built without cgo (the static default
// build) or off Linux: go-nvml needs cgo to dlopen libnvidia-ml.
func OpenNVML() (Driver, error) {
	return nil, fmt.Errorf("%w: built without cgo", ErrNVMLUnavailable)
}
