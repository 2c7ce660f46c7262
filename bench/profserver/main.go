// Command profserver serves a spec with the embedded Plinth engine, as `plinth serve` does
// (same server timeouts, JSON request log at info level on stderr), and also serves
// net/http/pprof on a second, separate address. The harness uses it with -profile; pprof is
// never part of the product.
//
//	profserver --spec examples/shop/plinth.yaml --addr 127.0.0.1:8080 --data DIR --pprof 127.0.0.1:6060 \
//	  [--database postgres://… --database-schema NAME]
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/logsink"
)

func main() {
	specFile := flag.String("spec", "plinth.yaml", "the spec file")
	addr := flag.String("addr", "127.0.0.1:8080", "the API's address")
	data := flag.String("data", plinth.DefaultDataDir, "the data folder")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "the address of net/http/pprof")
	database := flag.String("database", "", "a postgres:// URL, as plinth serve --database")
	schema := flag.String("database-schema", "public", "the PostgreSQL schema, as plinth serve --database-schema")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200) // as plinth serve runs
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sink := logsink.New(os.Stderr) // as plinth serve logs
	defer sink.Close()
	logger := slog.New(logsink.Handler(slog.NewJSONHandler(sink, nil), sink, slog.LevelWarn))
	app, err := plinth.New(ctx, plinth.Options{SpecFile: *specFile, DataDir: *data, Database: *database,
		DatabaseSchema: *schema, Logger: logger, AccessLog: sink, DisableRateLimits: true}) // as the harness serves it
	if err != nil {
		log.Fatalf("profserver: %v", err)
	}
	defer app.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	prof := &http.Server{Addr: *pprofAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go prof.ListenAndServe()
	defer prof.Close()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           app.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("profserver: %v", err)
	}
}
