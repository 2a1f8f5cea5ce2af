package main

import (
	"context"
	"log/slog"
)

// readableDurations is the loggers' ReplaceAttr: a time.Duration is logged
// as its String ("3s", "1m30s"), not as integer nanoseconds, which is what
// slog's JSON handler writes for one ("ttl":3000000000).
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// childLogFlags are the global flags that make a child cohort process
// (a worker of cohort up or cohort train --workers) log as h does: the
// same format, as resolved here ("auto" becomes json or text, since the
// child writes to a pipe, not the terminal), and minLevel or h's level,
// whichever is lower-volume, except that debug here is debug there.
func childLogFlags(h slog.Handler, minLevel slog.Level) []string {
	format := "text"
	if _, ok := h.(*slog.JSONHandler); ok {
		format = "json"
	}
	level := slog.LevelError
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if h.Enabled(context.Background(), l) {
			level = l
			break
		}
	}
	if level != slog.LevelDebug {
		level = max(level, minLevel)
	}
	return []string{"--log-level", levelFlag(level), "--log-format", format}
}

// levelFlag is l as --log-level takes it.
func levelFlag(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	}
	return "error"
}
