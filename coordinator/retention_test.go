package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

var retentionNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// finishedJob is a job record that ended ago before retentionNow.
func finishedJob(id string, st cohortv1.JobState, ago time.Duration) *cohortv1.Job {
	at := timestamppb.New(retentionNow.Add(-ago))
	return &cohortv1.Job{Id: id, State: st, CreatedAt: timestamppb.New(retentionNow.Add(-ago - time.Hour)), UpdatedAt: at, FinishedAt: at}
}

func ids(jobs []storedJob) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.rec.GetId())
	}
	slices.Sort(out)
	return out
}

// TestRetentionExpired checks which finished jobs a Retention lets go: by
// age, past the count of the most recently finished, never a PENDING or
// RUNNING one however old, ties by id, and updated_at where a record has
// no finished_at.
func TestRetentionExpired(t *testing.T) {
	const (
		ok     = cohortv1.JobState_JOB_STATE_SUCCEEDED
		failed = cohortv1.JobState_JOB_STATE_FAILED
		cancel = cohortv1.JobState_JOB_STATE_CANCELLED
		run    = cohortv1.JobState_JOB_STATE_RUNNING
		wait   = cohortv1.JobState_JOB_STATE_PENDING
	)
	day := 24 * time.Hour
	noFinishedAt := finishedJob("legacy", ok, 9*day)
	noFinishedAt.FinishedAt = nil
	jobs := []*cohortv1.Job{
		finishedJob("new-ok", ok, time.Hour),
		finishedJob("week-old-failed", failed, 8*day),
		finishedJob("day-old-cancelled", cancel, day),
		finishedJob("old-running", run, 30*day),
		finishedJob("old-pending", wait, 30*day),
		noFinishedAt,
	}
	for _, tc := range []struct {
		name string
		r    Retention
		want []string
	}{
		{"age", Retention{MaxAge: 7 * day, MaxFinished: -1}, []string{"legacy", "week-old-failed"}},
		{"count", Retention{MaxAge: -1, MaxFinished: 2}, []string{"legacy", "week-old-failed"}},
		{"count of one", Retention{MaxAge: -1, MaxFinished: 1}, []string{"day-old-cancelled", "legacy", "week-old-failed"}},
		{"both", Retention{MaxAge: 2 * time.Hour, MaxFinished: 3}, []string{"day-old-cancelled", "legacy", "week-old-failed"}},
		{"off", Retention{MaxAge: -1, MaxFinished: -1}, nil},
		{"short age", Retention{MaxAge: time.Minute, MaxFinished: -1},
			[]string{"day-old-cancelled", "legacy", "new-ok", "week-old-failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stored []storedJob
			for i, j := range jobs {
				stored = append(stored, storedJob{rec: j, rev: int64(i + 1)})
			}
			if got := ids(tc.r.expired(stored, retentionNow)); !slices.Equal(got, tc.want) {
				t.Errorf("expired = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("ties by id", func(t *testing.T) {
		var stored []storedJob
		for _, id := range []string{"c", "a", "b"} {
			stored = append(stored, storedJob{rec: finishedJob(id, ok, time.Hour)})
		}
		got := ids(Retention{MaxAge: -1, MaxFinished: 1}.expired(stored, retentionNow))
		if want := []string{"b", "c"}; !slices.Equal(got, want) {
			t.Errorf("expired = %v, want %v: the same choice whatever etcd's order", got, want)
		}
	})
}

// TestRetentionString checks what Get's error and the logs say is kept.
func TestRetentionString(t *testing.T) {
	for _, tc := range []struct {
		r    Retention
		want string
	}{
		{Retention{MaxAge: 7 * 24 * time.Hour, MaxFinished: 1000}, "finished jobs are kept 7 days, at most 1000"},
		{Retention{MaxAge: 24 * time.Hour, MaxFinished: -1}, "finished jobs are kept 1 day"},
		{Retention{MaxAge: 90 * time.Minute, MaxFinished: -1}, "finished jobs are kept 1h30m0s"},
		{Retention{MaxAge: -1, MaxFinished: 5}, "finished jobs are kept, at most 5"},
		{Retention{MaxAge: -1, MaxFinished: -1}, "finished jobs are kept forever"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

// putBelow writes a key below job id, as plans and checkpoint pointers are.
func putBelow(t *testing.T, cli *clientv3.Client, id, rest string) {
	t.Helper()
	if _, err := cli.Put(t.Context(), membership.JobKey(id)+"/"+rest, "x"); err != nil {
		t.Fatal(err)
	}
}

func keysUnder(t *testing.T, cli *clientv3.Client, prefix string) []string {
	t.Helper()
	resp, err := cli.Get(t.Context(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, strings.TrimPrefix(string(kv.Key), membership.JobsPrefix))
	}
	return keys
}

// TestPruneJobs prunes a real etcd: an expired job goes with its plan,
// checkpoint pointer and cancel key, a job whose id it prefixes keeps
// everything, a running job stays, and nothing goes while the fence fails
// (a deposed leader).
func TestPruneJobs(t *testing.T) {
	cli := jobsEtcd(t)
	day := 24 * time.Hour
	putJobRecord(t, cli, finishedJob("job-1", cohortv1.JobState_JOB_STATE_FAILED, 10*day))
	putJobRecord(t, cli, finishedJob("job-10", cohortv1.JobState_JOB_STATE_SUCCEEDED, time.Hour))
	putJobRecord(t, cli, finishedJob("job-2", cohortv1.JobState_JOB_STATE_RUNNING, 10*day))
	for _, id := range []string{"job-1", "job-10", "job-2"} {
		putBelow(t, cli, id, "gen/00000000000000000003")
		putBelow(t, cli, id, "checkpoint")
	}
	putBelow(t, cli, "job-1", "cancel")
	r := Retention{MaxAge: 7 * day, MaxFinished: -1}
	log := slog.New(slog.DiscardHandler)
	before := keysUnder(t, cli, membership.JobsPrefix)

	deposed := clientv3.Compare(clientv3.Value("/cohort/fence"), "=", "me")
	if n, err := pruneJobs(t.Context(), cli, deposed, r, retentionNow, log); err != nil || n != 0 {
		t.Fatalf("deposed leader: pruned %d, %v; want 0, nil", n, err)
	}
	if got := keysUnder(t, cli, membership.JobsPrefix); !slices.Equal(got, before) {
		t.Fatalf("a deposed leader changed etcd: %v, was %v", got, before)
	}

	leads := clientv3.Compare(clientv3.Version("/cohort/none"), "=", 0)
	n, err := pruneJobs(t.Context(), cli, leads, r, retentionNow, log)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1, nil", n, err)
	}
	want := []string{
		"job-10", "job-10/checkpoint", "job-10/gen/00000000000000000003",
		"job-2", "job-2/checkpoint", "job-2/gen/00000000000000000003",
	}
	if got := keysUnder(t, cli, membership.JobsPrefix); !slices.Equal(got, want) {
		t.Errorf("keys after pruning:\n%v\nwant\n%v", got, want)
	}
	if n, err := pruneJobs(t.Context(), cli, leads, r, retentionNow, log); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v; want 0, nil", n, err)
	}
}

// TestServerPrunesFinishedJobs runs a leading Server with a short
// retention: a finished job's record goes, and Get of the removed job says
// what the coordinator keeps.
func TestServerPrunesFinishedJobs(t *testing.T) {
	cli := jobsEtcd(t)
	old := time.Now().Add(-2 * time.Hour)
	putJobRecord(t, cli, &cohortv1.Job{Id: "job-old", State: cohortv1.JobState_JOB_STATE_SUCCEEDED,
		CreatedAt: timestamppb.New(old), UpdatedAt: timestamppb.New(old), FinishedAt: timestamppb.New(old)})
	s, err := NewServer(ServerConfig{Client: cli, Name: "c1", Listen: "127.0.0.1:0", TTL: 2 * time.Second, Threads: 1,
		Retention: Retention{MaxAge: time.Hour, MaxFinished: -1, Every: 50 * time.Millisecond},
		Logger:    slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	t.Cleanup(func() { stop(); wg.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := ReadJob(t.Context(), cli, "job-old"); errors.Is(err, rpcerr.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the finished job's record was never removed")
		}
	}
	jobs := serveJobs(t, NewJobsService(cli, fakeLeadership{}, JobsOptions{Retention: s.cfg.Retention}))
	_, err = jobs.Get(t.Context(), &cohortv1.GetRequest{JobId: "job-old"})
	if !errors.Is(err, rpcerr.ErrNotFound) || !strings.Contains(err.Error(), "finished jobs are kept 1h0m0s") {
		t.Errorf("Get of a removed job: %v; want not found, naming the retention", err)
	}
}

// TestRetentionFill checks the defaults, and that a short retention is
// checked often enough to hold.
func TestRetentionFill(t *testing.T) {
	for _, tc := range []struct {
		in, want Retention
	}{
		{Retention{}, Retention{MaxAge: DefaultJobRetention, MaxFinished: DefaultMaxFinishedJobs, Every: 10 * time.Minute}},
		{Retention{MaxAge: -1, MaxFinished: -1}, Retention{MaxAge: -1, MaxFinished: -1, Every: 10 * time.Minute}},
		{Retention{MaxAge: 4 * time.Minute}, Retention{MaxAge: 4 * time.Minute, MaxFinished: DefaultMaxFinishedJobs, Every: 2 * time.Minute}},
		{Retention{MaxAge: time.Second}, Retention{MaxAge: time.Second, MaxFinished: DefaultMaxFinishedJobs, Every: time.Second}},
		{Retention{MaxAge: time.Hour, Every: time.Minute}, Retention{MaxAge: time.Hour, MaxFinished: DefaultMaxFinishedJobs, Every: time.Minute}},
	} {
		got := tc.in
		got.fill()
		if got != tc.want {
			t.Errorf("fill(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
