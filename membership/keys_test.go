package membership

import (
	"slices"
	"strings"
	"testing"
)

// TestGenerationKeyOrder ensures generation keys sort in etcd's byte order
// as their numbers do, so the newest plan is the last of a prefix read.
func TestGenerationKeyOrder(t *testing.T) {
	gens := []uint64{0, 1, 9, 10, 11, 99, 100, 1 << 40, ^uint64(0)}
	var keys []string
	for _, g := range gens {
		k := GenerationKey("job-1", g)
		if !strings.HasPrefix(k, GenerationsPrefix("job-1")) || !strings.HasPrefix(k, JobKey("job-1")+"/") {
			t.Fatalf("GenerationKey(%d) = %q, outside its job", g, k)
		}
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) {
		t.Fatalf("generation keys out of numeric order: %q", keys)
	}
	if w := WorkerKey("w"); !strings.HasPrefix(w, WorkersPrefix) || strings.HasPrefix(w, JobsPrefix) {
		t.Fatalf("WorkerKey = %q", w)
	}
}

// TestValidName ensures names that would change the key layout are refused.
func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"worker-0", true}, {"gpu_3.host-a", true}, {strings.Repeat("a", MaxNameBytes), true},
		{"", false}, {"a/b", false}, {"..", true}, {"a b", false}, {"é", false},
		{strings.Repeat("a", MaxNameBytes+1), false},
	} {
		if err := ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
