package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProgressReadEndsOnce ensures the read bar prints its 100% line once,
// on a terminal or not, though the reader reports the end several times.
func TestProgressReadEndsOnce(t *testing.T) {
	const total = 100 << 20
	for _, tty := range []bool{false, true} {
		var out bytes.Buffer
		p := &progress{w: &out, tty: tty}
		for _, done := range []int64{total / 4, total / 2, total, total, total} {
			p.read(done, total)
		}
		if n := strings.Count(out.String(), "100%"); n != 1 {
			t.Errorf("tty %v: %d lines at 100%%, want 1:\n%s", tty, n, out.String())
		}
	}
}
