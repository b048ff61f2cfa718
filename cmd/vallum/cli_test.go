package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
)

// TestServeDefaults starts `vallum serve` with no configuration in an
// empty working directory and stops it with each shutdown signal.
func TestServeDefaults(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := startServer(t, dir)
			if got, want := s.data, filepath.Join(dir, "vallum-data"); got != want {
				t.Fatalf("data directory: got %s, want %s", got, want)
			}
			if fi, err := os.Stat(s.data); err != nil || !fi.IsDir() {
				t.Fatalf("./vallum-data wasn't created: %v", err)
			}
			for _, name := range []string{evidence.KeyFile, api.TokenFile} {
				fi, err := os.Stat(filepath.Join(s.data, name))
				if err != nil {
					t.Errorf("vallum-data/%s: %v", name, err)
					continue
				}
				if got := fi.Mode().Perm(); got != 0o600 {
					t.Errorf("vallum-data/%s: mode got %v, want 0600", name, got)
				}
			}
			if !strings.HasPrefix(s.stdout.String(), "vallum: listening on "+s.url+" ") {
				t.Errorf("stdout: got %q, want the listening line for %s", s.stdout, s.url)
			}
			if code := s.stop(sig); code != 0 {
				t.Errorf("exit status after %v: got %d, want 0\nstderr:\n%s", sig, code, s.stderr)
			}
			if !strings.Contains(s.stderr.String(), "shutting down") {
				t.Errorf("stderr: got %q, want a shutdown message", s.stderr)
			}
		})
	}
}

// TestServeRestart checks that a restarted server keeps its key and token,
// and that a second server can't take a busy address.
func TestServeRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	vkey := s.get("/log/v1/vkey", false)
	key, err := os.ReadFile(filepath.Join(s.data, evidence.KeyFile))
	if err != nil {
		t.Fatal(err)
	}

	r := runBin(t, t.TempDir(), "", "serve", "--listen", strings.TrimPrefix(s.url, "http://"))
	if r.code != 1 || !strings.Contains(r.stderr, "vallum: error: couldn't listen on") {
		t.Errorf("serve on a busy address: exit %d, stderr %q, want 1 and \"couldn't listen on\"", r.code, r.stderr)
	}

	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit status: got %d, want 0", code)
	}
	s2 := startServer(t, dir)
	if got := s2.get("/log/v1/vkey", false); !bytes.Equal(got, vkey) {
		t.Errorf("verifier key after restart: got %q, want %q", got, vkey)
	}
	if got, _ := os.ReadFile(filepath.Join(s.data, evidence.KeyFile)); !bytes.Equal(got, key) {
		t.Errorf("the key file changed on restart")
	}
	if s2.token != s.token {
		t.Errorf("the admin token changed on restart")
	}
	if strings.Contains(s2.stderr.String(), "generated a new evidence log key") {
		t.Errorf("restart generated a new key:\n%s", s2.stderr)
	}
}

// TestLogCommands appends, shows and proves an entry with the CLI, and
// checks the proof with the verifier key alone.
func TestLogCommands(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	client := []string{"--server", s.url, "--data", s.data}
	const payload = `{"event":"port scan","source":"192.0.2.7","marker":"cli-test-7f3a"}`

	r := runBin(t, dir, payload, append([]string{"log", "append", "--kind", "observation", "--actor", "alice", "--incident", "INC-1"}, client...)...)
	if r.code != 0 {
		t.Fatalf("log append: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	var rcpt evidence.Receipt
	if err := json.Unmarshal([]byte(r.stdout), &rcpt); err != nil {
		t.Fatalf("log append: stdout is not a receipt: %v\n%s", err, r.stdout)
	}
	if rcpt.TreeSize != rcpt.Index+1 || rcpt.LeafHash == (evidence.Receipt{}).LeafHash {
		t.Errorf("log append: receipt %+v, want a leaf hash and tree size index+1", rcpt)
	}

	r = runBin(t, dir, "", append([]string{"log", "show"}, append(client, "0")...)...)
	if r.code != 0 {
		t.Fatalf("log show 0: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	var e struct {
		Index    int64           `json:"index"`
		LeafHash string          `json:"leaf_hash"`
		Header   json.RawMessage `json:"header"`
		Payload  json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("log show: stdout is not an entry: %v\n%s", err, r.stdout)
	}
	if e.Index != rcpt.Index || e.LeafHash != rcpt.LeafHash.String() {
		t.Errorf("log show: got index %d leaf hash %s, want %d %s (receipt)", e.Index, e.LeafHash, rcpt.Index, rcpt.LeafHash)
	}
	var got bytes.Buffer
	if err := json.Compact(&got, e.Payload); err != nil || got.String() != payload {
		t.Errorf("log show: payload got %s, want %s", e.Payload, payload)
	}
	// Flags may follow the index, as people type them.
	if r2 := runBin(t, dir, "", append([]string{"log", "show", "0"}, client...)...); r2.code != 0 || r2.stdout != r.stdout {
		t.Errorf("log show 0 --server …: exit %d, stdout %q, want the same entry as with the flags first\nstderr:\n%s", r2.code, r2.stdout, r2.stderr)
	}
	// The leaf is the exact header bytes: the entry shows them as a JSON
	// string, so that no re-encoding can change them.
	var header []byte
	var hs string
	if err := json.Unmarshal(e.Header, &hs); err == nil {
		header = []byte(hs)
	} else {
		header = e.Header
	}
	if evidence.LeafHash(header) != rcpt.LeafHash {
		t.Errorf("log show: the header's leaf hash is %s, want %s (the header printed is not the leaf bytes)\n%s", evidence.LeafHash(header), rcpt.LeafHash, header)
		var c bytes.Buffer
		json.Compact(&c, header)
		header = c.Bytes()
	}
	h, err := evidence.DecodeHeader(header)
	if err != nil {
		t.Fatalf("log show: header doesn't decode: %v\n%s", err, header)
	}
	if h.Kind != "observation" || h.Actor != "admin/alice" || h.Incident != "INC-1" || h.Time != rcpt.Time {
		t.Errorf("log show: header %+v, want kind observation, actor admin/alice, incident INC-1, time %s", h, rcpt.Time)
	}

	r = runBin(t, dir, "", append([]string{"log", "vkey"}, client...)...)
	if r.code != 0 {
		t.Fatalf("log vkey: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	vkey := strings.TrimSpace(r.stdout)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("log vkey: %q is not a signed-note verifier key: %v", vkey, err)
	}

	proofFile := filepath.Join(t.TempDir(), "entry.tlog-proof")
	r = runBin(t, dir, "", append([]string{"log", "prove", "--out", proofFile}, append(client, "0")...)...)
	if r.code != 0 {
		t.Fatalf("log prove: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(proofFile)
	if err != nil {
		t.Fatalf("log prove wrote no proof: %v", err)
	}
	p, err := evidence.ParseTlogProof(b)
	if err != nil {
		t.Fatalf("log prove: %v\n%s", err, b)
	}
	c, err := evidence.VerifyTlogProof(p, header, v.Name(), v)
	if err != nil {
		t.Fatalf("log prove: the proof doesn't verify: %v\n%s", err, b)
	}
	if p.Index != 0 || c.N < 1 {
		t.Errorf("log prove: proof of entry %d in tree %d, want entry 0", p.Index, c.N)
	}
	// The proof must not verify another header.
	other := bytes.Replace(header, []byte("alice"), []byte("mallory"), 1)
	if _, err := evidence.VerifyTlogProof(p, other, v.Name(), v); err == nil {
		t.Errorf("log prove: the proof verifies a changed header")
	}
}

// TestLogAppendRefused checks that appends without the token or with a
// bad payload are refused, with a message that names the problem, and
// leave the log unchanged.
func TestLogAppendRefused(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	client := []string{"--server", s.url, "--data", s.data}
	if r := runBin(t, dir, `{"seed":1}`, append([]string{"log", "append"}, client...)...); r.code != 0 {
		t.Fatalf("log append: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	noToken := []string{"--server", s.url, "--data", t.TempDir()}
	tests := []struct {
		name   string
		env    []string
		args   []string
		stdin  string
		stderr []string
	}{
		{"no token file", nil, noToken, `{"a":1}`, []string{"vallum: error: couldn't read the API token", "vallum: hint: pass --data DIR"}},
		{"wrong token", []string{"VALLUM_TOKEN=vallum-admin-not-the-right-token"}, noToken, `{"a":1}`, []string{"vallum: error: server: invalid token (HTTP 401)", "vallum: hint: "}},
		{"not JSON", nil, client, "port scan from 192.0.2.7\n", []string{"vallum: error: server: body is not a valid JSON document (HTTP 400)"}},
		{"empty", nil, client, "", []string{"vallum: error: server: body is not a valid JSON document (HTTP 400)"}},
		{"trailing garbage", nil, client, `{"a":1} x`, []string{"not a valid JSON document (HTTP 400)"}},
		{"not UTF-8", nil, client, "\"\xff\"", []string{"vallum: error: server: body is not valid UTF-8 (HTTP 400)"}},
		{"no kind", nil, append([]string{"--kind", ""}, client...), `{"a":1}`, []string{"the kind query parameter is required (HTTP 400)"}},
		{"bad kind", nil, append([]string{"--kind", "Not A Kind"}, client...), `{"a":1}`, []string{"vallum: error: server: ", "(HTTP 400)", "kind"}},
		{"oversized", nil, client, `{"a":"` + strings.Repeat("x", 1<<20) + `"}`, []string{"vallum: error: server: body is larger than the limit of 1048576 bytes (HTTP 413)"}},
		{"server down", nil, []string{"--server", "http://127.0.0.1:1", "--data", s.data}, `{"a":1}`, []string{"vallum: error: couldn't reach the server", "vallum: hint: start it with 'vallum serve' or pass --server URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.logSize()
			r := runBinEnv(t, tt.env, dir, tt.stdin, append([]string{"log", "append"}, tt.args...)...)
			if r.code == 0 {
				t.Errorf("log append: exit 0, want an error\nstdout:\n%s", r.stdout)
			}
			if r.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", r.stdout)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr: got %q, want it to contain %q", r.stderr, want)
				}
			}
			if after := s.logSize(); after != before {
				t.Errorf("log size: got %d after a refused append, want %d", after, before)
			}
		})
	}

	// The API itself, without the CLI.
	for _, tok := range []string{"", "wrong-token-wrong-token"} {
		s2 := *s
		s2.token = tok
		code, body, err := s2.request(http.MethodPost, "/api/v1/log/entries?kind=note", []byte(`{"a":1}`), tok != "")
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusUnauthorized {
			t.Errorf("POST without a valid token (%q): got HTTP %d, want 401: %s", tok, code, body)
		}
	}
	if code, body, _ := s.request(http.MethodGet, "/log/v1/entries/0", nil, false); code != http.StatusUnauthorized {
		t.Errorf("GET an entry without the token: got HTTP %d, want 401: %s", code, body)
	}

	r := runBin(t, dir, "", append([]string{"log", "show"}, append(client, "99")...)...)
	if want := "vallum: error: server: entry 99 doesn't exist (the log has 1 entries) (HTTP 404)"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("log show 99: exit %d, stderr %q, want 1 and %q", r.code, r.stderr, want)
	}
}

// TestVerifyDetectsChangedPayload verifies an untouched log, then flips one
// byte of a payload in the log file and expects verify to name the entry.
func TestVerifyDetectsChangedPayload(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	client := []string{"--server", s.url, "--data", s.data}
	const marker = "verify-marker-5c1e"
	for i, p := range []string{`{"n":0}`, `{"n":1,"m":"` + marker + `"}`, `{"n":2}`} {
		if r := runBin(t, dir, p, append([]string{"log", "append"}, client...)...); r.code != 0 {
			t.Fatalf("log append %d: exit %d\nstderr:\n%s", i, r.code, r.stderr)
		}
	}
	vkeyFile := filepath.Join(t.TempDir(), "log.vkey")
	if err := os.WriteFile(vkeyFile, s.get("/log/v1/vkey", false), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("server exit status: got %d, want 0", code)
	}

	r := runBin(t, dir, "", "verify", "--data", s.data, "--vkey", vkeyFile)
	if r.code != 0 {
		t.Fatalf("verify of an untouched log: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "ok: 3 entries") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("verify of an untouched log: got %q, want one line starting \"ok: 3 entries\"", r.stdout)
	}
	// Without --vkey the key comes from the data and verify says so.
	r = runBin(t, dir, "", "verify", "--data", s.data)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ok: 3 entries") || !strings.Contains(r.stdout, "warning:") {
		t.Errorf("verify without --vkey: exit %d, stdout %q, want ok with a warning about the key", r.code, r.stdout)
	}

	path := filepath.Join(s.data, "log", store.LogFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte(marker)); n != 1 {
		t.Fatalf("the log file holds the payload marker %d times, want 1", n)
	}
	i := bytes.Index(b, []byte(marker))
	b[i] ^= 0x01 // 'v' → 'w'
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, dir, "", "verify", "--data", s.data, "--vkey", vkeyFile)
	if r.code != 1 {
		t.Errorf("verify of a changed payload: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if want := "FAILED: entry 1: payload doesn't match"; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("verify of a changed payload: got %q, want it to start with %q", r.stdout, want)
	}
}

// TestHelp checks usage output and exit codes of the command tree.
func TestHelp(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"help", []string{"--help"}, 0, []string{"Usage: vallum <command>", "serve", "log", "verify"}},
		{"no command", nil, 2, []string{"Usage: vallum <command>"}},
		{"serve help", []string{"serve", "--help"}, 0, []string{"Usage: vallum serve", "-listen", "-data"}},
		{"log help", []string{"log", "--help"}, 0, []string{"Usage: vallum log", "append", "prove"}},
		{"log append help", []string{"log", "append", "--help"}, 0, []string{"Usage: vallum log append", "-kind", "-server"}},
		{"verify help", []string{"verify", "--help"}, 0, []string{"Usage: vallum verify", "-vkey"}},
		{"log without subcommand", []string{"log"}, 2, []string{"Usage: vallum log"}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`vallum: error: unknown command "frobnicate"`, "vallum: hint: run 'vallum --help'"}},
		{"unknown log command", []string{"log", "delete"}, 2, []string{`vallum: error: unknown log command "delete"`, "vallum: hint: run 'vallum log --help'"}},
		{"unknown flag", []string{"serve", "--fast"}, 2, []string{"flag provided but not defined: -fast", "Usage: vallum serve"}},
		{"bad index", []string{"log", "show", "first"}, 2, []string{`vallum: error: "first" is not an entry index`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBin(t, t.TempDir(), "", tt.args...)
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
