package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vallum/vallum/internal/bundle"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runVerify(ctx context.Context, env *cliEnv, args []string) error {
	fset := newFlagSet(env, "verify", "verify --data DIR [--vkey FILE] [--checkpoint FILE]... [--json]\n       vallum verify [--vkey FILE] [--tsa-ca FILE] [--json] BUNDLE   (a bundle directory or .tar.gz)")
	data := fset.String("data", "./vallum-data", "data directory of the log to verify (read-only)")
	vkeyPath := fset.String("vkey", "", "verifier key file, obtained independently of the data (default: DIR/log.vkey, which an attacker with the data could have replaced)")
	var witnesses stringList
	fset.Var(&witnesses, "checkpoint", "a signed checkpoint published earlier (repeatable): the log must still contain its tree")
	asJSON := fset.Bool("json", false, "print the report as JSON")
	tsaCA := fset.String("tsa-ca", "", "bundles: PEM file with the time-stamping authorities' roots, obtained independently (default: each anchor's ca.pem in the bundle)")
	pos, err := parseArgs(fset, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1:
		return verifyBundle(env, pos[0], *vkeyPath, *tsaCA, *asJSON)
	case len(pos) > 1:
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q: verify one bundle at a time", pos[1])}
	case *tsaCA != "":
		return &exitError{code: 2, err: errors.New("--tsa-ca applies to a bundle: vallum verify --tsa-ca FILE BUNDLE")}
	}
	kp := *vkeyPath
	if kp == "" {
		kp = filepath.Join(*data, evidence.VKeyFile)
	}
	key, _, err := evidence.ReadVerifierKey(kp)
	if err != nil {
		return withHint(err, "pass --vkey FILE with the log's published verifier key")
	}
	v := evidence.NewVerifier(key.Name(), key)
	if *vkeyPath == "" {
		v.Warn("the verifier key was read from the data directory; pass --vkey with the published key to rule out a replaced key")
	}
	// Truncation: the log must still hold every tree it showed before, in
	// the server's latest-checkpoint file and in checkpoints the expert has.
	type tree struct {
		c    evidence.Checkpoint
		name string
	}
	var trees []tree
	wp := filepath.Join(*data, logDir, witnessFile)
	if b, err := os.ReadFile(wp); err == nil {
		if c, err := evidence.OpenCheckpoint(b, key.Name(), key); err == nil {
			trees = append(trees, tree{c, "the server's latest-checkpoint file"})
		} else {
			v.Warn("%s is unreadable (%v); truncation can only be ruled out with --checkpoint", wp, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, p := range witnesses {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		c, err := evidence.OpenCheckpoint(b, key.Name(), key)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", p, err)
		}
		trees = append(trees, tree{c, "checkpoint " + p})
	}
	if err := store.VerifyFiles(filepath.Join(*data, logDir), v); err != nil {
		return err
	}
	for _, t := range trees {
		v.CheckTree(t.c, t.name)
	}
	rep := v.Finish()
	return printReport(env, rep, rep.String(), rep.OK(), *asJSON)
}

// printReport prints a verification's account, as JSON (asJSON) or as
// text, and exits 1 when it did not pass.
func printReport(env *cliEnv, v any, text string, ok, asJSON bool) error {
	if asJSON {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintf(env.stdout, "%s\n", b)
	} else {
		fmt.Fprint(env.stdout, text)
	}
	if !ok {
		return &exitError{code: 1}
	}
	return nil
}

// verifyBundle checks a court bundle offline (internal/bundle.Verify) and
// prints the account; it exits 1 naming every file and entry that failed.
func verifyBundle(env *cliEnv, path, vkeyPath, tsaCA string, asJSON bool) error {
	files, err := bundle.Read(path)
	if err != nil {
		return withHint(err, "give a bundle directory or .tar.gz made by 'vallum export'")
	}
	opts := bundle.VerifyOptions{}
	if vkeyPath != "" {
		_, vkey, err := evidence.ReadVerifierKey(vkeyPath)
		if err != nil {
			return err
		}
		opts.VKey = vkey
	}
	if tsaCA != "" {
		if opts.TSARoots, err = os.ReadFile(tsaCA); err != nil {
			return fmt.Errorf("couldn't read --tsa-ca: %w", err)
		}
	}
	rep := bundle.Verify(files, opts)
	withOK := struct {
		OK bool `json:"ok"`
		*bundle.Report
	}{rep.OK(), rep}
	return printReport(env, withOK, rep.String(), rep.OK(), asJSON)
}
