//go:build !unix

package dirlock

import "os"

// tryLock has no lock to take off unix: every caller gets it.
func tryLock(*os.File) (held bool, err error) { return false, nil }

func unlock(*os.File) {}

func tryShared(*os.File) (held bool, err error) { return false, nil }
