// Package intaketest runs an event pipeline for the tests of the packages
// around it (api, web). It is apart from internal/testenv, which the
// packages intake depends on use in their own tests.
package intaketest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/vallum/vallum/internal/intake"
)

// Pipeline opens an event pipeline with cfg (a spool in a temporary
// directory and a quiet logger unless set) and runs it until the test
// ends.
func Pipeline(t testing.TB, cfg intake.Config) *intake.Pipeline {
	t.Helper()
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = filepath.Join(t.TempDir(), "spool")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := intake.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}
