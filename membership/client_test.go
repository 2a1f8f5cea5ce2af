package membership

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigNormalized ensures Config's defaults are filled in and each
// contradictory or malformed setting is refused with the field at fault.
func TestConfigNormalized(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(pem, []byte("not checked here"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for success
	}{
		{"host:port", Config{Endpoints: []string{"10.0.0.1:2379"}}, ""},
		{"urls and unix", Config{Endpoints: []string{"https://a:2379", "unix:///run/etcd.sock"}}, ""},
		{"tls", Config{Endpoints: []string{"a:2379"}, CACert: pem, Cert: pem, Key: pem}, ""},
		{"no endpoints", Config{}, "no endpoints"},
		{"no port", Config{Endpoints: []string{"a:2379", "b"}}, `endpoint 2 "b": want "host:port"`},
		{"url without port", Config{Endpoints: []string{"http://a"}}, "no port"},
		{"bad scheme", Config{Endpoints: []string{"grpc://a:1"}}, `scheme "grpc"`},
		{"http with tls", Config{Endpoints: []string{"http://a:2379"}, CACert: pem}, "http:// with TLS"},
		{"cert without key", Config{Endpoints: []string{"a:1"}, Cert: pem}, "want both or neither"},
		{"missing ca", Config{Endpoints: []string{"a:1"}, CACert: missing}, "CA cert: stat " + missing},
		{"password alone", Config{Endpoints: []string{"a:1"}, Password: "x"}, "password without a username"},
		{"negative timeout", Config{Endpoints: []string{"a:1"}, DialTimeout: -time.Second}, "dial timeout -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.normalized()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.DialTimeout != DefaultDialTimeout {
					t.Fatalf("DialTimeout = %v, want the default %v", got.DialTimeout, DefaultDialTimeout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDialUnreachable ensures Dial fails within its timeout, naming the
// endpoint, when nothing listens there.
func TestDialUnreachable(t *testing.T) {
	ports, err := freeLoopbackPorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("127.0.0.1:%d", ports[0])
	start := time.Now()
	cli, err := Dial(t.Context(), Config{Endpoints: []string{ep}, DialTimeout: 300 * time.Millisecond})
	if err == nil {
		cli.Close()
		t.Fatal("Dial to a closed port succeeded")
	}
	if !strings.Contains(err.Error(), ep) || time.Since(start) > 3*time.Second {
		t.Fatalf("after %v: %v; want a prompt error naming %s", time.Since(start), err, ep)
	}
}

// TestConnectParams holds the client's reconnection to the bounds a
// rejoin needs. Dial used to leave gRPC's defaults: a pause between tries
// that grows by 1.6x up to 2 minutes while etcd is out of reach, so a
// worker cut off for 20 s registered again 4.7-8.2 s after its connection
// came back (a partition of minutes could cost it minutes more), and 20 s
// for each try to connect. Tries now come at most ReconnectMaxDelay apart
// (plus gRPC's jitter), no more than the shortest lease etcd grants (1 s),
// and each try has the dial timeout.
func TestConnectParams(t *testing.T) {
	if ReconnectMaxDelay > time.Second {
		t.Fatalf("ReconnectMaxDelay = %v, want at most 1 s, the shortest lease TTL", ReconnectMaxDelay)
	}
	for _, timeout := range []time.Duration{0, 500 * time.Millisecond, 30 * time.Second} {
		c, err := Config{Endpoints: []string{"a:2379"}, DialTimeout: timeout}.normalized()
		if err != nil {
			t.Fatal(err)
		}
		p := c.connectParams()
		b := p.Backoff
		if b.MaxDelay != ReconnectMaxDelay {
			t.Errorf("dial timeout %v: backoff MaxDelay = %v, want ReconnectMaxDelay (%v)", timeout, b.MaxDelay, ReconnectMaxDelay)
		}
		if b.BaseDelay <= 0 || b.BaseDelay > b.MaxDelay || b.Multiplier < 1 || b.Jitter < 0 || b.Jitter >= 1 {
			t.Errorf("dial timeout %v: backoff %+v: want 0 < BaseDelay <= MaxDelay, Multiplier >= 1, 0 <= Jitter < 1", timeout, b)
		}
		// The longest pause gRPC can draw: the cap plus its jitter.
		if worst := time.Duration(float64(b.MaxDelay) * (1 + b.Jitter)); worst > 2*time.Second {
			t.Errorf("dial timeout %v: a reconnect may wait %v, want at most 2 s", timeout, worst)
		}
		if p.MinConnectTimeout != c.DialTimeout {
			t.Errorf("dial timeout %v: MinConnectTimeout = %v, want the dial timeout %v", timeout, p.MinConnectTimeout, c.DialTimeout)
		}
	}
}
