package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestTableInvariants ensures the table can be read both ways: reasons are
// unique, each code has at most one by-code sentinel, no sentinel maps to OK,
// and cohort's sentinels carry the package prefix and a reason.
func TestTableInvariants(t *testing.T) {
	reasons := map[string]error{}
	byCodes := map[codes.Code]error{}
	for _, e := range table {
		if e.code == codes.OK {
			t.Errorf("%v maps to OK", e.err)
		}
		if e.byCode {
			if prev, dup := byCodes[e.code]; dup {
				t.Errorf("code %v stands for both %v and %v", e.code, prev, e.err)
			}
			byCodes[e.code] = e.err
		}
		if e.err == context.Canceled || e.err == context.DeadlineExceeded {
			continue
		}
		if !strings.HasPrefix(e.err.Error(), "cohort: ") {
			t.Errorf("%q lacks the \"cohort: \" prefix", e.err)
		}
		if e.reason == "" {
			t.Errorf("%v has no reason", e.err)
		}
		if prev, dup := reasons[e.reason]; dup {
			t.Errorf("reason %s names both %v and %v", e.reason, prev, e.err)
		}
		reasons[e.reason] = e.err
	}
}

// TestCode ensures Code reports what ToStatus will send.
func TestCode(t *testing.T) {
	cases := []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{fmt.Errorf("x: %w", ErrStaleGeneration), codes.Aborted},
		{ErrNotLeader, codes.Unavailable},
		{errors.New("plain"), codes.Unknown},
		{status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
	}
	for _, c := range cases {
		if got := Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %v, want %v", c.err, got, c.want)
		}
		if got := status.Code(ToStatus(c.err)); got != c.want {
			t.Errorf("status.Code(ToStatus(%v)) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestToStatusTruncates ensures a huge error message is cut to MaxMessageLen
// bytes without splitting a UTF-8 character, and still names its sentinel.
func TestToStatusTruncates(t *testing.T) {
	for _, filler := range []string{"x", "é", "日本"} {
		err := fmt.Errorf("%w: %s", ErrInvalidArgument, strings.Repeat(filler, 2*MaxMessageLen))
		got := FromStatus(ToStatus(err))
		msg := got.Error()
		if len(msg) > MaxMessageLen {
			t.Errorf("filler %q: message is %d bytes, want <= %d", filler, len(msg), MaxMessageLen)
		}
		if !utf8.ValidString(msg) {
			t.Errorf("filler %q: message is not valid UTF-8", filler)
		}
		if !strings.HasPrefix(msg, ErrInvalidArgument.Error()) || !strings.HasSuffix(msg, "...") {
			t.Errorf("filler %q: message %.40q... lost its start or the cut mark", filler, msg)
		}
		if !errors.Is(got, ErrInvalidArgument) {
			t.Errorf("filler %q: truncated error lost ErrInvalidArgument", filler)
		}
	}
	wrapped := fmt.Errorf("%s: %w", strings.Repeat("w", 2*MaxMessageLen), status.Error(codes.PermissionDenied, "no"))
	if got := ToStatus(wrapped); len(got.Error()) > MaxMessageLen+len("rpc error: code = PermissionDenied desc = ") ||
		status.Code(got) != codes.PermissionDenied {
		t.Errorf("wrapped status: code %v, %d bytes, want PermissionDenied cut to %d", status.Code(got), len(got.Error()), MaxMessageLen)
	}
	short := fmt.Errorf("%w: name", ErrInvalidArgument)
	if got := FromStatus(ToStatus(short)).Error(); got != short.Error() {
		t.Errorf("short message changed: %q, want %q", got, short.Error())
	}
}
