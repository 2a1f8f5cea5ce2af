package telemetry

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestLivenessReadiness ensures /livez answers 200 whatever the health
// check says (liveness must not depend on etcd), while /readyz and /healthz
// both answer from the check, with the process's state in the body.
func TestLivenessReadiness(t *testing.T) {
	var failing atomic.Bool
	var state atomic.Value
	state.Store("standby")
	srv, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Gatherer: NewRegistry(),
		Health: func(context.Context) error {
			if failing.Load() {
				return errors.New("etcd unreachable")
			}
			return nil
		},
		State: func() string { return state.Load().(string) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + srv.Addr().String()

	for _, tc := range []struct {
		fail      bool
		state     string
		ready     int
		readyBody string
	}{
		{false, "standby", http.StatusOK, "ok: standby\n"},
		{false, "leader", http.StatusOK, "ok: leader\n"},
		{true, "leader", http.StatusServiceUnavailable, "unhealthy: etcd unreachable; leader\n"},
		{true, "standby", http.StatusServiceUnavailable, "unhealthy: etcd unreachable; standby\n"},
	} {
		failing.Store(tc.fail)
		state.Store(tc.state)
		if code, body := get(t, base+"/livez"); code != http.StatusOK || body != "ok\n" {
			t.Errorf("failing %v: /livez = %d %q, want 200 ok", tc.fail, code, body)
		}
		for _, path := range []string{"/readyz", "/healthz"} {
			if code, body := get(t, base+path); code != tc.ready || body != tc.readyBody {
				t.Errorf("failing %v, %s: %s = %d %q, want %d %q", tc.fail, tc.state, path, code, body, tc.ready, tc.readyBody)
			}
		}
	}
}

// TestServerTimeouts ensures the HTTP server bounds requests, responses and
// idle keep-alive connections (a scraper that goes away must not hold a
// connection for ever).
func TestServerTimeouts(t *testing.T) {
	srv, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Gatherer: NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.ln.Close()
	h := srv.srv
	if h.ReadHeaderTimeout <= 0 || h.ReadTimeout <= 0 || h.WriteTimeout <= 0 || h.IdleTimeout <= 0 || h.MaxHeaderBytes <= 0 {
		t.Fatalf("timeouts: header %v, read %v, write %v, idle %v, max header %d; want all set",
			h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout, h.MaxHeaderBytes)
	}
	if h.WriteTimeout < 10*time.Second {
		// The leader's /metrics reads etcd for up to 5 s.
		t.Errorf("write timeout %v leaves a slow scrape no room", h.WriteTimeout)
	}
}
