package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/plinth-dev/plinth"
)

// server is `plinth serve`: Open binds and migrates, Run serves until ctx ends and then
// drains in-flight requests. Tests drive it directly on 127.0.0.1:0.
type server struct {
	SpecFile        string
	Addr            string
	DataDir         string
	Database        string // a postgres:// URL, or empty for SQLite in DataDir
	DatabaseSchema  string
	DatabasePool    int
	StatementTO     time.Duration
	CacheSize       int64 // plinth.Options.CacheSize
	ShutdownTimeout time.Duration
	// DrainDelay is how long /readyz answers 503 on shutdown before the listener closes, for
	// load balancers to stop sending requests first.
	DrainDelay        time.Duration
	Pprof             bool
	AutoMigrate       plinth.AutoMigrate
	DisableMetrics    bool
	MetricsAccess     plinth.MetricsAccess
	MetricsAddr       string // a listener of its own for /metrics; empty for none
	RedisURL          string // shares the rate limits; empty for the spec's, or limits per process
	RedisPrefix       string // begins the rate limits' Redis keys; empty for the default
	DisableRateLimits bool
	EnableShedding    bool
	Shedding          plinth.Shedding
	Logger            *slog.Logger
	AccessLog         io.Writer        // the access log's lines, written by hand (plinth.Options.AccessLog); nil for Logger
	Now               func() time.Time // the clock; nil for the system's (tests move it)

	app  *plinth.App
	ln   net.Listener
	http *http.Server
	// metricsLn and metrics serve /metrics on MetricsAddr; nil without it.
	metricsLn net.Listener
	metrics   *http.Server
}

// Open compiles the spec, opens the database and binds the address.
func (s *server) Open(ctx context.Context) error {
	app, err := plinth.New(ctx, plinth.Options{SpecFile: s.SpecFile, DataDir: s.DataDir, Database: s.Database,
		DatabaseSchema: s.DatabaseSchema, DatabasePool: s.DatabasePool, StatementTimeout: s.StatementTO, CacheSize: s.CacheSize, Pprof: s.Pprof, Logger: s.Logger, AccessLog: s.AccessLog,
		AutoMigrate: s.AutoMigrate, Now: s.Now, DisableMetrics: s.DisableMetrics, MetricsAccess: s.MetricsAccess,
		RedisURL: s.RedisURL, RedisPrefix: s.RedisPrefix, DisableRateLimits: s.DisableRateLimits,
		EnableShedding: s.EnableShedding, Shedding: s.Shedding})
	if err != nil {
		return err
	}
	if s.MetricsAddr != "" && s.DisableMetrics {
		app.Close()
		return errors.New("--metrics-addr serves the metrics, which --metrics=false turns off")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		app.Close()
		return err
	}
	if s.MetricsAddr != "" {
		if s.metricsLn, err = net.Listen("tcp", s.MetricsAddr); err != nil {
			ln.Close()
			app.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", app.MetricsHandler())
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)}
	}
	s.app, s.ln = app, ln
	s.http = &http.Server{
		Handler:           app.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// URL is the base URL the server answers on.
func (s *server) URL() string { return "http://" + s.ln.Addr().String() }

// MetricsURL is the URL of /metrics on MetricsAddr.
func (s *server) MetricsURL() string { return "http://" + s.metricsLn.Addr().String() + "/metrics" }

// Run serves until ctx is done, then stops accepting, lets in-flight requests finish within
// ShutdownTimeout, and closes the database.
func (s *server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	if s.metrics != nil {
		go s.metrics.Serve(s.metricsLn)
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		s.Logger.Info("shutting down", "drain_delay", s.DrainDelay.String(), "timeout", s.ShutdownTimeout.String())
		s.app.Drain()
		time.Sleep(s.DrainDelay)
		sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
		serveErr = s.http.Shutdown(sctx)
		cancel()
		if serveErr != nil {
			// Requests still running past the timeout are cut off before the database closes
			// under them.
			s.Logger.Warn("in-flight requests outlived the shutdown timeout; closing them")
			s.http.Close()
			serveErr = fmt.Errorf("requests still in flight after the shutdown timeout (%s) were cut off", s.ShutdownTimeout)
		}
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	if s.metrics != nil {
		s.metrics.Close() // before the database closes; a scrape has nothing worth draining
	}
	return errors.Join(serveErr, s.app.Close())
}
