package membership

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// fakeLister answers Get with kvs at revision 10, counting the calls, and
// every Watch with the one channel the test feeds.
type fakeLister struct {
	gets  int
	kvs   []*mvccpb.KeyValue
	watch chan clientv3.WatchResponse
}

func (f *fakeLister) Get(context.Context, string, ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	f.gets++
	return &clientv3.GetResponse{Header: &etcdserverpb.ResponseHeader{Revision: 10}, Kvs: f.kvs}, nil
}

func (f *fakeLister) Watch(context.Context, string, ...clientv3.OpOption) clientv3.WatchChan {
	return f.watch
}

func (f *fakeLister) Ctx() context.Context { return context.Background() }

func workerKV(name, status string, lease, created int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(WorkerKey(name)), Value: []byte(status), Lease: lease, CreateRevision: created}
}

func put(kv *mvccpb.KeyValue) *clientv3.Event {
	return &clientv3.Event{Type: clientv3.EventTypePut, Kv: kv}
}

func del(name string) *clientv3.Event {
	return &clientv3.Event{Type: clientv3.EventTypeDelete, Kv: &mvccpb.KeyValue{Key: []byte(WorkerKey(name))}}
}

// summary is a list as "name=status" strings, for comparisons.
func summary(ms []Member) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s=%s", m.Name, m.Status))
	}
	return out
}

// TestDiscoveryAppliesEvents ensures Discovery lists once and then follows
// the watch alone: status rewrites, joins and leaves are applied to its
// sorted list without another Get, rewrites that change nothing (and
// changes undone before the receiver took them) send nothing, a slow
// receiver gets only the latest list, and only a broken watch lists again.
func TestDiscoveryAppliesEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLister{kvs: []*mvccpb.KeyValue{workerKV("w0", "idle", 1, 5), workerKV("w1", "idle", 2, 6)},
			watch: make(chan clientv3.WatchResponse)}
		ctx, cancel := context.WithCancel(t.Context())
		up := make(chan []Member)
		done := make(chan error, 1)
		go func() { done <- newDiscovery(f, nil).Run(ctx, up) }()
		events := func(evs ...*clientv3.Event) {
			t.Helper()
			f.watch <- clientv3.WatchResponse{Events: evs}
			synctest.Wait()
		}
		expect := func(want ...string) {
			t.Helper()
			select {
			case ms := <-up:
				if got := summary(ms); !slices.Equal(got, want) {
					t.Errorf("list %v, want %v", got, want)
				}
			default:
				t.Errorf("no list, want %v", want)
			}
			synctest.Wait()
		}
		nothing := func(why string) {
			t.Helper()
			select {
			case ms := <-up:
				t.Errorf("%s: list %v, want none", why, summary(ms))
			default:
			}
		}

		synctest.Wait()
		expect("w0=idle", "w1=idle")
		events(put(workerKV("w1", "step 1", 2, 6)))
		expect("w0=idle", "w1=step 1")
		for range 5 {
			events(put(workerKV("w1", "step 1", 2, 6)))
		}
		events(del("never-there"))
		nothing("unchanged rewrites")
		events(put(workerKV("w1", "step 2", 2, 6)), put(workerKV("w1", "step 1", 2, 6)))
		nothing("a change undone")
		events(put(workerKV("a", "idle", 3, 20)), del("w0"), put(workerKV("w5", "idle", 4, 21)))
		expect("a=idle", "w1=step 1", "w5=idle")
		for i := range 100 {
			events(put(workerKV("w1", fmt.Sprintf("step %d", 2+i), 2, 6)))
		}
		expect("a=idle", "w1=step 101", "w5=idle") // the latest only
		nothing("after the latest")
		if f.gets != 1 {
			t.Errorf("%d Gets after 108 watch events, want 1", f.gets)
		}

		// A compacted watch lists again (after the backoff) and sends what
		// the listing says.
		f.watch <- clientv3.WatchResponse{Canceled: true, CompactRevision: 3}
		time.Sleep(time.Second) // past the backoff, in the bubble's time
		synctest.Wait()
		expect("w0=idle", "w1=idle")
		if f.gets != 2 {
			t.Errorf("%d Gets after a compacted watch, want 2", f.gets)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

// TestApplyEvent ensures one entry of a sorted list is replaced, inserted
// or removed in place of a full sort, keeping it sorted.
func TestApplyEvent(t *testing.T) {
	list := func(names ...string) []Member {
		var ms []Member
		for _, n := range names {
			ms = append(ms, Member{Name: n, Status: []byte("old")})
		}
		return ms
	}
	for _, tc := range []struct {
		name   string
		in     []Member
		event  string // the name the event is about
		live   bool   // whether members holds it after the event
		expect []string
	}{
		{"replace", list("a", "b", "c"), "b", true, []string{"a=old", "b=new", "c=old"}},
		{"insert first", list("b", "c"), "a", true, []string{"a=new", "b=old", "c=old"}},
		{"insert middle", list("a", "c"), "b", true, []string{"a=old", "b=new", "c=old"}},
		{"insert last", list("a", "b"), "c", true, []string{"a=old", "b=old", "c=new"}},
		{"insert into empty", nil, "a", true, []string{"a=new"}},
		{"delete", list("a", "b", "c"), "b", false, []string{"a=old", "c=old"}},
		{"delete last", list("a"), "a", false, []string{}},
		{"delete unknown", list("a", "c"), "b", false, []string{"a=old", "c=old"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			members := map[string]Member{}
			for _, m := range tc.in {
				members[m.Name] = m
			}
			delete(members, tc.event)
			if tc.live {
				members[tc.event] = Member{Name: tc.event, Status: []byte("new")}
			}
			if got := summary(applyEvent(tc.in, tc.event, members)); !slices.Equal(got, tc.expect) {
				t.Errorf("got %v, want %v", got, tc.expect)
			}
		})
	}
}

// BenchmarkDiscoveryStatusRewrites measures Discovery following 1,000
// workers whose statuses are rewritten one per watch response (a worker
// writes every 3 s, so a thousand make about 330 a second), with a receiver
// that takes every list.
func BenchmarkDiscoveryStatusRewrites(b *testing.B) {
	const workers = 1000
	f := &fakeLister{watch: make(chan clientv3.WatchResponse)}
	for i := range workers {
		f.kvs = append(f.kvs, workerKV(fmt.Sprintf("worker-%04d", i), "idle", int64(i+1), int64(i+1)))
	}
	ctx, cancel := context.WithCancel(b.Context())
	up := make(chan []Member)
	done := make(chan error, 1)
	go func() { done <- newDiscovery(f, nil).Run(ctx, up) }()
	go func() {
		for range up {
		}
	}()
	b.ResetTimer()
	for i := range b.N {
		w := i % workers
		f.watch <- clientv3.WatchResponse{Events: []*clientv3.Event{
			put(workerKV(fmt.Sprintf("worker-%04d", w), fmt.Sprintf(`{"step":%d}`, i), int64(w+1), int64(w+1)))}}
	}
	b.StopTimer()
	cancel()
	<-done
}
