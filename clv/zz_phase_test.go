package clv

import (
	"context"
	"log/slog"
	"os"
	"testing"
)

func TestZZPhase(t *testing.T) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	o := Options{CalibrationEnd: mustDate("2024-12-31"), Horizon: Horizon{Days: 182}}
	for range 4 {
		if _, err := Load(context.Background(), os.Getenv("ZZFILE"), o); err != nil {
			t.Fatal(err)
		}
	}
}
