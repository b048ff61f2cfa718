package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vallum/vallum/internal/bundle"
	"github.com/vallum/vallum/internal/tsa/tsatest"
)

// exported runs a server with a real openssl time-stamping authority,
// builds an incident with a note, anchors it, exports its bundle through
// the API (--server) and, once the server is stopped, offline (--data).
// It returns the two bundles and the data directory.
type exported struct {
	dir, data, vkey   string
	online, offline   string
	incident          string
	noteIndex         int64
	onlineOut, offOut string
}

func exportBoth(t *testing.T) exported {
	t.Helper()
	dir := t.TempDir()
	auth := tsatest.Start(t, tsatest.Options{ESSCertIDAlg: "sha256", Name: "CLI Test TSA"})
	cfg := filepath.Join(dir, "vallum.yaml")
	os.WriteFile(cfg, []byte("anchor:\n  interval: 1h\n  authorities:\n    - name: test-tsa\n      url: "+auth.URL+"\n      ca_file: "+auth.CAFile+"\n"), 0o600)
	srv := startServer(t, dir, "--config", cfg)
	as := srv.analyst("paola")
	var inc struct{ ID string }
	json.Unmarshal(as("POST", "/api/v1/incidents", `{"title":"Phishing wave","severity":"high","categories":["phishing"]}`, 201), &inc)
	var note struct{ Index int64 }
	json.Unmarshal(as("POST", "/api/v1/incidents/"+inc.ID+"/notes", `{"text":"reported by Anna Verdi, anna.verdi@example.org"}`, 201), &note)
	if code, b, err := srv.request("POST", "/api/v1/anchors", []byte(`{"incident":"`+inc.ID+`"}`), true); err != nil || code != http.StatusCreated {
		t.Fatalf("anchor now: HTTP %d %s %v", code, b, err)
	}
	e := exported{dir: dir, data: srv.data, vkey: filepath.Join(srv.data, "log.vkey"), incident: inc.ID, noteIndex: note.Index}
	e.online = filepath.Join(dir, "online.tar.gz")
	// The server's projection indexes entries asynchronously; export
	// retries until the anchor is covered.
	var r result
	for range 50 {
		os.Remove(e.online)
		r = runBin(t, dir, "", "export", "--server", srv.url, "--data", srv.data, "--incident", inc.ID, "--out", e.online, "--lang", "en", "--no-pdf")
		if r.code != 0 {
			t.Fatalf("export --server: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		files, _ := bundle.Read(e.online)
		if _, ok := files["anchors/001/token.tsr"]; ok {
			break
		}
	}
	e.onlineOut = r.stdout
	// Offline export is refused while the server holds the data directory.
	if r := runBin(t, dir, "", "export", "--data", srv.data, "--incident", inc.ID, "--out", filepath.Join(dir, "refused")); r.code == 0 || !strings.Contains(r.stderr, "--server") {
		t.Errorf("offline export with the server running: exit %d\n%s", r.code, r.stderr)
	}
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("server exit %d", code)
	}
	e.offline = filepath.Join(dir, "offline")
	r = runBin(t, dir, "", "export", "--data", srv.data, "--incident", inc.ID, "--out", e.offline, "--actor", "perito/rossi", "--all-headers", "--lang", "it")
	if r.code != 0 {
		t.Fatalf("export --data: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	e.offOut = r.stdout
	return e
}

func TestExport(t *testing.T) {
	e := exportBoth(t)
	t.Run("verify", func(t *testing.T) { checkVerifyBundle(t, e) })
	for _, out := range []string{e.onlineOut, e.offOut} {
		if !strings.Contains(out, "wrote the bundle of "+e.incident) || !strings.Contains(out, "vallum verify --vkey") {
			t.Errorf("export's output:\n%s", out)
		}
	}
	for _, b := range []string{e.online, e.offline} {
		r := runBin(t, e.dir, "", "verify", "--vkey", e.vkey, b)
		if r.code != 0 || !strings.Contains(r.stdout, "VERIFIED") || !strings.Contains(r.stdout, "time-stamps: 1 RFC 3161 token(s)") {
			t.Errorf("verify %s: exit %d\n%s%s", b, r.code, r.stdout, r.stderr)
		}
	}
	if r := runBin(t, e.dir, "", "verify", "--vkey", e.vkey, e.offline); !strings.Contains(r.stdout, "completeness: the bundle holds all") {
		t.Errorf("verify of the --all-headers bundle doesn't show completeness:\n%s", r.stdout)
	}
	files, err := bundle.Read(e.offline)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"report/report.it.html", "VERIFY.md", "packs/index.json"} {
		if _, ok := files[p]; !ok {
			t.Errorf("offline bundle lacks %s", p)
		}
	}
	if _, err := bundle.FindChromium(""); err == nil {
		if _, ok := files["report/report.it.pdf"]; !ok {
			t.Error("Chromium is installed but the offline bundle has no PDF report")
		}
	}
	// Both exports are in the log: the online one by the admin, the offline one by the named actor.
	r := runBin(t, e.dir, "", "verify", "--data", e.data, "--vkey", e.vkey)
	if r.code != 0 {
		t.Errorf("verify --data after the exports: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Refusals.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--data", e.data, "--incident", e.incident}, "--incident and --out are required"},
		{[]string{"export", "--data", e.data, "--incident", e.incident, "--out", e.online}, "exists"},
		{[]string{"export", "--data", e.data, "--incident", e.incident, "--out", e.offline}, "not empty"},
		{[]string{"export", "--data", e.data, "--incident", "INC-NOPE", "--out", filepath.Join(e.dir, "x.tar.gz")}, "incident INC-NOPE not found"},
		{[]string{"export", "--data", e.data, "--incident", e.incident, "--out", filepath.Join(e.dir, "y"), "--lang", "de"}, "want it or en"},
		{[]string{"export", "--data", filepath.Join(e.dir, "nowhere"), "--incident", e.incident, "--out", filepath.Join(e.dir, "z")}, "not a Vallum data directory"},
	} {
		r := runBin(t, e.dir, "", tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("vallum %v: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "x.tar.gz")); err == nil {
		t.Error("a failed export left a file behind")
	}
}

// TestAnchorConfigRefused: a bad anchor section stops serve with a clear
// error before anything is written.
func TestAnchorConfigRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"anchor:\n  authorities:\n    - name: a\n      url: ftp://tsa.example/\n      ca_file: x.pem\n", "must be an http or https URL"},
		{"anchor:\n  authorities:\n    - name: a\n      url: https://tsa.example/\n", "ca_file is required"},
		{"anchor:\n  authorities:\n    - name: a\n      url: https://user:pw@tsa.example/\n      ca_file: x.pem\n", "not in the url"},
		{"anchor:\n  interval: 5s\n  authorities:\n    - name: a\n      url: https://tsa.example/\n      ca_file: x.pem\n", "at least 1m"},
		{"anchor:\n  authorities:\n    - name: a\n      url: https://tsa.example/\n      ca_file: " + filepath.Join(dir, "missing.pem") + "\n", "couldn't read ca_file"},
	} {
		cfg := filepath.Join(dir, "bad.yaml")
		os.WriteFile(cfg, []byte(tc.yaml), 0o600)
		r := runBin(t, dir, "", "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.yaml, r.code, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, "pw@") {
			t.Error("the error shows the password")
		}
	}
}
