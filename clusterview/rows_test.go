package clusterview

import (
	"testing"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestRanksFlagsStragglers ensures a rank is flagged exactly when its
// compute time per step exceeds 1.5x its job generation's median.
func TestRanksFlagsStragglers(t *testing.T) {
	tests := []struct {
		name    string
		compute []float64
		want    []bool
	}{
		{"all equal", []float64{1, 1, 1, 1}, []bool{false, false, false, false}},
		{"one slow", []float64{1, 1, 1, 2}, []bool{false, false, false, true}},
		{"just under the factor", []float64{1, 1, 1.5}, []bool{false, false, false}},
		{"one rank alone", []float64{9}, []bool{false}},
		{"unknown compute is never flagged", []float64{0, 1, 1, 3}, []bool{false, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Snapshot{}
			for i, c := range tt.compute {
				s.Workers = append(s.Workers, training(cpuWorker(string(rune('a'+i)), 0.5), "job", uint32(i), c))
			}
			rows := Ranks(s)
			if len(rows) != len(tt.want) {
				t.Fatalf("%d rows, want %d", len(rows), len(tt.want))
			}
			for i, r := range rows {
				if r.Straggler != tt.want[i] {
					t.Errorf("rank %d (%.2fs, ratio %.2f): straggler %v, want %v", r.Rank, r.ComputeSeconds, r.Ratio, r.Straggler, tt.want[i])
				}
			}
		})
	}
}

// TestRanksComparesWithinJob ensures ranks of different jobs are not
// compared with each other.
func TestRanksComparesWithinJob(t *testing.T) {
	s := &Snapshot{Workers: []Worker{
		training(cpuWorker("a", 0), "fast", 0, 0.1), training(cpuWorker("b", 0), "fast", 1, 0.1),
		training(cpuWorker("c", 0), "slow", 0, 5), training(cpuWorker("d", 0), "slow", 1, 5),
	}}
	for _, r := range Ranks(s) {
		if r.Straggler || r.Ratio != 1 {
			t.Errorf("%s rank %d: ratio %v straggler %v, want 1 and false", r.Job, r.Rank, r.Ratio, r.Straggler)
		}
	}
}

// TestClusterOfKeepsAbsentReadings ensures missing readings stay nil and
// workers without GPUs or without a status appear as host rows.
func TestClusterOfKeepsAbsentReadings(t *testing.T) {
	w := gpuWorker("g", 50)
	w.Status.Node.Gpus[0].PowerMilliwatts = nil
	s := &Snapshot{Workers: []Worker{w, cpuWorker("c", 0.25), {Name: "new", Status: &cohortv1.WorkerStatus{}},
		{Name: "bad", Err: "status: bad json"}}}
	c := ClusterOf(s)
	if len(c.GPUs) != 1 || c.GPUs[0].PowerWatts != nil || *c.GPUs[0].UtilizationPercent != 50 {
		t.Fatalf("gpus %+v", c.GPUs)
	}
	if len(c.Hosts) != 4 {
		t.Fatalf("%d hosts, want 4", len(c.Hosts))
	}
	if h := c.Hosts[1]; h.GPUs != 0 || h.NVMLError == "" || *h.CPUBusy != 0.25 {
		t.Errorf("cpu host %+v", h)
	}
	if c.Hosts[2].Err == "" || c.Hosts[3].Err != "status: bad json" {
		t.Errorf("missing statuses not explained: %q, %q", c.Hosts[2].Err, c.Hosts[3].Err)
	}
}

// TestJobsProgress ensures progress is epoch over max_epochs, 1 once the
// job succeeded, and unknown without a maximum.
func TestJobsProgress(t *testing.T) {
	spec := func(max uint32) *cohortv1.JobSpec {
		return &cohortv1.JobSpec{Model: &cohortv1.ModelConfig{MaxEpochs: max}}
	}
	s := &Snapshot{Jobs: []*cohortv1.Job{
		{Id: "a", State: cohortv1.JobState_JOB_STATE_RUNNING, Epoch: 5, Spec: spec(20)},
		{Id: "b", State: cohortv1.JobState_JOB_STATE_SUCCEEDED, Epoch: 7, Spec: spec(20)},
		{Id: "c", State: cohortv1.JobState_JOB_STATE_RUNNING, Epoch: 3},
	}}
	want := []float64{0.25, 1, -1}
	for i, j := range Jobs(s) {
		if j.Progress != want[i] {
			t.Errorf("job %s: progress %v, want %v", j.ID, j.Progress, want[i])
		}
	}
	if got := Jobs(s)[0].State; got != "RUNNING" {
		t.Errorf("state %q", got)
	}
}
