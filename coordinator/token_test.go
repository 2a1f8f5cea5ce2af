package coordinator

import (
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/job"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestShardNeedsToken ensures Data.Shard serves a generation's rows only to
// a request that carries its token (audit 7 net #4: any Jobs-API client
// could once download a rank's rows).
func TestShardNeedsToken(t *testing.T) {
	j, _ := reportJob(t, nil)
	svc := dataService{jobs: func(id string) (*Job, bool) { return j, id == "j" }}
	for _, tc := range []struct {
		name  string
		token []byte
	}{
		{"none", nil},
		{"wrong", []byte("0123456789abcdeF")},
		{"prefix", testToken[:8]},
	} {
		req := &cohortv1.ShardRequest{JobId: "j", Generation: 1, Rank: 0, WorldSize: 2, Split: cohortv1.Split_SPLIT_TRAIN,
			Token: tc.token}
		if err := svc.Shard(req, nil); !errors.Is(err, rpcerr.ErrPermissionDenied) {
			t.Errorf("%s: Shard = %v, want ErrPermissionDenied", tc.name, err)
		}
	}
}

// TestReportChecksAgainstJob ensures reports are checked against the job
// and its generation, not only their own bounds: the token, epochs within
// max_epochs, steps within what the job takes, and checkpoint files where
// the job writes them (audit 7 net #4, #5, #6).
func TestReportChecksAgainstJob(t *testing.T) {
	_, g := reportJob(t, nil)
	g.prep.Spec.Model.MaxEpochs = 10 // 10 rows, batch 256 by default: one step an epoch, 10 steps
	j := newJob(Config{Client: jobsEtcd(t), JobID: "j", CheckpointDir: "/ckpt", Logger: slog.New(slog.DiscardHandler)}, "")
	j.gen = g
	if err := j.put(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	svc := reportService{jobs: func(id string) (*Job, bool) { return j, id == "j" }}
	sha := strings.Repeat("ab", 32)
	ckpt := func(step uint64, path string) *cohortv1.ReportRequest_Checkpoint {
		return &cohortv1.ReportRequest_Checkpoint{Checkpoint: &cohortv1.CheckpointPointer{Step: step, Epoch: 1, Path: path,
			Sha256: sha, Bytes: 100}}
	}
	name := func(step int) string { return "/ckpt/" + job.CheckpointName("j", step) }
	epoch := func(e uint32, steps uint64) *cohortv1.ReportRequest_Epoch {
		return &cohortv1.ReportRequest_Epoch{Epoch: &cohortv1.EpochStats{Epoch: e, TrainLoss: 0.5, Steps: steps}}
	}
	for _, tc := range []struct {
		name   string
		report any
		token  []byte
		want   error // nil: taken
	}{
		{"epoch", epoch(3, 3), testToken, nil},
		{"epoch without token", epoch(3, 3), nil, rpcerr.ErrPermissionDenied},
		{"error without token", &cohortv1.ReportRequest_Error{Error: "forged: boom"}, nil, rpcerr.ErrPermissionDenied},
		{"epoch past max_epochs", epoch(11, 3), testToken, rpcerr.ErrInvalidArgument},
		{"epoch 2^32-1", epoch(math.MaxUint32, 3), testToken, rpcerr.ErrInvalidArgument},
		{"steps past the job's", epoch(3, 11), testToken, rpcerr.ErrInvalidArgument},
		{"NaN loss", &cohortv1.ReportRequest_Epoch{Epoch: &cohortv1.EpochStats{Epoch: 1, TrainLoss: math.NaN()}}, testToken,
			rpcerr.ErrInvalidArgument},
		{"checkpoint", ckpt(5, name(5)), testToken, nil},
		{"checkpoint without token", ckpt(6, name(6)), nil, rpcerr.ErrPermissionDenied},
		{"checkpoint step 2^64-1", ckpt(math.MaxUint64, name(5)), testToken, rpcerr.ErrInvalidArgument},
		{"checkpoint past the job's steps", ckpt(11, name(11)), testToken, rpcerr.ErrInvalidArgument},
		{"checkpoint outside the dir", ckpt(6, "/etc/passwd"), testToken, rpcerr.ErrInvalidArgument},
		{"checkpoint of another step", ckpt(6, name(7)), testToken, rpcerr.ErrInvalidArgument},
		{"checkpoint escaping the dir", ckpt(6, "/ckpt/../etc/"+job.CheckpointName("j", 6)), testToken, rpcerr.ErrInvalidArgument},
		{"checkpoint older, kept out", ckpt(4, name(4)), testToken, nil},
		{"checkpoint newer, cleaned path", ckpt(8, "/ckpt/./"+job.CheckpointName("j", 8)), testToken, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &cohortv1.ReportRequest{JobId: "j", Generation: 1, Rank: 0, Worker: "w0", Token: tc.token}
			switch r := tc.report.(type) {
			case *cohortv1.ReportRequest_Epoch:
				req.Report = r
			case *cohortv1.ReportRequest_Error:
				req.Report = r
			case *cohortv1.ReportRequest_Checkpoint:
				req.Report = r
			}
			_, err := svc.Report(t.Context(), req)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Report = %v, want %v", err, tc.want)
			}
			select {
			case <-g.reports:
			default:
			}
		})
	}
	// The recorded pointer is the newest good one; never the forged or
	// older ones.
	if c := j.lastCheckpoint(); c.GetStep() != 8 || c.GetPath() != name(8) {
		t.Errorf("recorded checkpoint %d at %q, want step 8 at %q", c.GetStep(), c.GetPath(), name(8))
	}
}
