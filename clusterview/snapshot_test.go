package clusterview

import (
	"context"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// fakeKV answers prefix reads from a map; the other KV methods are not
// used by Read (the nil embedded KV panics if they were).
type fakeKV struct {
	clientv3.KV
	data map[string]string
}

func (f fakeKV) Get(_ context.Context, key string, _ ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	r := &clientv3.GetResponse{Header: &etcdserverpb.ResponseHeader{Revision: 7}}
	for k, v := range f.data {
		if strings.HasPrefix(k, key) {
			r.Kvs = append(r.Kvs, &mvccpb.KeyValue{Key: []byte(k), Value: []byte(v)})
		}
	}
	return r, nil
}

// TestReadDecodesWorkersAndJobs ensures Read decodes workers and job
// records, skips plans and checkpoint pointers, and keeps an undecodable
// status as a worker with an error.
func TestReadDecodesWorkersAndJobs(t *testing.T) {
	st, _ := protojson.Marshal(gpuWorker("w2", 10).Status)
	job, _ := protojson.Marshal(&cohortv1.Job{Id: "job-1", State: cohortv1.JobState_JOB_STATE_RUNNING})
	kv := fakeKV{data: map[string]string{
		membership.WorkerKey("w2"):              string(st),
		membership.WorkerKey("w1"):              "{not json",
		membership.JobKey("job-1"):              string(job),
		membership.GenerationKey("job-1", 1):    `{"jobId":"job-1"}`,
		membership.CheckpointKey("job-1"):       `{}`,
		membership.JobKey("job-0"):              `garbage`,
		membership.Root + "coordinator/elect/1": "x",
	}}
	s, err := Read(t.Context(), kv, snapTime)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Workers) != 2 || s.Workers[0].Name != "w1" || s.Workers[0].Err == "" || s.Workers[1].Status.GetNode().GetHostname() != "w2.host" {
		t.Errorf("workers %+v", s.Workers)
	}
	if len(s.Jobs) != 2 || s.Jobs[0].GetId() != "job-0" || s.Jobs[0].GetError() == "" ||
		s.Jobs[1].GetState() != cohortv1.JobState_JOB_STATE_RUNNING {
		t.Errorf("jobs %v", s.Jobs)
	}
}
