package membership

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestElectionFailover ensures a standby becomes leader within the TTL of
// the leader's process dying (its client closed, its lease orphaned), that
// observers see the new leader with a higher term, and that a fence taken
// by the deposed leader no longer holds.
func TestElectionFailover(t *testing.T) {
	e := startEmbedded(t, "")
	observer := NewElection(newSession(t, dial(t, e), 5*time.Second))
	if _, err := observer.Leader(t.Context()); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Leader before any campaign: err = %v, want ErrNoLeader", err)
	}
	leaders := observer.Observe(t.Context())

	aCli := dial(t, e)
	aSess := newSession(t, aCli, time.Second)
	a := NewElection(aSess)
	if err := a.Campaign(t.Context(), "coord-a"); err != nil {
		t.Fatal(err)
	}
	first := <-leaders
	if first.Value != "coord-a" {
		t.Fatalf("observed leader %q, want coord-a", first.Value)
	}
	fence := a.Fence()

	b := NewElection(newSession(t, dial(t, e), time.Second))
	won := make(chan error, 1)
	go func() { won <- b.Campaign(t.Context(), "coord-b") }()
	select {
	case err := <-won:
		t.Fatalf("standby won while the leader lives: %v", err)
	case <-time.After(300 * time.Millisecond):
	}

	// kill -9 of the leader: nobody refreshes or revokes its lease.
	aSess.Orphan()
	aCli.Close()
	killed := time.Now()
	select {
	case err := <-won:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("standby led %v after the leader died (TTL %v)", time.Since(killed).Round(10*time.Millisecond), aSess.TTL())
	case <-time.After(aSess.TTL() + 3*time.Second):
		t.Fatal("standby did not take over within TTL + 3s")
	}
	next := <-leaders
	if next.Value != "coord-b" || next.Revision <= first.Revision {
		t.Fatalf("observed %+v after %+v, want coord-b with a higher revision", next, first)
	}
	resp, err := dial(t, e).Txn(t.Context()).If(fence).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Succeeded {
		t.Fatal("the deposed leader's fence still holds")
	}
}

// TestElectionResign ensures a resigning leader hands over at once and a
// campaign whose context ends withdraws and returns the context's error.
func TestElectionResign(t *testing.T) {
	e := startEmbedded(t, "")
	cli := dial(t, e)
	a := NewElection(newSession(t, cli, 5*time.Second))
	b := NewElection(newSession(t, cli, 5*time.Second))
	if err := a.Campaign(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := b.Campaign(ctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("campaign against a live leader: err = %v, want DeadlineExceeded", err)
	}

	won := make(chan error, 1)
	go func() { won <- b.Campaign(t.Context(), "b") }()
	time.Sleep(100 * time.Millisecond) // let b queue behind a
	start := time.Now()
	if err := a.Resign(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-won; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("handover after resign took %v, want well under the 5s TTL", d)
	}
	l, err := a.Leader(t.Context())
	if err != nil || l.Value != "b" {
		t.Fatalf("Leader = %+v, %v; want b", l, err)
	}
}

// TestCurrentLeader ensures the sessionless read agrees with the election:
// no leader before a campaign, then the oldest candidacy, standbys aside.
func TestCurrentLeader(t *testing.T) {
	e := startEmbedded(t, "")
	cli := dial(t, e)
	if _, err := CurrentLeader(t.Context(), cli); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("before any campaign: %v, want ErrNoLeader", err)
	}
	a := NewElection(newSession(t, cli, 5*time.Second))
	if err := a.Campaign(t.Context(), "a 127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	b := NewElection(newSession(t, dial(t, e), 5*time.Second))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go b.Campaign(ctx, "b 127.0.0.1:2") // waits in line as a standby
	time.Sleep(100 * time.Millisecond)
	want, err := a.Leader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got, err := CurrentLeader(t.Context(), cli)
	if err != nil || got != want || got.Value != "a 127.0.0.1:1" {
		t.Fatalf("CurrentLeader = %+v, %v; the election says %+v", got, err, want)
	}
}

// TestCampaignStopsWithContext ensures a standby's campaign returns soon
// after its context ends, withdrawing its candidacy when etcd answers and
// giving up on that when etcd is gone (a coordinator stopped while etcd is
// down must still exit: concurrency's Campaign resigns with a context that
// only closing the client ends).
func TestCampaignStopsWithContext(t *testing.T) {
	tests := []struct {
		name     string
		etcdDown bool
	}{
		{name: "etcd up"},
		{name: "etcd down", etcdDown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEmbedded(t, "")
			a := NewElection(newSession(t, dial(t, e), 5*time.Second))
			if err := a.Campaign(t.Context(), "a"); err != nil {
				t.Fatal(err)
			}
			bSess := newSession(t, dial(t, e), 5*time.Second)
			b := NewElection(bSess)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- b.Campaign(ctx, "b") }()
			key := fmt.Sprintf("%s/%x", ElectionPrefix, bSess.Lease())
			eventually(t, func() bool {
				resp, err := dial(t, e).Get(t.Context(), key)
				return err == nil && len(resp.Kvs) == 1
			})
			if tt.etcdDown {
				e.Close()
			}
			cancel()
			start := time.Now()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Campaign = %v, want context.Canceled", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("Campaign still running 3s after its context ended")
			}
			took := time.Since(start)
			t.Logf("Campaign returned %v after its context ended", took.Round(time.Millisecond))
			if took > 1500*time.Millisecond {
				t.Errorf("Campaign took %v after its context ended, want about %v at most", took, withdrawTimeout)
			}
			if tt.etcdDown {
				return
			}
			// Withdrawn: b no longer waits in line behind a.
			resp, err := dial(t, e).Get(t.Context(), key)
			if err != nil || len(resp.Kvs) != 0 {
				t.Fatalf("candidacy %s after the campaign ended: %v, %v; want it gone", key, resp.Kvs, err)
			}
		})
	}
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}
