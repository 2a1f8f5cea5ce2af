package membership

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMemberConfig ensures etcd's defaults are filled in and bad flags are
// refused with the flag's name.
func TestMemberConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := MemberConfig{Name: "m1"}.embedConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Dir != "m1.etcd" || cfg.InitialCluster != "m1=http://localhost:2380" || cfg.ClusterState != "new" {
			t.Fatalf("dir %q, cluster %q, state %q; want etcd's defaults for m1", cfg.Dir, cfg.InitialCluster, cfg.ClusterState)
		}
	})
	for _, tc := range []struct {
		name string
		cfg  MemberConfig
		want string
	}{
		{"bad scheme", MemberConfig{ListenClientURLs: []string{"tcp://0.0.0.0:2379"}}, "--listen-client-urls"},
		{"no scheme", MemberConfig{InitialAdvertisePeerURLs: []string{"10.0.0.1:2380"}}, "--initial-advertise-peer-urls"},
		{"bad cluster", MemberConfig{InitialCluster: "m1"}, "--initial-cluster"},
		{"bad state", MemberConfig{InitialClusterState: "old"}, `--initial-cluster-state "old"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.embedConfig()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestThreeMembers ensures three members started in one process form a
// cluster that serves writes from any of them and survives one stopping.
func TestThreeMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-member cluster")
	}
	members, _ := startThreeMembers(t)

	var eps []string
	for _, m := range members {
		eps = append(eps, m.Endpoints()...)
	}
	cli, err := Dial(t.Context(), Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(t.Context(), JobKey("j"), "1"); err != nil {
		t.Fatal(err)
	}
	members[0].Close()
	if _, err := cli.Put(t.Context(), JobKey("j"), "2"); err != nil {
		t.Fatalf("write with one of three members down: %v", err)
	}
	only, err := Dial(t.Context(), Config{Endpoints: members[2].Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	resp, err := only.Get(t.Context(), JobKey("j"))
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("read from m2: %v, %v; want j=2", resp, err)
	}
}

// startThreeMembers starts a three-member cluster on loopback for one test
// and returns its members and their configs (to start one again).
func startThreeMembers(t *testing.T) ([]*Embedded, []MemberConfig) {
	t.Helper()
	ports, err := freeLoopbackPorts(6)
	if err != nil {
		t.Fatal(err)
	}
	var cluster []string
	for i := range 3 {
		cluster = append(cluster, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	dir := t.TempDir()
	members := make([]*Embedded, 3)
	cfgs := make([]MemberConfig, 3)
	errs := make([]error, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 3 {
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		cfgs[i] = MemberConfig{
			Name:                     fmt.Sprintf("m%d", i),
			DataDir:                  filepath.Join(dir, fmt.Sprintf("m%d", i)),
			ListenClientURLs:         []string{client},
			AdvertiseClientURLs:      []string{client},
			ListenPeerURLs:           []string{peer},
			InitialAdvertisePeerURLs: []string{peer},
			InitialCluster:           strings.Join(cluster, ","),
			InitialClusterToken:      "test",
			Logger:                   slog.New(slog.DiscardHandler), // peers' goodbyes are noise here
		}
		wg.Go(func() {
			members[i], errs[i] = StartMember(ctx, cfgs[i])
		})
	}
	wg.Wait()
	for i, m := range members {
		if m != nil {
			t.Cleanup(func() { m.Close() })
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	t.Logf("three members ready in %v", time.Since(start).Round(time.Millisecond))
	return members, cfgs
}
