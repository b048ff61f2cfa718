package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestUserCommands adds a user through the running server, signs in with
// the printed token, lists, issues another token and disables the user.
func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	client := []string{"--server", s.url, "--data", s.data}
	// asUser runs the binary with tok instead of the admin token.
	asUser := func(tok, stdin string, args ...string) result {
		t.Helper()
		return runBinEnv(t, []string{"VALLUM_TOKEN=" + tok}, dir, stdin, append(args, "--server", s.url, "--data", t.TempDir())...)
	}

	r := runBin(t, dir, "", append([]string{"user", "add", "alice", "--role", "analyst", "--role", "auditor"}, client...)...)
	if r.code != 0 {
		t.Fatalf("user add: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	first := strings.TrimSuffix(r.stdout, "\n")
	if !strings.HasPrefix(first, "vallum_") || strings.Contains(first, "\n") {
		t.Fatalf("user add: stdout %q, want the token alone on one line", r.stdout)
	}
	if !strings.Contains(r.stderr, "shown only this once: store it now") {
		t.Errorf("user add: stderr %q, want the warning to store the token", r.stderr)
	}

	if r := asUser(first, `{"what":"scan"}`, "log", "append", "--kind", "observation"); r.code != 0 {
		t.Errorf("log append as alice: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	if r := asUser(first, "", "user", "list"); r.code != 1 || !strings.Contains(r.stderr, "needs one of the roles admin; alice has analyst, auditor (HTTP 403)") {
		t.Errorf("user list as alice: exit %d, stderr %q, want 1 and a 403 naming the admin role", r.code, r.stderr)
	}

	r = runBin(t, dir, "", append([]string{"user", "token", "alice"}, client...)...)
	second := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(second, "vallum_") || second == first {
		t.Fatalf("user token: exit %d, stdout %q, want a new token\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	r = runBin(t, dir, "", append([]string{"user", "list", "--json"}, client...)...)
	var list struct {
		Users []struct {
			Name   string
			Roles  []string
			Tokens []struct{ ID string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("user list --json: exit %d, %v in %q", r.code, err, r.stdout)
	}
	if len(list.Users) != 1 || list.Users[0].Name != "alice" || len(list.Users[0].Tokens) != 2 {
		t.Errorf("user list --json: got %+v, want alice with two tokens", list.Users)
	}
	r = runBin(t, dir, "", append([]string{"user", "list"}, client...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "alice") || !strings.Contains(r.stdout, "analyst,auditor") || !strings.Contains(r.stdout, "active") {
		t.Errorf("user list: exit %d, stdout %q, want alice, her roles and active", r.code, r.stdout)
	}

	r = runBin(t, dir, "", append([]string{"user", "revoke", list.Users[0].Tokens[0].ID}, client...)...)
	if r.code != 0 {
		t.Errorf("user revoke: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if r := asUser(first, `{}`, "log", "append"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 401") {
		t.Errorf("log append with a revoked token: exit %d, stderr %q, want 1 and HTTP 401", r.code, r.stderr)
	}
	r = runBin(t, dir, "", append([]string{"user", "disable", "alice", "--reason", "left"}, client...)...)
	if r.code != 0 {
		t.Errorf("user disable: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if r := asUser(second, `{}`, "log", "append"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 401") {
		t.Errorf("log append as a disabled user: exit %d, stderr %q, want 1 and HTTP 401", r.code, r.stderr)
	}

	for _, out := range []string{s.stdout.String(), s.stderr.String()} {
		if strings.Contains(out, first) || strings.Contains(out, second) {
			t.Errorf("the server's output holds a token:\n%s", out)
		}
	}
	if !strings.Contains(s.stderr.String(), "rejected API token") {
		t.Errorf("the server log doesn't record the rejected tokens:\n%s", s.stderr)
	}
}

func TestUserCommandErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"help", []string{"user", "--help"}, 0, []string{"Usage: vallum user", "add NAME --role R", "auditor"}},
		{"no subcommand", []string{"user"}, 2, []string{"Usage: vallum user"}},
		{"unknown subcommand", []string{"user", "delete"}, 2, []string{`unknown user command "delete"`, "vallum: hint: run 'vallum user --help'"}},
		{"add help", []string{"user", "add", "--help"}, 0, []string{"Usage: vallum user add", "-role", "incident_commander"}},
		{"add without role", []string{"user", "add", "bob"}, 2, []string{"a user needs at least one role", "vallum: hint: add --role ROLE"}},
		{"add without name", []string{"user", "add", "--role", "analyst"}, 2, []string{"want exactly one user name"}},
		{"server down", []string{"user", "list", "--server", "http://127.0.0.1:1"}, 1, []string{"couldn't reach the server"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinEnv(t, []string{"VALLUM_TOKEN=x"}, t.TempDir(), "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code: got %d, want %d\nstderr:\n%s", r.code, tt.code, r.stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr: got %q, want it to contain %q", r.stderr, want)
				}
			}
		})
	}
}

// TestUserAddSensor adds a remote sensor's user: its token posts events
// and nothing else.
func TestUserAddSensor(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	r := runBin(t, dir, "", "user", "add", "edge-1", "--role", "sensor", "--server", s.url, "--data", s.data)
	tok := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(tok, "vallum_") {
		t.Fatalf("user add --role sensor: exit %d, stdout %q, want a token\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	asSensor := func(stdin string, args ...string) result {
		t.Helper()
		return runBinEnv(t, []string{"VALLUM_TOKEN=" + tok}, dir, stdin, append(args, "--server", s.url, "--data", t.TempDir())...)
	}
	if r := asSensor(`{"what":"scan"}`, "log", "append", "--kind", "observation"); r.code != 1 || !strings.Contains(r.stderr, "edge-1 has sensor (HTTP 403)") {
		t.Errorf("log append as a sensor: exit %d, stderr %q, want 1 and a 403", r.code, r.stderr)
	}
	if r := asSensor("", "honeytoken", "list"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 403") {
		t.Errorf("honeytoken list as a sensor: exit %d, stderr %q, want 1 and a 403", r.code, r.stderr)
	}
	if r := runBin(t, dir, "", "user", "--help"); !strings.Contains(r.stdout+r.stderr, "sensor") {
		t.Errorf("user --help: %q, want the sensor role listed", r.stdout+r.stderr)
	}
}
