// Package clusterview is the operators' view of a cohort cluster: it reads
// the workers' published statuses and the job records from etcd into a
// Snapshot, derives what people look at (GPU and host rows, job progress,
// straggling ranks) and renders it, as plain text or as the bubbletea model
// behind `cohort top`. Everything but Read is pure, so the view is tested
// without etcd or a terminal.
package clusterview

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// Snapshot is the cluster as etcd held it at one revision.
type Snapshot struct {
	// Time is when the snapshot was read.
	Time time.Time
	// Workers are the live workers, sorted by name.
	Workers []Worker
	// Jobs are the job records, sorted by id.
	Jobs []*cohortv1.Job
}

// Worker is one live worker.
type Worker struct {
	Name string
	// Status is what the worker published; nil when Err says it could not
	// be decoded (a worker of another version, say).
	Status *cohortv1.WorkerStatus
	Err    string
}

// Read reads the workers and jobs from etcd. A worker status or job record
// that does not decode is kept with its error rather than failing the view:
// one bad value must not blind operators to the rest of the cluster.
func Read(ctx context.Context, kv clientv3.KV, now time.Time) (*Snapshot, error) {
	ws, err := kv.Get(ctx, membership.WorkersPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("clusterview: read workers: %w", err)
	}
	// Read the jobs at the workers' revision, so both halves show one moment.
	js, err := kv.Get(ctx, membership.JobsPrefix, clientv3.WithPrefix(), clientv3.WithRev(ws.Header.GetRevision()))
	if err != nil {
		return nil, fmt.Errorf("clusterview: read jobs: %w", err)
	}
	s := &Snapshot{Time: now}
	for _, kvp := range ws.Kvs {
		w := Worker{Name: strings.TrimPrefix(string(kvp.Key), membership.WorkersPrefix), Status: &cohortv1.WorkerStatus{}}
		if err := cohortv1.UnmarshalRecord(kvp.Value, w.Status); err != nil {
			w.Status, w.Err = nil, fmt.Sprintf("status: %v", err)
		}
		s.Workers = append(s.Workers, w)
	}
	for _, kvp := range js.Kvs {
		id := strings.TrimPrefix(string(kvp.Key), membership.JobsPrefix)
		if strings.Contains(id, "/") {
			continue // a job's generation plan or checkpoint pointer
		}
		j := &cohortv1.Job{}
		if err := cohortv1.UnmarshalRecord(kvp.Value, j); err != nil {
			j = &cohortv1.Job{Id: id, Error: fmt.Sprintf("clusterview: job record: %v", err)}
		}
		if j.GetId() == "" {
			j.Id = id
		}
		s.Jobs = append(s.Jobs, j)
	}
	sort.Slice(s.Workers, func(a, b int) bool { return s.Workers[a].Name < s.Workers[b].Name })
	sort.Slice(s.Jobs, func(a, b int) bool { return s.Jobs[a].GetId() < s.Jobs[b].GetId() })
	return s, nil
}
