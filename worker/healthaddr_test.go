package worker

import (
	"errors"
	"net"
	"testing"
)

// TestPublishedHealthAddr ensures the health_addr a worker publishes is one
// a scraper on another machine can dial: a wildcard bind is replaced by
// --health-advertise, the --advertise host or the host name, with the
// bound port.
func TestPublishedHealthAddr(t *testing.T) {
	host := func() (string, error) { return "node-7", nil }
	noHost := func() (string, error) { return "", errors.New("no name") }
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	for _, tc := range []struct {
		name      string
		bound     net.Addr
		advertise string
		ring      string
		hostname  func() (string, error)
		want      string
	}{
		{"loopback kept", tcp("127.0.0.1", 41234), "", "127.0.0.1:7071", host, "127.0.0.1:41234"},
		{"specific IP kept", tcp("10.1.2.3", 9091), "", "10.1.2.3:7071", host, "10.1.2.3:9091"},
		{"v4 wildcard takes the ring host", tcp("0.0.0.0", 9091), "", "w1:7071", host, "w1:9091"},
		{"v6 wildcard takes the ring IP", tcp("::", 9091), "", "10.0.0.5:7071", host, "10.0.0.5:9091"},
		{"v6 ring IP", tcp("::", 9091), "", "[fd00::5]:7071", host, "[fd00::5]:9091"},
		{"loopback ring: host name", tcp("::", 9091), "", "127.0.0.1:7071", host, "node-7:9091"},
		{"localhost ring: host name", tcp("0.0.0.0", 9091), "", "localhost:7071", host, "node-7:9091"},
		{"no ring: host name", tcp("0.0.0.0", 9091), "", "", host, "node-7:9091"},
		{"no host name: bound", tcp("0.0.0.0", 9091), "", "127.0.0.1:7071", noHost, "0.0.0.0:9091"},
		{"advertise host", tcp("0.0.0.0", 9091), "metrics.w1", "w1:7071", host, "metrics.w1:9091"},
		{"advertise host:port", tcp("0.0.0.0", 9091), "lb:19091", "w1:7071", host, "lb:19091"},
		{"advertise on a specific bind", tcp("127.0.0.1", 9091), "w1", "w1:7071", host, "w1:9091"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := publishedHealthAddr(tc.bound, tc.advertise, tc.ring, tc.hostname); got != tc.want {
				t.Errorf("publishedHealthAddr(%v, %q, %q) = %q, want %q", tc.bound, tc.advertise, tc.ring, got, tc.want)
			}
		})
	}
}
