// Package freeport gives tests a loopback address to listen on, for servers
// whose address must be known before they start (a worker's health
// address, an etcd member's peer URL).
package freeport

import (
	"net"
	"testing"
)

// Addr returns a loopback address with a port that was free a moment ago.
// Another process may take it before the caller listens; tests accept that
// small race for servers that cannot listen on ":0" and report the port.
func Addr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
