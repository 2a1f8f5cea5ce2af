package clusterview_test

import (
	"fmt"

	"github.com/cohort-clv/cohort/clusterview"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// Ranks compares each rank's compute time before the allreduce with its
// job's median and flags the ranks more than StragglerFactor slower.
func ExampleRanks() {
	worker := func(name string, rank uint32, compute float64) clusterview.Worker {
		return clusterview.Worker{Name: name, Status: &cohortv1.WorkerStatus{Node: &cohortv1.NodeStatus{
			Activity: &cohortv1.WorkerActivity{JobId: "clv-1", Rank: rank, ComputeSeconds: compute}}}}
	}
	s := &clusterview.Snapshot{Workers: []clusterview.Worker{
		worker("a", 0, 0.10), worker("b", 1, 0.11), worker("c", 2, 0.30),
	}}
	for _, r := range clusterview.Ranks(s) {
		fmt.Printf("%s rank %d: %.2fx median, straggler %v\n", r.Worker, r.Rank, r.Ratio, r.Straggler)
	}
	// Output:
	// a rank 0: 0.91x median, straggler false
	// b rank 1: 1.00x median, straggler false
	// c rank 2: 2.73x median, straggler true
}
