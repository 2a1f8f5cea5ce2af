package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

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
	// Not "debug", even for a debug slog handler: at debug etcd also serves
	// pprof and request traces on the client port.
	cfg.LogLevel = "info"
	return cfg, nil
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
