package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/store"
)

// runRebuild rebuilds the SQL projections (the log index and the incident
// desk's tables) from the evidence log, offline: the server must be
// stopped, which the data directory's lock enforces. The log itself is only
// read.
func runRebuild(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "rebuild", "rebuild [--data DIR]")
	data := fs.String("data", "./vallum-data", "data directory (the server must be stopped)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	unlock, err := lockData(*data)
	if err != nil {
		return err
	}
	defer unlock()
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	keys, _, err := evidence.LoadOrCreateKeys(*data, "")
	if err != nil {
		return err
	}
	files, err := store.OpenFiles(filepath.Join(*data, logDir), logger)
	if err != nil {
		return err
	}
	defer files.Close()
	l, err := evidence.Open(evidence.Config{Origin: keys.Origin, Signer: keys.Signer, Verifier: keys.Verifier, Storage: files, Logger: logger})
	if err != nil {
		return withHint(fmt.Errorf("couldn't open the evidence log: %w", err), "run 'vallum verify --data "+*data+"'")
	}
	defer l.Close()
	db, err := store.OpenSQLite(ctx, filepath.Join(*data, dbFile))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Reindex(ctx, l); err != nil {
		return fmt.Errorf("couldn't rebuild the log index: %w", err)
	}
	if err := incident.Rebuild(ctx, db, l); err != nil {
		return fmt.Errorf("couldn't rebuild the incident desk: %w", err)
	}
	fmt.Fprintf(env.stdout, "rebuilt the projections from %d log entries\n", l.Size())
	return nil
}
