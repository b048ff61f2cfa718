package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/perimeter"
)

// maxRequestBytes bounds a request read by "vallum guard check".
const maxRequestBytes = 1 << 20

// Exit codes of "vallum guard check".
const (
	exitAllow       = 0
	exitBadInput    = 2
	exitConditional = 3
	exitDeny        = 4
)

func runGuard(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(env.stderr, "Usage: vallum guard <check|explain|lint> [flags]\n\n")
		fmt.Fprintf(env.stderr, "  check    decide a request read from stdin (exit 0 allow, 3 conditional, 4 deny, 2 bad input)\n")
		fmt.Fprintf(env.stderr, "  explain  say what the rule pack says about an action kind, with citations\n")
		fmt.Fprintf(env.stderr, "  lint     validate a rule pack\n")
		if len(args) == 0 {
			return &exitError{code: exitBadInput}
		}
		return nil
	}
	switch args[0] {
	case "check":
		return runGuardCheck(env, args[1:])
	case "explain":
		return runGuardExplain(env, args[1:])
	case "lint":
		return runGuardLint(env, args[1:])
	}
	return &exitError{code: exitBadInput, err: withHint(fmt.Errorf("unknown guard command %q", args[0]),
		"run 'vallum guard --help' for the list of guard commands")}
}

// loadEngine loads the rule pack in dir, or the embedded default when dir
// is empty.
func loadEngine(dir string) (*guard.Engine, error) {
	if dir == "" {
		return guard.Default()
	}
	e, err := guard.Load(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("rule pack %q: %w", dir, err)
	}
	return e, nil
}

func runGuardCheck(env *cliEnv, args []string) error {
	fs := newFlagSet(env, "guard check", "guard check --perimeter FILE [--policy DIR] < request.json")
	perimeterPath := fs.String("perimeter", "", "perimeter `file` (YAML) declaring what is ours")
	policyDir := fs.String("policy", "", "rule pack `directory` (default: the embedded Italian pack)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *perimeterPath == "" {
		return &exitError{code: exitBadInput, err: withHint(errors.New("--perimeter is required"),
			"write a perimeter file (see docs/guardrail.md) and pass it with --perimeter")}
	}
	if fs.NArg() > 0 {
		return &exitError{code: exitBadInput, err: fmt.Errorf("unexpected argument %q: the request is read from stdin", fs.Arg(0))}
	}
	p, err := perimeter.Load(*perimeterPath)
	if err != nil {
		return &exitError{code: exitBadInput, err: err}
	}
	e, err := loadEngine(*policyDir)
	if err != nil {
		return &exitError{code: exitBadInput, err: withHint(err, "run 'vallum guard lint --policy DIR' for every problem")}
	}
	req, err := guard.DecodeRequest(env.stdin, maxRequestBytes)
	if err != nil {
		return &exitError{code: exitBadInput, err: err}
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	d := e.Decide(req, p, now)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("couldn't encode decision: %w", err)
	}
	if _, err := fmt.Fprintf(env.stdout, "%s\n", out); err != nil {
		return fmt.Errorf("couldn't write decision: %w", err)
	}
	switch d.Verdict {
	case guard.Allow:
		return nil
	case guard.Conditional:
		return &exitError{code: exitConditional}
	default:
		return &exitError{code: exitDeny}
	}
}

func runGuardExplain(env *cliEnv, args []string) error {
	fs := newFlagSet(env, "guard explain", "guard explain [--policy DIR] [--json] [KIND]")
	policyDir := fs.String("policy", "", "rule pack `directory` (default: the embedded Italian pack)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	e, err := loadEngine(*policyDir)
	if err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return &exitError{code: exitBadInput, err: errors.New("explain takes at most one kind")}
	}
	var infos []guard.KindInfo
	if fs.NArg() == 1 {
		info, ok := e.Explain(fs.Arg(0))
		if !ok {
			return &exitError{code: exitBadInput, err: withHint(fmt.Errorf("kind %q is not in the rule pack: it would be denied", fs.Arg(0)),
				"run 'vallum guard explain' for the list of kinds")}
		}
		infos = append(infos, info)
	} else {
		for _, k := range e.Kinds() {
			info, _ := e.Explain(k)
			infos = append(infos, info)
		}
	}
	if *asJSON {
		out, err := json.MarshalIndent(infos, "", "  ")
		if err != nil {
			return fmt.Errorf("couldn't encode: %w", err)
		}
		_, err = fmt.Fprintf(env.stdout, "%s\n", out)
		return err
	}
	pol := e.Policy()
	fmt.Fprintf(env.stdout, "Rule pack %s %s (%s)\n", pol.Name, pol.Version, pol.Digest)
	if fs.NArg() == 0 {
		fmt.Fprintf(env.stdout, "\nAction kinds (anything else is denied):\n\n")
		for _, info := range infos {
			fmt.Fprintf(env.stdout, "  %-22s %s\n", info.Kind, info.Summary)
		}
		fmt.Fprintf(env.stdout, "\nRun 'vallum guard explain KIND' for the rules of a kind.\n")
		return nil
	}
	writeExplanation(env.stdout, e, infos[0])
	return nil
}

func writeExplanation(w io.Writer, e *guard.Engine, info guard.KindInfo) {
	fmt.Fprintf(w, "\n%s: %s\n", info.Kind, info.Summary)
	if len(info.Rules) == 0 {
		fmt.Fprintf(w, "\nNo rule restricts it: it is allowed.\n")
	}
	for _, r := range info.Rules {
		verdict := "denied"
		if r.Kind == "requirement" {
			verdict = "needs " + strings.Join(r.Missing, ", ")
		}
		fmt.Fprintf(w, "\n  [%s] %s (%s)\n", r.ID, r.Title, verdict)
		fmt.Fprintf(w, "    %s\n", r.Explanation)
		for _, id := range r.Citations {
			c, _ := e.Citation(id)
			fmt.Fprintf(w, "    - %s: %s\n", c.ID, c.Title)
		}
		if len(r.Alternatives) > 0 {
			fmt.Fprintf(w, "    Instead: %s\n", strings.Join(r.Alternatives, ", "))
		}
	}
	if len(info.Obligations) > 0 {
		fmt.Fprintf(w, "\n  When it runs:\n")
		for _, o := range info.Obligations {
			fmt.Fprintf(w, "    - %s\n", o)
		}
	}
}

func runGuardLint(env *cliEnv, args []string) error {
	fs := newFlagSet(env, "guard lint", "guard lint [--policy DIR]")
	policyDir := fs.String("policy", "", "rule pack `directory` (default: the embedded Italian pack)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	e, err := loadEngine(*policyDir)
	if err != nil {
		return err
	}
	pol := e.Policy()
	fmt.Fprintf(env.stdout, "ok: rule pack %s %s, %d kinds, %d rules, digest %s\n", pol.Name, pol.Version, len(e.Kinds()), e.RuleCount(), pol.Digest)
	return nil
}
