// Package etcdtest starts an embedded etcd for one test, the setup most of
// cohort's distributed tests share.
package etcdtest

import (
	"context"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/membership"
)

// Start starts an embedded etcd in a temporary directory and returns its
// client endpoints and a client of it; both close when the test ends.
// The server and client outlive t.Context, so cleanups that still talk to
// etcd (a worker revoking its lease) can.
func Start(t testing.TB) ([]string, *clientv3.Client) {
	t.Helper()
	ctx := context.Background()
	emb, err := membership.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	cli, err := membership.Dial(ctx, membership.Config{Endpoints: emb.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return emb.Endpoints(), cli
}
