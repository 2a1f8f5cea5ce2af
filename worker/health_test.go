package worker_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/cohort-clv/cohort/internal/etcdtest"
	"github.com/cohort-clv/cohort/internal/freeport"
	"github.com/cohort-clv/cohort/worker"
)

// TestHealthzStates ensures /healthz tells a worker that has not registered
// yet from one that is registered and from one whose lease was lost. The
// first used to answer "lease lost" as well, which misled operators and
// probes while etcd was slow to grant the first lease.
func TestHealthzStates(t *testing.T) {
	endpoints, admin := etcdtest.Start(t)
	// The worker's own client holds lease grants at a gate, so the test
	// can look at /healthz while the first registration is under way.
	gate := make(chan struct{})
	granting := make(chan struct{}, 1)
	hold := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == etcdserverpb.Lease_LeaseGrant_FullMethodName {
			select {
			case granting <- struct{}{}:
			default:
			}
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(hold)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })

	const name = "health"
	w := startProbedWorker(t, cli, name) // it publishes its health address only once registered
	health, ready := w.health, w.ready
	granted := func(t *testing.T) {
		select {
		case <-granting:
		case <-time.After(20 * time.Second):
			t.Fatal("worker asked for no lease within 20 s")
		}
	}
	registered := func(t *testing.T) {
		select {
		case <-ready:
		case <-time.After(20 * time.Second):
			t.Fatal("worker not registered within 20 s")
		}
	}

	// Each phase brings the worker into a state; /healthz may still give
	// the previous phase's answer for a while (a revoked lease is noticed
	// at the next keep-alive), but nothing else.
	phases := []struct {
		name string
		into func(t *testing.T)
		want answer
	}{
		{"before the first registration", granted,
			answer{http.StatusServiceUnavailable, "unhealthy: registering with etcd\n"}},
		{"registered", func(t *testing.T) { close(gate); registered(t) },
			answer{http.StatusOK, "ok\n"}},
		{"lease lost", func(t *testing.T) {
			lease := registration(t, admin, name, 0)
			if _, err := admin.Revoke(t.Context(), clientv3.LeaseID(lease)); err != nil {
				t.Fatal(err)
			}
		}, answer{http.StatusServiceUnavailable, "unhealthy: lease lost\n"}},
		{"registered again", registered, answer{http.StatusOK, "ok\n"}},
	}
	var was answer
	for _, p := range phases {
		if !t.Run(p.name, func(t *testing.T) {
			p.into(t)
			deadline := time.Now().Add(20 * time.Second)
			for {
				got := healthz(t, health)
				if got == p.want {
					return
				}
				if got != was || time.Now().After(deadline) {
					t.Fatalf("/healthz = %d %q, want %d %q", got.code, got.body, p.want.code, p.want.body)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}) {
			return
		}
		was = p.want
	}
	if err := w.stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

// runningWorker is a worker.Run started by startProbedWorker.
type runningWorker struct {
	health string      // its /healthz address
	ready  chan string // its data address, each time it registers
	stop   func() error
}

// startProbedWorker runs a worker called name on cli, with a 2 s lease, a
// health address and a ready channel to watch, until stop (or the test's
// end, before cli closes: cleanups run last first) cancels it; stop, which
// may be called again, returns Run's error.
func startProbedWorker(t *testing.T, cli *clientv3.Client, name string) *runningWorker {
	t.Helper()
	w := &runningWorker{health: freeport.Addr(t), ready: make(chan string, 4)}
	ctx, cancel := context.WithCancel(t.Context())
	var runErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runErr = worker.Run(ctx, worker.Config{Name: name, Client: cli, TTL: 2 * time.Second, HealthAddr: w.health,
			Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Ready: func(addr string) { w.ready <- addr }})
	}()
	w.stop = func() error { cancel(); <-stopped; return runErr }
	t.Cleanup(func() { w.stop() })
	return w
}

// answer is a /healthz response.
type answer struct {
	code int
	body string
}

// healthz asks the /healthz of the server at addr.
func healthz(t *testing.T, addr string) answer {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(body)}
}
