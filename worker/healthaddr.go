package worker

import (
	"net"
	"strconv"
)

// publishedHealthAddr is the address of /metrics and /healthz a worker
// publishes in etcd (health_addr), which scrapers and file_sd targets are
// built from: one they can dial, never a wildcard. In order:
//   - advertise (--health-advertise), with the bound port when it names
//     only a host;
//   - the bound address, unless its host is a wildcard (0.0.0.0, [::]);
//   - the host of ringAddr (the address peers dial: --advertise) with the
//     bound port, unless it is loopback;
//   - hostname() with the bound port;
//   - the bound address after all.
func publishedHealthAddr(bound net.Addr, advertise, ringAddr string, hostname func() (string, error)) string {
	port := ""
	unspecified := false
	if ta, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
		unspecified = ta.IP == nil || ta.IP.IsUnspecified()
	} else if _, p, err := net.SplitHostPort(bound.String()); err == nil {
		port = p
	}
	if advertise != "" {
		if _, _, err := net.SplitHostPort(advertise); err == nil {
			return advertise
		}
		return net.JoinHostPort(advertise, port)
	}
	if !unspecified || port == "" {
		return bound.String()
	}
	if host, _, err := net.SplitHostPort(ringAddr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || (!ip.IsUnspecified() && !ip.IsLoopback()) {
			if host != "localhost" {
				return net.JoinHostPort(host, port)
			}
		}
	}
	if h, err := hostname(); err == nil && h != "" {
		return net.JoinHostPort(h, port)
	}
	return bound.String()
}
