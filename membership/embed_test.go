package membership

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// startEmbedded starts an embedded etcd in a temporary directory for one
// test, logs how long the start took, and closes it when the test ends.
func startEmbedded(t testing.TB, dir string) *Embedded {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	start := time.Now()
	e, err := StartEmbedded(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded etcd ready in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { e.Close() })
	return e
}

// dial returns a client of e that is closed when the test ends.
func dial(t testing.TB, e *Embedded) *clientv3.Client {
	t.Helper()
	cli, err := Dial(t.Context(), Config{Endpoints: e.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestEmbeddedRestart ensures the embedded server serves on loopback, keeps
// its data in dir across a restart on new ports, and closes cleanly.
func TestEmbeddedRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	e := startEmbedded(t, dir)
	cli := dial(t, e)
	if _, err := cli.Put(t.Context(), JobKey("j1"), "spec"); err != nil {
		t.Fatal(err)
	}
	first := e.Endpoints()
	cli.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "member")); err != nil {
		t.Fatalf("data directory: %v", err)
	}

	e2 := startEmbedded(t, dir)
	t.Logf("endpoints %v, then %v", first, e2.Endpoints())
	resp, err := dial(t, e2).Get(t.Context(), JobKey("j1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "spec" {
		t.Fatalf("after restart got %v, want j1=spec", resp.Kvs)
	}
}

// TestStartEmbeddedCanceled ensures a start whose context is already done
// fails and leaves nothing running.
func TestStartEmbeddedCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if e, err := StartEmbedded(ctx, t.TempDir()); err == nil {
		e.Close()
		t.Fatal("StartEmbedded with a canceled context succeeded")
	}
}
