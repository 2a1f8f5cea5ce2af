package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// httpGet returns the status and body of GET url, or code 0 when it fails.
func httpGet(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHealthEtcdOutage runs a coordinator and a worker (real processes)
// against an etcd that then goes away, and checks what probes see:
// /livez stays 200 on both (a liveness probe must not restart them), while
// /readyz (and /healthz) go 503 within a few TTLs, the coordinator's body
// naming its state. It also checks that a worker bound to a wildcard
// publishes a dialable health_addr, not 0.0.0.0.
func TestHealthEtcdOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes through an etcd outage")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emb, err := membership.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	eps := strings.Join(emb.Endpoints(), ",")
	cli, err := membership.Dial(ctx, membership.Config{Endpoints: emb.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	coord, _, _ := cohortCmd(t, ctx, "--log-format", "json", "coordinator", "--etcd", eps, "--name", "c1",
		"--listen", "127.0.0.1:0", "--health-addr", "127.0.0.1:0", "--lease-ttl", "2s")
	cerr := &syncBuffer{}
	coord.Stderr = cerr
	cexit := start(t, coord)
	defer func() { coord.Process.Kill(); <-cexit }()
	work, _, _ := cohortCmd(t, ctx, "--log-format", "json", "worker", "--etcd", eps, "--name", "w1",
		"--health-addr", "0.0.0.0:0", "--lease-ttl", "2s")
	werr := &syncBuffer{}
	work.Stderr = werr
	wexit := start(t, work)
	defer func() { work.Process.Kill(); <-wexit }()
	defer func() {
		if t.Failed() {
			t.Logf("coordinator:\n%s\nworker:\n%s", cerr, werr)
		}
	}()

	// The coordinator's health address, from its log.
	var coordHealth string
	for coordHealth == "" {
		select {
		case err := <-cexit:
			t.Fatalf("coordinator exited: %v", err)
		case <-ctx.Done():
			t.Fatal("no health address logged")
		case <-time.After(50 * time.Millisecond):
		}
		for _, line := range strings.Split(cerr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec.Msg, "/livez") {
				coordHealth = rec.Addr
			}
		}
	}
	// The worker's published health address.
	var st cohortv1.WorkerStatus
	for st.GetHealthAddr() == "" {
		if resp, err := cli.Get(ctx, membership.WorkerKey("w1")); err == nil && len(resp.Kvs) == 1 {
			if err := protojson.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-wexit:
			t.Fatalf("worker exited: %v", err)
		case <-ctx.Done():
			t.Fatal("the worker never registered")
		case <-time.After(50 * time.Millisecond):
		}
	}
	host, port, err := net.SplitHostPort(st.GetHealthAddr())
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := os.Hostname(); host != name {
		t.Errorf("health_addr %s bound on 0.0.0.0 with a loopback ring address, want the host name %s", st.GetHealthAddr(), name)
	}
	workerHealth := net.JoinHostPort("127.0.0.1", port)

	await := func(what, url string, code int, body string) {
		t.Helper()
		var gotCode int
		var gotBody string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if gotCode, gotBody = httpGet(url); gotCode == code && strings.Contains(gotBody, body) {
				return
			}
		}
		t.Fatalf("%s: GET %s = %d %q, want %d with %q", what, url, gotCode, gotBody, code, body)
	}
	await("coordinator leads", "http://"+coordHealth+"/readyz", 200, "ok: leader")
	await("coordinator", "http://"+coordHealth+"/healthz", 200, "ok: leader")
	await("worker registered", "http://"+workerHealth+"/readyz", 200, "ok")
	for _, h := range []string{coordHealth, workerHealth} {
		await("alive", "http://"+h+"/livez", 200, "ok")
	}

	if err := emb.Close(); err != nil {
		t.Logf("close etcd: %v", err)
	}
	outage := time.Now()
	await("coordinator without etcd", "http://"+coordHealth+"/readyz", 503, "etcd")
	await("worker without etcd", "http://"+workerHealth+"/healthz", 503, "lease lost")
	t.Logf("both unready %v after etcd went away", time.Since(outage).Round(100*time.Millisecond))
	for _, h := range []string{coordHealth, workerHealth} {
		if code, body := httpGet("http://" + h + "/livez"); code != 200 {
			t.Errorf("%s/livez without etcd = %d %q, want 200: liveness must not depend on etcd", h, code, body)
		}
	}
	// Shutdown is logged at INFO.
	if err := work.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wexit:
		wexit <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("worker still runs 15 s after SIGTERM")
	}
	if !strings.Contains(werr.String(), `"msg":"worker: stopping`) || !strings.Contains(werr.String(), `"msg":"worker: stopped"`) {
		t.Errorf("worker log lacks its stopping and stopped lines:\n%s", werr)
	}
	if !strings.Contains(werr.String(), `"ttl":"2s"`) {
		t.Errorf("worker log lacks \"ttl\":\"2s\" (a readable duration):\n%s", werr)
	}
}
