package membership

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// newSession returns a session on cli with ttl that ends with the test.
func newSession(t testing.TB, cli *clientv3.Client, ttl time.Duration) *Session {
	t.Helper()
	s, err := NewSession(t.Context(), cli, WithTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runDiscovery runs a Discovery on cli for the rest of the test and returns
// the lists it sends.
func runDiscovery(t *testing.T, cli lister) <-chan []Member {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	up := make(chan []Member)
	done := make(chan error, 1)
	go func() { done <- newDiscovery(cli, nil).Run(ctx, up) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return up
}

// waitFor receives lists until one has exactly the names want, failing
// after within.
func waitFor(t *testing.T, up <-chan []Member, within time.Duration, want ...string) []Member {
	t.Helper()
	timeout := time.After(within)
	var last []string
	for {
		select {
		case ms := <-up:
			last = names(ms)
			if slices.Equal(last, want) {
				return ms
			}
		case <-timeout:
			t.Fatalf("after %v the members are %v, want %v", within, last, want)
		}
	}
}

func names(ms []Member) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// TestDiscoveryJoinLeave ensures Discovery sends the current workers first,
// then a sorted list on each join, status update, deregistration, and on
// a lease that expires because its process stopped refreshing it.
func TestDiscoveryJoinLeave(t *testing.T) {
	e := startEmbedded(t, "")
	cli := dial(t, e)
	w0 := newSession(t, cli, time.Second)
	if _, err := Register(t.Context(), w0, "w0", []byte("idle")); err != nil {
		t.Fatal(err)
	}
	up := runDiscovery(t, cli)
	waitFor(t, up, 5*time.Second, "w0")

	w2 := newSession(t, cli, time.Second)
	r2, err := Register(t.Context(), w2, "w2", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, up, 5*time.Second, "w0", "w2")
	w1 := newSession(t, cli, time.Second)
	if _, err := Register(t.Context(), w1, "w1", nil); err != nil {
		t.Fatal(err)
	}
	ms := waitFor(t, up, 5*time.Second, "w0", "w1", "w2")
	if string(ms[0].Status) != "idle" || ms[1].Lease != w1.Lease() {
		t.Fatalf("members %+v: want w0 status idle and w1 on lease %x", ms, w1.Lease())
	}

	if err := r2.UpdateStatus(t.Context(), []byte("step 7")); err != nil {
		t.Fatal(err)
	}
	ms = waitFor(t, up, 5*time.Second, "w0", "w1", "w2")
	if string(ms[2].Status) != "step 7" {
		t.Fatalf("w2 status %q after update, want %q", ms[2].Status, "step 7")
	}

	if err := r2.Deregister(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, up, 5*time.Second, "w0", "w1")

	// A process that dies stops refreshing; etcd must drop it within its TTL
	// (plus etcd's half-second expiry sweep and some slack for -race).
	w1.Orphan()
	start := time.Now()
	waitFor(t, up, w1.TTL()+3*time.Second, "w0")
	t.Logf("expired lease removed its worker %v after orphaning (TTL %v)", time.Since(start).Round(10*time.Millisecond), w1.TTL())
}

// TestRegisterName ensures a name held by another live lease is refused,
// the holder may register again, and the name is free once the holder's
// session closes.
func TestRegisterName(t *testing.T) {
	e := startEmbedded(t, "")
	cli := dial(t, e)
	a, b := newSession(t, cli, 5*time.Second), newSession(t, cli, 5*time.Second)
	if _, err := Register(t.Context(), a, "gpu-0", []byte("a")); err != nil {
		t.Fatal(err)
	}
	_, err := Register(t.Context(), b, "gpu-0", []byte("b"))
	if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), `"gpu-0"`) {
		t.Fatalf("second holder: err = %v, want ErrNameTaken naming gpu-0", err)
	}
	var taken *NameTakenError
	if !errors.As(err, &taken) || taken.Holder.Lease != a.Lease() || string(taken.Holder.Status) != "a" ||
		taken.Holder.Name != "gpu-0" || taken.Lease != b.Lease() {
		t.Fatalf("second holder: err = %#v, want a NameTakenError with a's registration", err)
	}
	if _, err := Register(t.Context(), a, "gpu-0", []byte("a2")); err != nil {
		t.Fatalf("holder registering again: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(t.Context(), b, "gpu-0", []byte("b")); err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
	resp, err := cli.Get(t.Context(), WorkerKey("gpu-0"))
	if err != nil {
		t.Fatal(err)
	}
	if kv := resp.Kvs[0]; string(kv.Value) != "b" || clientv3.LeaseID(kv.Lease) != b.Lease() {
		t.Fatalf("key holds %q on lease %x, want b on %x", kv.Value, kv.Lease, b.Lease())
	}
}

// TestRegisterRefuses ensures bad names, oversized statuses and updates
// from a session that lost its key are refused with errors that say why.
func TestRegisterRefuses(t *testing.T) {
	e := startEmbedded(t, "")
	cli := dial(t, e)
	s := newSession(t, cli, 5*time.Second)
	for _, tc := range []struct {
		name, worker string
		status       []byte
		want         string
	}{
		{"empty name", "", nil, "empty name"},
		{"slash", "a/b", nil, `byte 1 is '/'`},
		{"too long", strings.Repeat("x", MaxNameBytes+1), nil, "at most 128"},
		{"big status", "w", make([]byte, MaxStatusBytes+1), "4097 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Register(t.Context(), s, tc.worker, tc.status)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Run("lost key", func(t *testing.T) {
		r, err := Register(t.Context(), s, "w", make([]byte, MaxStatusBytes))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Delete(t.Context(), WorkerKey("w")); err != nil {
			t.Fatal(err)
		}
		if err := r.UpdateStatus(t.Context(), nil); !errors.Is(err, ErrNotRegistered) {
			t.Fatalf("update after the key was deleted: err = %v, want ErrNotRegistered", err)
		}
		if resp, _ := cli.Get(t.Context(), WorkerKey("w")); len(resp.Kvs) != 0 {
			t.Fatal("the refused update recreated the key")
		}
	})
}

// compactingWatcher wraps a client so that its first watch fails as if
// etcd had compacted away the revisions it asked for.
type compactingWatcher struct {
	*clientv3.Client
	watches int
}

func (c *compactingWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	c.watches++
	if c.watches > 1 {
		return c.Client.Watch(ctx, key, opts...)
	}
	ch := make(chan clientv3.WatchResponse, 1)
	ch <- clientv3.WatchResponse{CompactRevision: 1, Canceled: true}
	close(ch)
	return ch
}

// TestDiscoveryRelists ensures a compacted watch makes Discovery list again
// and keep following, so no change is missed.
func TestDiscoveryRelists(t *testing.T) {
	e := startEmbedded(t, "")
	cli := dial(t, e)
	s := newSession(t, cli, 5*time.Second)
	if _, err := Register(t.Context(), s, "a", nil); err != nil {
		t.Fatal(err)
	}
	up := runDiscovery(t, &compactingWatcher{Client: cli})
	waitFor(t, up, 5*time.Second, "a")
	for i := range 3 {
		if _, err := Register(t.Context(), s, fmt.Sprintf("b%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, up, 5*time.Second, "a", "b0", "b1", "b2")
}

// TestDiscoveryClientClosed ensures Run returns an error, instead of
// retrying forever, once its client is closed.
func TestDiscoveryClientClosed(t *testing.T) {
	e := startEmbedded(t, "")
	cli, err := Dial(t.Context(), Config{Endpoints: e.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	up := make(chan []Member, 1)
	done := make(chan error, 1)
	go func() { done <- NewDiscovery(cli, nil).Run(t.Context(), up) }()
	<-up
	cli.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "client closed") {
			t.Fatalf("Run returned %v, want a client-closed error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5s after its client closed")
	}
}

// TestWaitReleased ensures the wait for a held name ends when the holder's
// lease is revoked or expires (a crashed holder) and not while the holder
// lives, and that LeaseRemaining bounds the wait from above.
func TestWaitReleased(t *testing.T) {
	e := startEmbedded(t, "")
	cli := dial(t, e)
	tests := []struct {
		name    string
		release func(*Session) // what happens to the holder; nil: it lives on
		wantErr error
	}{
		{name: "revoked", release: func(s *Session) { s.Close() }},
		{name: "expired", release: func(s *Session) { s.Orphan() }},
		{name: "live", wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			holder := newSession(t, cli, time.Second)
			if _, err := Register(t.Context(), holder, tt.name, nil); err != nil {
				t.Fatal(err)
			}
			remaining, err := LeaseRemaining(t.Context(), cli, holder.Lease())
			if err != nil || remaining < holder.TTL() || remaining > holder.TTL()+time.Second {
				t.Fatalf("LeaseRemaining = %v, %v; want %v, rounded up", remaining, err, holder.TTL())
			}
			if tt.release != nil {
				tt.release(holder)
			}
			within := remaining + time.Second
			ctx, cancel := context.WithTimeout(t.Context(), within)
			defer cancel()
			start := time.Now()
			err = WaitReleased(ctx, cli, tt.name, holder.Lease())
			t.Logf("WaitReleased = %v after %v", err, time.Since(start).Round(time.Millisecond))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("WaitReleased = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if left, err := LeaseRemaining(t.Context(), cli, holder.Lease()); err != nil || left != 0 {
				t.Fatalf("LeaseRemaining of the released lease = %v, %v; want 0", left, err)
			}
			if _, err := Register(t.Context(), newSession(t, cli, time.Second), tt.name, nil); err != nil {
				t.Fatalf("register after the release: %v", err)
			}
		})
	}
}
