package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/gpustats"
)

// TestEtcdHealth ensures a coordinator's readiness fails when etcd has not
// answered (never, or for the lease TTL), and forgives a failure while its
// last answer is younger than that.
func TestEtcdHealth(t *testing.T) {
	var probeErr error
	now := time.Unix(1000, 0)
	h := newEtcdHealth(func(context.Context) error { return probeErr }, 3*time.Second)
	h.now = func() time.Time { return now }
	down := errors.New("context deadline exceeded")

	probeErr = down
	if err := h.check(t.Context()); err == nil || !strings.Contains(err.Error(), "etcd has not answered") {
		t.Fatalf("never answered: %v, want etcd has not answered", err)
	}
	probeErr = nil
	if err := h.check(t.Context()); err != nil {
		t.Fatalf("answers: %v", err)
	}
	probeErr = down
	now = now.Add(2 * time.Second)
	if err := h.check(t.Context()); err != nil {
		t.Fatalf("2 s without etcd, TTL 3 s: %v, want ready still", err)
	}
	now = now.Add(2 * time.Second)
	err := h.check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "etcd unreachable for 4s") || !errors.Is(err, down) {
		t.Fatalf("4 s without etcd, TTL 3 s: %v, want etcd unreachable for 4s", err)
	}
	probeErr = nil
	if err := h.check(t.Context()); err != nil {
		t.Fatalf("etcd back: %v", err)
	}
	if coordinatorState(true) != "leader" || coordinatorState(false) != "standby" {
		t.Fatal("coordinatorState")
	}
}

// TestLogDurations ensures durations are logged as readable strings in both
// formats, not JSON's integer nanoseconds.
func TestLogDurations(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		l, err := newLogger(&buf, "info", format)
		if err != nil {
			t.Fatal(err)
		}
		l.Info("worker: registered", "ttl", 3*time.Second, slog.Group("g", "in", 1500*time.Millisecond))
		out := buf.String()
		for _, want := range [][2]string{{`"ttl":"3s"`, `ttl=3s`}, {`"in":"1.5s"`, `g.in=1.5s`}} {
			w := want[0]
			if format == "text" {
				w = want[1]
			}
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q lacks %s", format, out, w)
			}
		}
	}
}

// TestChildLogFlags ensures the workers that up and train --workers start
// log in the parent's format (auto resolved) and at its level, no louder
// than minLevel unless the parent logs debug.
func TestChildLogFlags(t *testing.T) {
	var buf bytes.Buffer
	for _, tc := range []struct {
		level, format string
		min           slog.Level
		want          []string
	}{
		{"info", "json", slog.LevelWarn, []string{"--log-level", "warn", "--log-format", "json"}},
		{"info", "text", slog.LevelWarn, []string{"--log-level", "warn", "--log-format", "text"}},
		{"info", "auto", slog.LevelWarn, []string{"--log-level", "warn", "--log-format", "json"}}, // a buffer is no terminal
		{"debug", "json", slog.LevelWarn, []string{"--log-level", "debug", "--log-format", "json"}},
		{"error", "text", slog.LevelWarn, []string{"--log-level", "error", "--log-format", "text"}},
		{"info", "json", slog.LevelDebug, []string{"--log-level", "info", "--log-format", "json"}},
		{"warn", "text", slog.LevelDebug, []string{"--log-level", "warn", "--log-format", "text"}},
	} {
		l, err := newLogger(&buf, tc.level, tc.format)
		if err != nil {
			t.Fatal(err)
		}
		if got := childLogFlags(l.Handler(), tc.min); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parent %s %s, min %v: %q, want %q", tc.level, tc.format, tc.min, got, tc.want)
		}
	}
}

// TestLogNVML ensures a worker says once, at INFO, that NVML is absent and
// why, and says nothing when it is there.
func TestLogNVML(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	logNVML(log, func() (gpustats.Driver, error) {
		return nil, errors.New("nvml: ERROR_LIBRARY_NOT_FOUND")
	})
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"level":"INFO"`) || !strings.Contains(out, `"nvml_error":"nvml: ERROR_LIBRARY_NOT_FOUND"`) {
		t.Errorf("no NVML: logged %q, want one INFO line with nvml_error", out)
	}
	buf.Reset()
	logNVML(log, func() (gpustats.Driver, error) { return fakeDriver{}, nil })
	if buf.Len() != 0 {
		t.Errorf("NVML there: logged %q, want nothing", buf.String())
	}
}

// fakeDriver is an NVML that opens and closes.
type fakeDriver struct{ gpustats.Driver }

func (fakeDriver) Close() error { return nil }

// TestWorkerHealthAddrs ensures up's workers get fixed /metrics addresses
// on up's health host: base+i, or free ports, and that a taken or bad base
// port is refused by its flag's name.
func TestWorkerHealthAddrs(t *testing.T) {
	addrs, err := workerHealthAddrs("127.0.0.1:9090", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" || port == "0" || seen[a] {
			t.Fatalf("free ports %q: want three distinct 127.0.0.1:PORT", addrs)
		}
		seen[a] = true
	}
	if addrs, err := workerHealthAddrs("", 0, 1); err != nil || !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Fatalf("health off: %q %v, want loopback", addrs, err)
	}
	if addrs, err := workerHealthAddrs(":9090", 0, 1); err != nil || !strings.HasPrefix(addrs[0], "0.0.0.0:") {
		t.Fatalf("wildcard: %q %v, want 0.0.0.0", addrs, err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	if _, err := workerHealthAddrs("127.0.0.1:9090", port-1, 2); err == nil || !strings.Contains(err.Error(), "--worker-health-port") {
		t.Errorf("taken port %d: err %v, want one naming --worker-health-port", port, err)
	}
	if _, err := workerHealthAddrs("127.0.0.1:9090", 65535, 2); err == nil || !strings.Contains(err.Error(), "--worker-health-port 65535") {
		t.Errorf("out of range: err %v", err)
	}
	got := upMetricsBanner("0.0.0.0:9090", []string{"up-w0", "up-w1"}, []string{"127.0.0.1:9191", "127.0.0.1:9192"})
	want := "  metrics:           coordinator http://127.0.0.1:9090/metrics\n" +
		"                     up-w0 http://127.0.0.1:9191/metrics\n" +
		"                     up-w1 http://127.0.0.1:9192/metrics\n"
	if got != want {
		t.Errorf("banner:\n%s\nwant:\n%s", got, want)
	}
}
