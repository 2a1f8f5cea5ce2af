package membership

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger (what etcd's server and client log to)
// that writes to lg, so etcd's lines come out in the process's own format
// next to cohort's. Entries below min are dropped before any field is
// encoded: etcd logs a great deal at info level, which an embedded server's
// user does not want to read. Once *closing is set (it may be nil), every
// entry is demoted to debug: a server being stopped reports its closed
// listeners as errors, which they are not.
func newZapLogger(lg *slog.Logger, min zapcore.Level, closing *atomic.Bool) *zap.Logger {
	if lg == nil {
		lg = slog.Default()
	}
	if closing == nil {
		closing = new(atomic.Bool)
	}
	return zap.New(&slogCore{h: lg.Handler(), min: min, closing: closing})
}

// slogCore is a zapcore.Core over a slog.Handler.
type slogCore struct {
	h       slog.Handler
	min     zapcore.Level
	closing *atomic.Bool
	attrs   []slog.Attr // from With, written before each entry's own fields
}

// level is l, or debug once the server is closing.
func (c *slogCore) level(l zapcore.Level) zapcore.Level {
	if c.closing.Load() {
		return zapcore.DebugLevel
	}
	return l
}

// benign reports messages etcd logs as errors that are not: a new member's
// storage-version monitor runs before the first term is written, fails,
// and succeeds on its next round.
func benign(msg string) bool { return msg == "failed to update storage version" }

func (c *slogCore) Enabled(l zapcore.Level) bool {
	l = c.level(l)
	return l >= c.min && c.h.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h, min: c.min, closing: c.closing, attrs: append(slices.Clip(c.attrs), attrsOf(fs)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if benign(e.Message) {
		e.Level = zapcore.DebugLevel
	}
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	l := c.level(e.Level)
	if benign(e.Message) {
		l = zapcore.DebugLevel
	}
	r := slog.NewRecord(e.Time, slogLevel(l), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(c.attrs...)
	r.AddAttrs(attrsOf(fs)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// attrsOf encodes zap fields with zap's own map encoder, so every field type
// (durations, errors, objects) renders as zap would have rendered it.
func attrsOf(fs []zapcore.Field) []slog.Attr {
	if len(fs) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	return attrs
}
