package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"
)

// MemberConfig describes one member of a real etcd cluster. Its fields are
// etcd's own flags, with etcd's defaults, so an operator's etcd knowledge
// (and runbooks) carry over to cohort etcd unchanged.
type MemberConfig struct {
	Name                     string   // --name; default "default"
	DataDir                  string   // --data-dir; default "<name>.etcd"
	ListenClientURLs         []string // --listen-client-urls; default http://localhost:2379
	AdvertiseClientURLs      []string // --advertise-client-urls; default http://localhost:2379
	ListenPeerURLs           []string // --listen-peer-urls; default http://localhost:2380
	InitialAdvertisePeerURLs []string // --initial-advertise-peer-urls; default http://localhost:2380
	InitialCluster           string   // --initial-cluster; default "<name>=<initial advertise peer URLs>"
	InitialClusterState      string   // --initial-cluster-state: "new" (default) or "existing"
	InitialClusterToken      string   // --initial-cluster-token; default "etcd-cluster"
	// AutoCompactionMode is --auto-compaction-mode: "periodic" (default) or
	// "revision".
	AutoCompactionMode string
	// AutoCompactionRetention is --auto-compaction-retention: a duration
	// ("1h", "30m"; a bare number is hours) in periodic mode, a number of
	// revisions in revision mode; "0" turns compaction off. Unlike etcd,
	// whose default is "0", the default here is DefaultCompactionRetention:
	// a cluster that never compacts grows until its quota stops every write.
	AutoCompactionRetention string
	// QuotaBackendBytes is --quota-backend-bytes; 0 keeps etcd's default
	// (2 GiB).
	QuotaBackendBytes int64
	// Logger receives etcd's info lines and above at their own level; nil
	// means slog.Default().
	Logger *slog.Logger
}

// embedConfig fills MemberConfig's defaults and checks it, naming the flag
// at fault, before etcd sees it: etcd's own messages assume its command line.
func (c MemberConfig) embedConfig() (*embed.Config, error) {
	cfg := embed.NewConfig()
	if c.Name != "" {
		cfg.Name = c.Name
	}
	cfg.Dir = c.DataDir
	if cfg.Dir == "" {
		cfg.Dir = cfg.Name + ".etcd"
	}
	for _, f := range []struct {
		flag string
		in   []string
		out  *[]url.URL
	}{
		{"--listen-client-urls", c.ListenClientURLs, &cfg.ListenClientUrls},
		{"--advertise-client-urls", c.AdvertiseClientURLs, &cfg.AdvertiseClientUrls},
		{"--listen-peer-urls", c.ListenPeerURLs, &cfg.ListenPeerUrls},
		{"--initial-advertise-peer-urls", c.InitialAdvertisePeerURLs, &cfg.AdvertisePeerUrls},
	} {
		if len(f.in) == 0 {
			continue // keep etcd's default
		}
		us, err := parseURLs(f.flag, f.in)
		if err != nil {
			return nil, err
		}
		*f.out = us
	}
	cfg.InitialCluster = c.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	}
	if _, _, err := cfg.PeerURLsMapAndToken("etcd"); err != nil {
		return nil, fmt.Errorf("--initial-cluster %q: %w", cfg.InitialCluster, err)
	}
	switch c.InitialClusterState {
	case "":
	case embed.ClusterStateFlagNew, embed.ClusterStateFlagExisting:
		cfg.ClusterState = c.InitialClusterState
	default:
		return nil, fmt.Errorf("--initial-cluster-state %q: want %q or %q", c.InitialClusterState, embed.ClusterStateFlagNew, embed.ClusterStateFlagExisting)
	}
	if c.InitialClusterToken != "" {
		cfg.InitialClusterToken = c.InitialClusterToken
	}
	if err := c.compaction(cfg); err != nil {
		return nil, err
	}
	if c.QuotaBackendBytes < 0 {
		return nil, fmt.Errorf("--quota-backend-bytes %d: want >= 0 (0: etcd's default, 2 GiB)", c.QuotaBackendBytes)
	}
	cfg.QuotaBackendBytes = c.QuotaBackendBytes
	// Not "debug", even for a debug slog handler: at debug etcd also serves
	// pprof and request traces on the client port.
	cfg.LogLevel = "info"
	return cfg, nil
}

// DefaultCompactionRetention is how much history cohort etcd keeps by
// default: periodic compaction with one hour of revisions, as etcd's
// operations guide suggests. (The embedded etcd of cohort up and cohort
// train compacts by revision, 10000.)
const DefaultCompactionRetention = "1h"

// compaction sets cfg's auto-compaction from c, checking the values as
// etcd would parse them, but naming the flag.
func (c MemberConfig) compaction(cfg *embed.Config) error {
	mode := c.AutoCompactionMode
	if mode == "" {
		mode = embed.CompactorModePeriodic
	}
	ret := strings.TrimSpace(c.AutoCompactionRetention)
	if ret == "" {
		ret = DefaultCompactionRetention
		if mode == embed.CompactorModeRevision {
			ret = "10000"
		}
	}
	switch mode {
	case embed.CompactorModePeriodic:
		if n, err := strconv.ParseInt(ret, 10, 64); err == nil {
			if n < 0 {
				return fmt.Errorf("--auto-compaction-retention %q: want >= 0", ret)
			}
		} else if d, err := time.ParseDuration(ret); err != nil || d < 0 {
			return fmt.Errorf("--auto-compaction-retention %q: want a duration such as 1h or 30m (periodic mode), or 0 for none", ret)
		}
	case embed.CompactorModeRevision:
		if n, err := strconv.ParseInt(ret, 10, 64); err != nil || n < 0 {
			return fmt.Errorf("--auto-compaction-retention %q: want a number of revisions such as 10000 (revision mode), or 0 for none", ret)
		}
	default:
		return fmt.Errorf("--auto-compaction-mode %q: want %q or %q", mode, embed.CompactorModePeriodic, embed.CompactorModeRevision)
	}
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = mode, ret
	return nil
}

func parseURLs(flag string, in []string) ([]url.URL, error) {
	var out []url.URL
	for _, s := range in {
		for _, one := range strings.Split(s, ",") {
			u, err := url.Parse(strings.TrimSpace(one))
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", flag, one, err)
			}
			if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix" && u.Scheme != "unixs" {
				return nil, fmt.Errorf("%s %q: want a URL such as http://10.0.0.1:2379", flag, one)
			}
			out = append(out, *u)
		}
	}
	return out, nil
}

// StartMember starts one member of an etcd cluster and returns once it
// serves requests, which needs a quorum of the initial cluster: start the
// members of a new cluster together. A data directory that another
// process has open is refused at once with an error matching
// ErrDataDirInUse. ctx bounds the start only; run the member with Serve, or
// stop it with Close.
func StartMember(ctx context.Context, c MemberConfig) (*Embedded, error) {
	cfg, err := c.embedConfig()
	if err != nil {
		return nil, fmt.Errorf("membership: etcd member: %w", err)
	}
	m := &Embedded{}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(c.Logger, zapcore.InfoLevel, &m.closing))
	if err := m.start(ctx, cfg); errors.Is(err, ErrDataDirInUse) {
		return nil, fmt.Errorf("membership: start etcd member %q: %w", cfg.Name, err)
	} else if err != nil {
		return nil, fmt.Errorf("membership: start etcd member %q in %s: %w", cfg.Name, cfg.Dir, err)
	}
	return m, nil
}
