package membership

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestFollowSurvivesLeaderLoss breaks a watch the way the chaos run did:
// the member a client streams from loses its leader, and etcd ends every
// watch that requires one. A plain watch's channel closes there and misses
// every later write; Follow watches again and sees each write once, in
// order.
func TestFollowSurvivesLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts, stops and restarts etcd members")
	}
	members, cfgs := startThreeMembers(t)
	// Clients of m2 only, so the break cannot be hidden by a switch to
	// a healthy member.
	cli, err := Dial(t.Context(), Config{Endpoints: members[2].Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const key = "/cohort/test/follow"
	put := func(v string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		for {
			_, err := cli.Put(ctx, key, v)
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("put %s: %v", v, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	put("0")
	resp, err := cli.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	from := resp.Header.Revision + 1

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	seen := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, cli, key, from, func(ev *clientv3.Event) error {
			seen <- string(ev.Kv.Value)
			if string(ev.Kv.Value) == "3" {
				return ErrStopWatch
			}
			return nil
		})
	}()
	plain := cli.Watch(clientv3.WithRequireLeader(ctx), key, clientv3.WithRev(from))

	put("1")
	if v := next(t, seen); v != "1" {
		t.Fatalf("Follow saw %q first, want 1", v)
	}
	// Two of three members down: m2 has no leader, and after a few
	// election timeouts etcd cancels the watches that require one.
	members[0].Close()
	members[1].Close()
	broke := time.Now()
	for wr := range plain {
		if wr.Err() != nil {
			t.Logf("plain watch ended after %v: %v", time.Since(broke).Round(time.Millisecond), wr.Err())
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the plain watch never ended")
	}
	for i := range 2 {
		m, err := StartMember(ctx, cfgs[i])
		if err != nil {
			t.Fatalf("restart m%d: %v", i, err)
		}
		t.Cleanup(func() { m.Close() })
	}
	put("2")
	put("3")
	got := []string{"1", next(t, seen), next(t, seen)}
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if want := []string{"1", "2", "3"}; !slices.Equal(got, want) {
		t.Fatalf("Follow saw %v across the break, want %v", got, want)
	}
}

// TestFollowHandlerError ensures a handler's error ends Follow with it.
func TestFollowHandlerError(t *testing.T) {
	cli := dial(t, startEmbedded(t, ""))
	if _, err := cli.Put(t.Context(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Follow(t.Context(), cli, "/k", 1, func(*clientv3.Event) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Follow = %v, want the handler's error", err)
	}
}

// TestFollowCompacted ensures Follow reports compacted history rather
// than skipping what it cannot see.
func TestFollowCompacted(t *testing.T) {
	cli := dial(t, startEmbedded(t, ""))
	var last int64
	for i := range 3 {
		resp, err := cli.Put(t.Context(), "/k", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = resp.Header.Revision
	}
	if _, err := cli.Compact(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	err := Follow(t.Context(), cli, "/k", 1, func(*clientv3.Event) error { return nil })
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("Follow from a compacted revision = %v, want ErrCompacted", err)
	}
}

func next(t *testing.T, seen <-chan string) string {
	t.Helper()
	select {
	case v := <-seen:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("Follow saw nothing within 30 s")
		return ""
	}
}
