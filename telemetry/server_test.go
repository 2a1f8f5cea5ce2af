package telemetry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServer ensures the server serves the registry on /metrics, answers
// /healthz from the health check (200, then 503 with the reason), and stops
// serving and releases its port when its context is cancelled.
func TestServer(t *testing.T) {
	reg := NewRegistry()
	tr, err := NewTraining(reg, TrainingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Rank("clv-7", "2").Step.Set(41)
	var healthErr atomic.Pointer[error]
	srv, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Gatherer: reg,
		Health: func(context.Context) error {
			if p := healthErr.Load(); p != nil {
				return *p
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	base := "http://" + srv.Addr().String()

	code, body := get(t, base+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, `cohort_step{job="clv-7",rank="2"} 41`) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics = %d\n%s", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	lost := errors.New("etcd lease lost")
	healthErr.Store(&lost)
	if code, body := get(t, base+"/healthz"); code != http.StatusServiceUnavailable || body != "unhealthy: etcd lease lost\n" {
		t.Errorf("/healthz = %d %q, want 503 with the reason", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if c, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("port still accepting connections after shutdown")
	}
}

// TestListenErrors ensures a missing registry and a taken port fail at
// Listen with errors that say what went wrong.
func TestListenErrors(t *testing.T) {
	if _, err := Listen(ServerConfig{Addr: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "Gatherer is required") {
		t.Errorf("no gatherer: err = %v", err)
	}
	first, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Gatherer: NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.ln.Close()
	_, err = Listen(ServerConfig{Addr: first.Addr().String(), Gatherer: NewRegistry()})
	if err == nil || !strings.Contains(err.Error(), "telemetry: listen "+first.Addr().String()) {
		t.Errorf("taken port: err = %v", err)
	}
}
