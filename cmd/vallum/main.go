// Command vallum is the lawful active-defense server and its command-line
// client: it runs the evidence log, the guardrail and the incident desk
// (vallum serve), talks to a running server (vallum log …), and verifies a
// log offline (vallum verify).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// command is one subcommand. run receives the arguments after the
// subcommand's name and returns an error to print; an exitError carries a
// specific exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what every subcommand gets from the process: its standard
// streams. Tests run subcommands with their own buffers.
type cliEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// commands is the list of subcommands, in the order --help shows them.
func commands() []command {
	return []command{
		{"serve", "run the Vallum server (evidence log, API)", runServe},
		{"log", "append to, read and prove the evidence log of a running server", runLog},
		{"verify", "verify a log directory or a court bundle offline, without the server", runVerify},
		{"rebuild", "rebuild the SQL projections from the evidence log (server stopped)", runRebuild},
		{"bench", "measure the evidence log (appends/s, latency), EVE intake (lines/s) or containment (blocks/s)", runBench},
		{"user", "add users, issue and revoke their API tokens (admin)", runUser},
		{"guard", "decide a response action offline, explain and lint the rule pack", runGuard},
		{"sanctions", "import sanctions lists into a running server and screen against them", runSanctions},
		{"sensor", "run only the honeypots and ship their events to a server", runSensor},
		{"replay", "replay a recorded honeypot session transcript", runReplay},
		{"honeytoken", "create and list honeytokens on a running server", runHoneytoken},
		{"export", "export an incident's court bundle", runExport},
	}
}

// exitError asks main to exit with code after printing err (if non-nil).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// hintError is an error with a suggestion of what to do next.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile(os.Getenv("VALLUM_CPUPROFILE"))
	code := run(ctx, &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stopProfile()
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile of the whole run to path, for
// measuring (docs/performance.md); an empty path does nothing.
func startProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vallum: warning: no CPU profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "vallum: warning: no CPU profile: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// run dispatches args to a subcommand and returns the process exit code.
func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		return report(env.stderr, err)
	}
	fmt.Fprintf(env.stderr, "vallum: error: unknown command %q\n", args[0])
	fmt.Fprintf(env.stderr, "vallum: hint: run 'vallum --help' for the list of commands\n")
	return 2
}

// report prints err the way every subcommand does and returns the exit code.
func report(w io.Writer, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	}
	fmt.Fprintf(w, "vallum: error: %v\n", err)
	var he *hintError
	if errors.As(err, &he) {
		fmt.Fprintf(w, "vallum: hint: %s\n", he.hint)
	}
	return code
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Vallum: lawful active defense, with a tamper-evident evidence log.\n\n")
	fmt.Fprintf(w, "Usage: vallum <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'vallum <command> --help' for a command's flags.\n")
}

// newFlagSet returns a flag set that reports errors instead of exiting, and
// prints its usage to env.stderr.
func newFlagSet(env *cliEnv, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: vallum %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns a usage error into exit status 2.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2}
	}
	return nil
}

// parseArgs parses flags that may come before or after positional
// arguments ("log show 3 --server URL") and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
