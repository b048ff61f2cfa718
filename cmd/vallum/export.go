package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/bundle"
	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/store"
	"github.com/vallum/vallum/internal/tsa"
)

// runExport writes an incident's court bundle. With --server it asks the
// running server (GET /api/v1/incidents/{id}/bundle, which logs the
// export); without, it reads the data directory offline, which needs the
// server stopped (the data directory's lock), and logs the export itself.
// Either way the bundle is verified before it is written.
func runExport(ctx context.Context, env *cliEnv, args []string) error {
	fset := newFlagSet(env, "export", "export --incident ID --out DIR|FILE.tar.gz [--with-files] [--all-headers] [--lang it|en] [--no-pdf] [--data DIR | --server URL]")
	id := fset.String("incident", "", "the incident to export (INC-…)")
	out := fset.String("out", "", "where to write the bundle: a new directory, or a file ending in .tar.gz")
	withFiles := fset.Bool("with-files", false, "include the evidence files Vallum holds (the sensors' quarantine), not only their SHA-256")
	lang := fset.String("lang", "", "report language, it or en (default: both)")
	allHeaders := fset.Bool("all-headers", false, "include every header of the log (no payloads, ~200 bytes an entry) so that the expert can check that no entry of the incident was left out")
	noPDF := fset.Bool("no-pdf", false, "don't render the PDF report even when Chromium is installed")
	server := fset.String("server", "", "export through this running server's API (default: read --data offline, server stopped)")
	data := fset.String("data", "./vallum-data", "data directory: read offline, or where admin.token is found for --server")
	policy := fset.String("policy", "", "offline: the rule pack directory the server used (default: the pack built into this binary)")
	actor := fset.String("actor", "", "who exports, recorded in the log's bundle.exported entry when offline (default: cli/$USER)")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if fset.NArg() != 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", fset.Arg(0))}
	}
	if *id == "" || *out == "" {
		return &exitError{code: 2, err: withHint(errors.New("--incident and --out are required"), "vallum export --incident INC-… --out bundle.tar.gz")}
	}
	if err := checkOut(*out); err != nil {
		return err
	}
	opts := bundle.Options{WithFiles: *withFiles, PDF: !*noPDF, AllHeaders: *allHeaders}
	if *lang != "" {
		if *lang != "it" && *lang != "en" {
			return &exitError{code: 2, err: fmt.Errorf("--lang %q: want it or en", *lang)}
		}
		opts.Langs = []string{*lang}
	}
	var files bundle.Files
	var err error
	if *server != "" {
		files, err = exportOnline(ctx, *server, *data, *id, opts)
	} else {
		files, err = exportOffline(ctx, env, *data, *id, *actor, *policy, opts)
	}
	if err != nil {
		return err
	}
	if err := writeBundle(*out, files); err != nil {
		return err
	}
	m, _ := bundle.ParseManifest(files[bundle.ManifestFile])
	var idx int
	for p := range files {
		if strings.HasSuffix(p, "/header") {
			idx++
		}
	}
	fmt.Fprintf(env.stdout, "wrote the bundle of %s to %s: %d entries, tree size %d, %d files, manifest SHA-256 %s\n",
		*id, *out, idx, m.TreeSize, len(files), tsa.SHA256Hex(files[bundle.ManifestFile]))
	if _, ok := files["report/report.it.pdf"]; !ok && !*noPDF {
		if _, ok := files["report/report.en.pdf"]; !ok {
			fmt.Fprintf(env.stdout, "no PDF report: Chromium is not installed (open report/report.*.html in a browser and print it)\n")
		}
	}
	fmt.Fprintf(env.stdout, "check it with: vallum verify --vkey PUBLISHED.vkey %s\n", *out)
	return nil
}

func isTarGz(p string) bool { return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz") }

// checkOut refuses to overwrite: a bundle file must be new, a bundle
// directory new or empty.
func checkOut(out string) error {
	fi, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if isTarGz(out) || !fi.IsDir() {
		return withHint(fmt.Errorf("%s exists", out), "give a new file name; a bundle is never overwritten")
	}
	if ents, _ := os.ReadDir(out); len(ents) > 0 {
		return withHint(fmt.Errorf("%s is a directory that is not empty", out), "give a new directory, or a FILE.tar.gz")
	}
	return nil
}

func writeBundle(out string, files bundle.Files) error {
	if !isTarGz(out) {
		return bundle.WriteDir(out, files)
	}
	m, _ := bundle.ParseManifest(files[bundle.ManifestFile])
	created, _ := time.Parse(time.RFC3339, m.Created)
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("couldn't create %s: %w", out, err)
	}
	if err := bundle.WriteTarGz(f, files, created); err != nil {
		f.Close()
		os.Remove(out)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// exportOnline asks the server for the bundle and checks that what came
// back is a bundle that verifies with the server's own key.
func exportOnline(ctx context.Context, server, data, id string, opts bundle.Options) (bundle.Files, error) {
	c := newClient(server, data)
	q := url.Values{}
	if len(opts.Langs) == 1 {
		q.Set("lang", opts.Langs[0])
	}
	if opts.WithFiles {
		q.Set("with_files", "1")
	}
	if !opts.PDF {
		q.Set("pdf", "0")
	}
	if opts.AllHeaders {
		q.Set("all_headers", "1")
	}
	body, err := c.send(ctx, "GET", "/api/v1/incidents/"+url.PathEscape(id)+"/bundle?"+q.Encode(), "", nil, true)
	if err != nil {
		return nil, err
	}
	files, err := bundle.ReadTarGz(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("the server's answer is not a bundle: %w", err)
	}
	vkey, err := c.do(ctx, "GET", "/log/v1/vkey", nil, false)
	if err != nil {
		return nil, err
	}
	if rep := bundle.Verify(files, bundle.VerifyOptions{VKey: strings.TrimSpace(string(vkey))}); !rep.OK() {
		return nil, fmt.Errorf("the server sent a bundle that doesn't verify; nothing was written:\n%s", rep)
	}
	return files, nil
}

// refusingDecider is the desk's Decider offline: an export never decides.
type refusingDecider struct{}

func (refusingDecider) Decide(context.Context, guard.Request, string) (guard.Decision, error) {
	return guard.Decision{}, errors.New("no decisions offline")
}

// exportOffline reads the data directory with the server stopped.
func exportOffline(ctx context.Context, env *cliEnv, data, id, actor, policy string, opts bundle.Options) (bundle.Files, error) {
	if _, err := os.Stat(filepath.Join(data, evidence.KeyFile)); err != nil {
		return nil, withHint(fmt.Errorf("%s is not a Vallum data directory: %w", data, err), "pass --data DIR, or --server URL to export from a running server")
	}
	unlock, err := lockData(data)
	if err != nil {
		return nil, withHint(err, "the server is running: export through it with --server URL")
	}
	defer unlock()
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	keys, _, err := evidence.LoadOrCreateKeys(data, "")
	if err != nil {
		return nil, err
	}
	files, err := store.OpenFiles(filepath.Join(data, logDir), logger)
	if err != nil {
		return nil, err
	}
	defer files.Close()
	l, err := evidence.Open(evidence.Config{Origin: keys.Origin, Signer: keys.Signer, Verifier: keys.Verifier, Storage: files, Logger: logger})
	if err != nil {
		return nil, withHint(fmt.Errorf("couldn't open the evidence log: %w", err), "run 'vallum verify --data "+data+"'")
	}
	defer l.Close()
	db, err := store.OpenSQLite(ctx, filepath.Join(data, dbFile))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.CheckHead(ctx, l); err != nil {
		return nil, withHint(err, "run 'vallum verify --data "+data+"'")
	}
	if n, _, err := db.Head(ctx); err == nil && n < l.Size() {
		fmt.Fprintf(env.stderr, "vallum: warning: the database has indexed %d of the log's %d entries; the bundle covers the first %d (run 'vallum rebuild' to include the rest)\n", n, l.Size(), n)
	}
	desk, err := incident.Open(ctx, db, l, refusingDecider{}, time.Now)
	if err != nil {
		return nil, fmt.Errorf("couldn't open the incident desk: %w", err)
	}
	st, err := tsa.OpenStore(ctx, db)
	if err != nil {
		return nil, err
	}
	deps := bundle.Deps{Log: l, DB: db, Desk: desk, Anchors: st, VKey: keys.VKey, Packs: rulePack(config.Config{Guard: config.Guard{Policy: policy}}), Files: bundle.QuarantineFiles{Root: data}, Logger: logger}
	b, _, err := bundle.Build(ctx, deps, id, opts)
	if errors.Is(err, incident.ErrNotFound) {
		return nil, withHint(fmt.Errorf("incident %s not found in %s", id, data), "list incidents with the API (GET /api/v1/incidents)")
	}
	if err != nil {
		return nil, err
	}
	if actor == "" {
		actor = "cli/" + or(os.Getenv("USER"), "unknown")
	}
	if _, err := bundle.LogExport(ctx, l, actor, id, b, opts); err != nil {
		return nil, err
	}
	return b, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
