// Package shareddata locates the real transaction data sets that sit beside
// the repository in ../shared/data (see PROVENANCE.md there). A user's clone
// lacks that folder, so tests that need it skip; in CI (CI=true) its absence
// is a failure, because those tests are required there.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDir overrides where the data sets are looked for.
const EnvDir = "COHORT_SHARED_DATA"

// Dir returns the data directory and whether it exists. It looks at
// $COHORT_SHARED_DATA, then at ../shared/data above the module root.
func Dir() (string, bool) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, isDir(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(d), "shared", "data")
			return p, isDir(p)
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// Path returns the path of the named data file, skipping the test when the
// data folder is absent, or failing it when CI=true.
func Path(t testing.TB, name string) string {
	t.Helper()
	d, ok := Dir()
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data folder %q is missing, and CI=true requires it", d)
		}
		t.Skipf("shared data folder %q is absent; skipping test on real data", d)
	}
	p := filepath.Join(d, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared data file: %v", err)
	}
	return p
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
