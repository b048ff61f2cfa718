package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/store"
)

// Paths inside the data directory.
const (
	logDir      = "log"
	dbFile      = "vallum.db"
	witnessFile = "latest-checkpoint"
)

// runtime is what serve has opened, handed to the set-up steps of the
// subsystems (sensors, containment, anchoring, the console), each in its
// own serve_*.go file.
type runtime struct {
	cfg    config.Config
	logger *slog.Logger
	log    *evidence.Log
	db     *store.DB
	srv    *api.Server
	desk   *incident.Desk
	guard  *api.Guard
	// background are run in the server's errgroup until its context ends;
	// an error from one stops the server.
	background []func(context.Context) error
}

func runServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "serve", "serve [--config FILE] [--data DIR] [--listen ADDR]")
	cfgPath := fs.String("config", "", "YAML configuration file (docs/configuration.md); defaults apply without one")
	data := fs.String("data", "", "data directory (default ./vallum-data, or the config's data)")
	listen := fs.String("listen", "", "HTTP listen address (default 127.0.0.1:8080, or the config's listen)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	if *data != "" {
		cfg.Data = *data
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, nil))
	return serve(ctx, cfg, logger, env)
}

func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, env *cliEnv) error {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("couldn't create data directory: %w", err)
	}
	unlock, err := lockData(cfg.Data)
	if err != nil {
		return err
	}
	defer unlock()
	keys, created, err := evidence.LoadOrCreateKeys(cfg.Data, cfg.Log.Origin)
	if err != nil {
		return err
	}
	if created {
		logger.Info("generated a new evidence log key", "origin", keys.Origin, "key_file", filepath.Join(cfg.Data, evidence.KeyFile))
	}
	token, err := api.LoadOrCreateToken(filepath.Join(cfg.Data, api.TokenFile))
	if err != nil {
		return err
	}
	files, err := store.OpenFiles(filepath.Join(cfg.Data, logDir), logger)
	if err != nil {
		return err
	}
	defer files.Close()
	l, err := evidence.Open(evidence.Config{
		Origin: keys.Origin, Signer: keys.Signer, Verifier: keys.Verifier, Storage: files,
		MaxBatch: cfg.Log.MaxBatch, MaxPayload: cfg.Log.MaxPayload, Logger: logger,
	})
	if err != nil {
		return withHint(fmt.Errorf("couldn't open the evidence log: %w", err), "run 'vallum verify --data "+cfg.Data+"' to see what is wrong")
	}
	defer l.Close()
	db, err := store.OpenSQLite(ctx, filepath.Join(cfg.Data, dbFile))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CheckHead(ctx, l); err != nil {
		return withHint(err, "run 'vallum verify --data "+cfg.Data+"'; do not start the server on a log that lost entries")
	}

	g := &api.Guard{PerimeterFile: cfg.Guard.Perimeter, PolicyDir: cfg.Guard.Policy}
	if err := g.Reload(); err != nil {
		return err
	}
	if cfg.Guard.Perimeter == "" {
		logger.Warn("no perimeter file configured: nothing is ours, so every action with an effect on a target is denied", "hint", "set guard.perimeter in the config")
	}
	users, err := api.OpenUsers(ctx, db)
	if err != nil {
		return err
	}
	lists, err := api.OpenSanctionLists(filepath.Join(cfg.Data, api.SanctionsDir), logger)
	if err != nil {
		return err
	}
	srv := &api.Server{Log: l, DB: db, Guard: g, Logger: logger, MaxBody: cfg.API.MaxBody, AdminToken: token, Users: users, VKey: keys.VKey, Sanctions: lists}
	desk, err := incident.Open(ctx, db, l, api.LogDecider{S: srv}, time.Now)
	if err != nil {
		return fmt.Errorf("couldn't open the incident desk: %w", err)
	}
	srv.Desk = desk
	rt := &runtime{cfg: cfg, logger: logger, log: l, db: db, srv: srv, desk: desk, guard: g}
	for _, setup := range []func(context.Context, *runtime) error{setupSensors, setupContain, setupAnchor} {
		if err := setup(ctx, rt); err != nil {
			return err
		}
	}
	handler, err := setupWeb(ctx, rt, srv.Handler())
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("couldn't listen on %s: %w", cfg.Listen, err)
	}
	logger.Info("vallum serving", "addr", ln.Addr().String(), "data", cfg.Data, "origin", keys.Origin, "log_size", l.Size(), "vkey", keys.VKey)
	fmt.Fprintf(env.stdout, "vallum: listening on http://%s (log %s, verifier key %s)\n", ln.Addr(), keys.Origin, keys.VKey)

	eg, gctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	eg.Go(func() error {
		return db.Project(gctx, l, filepath.Join(cfg.Data, logDir, witnessFile), logger)
	})
	for _, run := range rt.background {
		eg.Go(func() error { return run(gctx) })
	}
	eg.Go(func() error {
		// SIGHUP reloads the rule pack and the perimeter.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-hup:
				if err := g.Reload(); err != nil {
					logger.Error("reload failed; the previous rule pack and perimeter stay in force", "err", err)
				} else {
					logger.Info("reloaded the rule pack and the perimeter", "policy_digest", g.Policy().Digest)
				}
			}
		}
	})
	eg.Go(func() error {
		<-gctx.Done()
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	return eg.Wait()
}
