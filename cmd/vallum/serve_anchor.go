package main

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/bundle"
	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/tsa"
	"github.com/vallum/vallum/policies"
)

// setupAnchor starts RFC 3161 time-stamping of checkpoints (when
// authorities are configured) and serves court bundles and anchors.
func setupAnchor(ctx context.Context, rt *runtime) error {
	st, err := tsa.OpenStore(ctx, rt.db)
	if err != nil {
		return fmt.Errorf("couldn't open the time-stamp store: %w", err)
	}
	auths, err := authorities(rt.cfg.Anchor)
	if err != nil {
		return err
	}
	svc := &api.BundleService{Anchors: st, Packs: rulePack(rt.cfg), Files: bundle.QuarantineFiles{Root: rt.cfg.Data}, PDF: true}
	if len(auths) > 0 {
		an := &tsa.Anchorer{Log: rt.log, Store: st, Authorities: auths, Interval: rt.cfg.Anchor.Interval, Logger: rt.logger}
		if rt.cfg.Anchor.Milestones != nil {
			an.Milestones = *rt.cfg.Anchor.Milestones
		}
		svc.Anchorer = an
		rt.background = append(rt.background, an.Run)
		names := make([]string, len(auths))
		for i, a := range auths {
			names[i] = a.String()
		}
		rt.logger.Info("time-stamping checkpoints", "authorities", strings.Join(names, ", "), "interval", rt.cfg.Anchor.Interval)
	} else {
		rt.logger.Warn("no time-stamping authority configured: checkpoints are not time-stamped, so entry times rest on this server's clock alone", "hint", "set anchor.authorities in the config (docs/bundle.md)")
	}
	rt.srv.Bundles = svc
	return nil
}

// rulePack is the rule pack in force, for bundles.
func rulePack(cfg config.Config) fs.FS {
	if cfg.Guard.Policy != "" {
		return os.DirFS(cfg.Guard.Policy)
	}
	return policies.FS()
}

// authorities turns the configuration into time-stamping clients: each
// authority's roots read from its ca_file, its password from its
// password_file (never logged).
func authorities(c config.Anchor) ([]*tsa.Authority, error) {
	var out []*tsa.Authority
	for _, a := range c.Authorities {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("anchor authority %s: couldn't read ca_file: %w", a.Name, err)
		}
		pool, err := tsa.PoolFromPEM(pem)
		if err != nil {
			return nil, fmt.Errorf("anchor authority %s: ca_file %s: %w", a.Name, a.CAFile, err)
		}
		ta := &tsa.Authority{Name: a.Name, URL: a.URL, Roots: pool, RootsPEM: pem, Hash: tsa.HashByName[a.Hash],
			Username: a.Username, HTTP: &http.Client{Timeout: a.Timeout}}
		if a.PasswordFile != "" {
			fi, err := os.Stat(a.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("anchor authority %s: %w", a.Name, err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				return nil, withHint(fmt.Errorf("anchor authority %s: password_file %s is readable by others (mode %v)", a.Name, a.PasswordFile, fi.Mode().Perm()), "chmod 600 it")
			}
			b, err := os.ReadFile(a.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("anchor authority %s: %w", a.Name, err)
			}
			ta.Password = strings.TrimSpace(string(b))
		}
		out = append(out, ta)
	}
	return out, nil
}
