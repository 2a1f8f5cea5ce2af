package coordinator

import (
	"slices"
	"testing"
)

// TestPoolClaimAllOrNothing checks the Server's pool: a job that cannot
// get as many workers as it needs holds none of them (so another waiting
// job does not count them busy), one that can takes up to its maximum,
// and the free count a waiting message reads counts only workers other
// jobs hold.
func TestPoolClaimAllOrNothing(t *testing.T) {
	s := &Server{held: map[string]string{}, freed: make(chan struct{})}
	var a, b, c Config
	s.pool(&a, "job-a")
	s.pool(&b, "job-b")
	s.pool(&c, "job-c")
	workers := []string{"w0", "w1"}
	for _, step := range []struct {
		name       string
		claim      func(names []string, n, atLeast int) ([]string, int)
		n, atLeast int
		want       []string
		wantFree   int
	}{
		{"a needs 3 of 2: takes none", a.Claim, 3, 3, nil, 2},
		{"b needs 3 of 2: sees both free", b.Claim, 3, 3, nil, 2},
		{"c needs 1: takes one", c.Claim, 1, 1, []string{"w0"}, 2},
		{"a needs 2: one is busy", a.Claim, 2, 2, nil, 1},
		{"b takes what is left", b.Claim, 5, 1, []string{"w1"}, 1},
		{"c again: keeps its own", c.Claim, 2, 1, []string{"w0"}, 1},
	} {
		got, free := step.claim(workers, step.n, step.atLeast)
		if !slices.Equal(got, step.want) || free != step.wantFree {
			t.Errorf("%s: got %v, %d free; want %v, %d free", step.name, got, free, step.want, step.wantFree)
		}
	}
	if want := map[string]string{"w0": "job-c", "w1": "job-b"}; len(s.held) != 2 || s.held["w0"] != want["w0"] || s.held["w1"] != want["w1"] {
		t.Errorf("held %v, want %v", s.held, want)
	}
}
