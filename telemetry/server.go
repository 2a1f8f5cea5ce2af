// Package telemetry is what every long-running cohort process (coordinator,
// worker, cohort up) uses to be observed: an HTTP server for /metrics,
// /livez (liveness) and /readyz or /healthz (readiness) over the process's
// own Prometheus registry, and the cohort_* training metrics. It keeps no global state: the default Prometheus
// registry is never touched.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a fresh registry with the Go runtime and process
// collectors, the usual base a process adds its own collectors to.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Addr is the listen address ("host:port"); ":0" picks a free port.
	Addr string
	// Gatherer serves /metrics; required (usually the process's Registry).
	Gatherer prometheus.Gatherer
	// Health answers /readyz and /healthz (the same check, by two names):
	// nil error is 200, an error is 503 with its text. Nil means always
	// ready. It may depend on other services (etcd); /livez never does:
	// it answers 200 while the process serves HTTP at all, so a liveness
	// probe on it does not restart a process whose dependency is down.
	Health func(context.Context) error
	// State, when set, is added to the /readyz and /healthz body after
	// "ok" or the error ("ok: leader", "unhealthy: ...; standby"), so an
	// operator's curl shows the process's role as well.
	State func() string
	// HealthTimeout bounds one Health call; default 2s.
	HealthTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown on cancel; default 5s.
	ShutdownTimeout time.Duration
	// Logger gets serve errors; default slog.Default().
	Logger *slog.Logger
}

func (c *ServerConfig) fill() error {
	if c.Gatherer == nil {
		return errors.New("telemetry: server: Gatherer is required")
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = 2 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Server serves /metrics and /healthz. Create it with Listen, run it with
// Serve; it is bound from Listen on, so Addr is known before Serve.
type Server struct {
	cfg ServerConfig
	ln  net.Listener
	srv *http.Server
}

// Listen binds cfg.Addr and returns a Server ready to Serve. Binding here
// rather than in Serve makes a taken port fail at startup, synchronously.
func Listen(cfg ServerConfig) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("telemetry: listen %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, ln: ln}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		// Scrapes and probes are small GETs: bound the whole request, the
		// response (a scrape of the leader reads etcd for up to 5 s) and
		// idle keep-alive connections, so none is held open for ever.
		ReadTimeout:    ReadTimeout,
		WriteTimeout:   WriteTimeout,
		IdleTimeout:    IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// The Server's HTTP timeouts. WriteTimeout is far above the time a scrape
// takes, the leader's included (it bounds its etcd read at 5 s);
// IdleTimeout closes keep-alive connections a scraper stopped using.
const (
	ReadTimeout  = 10 * time.Second
	WriteTimeout = 30 * time.Second
	IdleTimeout  = 60 * time.Second
)

// Addr is the address the server is bound to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handler is the server's mux (/metrics, /livez, /readyz, /healthz), for
// embedding in another HTTP server instead of calling Serve.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
		// A collector failing (a GPU vanishing mid-scrape) must not blank
		// the whole page; the error is logged and the rest served.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("GET /livez", livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /healthz", s.readyz) // the name it had first; scripts and probes use it
	return mux
}

// livez answers whenever the process serves HTTP: liveness must not depend
// on etcd, or an etcd outage gets every process restarted at once.
func livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	state := ""
	if s.cfg.State != nil {
		state = s.cfg.State()
	}
	if s.cfg.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HealthTimeout)
		defer cancel()
		if err := s.cfg.Health(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			if state != "" {
				fmt.Fprintf(w, "unhealthy: %v; %s\n", err, state)
			} else {
				fmt.Fprintf(w, "unhealthy: %v\n", err)
			}
			return
		}
	}
	if state != "" {
		fmt.Fprintf(w, "ok: %s\n", state)
		return
	}
	fmt.Fprintln(w, "ok")
}

// Serve serves until ctx is done, then shuts down gracefully (in-flight
// scrapes get ShutdownTimeout to finish) and returns nil. It returns an
// error only when serving fails for another reason. Call it once.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("telemetry: serve %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	// The parent is done; shutdown gets its own deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("telemetry: shutdown %s: %w", s.Addr(), err)
	}
	return nil
}
