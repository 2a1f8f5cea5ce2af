package worker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/worker"
)

// lockedBuffer is a log sink that handlers write to while a test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// holdName registers name under a new lease of ttl with the status a
// worker at ringAddr with process id pid publishes, as a worker that
// registered earlier did. With dead, the holder stops refreshing its lease
// at once (kill -9), so the lease expires within ttl.
func holdName(t *testing.T, cli *clientv3.Client, name, ringAddr string, pid int, ttl time.Duration, dead bool) clientv3.LeaseID {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sess, err := membership.NewSession(ctx, cli, membership.WithTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	status, err := protojson.Marshal(&cohortv1.WorkerStatus{RingAddr: ringAddr, Pid: int64(pid)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := membership.Register(ctx, sess, name, status); err != nil {
		t.Fatal(err)
	}
	if dead {
		sess.Orphan()
	} else {
		t.Cleanup(func() { sess.Close() })
	}
	return sess.Lease()
}

// TestRegisterNameHeld ensures a worker whose name its own previous
// incarnation still holds (a crash or a restart of cohort up, within the
// old lease's TTL) waits for that lease to expire and registers, saying so
// once, instead of exiting for its supervisor to restart it again and
// again; and that a name another live worker holds fails at once, naming
// where that worker is.
func TestRegisterNameHeld(t *testing.T) {
	cli := etcd(t)
	const ttl = time.Second
	gone := math.MaxInt32 // no process has it
	tests := []struct {
		name      string
		advertise string // the restarted worker's; "" listens on 127.0.0.1:0
		holder    string // the ring address the holder published
		pid       int    // the process id it published
		dead      bool   // its lease is no longer refreshed
		wantWait  bool   // the worker waits, then registers
		wantErr   string // else Run fails with this
		within    time.Duration
	}{
		{name: "same address crashed", advertise: "127.0.0.2:7001", holder: "127.0.0.2:7001", pid: gone, dead: true,
			wantWait: true, within: ttl + 4*time.Second},
		{name: "same host new port crashed", holder: "127.0.0.1:1", pid: gone, dead: true,
			wantWait: true, within: ttl + 4*time.Second},
		{name: "same host this pid", holder: "127.0.0.1:1", pid: os.Getpid(), dead: true,
			wantWait: true, within: ttl + 4*time.Second},
		{name: "same host live process", holder: "127.0.0.1:1", pid: os.Getppid(),
			wantErr: "a worker named same-host-live-process is live at 127.0.0.1:1; pick another --name", within: 2 * time.Second},
		{name: "other host", holder: "10.9.8.7:7000", pid: gone, dead: true,
			wantErr: "a worker named other-host is live at 10.9.8.7:7000; pick another --name", within: 2 * time.Second},
		{name: "same address still refreshed", advertise: "127.0.0.2:7002", holder: "127.0.0.2:7002", pid: gone,
			wantWait: true, wantErr: "a worker named same-address-still-refreshed is live at 127.0.0.2:7002; pick another --name",
			within: ttl + 5*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			held := holdName(t, cli, name, tt.holder, tt.pid, ttl, tt.dead)
			logs := &lockedBuffer{}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ready := make(chan string, 1)
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				done <- worker.Run(ctx, worker.Config{Name: name, Client: cli, TTL: ttl, Advertise: tt.advertise,
					Logger: slog.New(slog.NewTextHandler(logs, nil)), Ready: func(addr string) { ready <- addr }})
			}()
			var err error
			select {
			case <-ready:
				now, err := cli.Get(t.Context(), membership.WorkerKey(name))
				if err != nil || len(now.Kvs) != 1 || clientv3.LeaseID(now.Kvs[0].Lease) == held {
					t.Errorf("registration when ready: %v, %v; want one under a new lease", now.Kvs, err)
				}
				cancel()
				err = <-done
				if tt.wantErr != "" {
					t.Fatalf("registered after %v, want %q", time.Since(start), tt.wantErr)
				}
			case err = <-done:
				if err == nil || tt.wantErr == "" {
					t.Fatalf("Run = %v after %v, want it to register", err, time.Since(start))
				}
			case <-time.After(tt.within + 5*time.Second):
				t.Fatalf("neither registered nor failed within %v", tt.within+5*time.Second)
			}
			took := time.Since(start)
			t.Logf("after %v: Run = %v", took.Round(time.Millisecond), err)
			if took > tt.within {
				t.Errorf("took %v, want at most %v", took, tt.within)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, membership.ErrNameTaken) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Run = %v, want ErrNameTaken saying %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Errorf("Run after cancel = %v, want nil", err)
			}
			const waiting = "for the previous registration's lease to expire"
			if got := strings.Count(logs.String(), waiting); got != map[bool]int{true: 1}[tt.wantWait] {
				t.Errorf("log says %q %d times, want %d; log:\n%s", waiting, got, map[bool]int{true: 1}[tt.wantWait], logs)
			} else if got == 1 {
				t.Logf("log:\n%s", logs)
			}
			// The lease was granted a moment ago: less than its 1s TTL is
			// left, which rounds up to 1s, and the margin adds 1s.
			if tt.wantWait && !strings.Contains(logs.String(), "waiting up to 2s") {
				t.Errorf("log does not say how long it waits at most (TTL 1s + 1s); log:\n%s", logs)
			}
			if tt.wantWait && tt.wantErr == "" {
				now, err := cli.Get(t.Context(), membership.WorkerKey(name))
				if err != nil || len(now.Kvs) != 0 {
					t.Errorf("registration after Run ended: %v, %v; want none", now.Kvs, err)
				}
			}
		})
	}
}
