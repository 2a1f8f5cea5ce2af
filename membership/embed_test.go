package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// TestDataDirInUse ensures a second etcd on a data directory that another
// one has open fails at once, naming the holder and the way out, instead
// of waiting without end for etcd's database lock (a second cohort up on
// the same --data-dir). The lock file's pid is there for a holder that
// took it; a holder without one (an older cohort) is caught by its
// database lock, with no pid to name.
func TestDataDirInUse(t *testing.T) {
	tests := []struct {
		name       string
		member     bool // StartMember rather than StartEmbedded
		removeLock bool // the holder has no lock file
		wantPID    bool
	}{
		{name: "embedded", wantPID: true},
		{name: "member", member: true, wantPID: true},
		{name: "holder without lock file", removeLock: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "etcd")
			holder := startEmbedded(t, dir)
			if tt.removeLock {
				if err := os.Remove(filepath.Join(dir, dataDirLock)); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			start := time.Now()
			// Old code blocks in embed.StartEtcd, where ctx does not reach:
			// give up on it after a while rather than hang the test.
			go func() {
				var (
					m   *Embedded
					err error
				)
				if tt.member {
					ports, perr := freeLoopbackPorts(2)
					if perr != nil {
						done <- perr
						return
					}
					client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
					m, err = StartMember(ctx, MemberConfig{Name: "cohort", DataDir: dir, ListenClientURLs: []string{client},
						AdvertiseClientURLs: []string{client}, ListenPeerURLs: []string{peer}, InitialAdvertisePeerURLs: []string{peer},
						Logger: slog.New(slog.DiscardHandler)})
				} else {
					m, err = StartEmbedded(ctx, dir)
				}
				if m != nil {
					m.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("a second etcd on a data directory in use did not fail within 5s")
			}
			t.Logf("refused in %v: %v", time.Since(start).Round(time.Millisecond), err)
			if !errors.Is(err, ErrDataDirInUse) {
				t.Fatalf("err = %v, want ErrDataDirInUse", err)
			}
			for _, want := range []string{"another cohort process", "is using " + dir, "stop it or pass --data-dir"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to say %q", err, want)
				}
			}
			if pid := fmt.Sprintf("(pid %d)", os.Getpid()); strings.Contains(err.Error(), pid) != tt.wantPID {
				t.Errorf("err = %q: names %s: %v, want %v", err, pid, !tt.wantPID, tt.wantPID)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refused after %v, want at once", d)
			}

			// The holder is unharmed, and its Close frees the directory.
			if _, err := dial(t, holder).Put(t.Context(), JobKey("j1"), "spec"); err != nil {
				t.Fatalf("holder after the refusal: %v", err)
			}
			holder.Close()
			again := startEmbedded(t, dir)
			resp, err := dial(t, again).Get(t.Context(), JobKey("j1"))
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("restart after the holder closed: %v, %v", resp, err)
			}
		})
	}
}
