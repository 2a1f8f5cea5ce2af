package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/worker"
)

// registration waits until name is registered under a lease other than
// not, and returns that lease.
func registration(t *testing.T, cli *clientv3.Client, name string, not int64) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := cli.Get(t.Context(), membership.WorkerKey(name))
		if err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != 0 && resp.Kvs[0].Lease != not {
			return resp.Kvs[0].Lease
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("worker %s not registered under a new lease within 20 s", name)
	return 0
}

// TestWorkerRejoinsAfterLeaseLoss ensures a worker whose lease ends (here
// revoked, as when it was cut off from etcd longer than the TTL) registers
// again under a new lease in the same process, and that with
// ExitOnLeaseLoss it returns instead.
func TestWorkerRejoinsAfterLeaseLoss(t *testing.T) {
	cli := etcd(t)
	for _, exit := range []bool{false, true} {
		name := "rejoin"
		if exit {
			name = "exit"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ready := make(chan string, 4)
			done := make(chan error, 1)
			go func() {
				done <- worker.Run(ctx, worker.Config{Name: name, Client: cli, TTL: 2 * time.Second, HealthAddr: "127.0.0.1:0",
					Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), ExitOnLeaseLoss: exit,
					Ready: func(addr string) { ready <- addr }})
			}()
			first := registration(t, cli, name, 0)
			addr := <-ready
			if _, err := cli.Revoke(t.Context(), clientv3.LeaseID(first)); err != nil {
				t.Fatal(err)
			}
			if exit {
				select {
				case err := <-done:
					if !errors.Is(err, worker.ErrLeaseLost) {
						t.Fatalf("Run = %v, want the lease loss", err)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("Run did not return within 20 s of the lease loss")
				}
				return
			}
			second := registration(t, cli, name, first)
			if again := <-ready; again != addr {
				t.Errorf("registered again with ring address %s, first %s: want the same server", again, addr)
			}
			t.Logf("lease %x revoked; registered again under %x", first, second)
			if got := registrations(t, cli, name); got != 2 {
				t.Errorf("cohort_worker_registrations_total = %v, want 2", got)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after cancel = %v, want nil", err)
			}
		})
	}
}

// registrations scrapes the worker's cohort_worker_registrations_total
// from the /metrics address its registration publishes.
func registrations(t *testing.T, cli *clientv3.Client, name string) float64 {
	t.Helper()
	resp, err := cli.Get(t.Context(), membership.WorkerKey(name))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read %s's registration: %v", name, err)
	}
	st := &cohortv1.WorkerStatus{}
	if err := protojson.Unmarshal(resp.Kvs[0].Value, st); err != nil || st.GetHealthAddr() == "" {
		t.Fatalf("%s's status %s: %v, want a health address", name, resp.Kvs[0].Value, err)
	}
	r, err := http.Get("http://" + st.GetHealthAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := families["cohort_worker_registrations_total"]
	if !ok || len(f.GetMetric()) != 1 {
		t.Fatalf("/metrics has no cohort_worker_registrations_total")
	}
	return f.GetMetric()[0].GetCounter().GetValue()
}
