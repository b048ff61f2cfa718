package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/honeytoken"
	"github.com/vallum/vallum/internal/testenv"
)

// startHoneytokenAPI serves the API with a honeytoken registry in this
// process (whatever `vallum serve` wires), for the binary to talk to.
func startHoneytokenAPI(t *testing.T) (url, token string, reg *honeytoken.Registry) {
	t.Helper()
	dir := t.TempDir()
	l, _ := testenv.Log(t, dir, "test.vallum.example/log")
	db := testenv.DB(t, dir)
	quiet := testenv.Discard()
	reg, err := honeytoken.Open(context.Background(), db, l, honeytoken.Options{Domain: "corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	token = "vallum-admin-honeytoken-cli-test"
	srv := &api.Server{Log: l, DB: db, Logger: quiet, MaxBody: 1 << 20, AdminToken: sha256.Sum256([]byte(token)),
		Honeytokens: &api.HoneytokenService{Registry: reg}}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL, token, reg
}

func TestHoneytokenCommands(t *testing.T) {
	url, token, reg := startHoneytokenAPI(t)
	env := []string{"VALLUM_TOKEN=" + token}
	run := func(args ...string) result {
		t.Helper()
		return runBinEnv(t, env, t.TempDir(), "", append(args, "--server", url)...)
	}
	r := run("honeytoken", "create", "--type", "credential", "--planted", "fileserver:/srv/share/passwords.xlsx", "--note", "Q4")
	if r.code != 0 || !strings.Contains(r.stderr, "plant exactly this at fileserver:/srv/share/passwords.xlsx") {
		t.Fatalf("create: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	value := strings.TrimSpace(r.stdout)
	tok, ok := reg.MatchText(value)
	if !ok || tok.Value != value || tok.CreatedBy != "admin" || tok.Note != "Q4" {
		t.Fatalf("the printed value %q is not the registry's token (%+v, %v)", value, tok, ok)
	}
	r = run("honeytoken", "create", "--type", "api_key", "--planted", "ci:/home/build/.aws/credentials", "--json")
	var created struct{ Honeytoken honeytoken.Token }
	if err := json.Unmarshal([]byte(r.stdout), &created); r.code != 0 || err != nil || !strings.HasPrefix(created.Honeytoken.Fields["access_key_id"], "AKIA") {
		t.Fatalf("create --json: exit %d, %v, %q", r.code, err, r.stdout)
	}
	r = run("honeytoken", "list")
	if r.code != 0 || !strings.Contains(r.stdout, tok.ID) || !strings.Contains(r.stdout, created.Honeytoken.ID) || !strings.Contains(r.stdout, "api_key") {
		t.Errorf("list: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run("honeytoken", "show", tok.ID)
	if r.code != 0 || !strings.Contains(r.stdout, `"planted": "fileserver:/srv/share/passwords.xlsx"`) {
		t.Errorf("show: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run("honeytoken", "create", "--type", "document", "--planted", "share")
	if r.code != 1 || !strings.Contains(r.stderr, "615-ter") || !strings.Contains(r.stderr, "vallum: hint: issue a class A token") {
		t.Errorf("create document: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := reg.Len(); n != 2 {
		t.Errorf("registry holds %d tokens, want 2", n)
	}
}

func TestHoneytokenCommandErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"honeytoken", "--help"}, 0, "Types (class A, detected only on our own systems): credential, api_key, db_row, email"},
		{"no subcommand", []string{"honeytoken"}, 2, "Usage: vallum honeytoken"},
		{"unknown", []string{"honeytoken", "delete"}, 2, `unknown honeytoken command "delete"`},
		{"no planted", []string{"honeytoken", "create", "--type", "email"}, 2, "--type and --planted are required"},
		{"show without id", []string{"honeytoken", "show"}, 2, "want exactly one honeytoken id"},
		{"server down", []string{"honeytoken", "list", "--server", "http://127.0.0.1:1"}, 1, "couldn't reach the server"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinEnv(t, []string{"VALLUM_TOKEN=x"}, t.TempDir(), "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.stderr)
			}
		})
	}
}
