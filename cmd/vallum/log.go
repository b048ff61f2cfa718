package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vallum/vallum/internal/api"
)

func runLog(ctx context.Context, env *cliEnv, args []string) error {
	return runGroup(ctx, env, "log", args, subcommands{
		"append": runLogAppend,
		"show":   runLogShow,
		"vkey":   runLogVKey,
		"prove":  runLogProve,
	}, "Usage: vallum log <append|show|vkey|prove> [flags]\n\n"+
		"  append   append a JSON payload read on stdin; prints the receipt\n"+
		"  show I   print entry I (header, payload, leaf hash)\n"+
		"  vkey     print the checkpoint verifier key\n"+
		"  prove I  write a C2SP tlog-proof of entry I\n")
}

// client talks to a running server.
type client struct {
	server  string
	dataDir string
	http    *http.Client
}

func addClientFlags(fs interface {
	String(string, string, string) *string
}) (server, data *string) {
	server = fs.String("server", "http://127.0.0.1:8080", "URL of the running Vallum server")
	data = fs.String("data", "./vallum-data", "data directory holding admin.token")
	return
}

func newClient(server, data string) *client {
	return &client{server: strings.TrimSuffix(server, "/"), dataDir: data, http: &http.Client{Timeout: 60 * time.Second}}
}

func (c *client) token() (string, error) {
	if t := os.Getenv("VALLUM_TOKEN"); t != "" {
		return t, nil
	}
	b, err := os.ReadFile(filepath.Join(c.dataDir, api.TokenFile))
	if err != nil {
		return "", withHint(fmt.Errorf("couldn't read the API token: %w", err), "pass --data DIR (the server's data directory) or set VALLUM_TOKEN")
	}
	return strings.TrimSpace(string(b)), nil
}

// do sends a request and returns the body of a 2xx response; other
// statuses become errors carrying the server's message.
func (c *client) do(ctx context.Context, method, path string, body []byte, auth bool) ([]byte, error) {
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	return c.send(ctx, method, path, ct, bytes.NewReader(body), auth)
}

// send is do with a body of any content type (none if contentType is "").
func (c *client) send(ctx context.Context, method, path, contentType string, body io.Reader, auth bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		tok, err := c.token()
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, withHint(fmt.Errorf("couldn't reach the server: %w", err), "start it with 'vallum serve' or pass --server URL")
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("couldn't read the server's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		err := fmt.Errorf("server: HTTP %d", resp.StatusCode)
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			err = fmt.Errorf("server: %s (HTTP %d)", e.Error, resp.StatusCode)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			err = withHint(err, "pass --data DIR (the server's data directory, which holds admin.token) or set VALLUM_TOKEN to the token")
		}
		return nil, err
	}
	return b, nil
}

func runLogAppend(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "log append", "log append [--kind K] [--actor A] [--incident ID] < payload.json")
	kind := fs.String("kind", "note", "entry kind")
	actor := fs.String("actor", "", "person acting through the admin token, recorded as admin/<actor>")
	incident := fs.String("incident", "", "incident the entry belongs to")
	server, data := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	payload, err := io.ReadAll(io.LimitReader(env.stdin, 64<<20))
	if err != nil {
		return fmt.Errorf("couldn't read the payload from stdin: %w", err)
	}
	q := url.Values{"kind": {*kind}}
	if *actor != "" {
		q.Set("actor", *actor)
	}
	if *incident != "" {
		q.Set("incident", *incident)
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodPost, "/api/v1/log/entries?"+q.Encode(), payload, true)
	if err != nil {
		return err
	}
	return writeIndented(env.stdout, b)
}

// entryArg parses the flags and the one entry index among args.
func entryArg(fs *flag.FlagSet, args []string) (int64, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return 0, err
	}
	if len(pos) != 1 {
		return 0, &exitError{code: 2, err: withHint(errors.New("want exactly one entry index"), "run 'vallum "+fs.Name()+" --help'")}
	}
	i, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || i < 0 {
		return 0, &exitError{code: 2, err: fmt.Errorf("%q is not an entry index", pos[0])}
	}
	return i, nil
}

func runLogShow(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "log show", "log show [--server URL] [--data DIR] INDEX")
	server, data := addClientFlags(fs)
	i, err := entryArg(fs, args)
	if err != nil {
		return err
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodGet, fmt.Sprintf("/log/v1/entries/%d", i), nil, true)
	if err != nil {
		return err
	}
	return writeIndented(env.stdout, b)
}

func runLogVKey(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "log vkey", "log vkey [--server URL]")
	server, data := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodGet, "/log/v1/vkey", nil, false)
	if err != nil {
		return err
	}
	_, err = env.stdout.Write(b)
	return err
}

func runLogProve(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "log prove", "log prove [--size N] [--out FILE] INDEX")
	size := fs.Int64("size", 0, "tree size of a signed checkpoint to prove against (default: the latest)")
	out := fs.String("out", "", "file to write (default entry-INDEX.tlog-proof; - for stdout)")
	server, data := addClientFlags(fs)
	i, err := entryArg(fs, args)
	if err != nil {
		return err
	}
	q := url.Values{"index": {strconv.FormatInt(i, 10)}}
	if *size > 0 {
		q.Set("size", strconv.FormatInt(*size, 10))
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodGet, "/log/v1/proof/tlog-proof?"+q.Encode(), nil, false)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = env.stdout.Write(b)
		return err
	}
	if *out == "" {
		*out = fmt.Sprintf("entry-%d.tlog-proof", i)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, *out)
	return nil
}

// runList runs a list subcommand (name, e.g. "user list"): it GETs path
// from the server and prints the answer indented with --json, or else
// decodes it into a T and has table write its rows, tab-separated, as
// aligned columns.
func runList[T any](ctx context.Context, env *cliEnv, name, path string, args []string, table func(w io.Writer, list T)) error {
	fs := newFlagSet(env, name, name+" [--json] [--server URL] [--data DIR]")
	asJSON := fs.Bool("json", false, "print JSON")
	server, data := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodGet, path, nil, true)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeIndented(env.stdout, b)
	}
	var list T
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("couldn't read the server's answer: %w", err)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	table(tw, list)
	return tw.Flush()
}

// writeIndented writes a JSON answer indented for a person to read.
func writeIndented(w io.Writer, b []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		_, err = w.Write(b)
		return err
	}
	_, err := w.Write(out.Bytes())
	return err
}
