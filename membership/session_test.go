package membership

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestSessionEnds ensures a session's TTL is rounded up to whole seconds,
// Close deletes its keys at once, and Orphan leaves them until the lease
// expires, closing Done in both cases.
func TestSessionEnds(t *testing.T) {
	e := startEmbedded(t, "")
	cli := dial(t, e)
	for _, tc := range []struct {
		name   string
		end    func(*Session)
		within time.Duration // how soon the key must be gone
		stays  bool          // whether it must still be there right after
	}{
		{"close revokes", func(s *Session) { s.Close() }, 0, false},
		{"orphan expires", (*Session).Orphan, 4 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, cli, 1500*time.Millisecond)
			ttl, err := cli.TimeToLive(t.Context(), s.Lease())
			if err != nil {
				t.Fatal(err)
			}
			if s.TTL() != 2*time.Second || ttl.GrantedTTL != 2 {
				t.Fatalf("TTL %v, granted %ds; want 1.5s rounded up to 2s", s.TTL(), ttl.GrantedTTL)
			}
			if _, err := Register(t.Context(), s, "w", nil); err != nil {
				t.Fatal(err)
			}
			tc.end(s)
			select {
			case <-s.Done():
			case <-time.After(time.Second):
				t.Fatal("Done not closed after the session ended")
			}
			count := func() int64 {
				resp, err := cli.Get(t.Context(), WorkerKey("w"), clientv3.WithCountOnly())
				if err != nil {
					t.Fatal(err)
				}
				return resp.Count
			}
			if got := count(); (got == 1) != tc.stays {
				t.Fatalf("right after: %d keys, want stays=%v", got, tc.stays)
			}
			deadline := time.Now().Add(tc.within)
			for count() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("key still there %v after the session ended", tc.within)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
