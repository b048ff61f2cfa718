package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRebuildEqualsLive works an incident through the real server, stops
// it, runs `vallum rebuild`, and checks that the API answers exactly as
// before; a rebuild while the server runs is refused.
func TestRebuildEqualsLive(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	// A user with the analyst role, whose token does the case work.
	as := srv.analyst("paola")
	var inc struct{ ID string }
	json.Unmarshal(as("POST", "/api/v1/incidents", `{"title":"Phishing wave","severity":"high","categories":["phishing"]}`, 201), &inc)
	as("POST", "/api/v1/incidents/"+inc.ID+"/notes", `{"text":"first mails at 08:02"}`, 201)
	as("POST", "/api/v1/incidents/"+inc.ID+"/observables", `{"type":"domain","value":"Evil.Example.","tags":["phish"]}`, 201)
	var ev struct{ ID string }
	json.Unmarshal(as("POST", "/api/v1/incidents/"+inc.ID+"/evidence", `{"sha256":"`+strings.Repeat("ab", 32)+`","size":10,"media_type":"message/rfc822","source":"mailbox","tool":"export","method":"copy"}`, 201), &ev)
	var act struct{ ID string }
	json.Unmarshal(as("POST", "/api/v1/incidents/"+inc.ID+"/actions", `{"action":{"kind":"abuse_request","target":"evil.example","params":{}}}`, 201), &act)
	as("POST", "/api/v1/actions/"+act.ID+"/decide", ``, 200)
	as("PATCH", "/api/v1/incidents/"+inc.ID, `{"status":"contained"}`, 200)

	paths := []string{"/api/v1/incidents/" + inc.ID, "/api/v1/incidents/" + inc.ID + "/timeline", "/api/v1/incidents/" + inc.ID + "/actions", "/api/v1/actions/" + act.ID, "/api/v1/evidence/" + ev.ID, "/api/v1/incidents", "/api/v1/log/entries?limit=1000"}
	before := map[string]string{}
	for _, p := range paths {
		before[p] = string(as("GET", p, "", 200))
	}
	if r := runBin(t, dir, "", "rebuild", "--data", srv.data); r.code == 0 || !strings.Contains(r.stderr, "another vallum process") {
		t.Errorf("rebuild while the server runs: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("server exit %d", code)
	}
	// Rebuild from scratch: even without the database file.
	for _, f := range []string{"vallum.db", "vallum.db-wal", "vallum.db-shm"} {
		os.Remove(filepath.Join(srv.data, f))
	}
	if r := runBin(t, dir, "", "rebuild", "--data", srv.data); r.code != 0 {
		t.Fatalf("rebuild: exit %d: %s", r.code, r.stderr)
	}
	// Users live only in the database (their token hashes are not in the
	// log), so the rebuilt server is read with a fresh user.
	as = startServer(t, dir).analyst("paola")
	for _, p := range paths {
		got := string(as("GET", p, "", 200))
		if p == "/api/v1/log/entries?limit=1000" {
			// The log has grown by the new user's entries; the old part must match.
			got = got[:min(len(got), len(before[p])-3)]
			if !strings.HasPrefix(before[p], got) {
				t.Errorf("GET %s after rebuild differs from before", p)
			}
			continue
		}
		if got != before[p] {
			t.Errorf("GET %s after rebuild:\n%s\nbefore:\n%s", p, got, before[p])
		}
	}
}
