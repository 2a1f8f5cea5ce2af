package membership

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

// DefaultDialTimeout bounds Dial when Config.DialTimeout is zero.
const DefaultDialTimeout = 5 * time.Second

// ReconnectMaxDelay bounds the pause between a client's tries to reconnect
// to an etcd member it lost. gRPC's default backoff grows from 1 s by 1.6x
// per failed try up to 2 minutes, so after an outage of T seconds the next
// try could come up to about 0.6·T after etcd was reachable again: a worker
// whose connections were refused for 20 s registered again 4.7-8.2 s after
// they were let through (0.04-0.8 s with this cap), and a partition of some
// minutes would cost minutes more. It is 1 s, the shortest lease TTL etcd
// grants, so a process rejoins within about a second of etcd answering and
// a client whose member restarts reconnects before its lease runs out. The
// cost is one connection attempt a second per unreachable member.
const ReconnectMaxDelay = time.Second

// Config says how to reach an etcd cluster: what cohort's --etcd,
// --etcd-cacert, --etcd-cert, --etcd-key, --etcd-user and --etcd-password
// flags hold.
type Config struct {
	// Endpoints are the cluster's client addresses, "host:port" or URLs
	// (http://, https://, unix://). At least one is required.
	Endpoints []string
	// CACert is a PEM file of the CAs that sign the servers' certificates.
	// Setting it, or Cert and Key, turns TLS on; https:// endpoints turn it
	// on with the system's CAs.
	CACert string
	// Cert and Key are PEM files of the client's certificate, for clusters
	// that authenticate clients by certificate. Both or neither.
	Cert, Key string
	// Username and Password authenticate to a cluster with auth enabled.
	Username, Password string
	// DialTimeout bounds the connection and Dial's health check; zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// Logger receives the client's errors; nil means slog.Default().
	Logger *slog.Logger
}

// normalized returns c with its defaults filled in, or an error naming the
// field at fault. It is the one place both happen.
func (c Config) normalized() (Config, error) {
	if len(c.Endpoints) == 0 {
		return c, errors.New("no endpoints: want at least one host:port")
	}
	if c.DialTimeout < 0 {
		return c, fmt.Errorf("dial timeout %v: want ≥ 0", c.DialTimeout)
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if (c.Cert == "") != (c.Key == "") {
		return c, fmt.Errorf("cert %q and key %q: want both or neither", c.Cert, c.Key)
	}
	if c.Password != "" && c.Username == "" {
		return c, errors.New("password without a username")
	}
	for _, f := range []struct{ name, path string }{{"CA cert", c.CACert}, {"cert", c.Cert}, {"key", c.Key}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return c, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	tlsOn := c.CACert != "" || c.Cert != ""
	eps := make([]string, len(c.Endpoints))
	for i, ep := range c.Endpoints {
		ep = strings.TrimSpace(ep)
		scheme, err := endpointScheme(ep)
		if err != nil {
			return c, fmt.Errorf("endpoint %d %q: %w", i+1, ep, err)
		}
		if scheme == "http" && tlsOn {
			return c, fmt.Errorf("endpoint %d %q: http:// with TLS certificates set; use https:// or host:port", i+1, ep)
		}
		eps[i] = ep
	}
	c.Endpoints = eps
	return c, nil
}

// endpointScheme returns the scheme of a "host:port" or URL endpoint, or
// an error saying what was expected.
func endpointScheme(ep string) (string, error) {
	if !strings.Contains(ep, "://") {
		if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
			return "", errors.New(`want "host:port" or a URL such as https://10.0.0.1:2379`)
		}
		return "", nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "https":
		if u.Port() == "" {
			return "", errors.New("no port")
		}
	case "unix", "unixs":
	default:
		return "", fmt.Errorf("scheme %q: want http, https, unix or unixs", u.Scheme)
	}
	return u.Scheme, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	needTLS := c.CACert != "" || c.Cert != ""
	for _, ep := range c.Endpoints {
		needTLS = needTLS || strings.HasPrefix(ep, "https://") || strings.HasPrefix(ep, "unixs://")
	}
	if !needTLS {
		return nil, nil
	}
	info := transport.TLSInfo{TrustedCAFile: c.CACert, CertFile: c.Cert, KeyFile: c.Key}
	if info.Empty() && c.CACert == "" {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil // system CAs
	}
	return info.ClientConfig()
}

// connectParams is how the client's connections to etcd members are
// (re)made: tries at most ReconnectMaxDelay apart, give or take gRPC's 20%
// jitter (its own default lets the pause grow to 2 minutes), each given
// the dial timeout to complete, so one attempt hanging on a partitioned
// address (packets dropped, no refusal) does not hold back the next for
// gRPC's default 20 s. c must be normalized.
func (c Config) connectParams() grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff: grpcbackoff.Config{
			BaseDelay:  250 * time.Millisecond,
			Multiplier: grpcbackoff.DefaultConfig.Multiplier,
			Jitter:     grpcbackoff.DefaultConfig.Jitter,
			MaxDelay:   ReconnectMaxDelay,
		},
		MinConnectTimeout: c.DialTimeout,
	}
}

// Dial connects to the etcd cluster cfg describes and checks that one of
// its endpoints answers within the dial timeout, so a wrong address fails
// here, not at the first registration. ctx bounds the dial only; the client
// lives until its Close.
func Dial(ctx context.Context, cfg Config) (*clientv3.Client, error) {
	c, err := cfg.normalized()
	if err != nil {
		return nil, fmt.Errorf("membership: dial: %w", err)
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("membership: dial: TLS: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints,
		DialTimeout: c.DialTimeout,
		TLS:         tc,
		Username:    c.Username,
		Password:    c.Password,
		Logger:      newZapLogger(c.Logger, zapcore.ErrorLevel, nil),
		// Without keep-alive pings a client on a dead TCP connection (peer
		// host gone, no RST) would wait for the kernel's timeout, far past
		// any lease TTL.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		DialOptions:          []grpc.DialOption{grpc.WithConnectParams(c.connectParams())},
	})
	if err != nil {
		return nil, fmt.Errorf("membership: dial %s: %w", strings.Join(c.Endpoints, ","), err)
	}
	hctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	// Any read proves the connection and the credentials; a serializable
	// count of a key nobody writes costs the server nothing.
	if _, err := cli.Get(hctx, Root+"ping", clientv3.WithSerializable(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("membership: dial %s: no endpoint answered within %v: %w", strings.Join(c.Endpoints, ","), c.DialTimeout, err)
	}
	return cli, nil
}
