package membership

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestZapLogger ensures etcd's zap lines reach slog with their fields and
// level, lines below the floor are dropped, and a closing server's errors
// are demoted to debug.
func TestZapLogger(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var closing atomic.Bool
	zl := newZapLogger(lg, zapcore.WarnLevel, &closing).Named("raft").With(zap.String("member", "m1"))
	zl.Info("dropped below the floor")
	zl.Warn("slow fdatasync", zap.Duration("took", 2*time.Second), zap.Error(errors.New("disk")))
	closing.Store(true)
	zl.Error("listener closed, dropped at a warn floor")
	newZapLogger(lg, zapcore.DebugLevel, &closing).Error("listener closed")
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="slow fdatasync" logger=raft member=m1 error=disk took=2s`,
		`level=DEBUG msg="listener closed"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dropped") {
		t.Errorf("info line passed a warn floor:\n%s", out)
	}
}

// TestBackoff ensures retries wait from min, doubling to max, start over
// after reset, and stop waiting when the context ends.
func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff{min: 50 * time.Millisecond, max: time.Second}
		var waits []time.Duration
		for range 7 {
			start := time.Now()
			if err := b.sleep(t.Context()); err != nil {
				t.Fatal(err)
			}
			waits = append(waits, time.Since(start))
		}
		b.reset()
		start := time.Now()
		b.sleep(t.Context())
		waits = append(waits, time.Since(start))
		want := []time.Duration{50, 100, 200, 400, 800, 1000, 1000, 50}
		for i := range want {
			if waits[i] != want[i]*time.Millisecond {
				t.Fatalf("waits %v, want %v ms", waits, want)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		if err := b.sleep(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("sleep past its context: %v", err)
		}
	})
}
