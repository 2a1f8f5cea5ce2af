package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// goroutinesIn counts the goroutines whose stack holds fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// TestWatchCancelsAreJoined ensures the watches that cancel a job have
// ended when the function watchCancels returns does, whether a cancel
// request ended them or the job did: they once outlived the job's run and
// called etcd after the Server believed its jobs had stopped.
func TestWatchCancelsAreJoined(t *testing.T) {
	cli := jobsEtcd(t)
	s := &Server{cfg: ServerConfig{Client: cli, Logger: slog.New(slog.DiscardHandler)}}
	for _, tc := range []struct {
		name   string
		cancel bool // put the job's cancel key
	}{
		{"cancel requested", true},
		{"job ended", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "watch-" + strings.ReplaceAll(tc.name, " ", "-")
			r := &serverRun{s: s, j: newJob(Config{Client: cli, JobID: id}, "")}
			jctx, cancel := context.WithCancelCause(t.Context())
			stop := r.watchCancels(jctx, cancel)
			if tc.cancel {
				if _, err := cli.Put(t.Context(), CancelKey(id), "enough"); err != nil {
					t.Fatal(err)
				}
				select {
				case <-jctx.Done():
				case <-time.After(10 * time.Second):
					t.Fatal("the cancel request did not cancel the job")
				}
				if cr := (errCancelRequested{}); !errors.As(context.Cause(jctx), &cr) || cr.reason != "enough" {
					t.Errorf("cause %v, want the cancel request", context.Cause(jctx))
				}
			}
			stop()
			if n := goroutinesIn("(*serverRun).watchKey"); n != 0 {
				t.Errorf("%d watches still running after stop", n)
			}
		})
	}
}

// TestStartLocalHonoursContext ensures StartLocal starts no worker once
// its context has ended, and that the workers it starts outlive it.
func TestStartLocalHonoursContext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
	}{
		{"live", false},
		{"cancelled", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			if tc.cancel {
				cancel()
			}
			lw, err := StartLocal(ctx, LocalConfig{Exe: "/bin/sh", Args: func(int) []string { return []string{"-c", "sleep 30"} }, N: 2,
				Logger: slog.New(slog.DiscardHandler)})
			cancel()
			if tc.cancel {
				if !errors.Is(err, context.Canceled) || lw != nil {
					t.Fatalf("StartLocal = %v, %v; want no workers and context.Canceled", lw, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer lw.Stop()
			select {
			case err := <-lw.Exited():
				t.Errorf("a worker ended with its start's context: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestSubmitValidatesRequest ensures Submit checks the whole request
// (SubmitRequest.Validate), its request_id's encoding included.
func TestSubmitValidatesRequest(t *testing.T) {
	svc := newTestJobs(jobsEtcd(t), fakeLeadership{}, JobsOptions{})
	for _, tc := range []struct {
		name string
		rid  string
		want error
	}{
		{"no request id", "", nil},
		{"request id", "retry-1", nil},
		{"request id too long", strings.Repeat("r", cohortv1.MaxIDLen+1), rpcerr.ErrInvalidArgument},
		{"request id not UTF-8", "r\xff", rpcerr.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := validSpecProto()
			spec.OutDir = "/runs/" + t.Name() // one PENDING job per out_dir
			_, err := svc.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: spec, RequestId: tc.rid})
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Submit = %v, want %v", err, tc.want)
			}
		})
	}
}
