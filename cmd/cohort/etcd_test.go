package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/internal/freeport"
	"github.com/cohort-clv/cohort/membership"
)

// TestEtcdCommand ensures cohort etcd runs a one-member cluster that serves
// clients at its advertised URL and stops cleanly, returning nil, when its
// context ends (as on SIGTERM); and that a bad flag is refused by name.
func TestEtcdCommand(t *testing.T) {
	t.Run("serves until canceled", func(t *testing.T) {
		client, peer := "http://"+freeport.Addr(t), "http://"+freeport.Addr(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		root := newRootCmd()
		var stderr bytes.Buffer
		root.SetErr(&stderr)
		root.SetArgs([]string{"etcd", "--log-level", "error", "--name", "solo",
			"--data-dir", filepath.Join(t.TempDir(), "solo.etcd"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "solo=" + peer, "--initial-cluster-token", "test"})
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx) }()

		cli := dialUntil(t, client, done)
		defer cli.Close()
		if _, err := cli.Put(t.Context(), membership.JobKey("j"), "x"); err != nil {
			t.Fatal(err)
		}
		resp, err := cli.MemberList(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Members) != 1 || resp.Members[0].Name != "solo" || resp.Members[0].ClientURLs[0] != client {
			t.Fatalf("members %v, want solo at %s", resp.Members, client)
		}

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("cohort etcd after cancel: %v (stderr %s)", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("cohort etcd did not stop within 10s of cancel")
		}
	})
	t.Run("bad flag", func(t *testing.T) {
		root := newRootCmd()
		root.SetArgs([]string{"etcd", "--initial-cluster-state", "joining", "--data-dir", t.TempDir()})
		err := root.ExecuteContext(t.Context())
		if err == nil || !strings.Contains(err.Error(), "--initial-cluster-state") {
			t.Fatalf("err = %v, want one naming --initial-cluster-state", err)
		}
	})
}

// dialUntil dials ep until the member answers, failing if the command
// returns first or 20s pass.
func dialUntil(t *testing.T, ep string, done <-chan error) *clientv3.Client {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("cohort etcd returned before serving: %v", err)
		default:
		}
		cli, err := membership.Dial(t.Context(), membership.Config{Endpoints: []string{ep}, DialTimeout: 500 * time.Millisecond})
		if err == nil {
			return cli
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("member never answered: %w", err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
