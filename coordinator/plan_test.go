package coordinator

import (
	"fmt"
	"math"
	"testing"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

func customers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%05d", i)
	}
	return out
}

// TestPlanRanksAndBalance ensures ranks follow sorted worker names and every
// worker holds close to a fair share of the customers.
func TestPlanRanksAndBalance(t *testing.T) {
	p, err := NewPlan("job", 3, []string{"w-c", "w-a", "w-b", "w-d"})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []string{"w-a", "w-b", "w-c", "w-d"} {
		if r, ok := p.Rank(w); !ok || r != i {
			t.Fatalf("rank of %s = %d, %v; want %d", w, r, ok, i)
		}
	}
	if _, ok := p.Rank("w-z"); ok {
		t.Fatal("a worker outside the plan has a rank")
	}
	cs := customers(40000)
	count := make([]int, len(p.Workers))
	for _, c := range cs {
		count[p.Owner(c)]++
	}
	fair := float64(len(cs)) / float64(len(p.Workers))
	for r, n := range count {
		if math.Abs(float64(n)-fair) > 0.3*fair {
			t.Errorf("rank %d holds %d customers, fair share %.0f", r, n, fair)
		}
	}
}

// TestPlanMovesOnlyWhatMust ensures a worker that leaves hands its customers
// to the others without moving anyone else's, and one that joins takes
// customers only for itself.
func TestPlanMovesOnlyWhatMust(t *testing.T) {
	cs := customers(20000)
	all := names("w", 5)
	before, _ := NewPlan("job", 1, all)
	left, _ := NewPlan("job", 2, append(append([]string{}, all[:2]...), all[3:]...))
	joined, _ := NewPlan("job", 3, append(append([]string{}, all...), "w-new"))
	owner := func(p *Plan, c string) string { return p.Workers[p.Owner(c)] }
	movedOnLeave, movedOnJoin := 0, 0
	for _, c := range cs {
		was := owner(before, c)
		if now := owner(left, c); now != was {
			movedOnLeave++
			if was != all[2] {
				t.Fatalf("customer %s moved from %s to %s although only %s left", c, was, now, all[2])
			}
		}
		if now := owner(joined, c); now != was {
			movedOnJoin++
			if now != "w-new" {
				t.Fatalf("customer %s moved from %s to %s on a join", c, was, now)
			}
		}
	}
	if movedOnLeave == 0 || movedOnJoin == 0 {
		t.Fatalf("moved %d on leave and %d on join, want some of each", movedOnLeave, movedOnJoin)
	}
}

// TestNewPlanRejects ensures plans without workers or with duplicates fail.
func TestNewPlanRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		live []string
	}{{"empty", nil}, {"duplicate", []string{"a", "b", "a"}}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPlan("job", 1, tc.live); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// BenchmarkPlanThousandWorkers measures building a generation plan for 1,000
// workers and placing 100,000 customers on it.
func BenchmarkPlanThousandWorkers(b *testing.B) {
	live := names("worker", 1000)
	cs := customers(100000)
	for b.Loop() {
		p, err := NewPlan("job", 1, live)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			p.Owner(c)
		}
	}
}
