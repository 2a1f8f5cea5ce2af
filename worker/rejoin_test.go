package worker_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/internal/etcdtest"
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

// TestWorkerRejoinsAfterConnectionCut cuts a worker's connection to etcd
// (a proxy drops every connection and refuses new ones, as a partitioned
// host sees) until its lease is lost on both sides, restores it, and
// requires the worker to register again under a new lease in the same
// process. Unlike a revoked lease, this goes through the client's
// reconnection: its gRPC backoff used to grow to gRPC's default 2 minutes
// while etcd was out of reach, so a worker back on the network waited up to
// about 0.6 times the outage before its next try (membership.ReconnectMaxDelay;
// TestConnectParams in membership holds the cap).
func TestWorkerRejoinsAfterConnectionCut(t *testing.T) {
	endpoints, admin := etcdtest.Start(t)
	p := newCutProxy(t, endpoints[0])
	cli, err := membership.Dial(t.Context(), membership.Config{Endpoints: []string{p.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })

	const name = "cut"
	w := startProbedWorker(t, cli, name)
	health, ready := w.health, w.ready
	first := registration(t, admin, name, 0)
	<-ready

	p.cut(true)
	// The worker notices the lease is gone (no keep-alive answered for a
	// TTL) and etcd expires it: the partition outlasted the lease.
	waitFor(t, "the worker to see its lease lost", func() bool {
		return healthz(t, health) == answer{http.StatusServiceUnavailable, "unhealthy: lease lost\n"}
	})
	waitFor(t, "etcd to expire the worker's lease", func() bool {
		resp, err := admin.Get(t.Context(), membership.WorkerKey(name))
		return err == nil && (len(resp.Kvs) == 0 || resp.Kvs[0].Lease != first)
	})
	refused := p.refused()
	p.cut(false)
	back := time.Now()
	second := registration(t, admin, name, first)
	<-ready // the worker counts the registration before it says it is ready
	t.Logf("lease %x lost while cut off (%d connection attempts refused); registered again under %x %v after the connection came back",
		first, refused, second, time.Since(back).Round(time.Millisecond))
	if refused == 0 {
		t.Error("the client made no connection attempt while cut off")
	}
	if got := registrations(t, admin, name); got != 2 {
		t.Errorf("cohort_worker_registrations_total = %v, want 2", got)
	}
	if err := w.stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cutProxy forwards TCP connections to an etcd endpoint until cut: then it
// closes every open connection and each new one as soon as it is accepted.
type cutProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	isCut   bool
	conns   []net.Conn
	refusal int
}

func newCutProxy(t *testing.T, endpoint string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: strings.TrimPrefix(endpoint, "http://")}
	served := make(chan struct{})
	go func() { defer close(served); p.serve() }()
	t.Cleanup(func() {
		ln.Close()
		<-served
		p.cut(true)
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.isCut {
			p.refusal++
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.isCut { // cut while dialling
			p.mu.Unlock()
			c.Close()
			u.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
	}
}

// cut drops every connection and refuses new ones (true), or lets them
// through again (false).
func (p *cutProxy) cut(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = on
	if on {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// refused is how many connections the proxy refused while cut.
func (p *cutProxy) refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refusal
}
