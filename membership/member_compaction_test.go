package membership

import (
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
)

// TestMemberConfigCompaction ensures a cohort etcd member compacts its
// history by default (periodic, 1h), unlike etcd's own default of never,
// and that the mode, retention and quota flags reach etcd or are refused
// by name.
func TestMemberConfigCompaction(t *testing.T) {
	for _, tc := range []struct {
		name          string
		cfg           MemberConfig
		mode, keep    string
		quota         int64
		wantErrNaming string
	}{
		{name: "default", cfg: MemberConfig{}, mode: embed.CompactorModePeriodic, keep: "1h"},
		{name: "periodic 30m", cfg: MemberConfig{AutoCompactionRetention: "30m"}, mode: "periodic", keep: "30m"},
		{name: "periodic hours", cfg: MemberConfig{AutoCompactionRetention: "2"}, mode: "periodic", keep: "2"},
		{name: "off", cfg: MemberConfig{AutoCompactionRetention: "0"}, mode: "periodic", keep: "0"},
		{name: "revision default", cfg: MemberConfig{AutoCompactionMode: "revision"}, mode: embed.CompactorModeRevision, keep: "10000"},
		{name: "revision", cfg: MemberConfig{AutoCompactionMode: "revision", AutoCompactionRetention: "500"}, mode: "revision", keep: "500"},
		{name: "quota", cfg: MemberConfig{QuotaBackendBytes: 8 << 30}, mode: "periodic", keep: "1h", quota: 8 << 30},
		{name: "bad mode", cfg: MemberConfig{AutoCompactionMode: "hourly"}, wantErrNaming: "--auto-compaction-mode"},
		{name: "bad periodic", cfg: MemberConfig{AutoCompactionRetention: "an hour"}, wantErrNaming: "--auto-compaction-retention"},
		{name: "negative", cfg: MemberConfig{AutoCompactionRetention: "-1h"}, wantErrNaming: "--auto-compaction-retention"},
		{name: "bad revision", cfg: MemberConfig{AutoCompactionMode: "revision", AutoCompactionRetention: "1h"}, wantErrNaming: "--auto-compaction-retention"},
		{name: "bad quota", cfg: MemberConfig{QuotaBackendBytes: -1}, wantErrNaming: "--quota-backend-bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name = "m1"
			cfg, err := tc.cfg.embedConfig()
			if tc.wantErrNaming != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrNaming) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErrNaming)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AutoCompactionMode != tc.mode || cfg.AutoCompactionRetention != tc.keep || cfg.QuotaBackendBytes != tc.quota {
				t.Fatalf("compaction %q %q, quota %d; want %q %q, quota %d",
					cfg.AutoCompactionMode, cfg.AutoCompactionRetention, cfg.QuotaBackendBytes, tc.mode, tc.keep, tc.quota)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("etcd refuses the config: %v", err)
			}
		})
	}
}
