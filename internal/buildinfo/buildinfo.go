// Package buildinfo says which cohort build is running, for `cohort
// version` and for the run records (metrics.json) that must say which
// build produced them.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Info is what the binary knows about its own build.
type Info struct {
	Version  string `json:"version"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Revision string `json:"revision,omitempty"` // VCS commit, when the build recorded it
	Modified bool   `json:"modified,omitempty"` // the tree had uncommitted changes
}

// Read returns the running binary's build information. The version is the
// module version, "(devel)" for a build from a checkout.
func Read() Info {
	b := Info{Version: "(devel)", Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// Short is the version with the commit it was built from, e.g.
// "(devel) 4c14f2f1a2b3+dirty", for a record of which build ran.
func (b Info) Short() string {
	s := b.Version
	if b.Revision != "" {
		s += " " + b.Revision[:min(12, len(b.Revision))]
		if b.Modified {
			s += "+dirty"
		}
	}
	return s
}
