package coordinator

import (
	"context"
	"fmt"
	"sync"
	"testing"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestJobWritesKeepTheirOrder ensures etcd ends up with the job's last
// record when progress writes race with End: every write reaches etcd in
// the order its record was formed. (A progress write formed before End
// and committed after it once left a pruned sweep trial RUNNING.)
func TestJobWritesKeepTheirOrder(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	for round := range 20 {
		j := newJob(Config{Client: cli, JobID: fmt.Sprintf("race-%d", round)}, "")
		if err := j.put(ctx, func(r *cohortv1.Job) { r.State = cohortv1.JobState_JOB_STATE_RUNNING }); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for range 5 {
					if err := j.put(ctx, func(r *cohortv1.Job) { r.Epoch++ }); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Go(func() {
			if err := j.End(ctx, nil, context.Canceled); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		rec, err := ReadJob(ctx, cli, j.ID())
		if err != nil {
			t.Fatal(err)
		}
		if rec.GetState() != cohortv1.JobState_JOB_STATE_CANCELLED || rec.GetEpoch() != 32*5 {
			t.Fatalf("round %d: etcd holds %v at epoch %d, want CANCELLED at epoch %d (the last record formed)",
				round, rec.GetState(), rec.GetEpoch(), 32*5)
		}
	}
}
