package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/testenv"
)

// authServer is a test server with a user store, a fake clock and its
// server log captured.
type authServer struct {
	*testServer
	srv    *Server
	clock  *testenv.Clock
	logged *testenv.Buffer
}

// newAuthServer serves the log and database of newTestServer through a
// Server that has a user store.
func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	base := newTestServer(t, 1<<16)
	users, err := OpenUsers(context.Background(), base.db)
	if err != nil {
		t.Fatal(err)
	}
	perim := filepath.Join(t.TempDir(), "perimeter.yaml")
	if err := os.WriteFile(perim, []byte(testPerimeter), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &Guard{PerimeterFile: perim}
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	clock := testenv.NewClock(time.Now().UTC()) // the log stamps entries with the real clock
	logged := &testenv.Buffer{}
	s := &Server{
		Log: base.log, DB: base.db, Guard: g, Users: users, Clock: clock.Now, VKey: base.vkey,
		Logger: slog.New(slog.NewTextHandler(logged, nil)), MaxBody: 1 << 16, AdminToken: sha256.Sum256([]byte(testToken)),
	}
	desk, err := incident.Open(context.Background(), base.db, base.log, LogDecider{S: s}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	s.Desk = desk
	if s.Sanctions, err = OpenSanctionLists(filepath.Join(t.TempDir(), SanctionsDir), s.Logger); err != nil {
		t.Fatal(err)
	}
	for _, hook := range authServerHooks {
		hook(t, s)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &authServer{testServer: &testServer{Server: hs, log: base.log, db: base.db, vkey: base.vkey}, srv: s, clock: clock, logged: logged}
}

// call sends a JSON request and decodes a JSON answer into out (if
// non-nil), failing the test unless the status is want.
func (as *authServer) call(t *testing.T, method, path, token, body string, want int, out any) {
	t.Helper()
	code, b := as.do(t, method, path, token, "application/json", []byte(body))
	if code != want {
		t.Fatalf("%s %s: got HTTP %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// addUser adds a user with roles and returns their first token.
func (as *authServer) addUser(t *testing.T, name string, roles ...string) newTokenResponse {
	t.Helper()
	body, _ := json.Marshal(addUserRequest{Name: name, Roles: roles})
	var r newTokenResponse
	as.call(t, "POST", "/api/v1/users", testToken, string(body), http.StatusCreated, &r)
	return r
}

func TestUserTokens(t *testing.T) {
	as := newAuthServer(t)
	alice := as.addUser(t, "alice", RoleAnalyst)
	if !strings.HasPrefix(alice.Token, tokenPrefix) || len(alice.Token) != len(tokenPrefix)+43 {
		t.Errorf("token %q: want %s and 43 base64url characters", alice.Token, tokenPrefix)
	}
	if alice.User.Name != "alice" || !slices.Equal(alice.User.Roles, []string{RoleAnalyst}) {
		t.Errorf("got user %+v, want alice with role analyst", alice.User)
	}

	// The database holds the hash, and nothing holds the token.
	var hash string
	if err := as.db.SQL().QueryRow(`SELECT hash FROM api_tokens WHERE id = ?`, alice.TokenID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(alice.Token))
	if hash != hex.EncodeToString(sum[:]) {
		t.Errorf("stored hash %s, want the SHA-256 of the token", hash)
	}
	tokenInTable := func(tok string) {
		t.Helper()
		for table, q := range map[string]string{
			"users":      `SELECT COUNT(*) FROM users WHERE instr(name || roles || created_at || disabled, ?) > 0`,
			"api_tokens": `SELECT COUNT(*) FROM api_tokens WHERE instr(id || hash || user || created_at || COALESCE(last_used_at, '') || revoked, ?) > 0`,
		} {
			var n int
			if err := as.db.SQL().QueryRow(q, tok).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("table %s holds the token in clear", table)
			}
		}
	}
	tokenInTable(alice.Token)

	// The token signs alice in; she is the actor of what she appends.
	r := as.appendAs(t, alice.Token, http.StatusCreated)
	e, err := as.log.Entry(r.Index)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := evidence.DecodeHeader(e.Header); h.Actor != "alice" {
		t.Errorf("appended entry's actor %q, want alice", h.Actor)
	}
	var users struct{ Users []User }
	as.call(t, "GET", "/api/v1/users", testToken, "", http.StatusOK, &users)
	if len(users.Users) != 1 || len(users.Users[0].Tokens) != 1 || users.Users[0].Tokens[0].LastUsedAt == nil {
		t.Errorf("got users %+v, want alice with one token, used", users.Users)
	}

	// A wrong token, then a revoked one, then a disabled user's.
	as.appendAs(t, alice.Token+"x", http.StatusUnauthorized)
	as.appendAs(t, tokenPrefix+strings.Repeat("A", 43), http.StatusUnauthorized)
	as.call(t, "DELETE", "/api/v1/tokens/"+alice.TokenID, testToken, "", http.StatusOK, nil)
	as.appendAs(t, alice.Token, http.StatusUnauthorized)
	var second newTokenResponse
	as.call(t, "POST", "/api/v1/users/alice/tokens", testToken, "", http.StatusCreated, &second)
	tokenInTable(second.Token)
	as.appendAs(t, second.Token, http.StatusCreated)
	as.call(t, "POST", "/api/v1/users/alice/disable", testToken, `{"reason":"left the team"}`, http.StatusOK, nil)
	as.appendAs(t, second.Token, http.StatusUnauthorized)

	// The log records who could act, and never a token.
	var kinds []string
	for i := range as.log.Size() {
		e, err := as.log.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := evidence.DecodeHeader(e.Header)
		kinds = append(kinds, h.Kind)
		for _, tok := range []string{alice.Token, second.Token} {
			if bytes.Contains(e.Payload, []byte(tok)) || bytes.Contains(e.Header, []byte(tok)) {
				t.Errorf("entry %d (%s) holds a token", i, h.Kind)
			}
		}
		if h.Kind == "token.issued" && !bytes.Contains(e.Payload, []byte(`"token_id":"tok_`)) {
			t.Errorf("token.issued entry %d: payload %s, want the token id", i, e.Payload)
		}
	}
	want := []string{"user.added", "token.issued", "note", "token.revoked", "token.issued", "note", "user.disabled"}
	if !slices.Equal(kinds, want) {
		t.Errorf("log kinds %v, want %v", kinds, want)
	}
	if logged := as.logged.String(); strings.Contains(logged, alice.Token) || strings.Contains(logged, second.Token) || strings.Contains(logged, tokenPrefix) {
		t.Errorf("the server log holds token material:\n%s", logged)
	}
	if !strings.Contains(as.logged.String(), "rejected API token") {
		t.Errorf("the server log doesn't record the rejected tokens:\n%s", as.logged)
	}
}

// appendAs appends a note with token and checks the status.
func (as *authServer) appendAs(t *testing.T, token string, want int) evidence.Receipt {
	t.Helper()
	var r evidence.Receipt
	var out any
	if want == http.StatusCreated {
		out = &r
	}
	as.call(t, "POST", "/api/v1/log/entries?kind=note", token, `{}`, want, out)
	return r
}

func TestBadUserRequests(t *testing.T) {
	as := newAuthServer(t)
	bob := as.addUser(t, "bob", RoleAuditor)
	as.call(t, "POST", "/api/v1/users/bob/disable", testToken, "", http.StatusOK, nil)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"unknown field", "POST", "/api/v1/users", `{"name":"carol","roles":["analyst"],"admin":true}`, 400, "unknown field"},
		{"trailing data", "POST", "/api/v1/users", `{"name":"carol","roles":["analyst"]} {}`, 400, "not a valid JSON"},
		{"upper case name", "POST", "/api/v1/users", `{"name":"Carol","roles":["analyst"]}`, 400, "a-z 0-9"},
		{"empty name", "POST", "/api/v1/users", `{"name":"","roles":["analyst"]}`, 400, "a-z 0-9"},
		{"long name", "POST", "/api/v1/users", `{"name":"` + strings.Repeat("a", 65) + `","roles":["analyst"]}`, 400, "1 to 64"},
		{"reserved name", "POST", "/api/v1/users", `{"name":"admin","roles":["analyst"]}`, 400, "reserved"},
		{"no roles", "POST", "/api/v1/users", `{"name":"carol"}`, 400, "at least one role"},
		{"unknown role", "POST", "/api/v1/users", `{"name":"carol","roles":["root"]}`, 400, `unknown role "root"`},
		{"existing user", "POST", "/api/v1/users", `{"name":"bob","roles":["analyst"]}`, 409, "already exists"},
		{"token for nobody", "POST", "/api/v1/users/nobody/tokens", ``, 404, "doesn't exist"},
		{"token for disabled user", "POST", "/api/v1/users/bob/tokens", ``, 409, "disabled"},
		{"disable twice", "POST", "/api/v1/users/bob/disable", ``, 409, "already disabled"},
		{"disable with unknown field", "POST", "/api/v1/users/nobody/disable", `{"why":"x"}`, 400, "unknown field"},
		{"revoke unknown token", "DELETE", "/api/v1/tokens/tok_0000", ``, 404, "doesn't exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			as.call(t, tc.method, tc.path, testToken, tc.body, tc.want, &e)
			if !strings.Contains(e.Error, tc.msg) {
				t.Errorf("got error %q, want it to mention %q", e.Error, tc.msg)
			}
		})
	}
	as.call(t, "DELETE", "/api/v1/tokens/"+bob.TokenID, testToken, "", http.StatusOK, nil)
	as.call(t, "DELETE", "/api/v1/tokens/"+bob.TokenID, testToken, "", http.StatusConflict, nil)
	var users struct{ Users []User }
	as.call(t, "GET", "/api/v1/users", testToken, "", http.StatusOK, &users)
	if len(users.Users) != 1 || users.Users[0].Name != "bob" {
		t.Errorf("got users %+v, want bob only: refused requests must add no one", users.Users)
	}
}

func TestForbiddenNamesRoles(t *testing.T) {
	as := newAuthServer(t)
	eve := as.addUser(t, "eve", RoleAuditor)
	var e apiError
	as.call(t, "POST", "/api/v1/log/entries?kind=note", eve.Token, `{}`, http.StatusForbidden, &e)
	if want := "needs one of the roles analyst, incident_commander, admin; eve has auditor"; !strings.Contains(e.Error, want) {
		t.Errorf("got error %q, want it to say %q", e.Error, want)
	}
}

func TestThrottle(t *testing.T) {
	as := newAuthServer(t)
	for i := range maxFailures {
		as.appendAs(t, fmt.Sprintf("wrong-token-%d-padding", i), http.StatusUnauthorized)
	}
	// Even the right token is refused until the window passes.
	code, b := as.do(t, "GET", "/api/v1/log/entries", testToken, "", nil)
	if code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: got HTTP %d %s, want 429", maxFailures, code, b)
	}
	req, _ := http.NewRequest("GET", as.URL+"/api/v1/log/entries", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := as.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ra := resp.Header.Get("Retry-After"); ra != "60" {
		t.Errorf("Retry-After %q, want 60", ra)
	}
	as.clock.Advance(failureWindow - time.Second)
	if code, _ := as.do(t, "GET", "/api/v1/log/entries", testToken, "", nil); code != http.StatusTooManyRequests {
		t.Errorf("a second before the window ends: got HTTP %d, want 429", code)
	}
	as.clock.Advance(time.Second)
	if code, b := as.do(t, "GET", "/api/v1/log/entries", testToken, "", nil); code != http.StatusOK {
		t.Errorf("after the window: got HTTP %d %s, want 200", code, b)
	}
	// A fresh window counts from zero again.
	as.appendAs(t, "wrong-token-again-padding", http.StatusUnauthorized)
	as.appendAs(t, testToken, http.StatusCreated)
	if !strings.Contains(as.logged.String(), "throttled API authentication") {
		t.Errorf("the server log doesn't record the throttling:\n%s", as.logged)
	}
}

func TestThrottleIsBounded(t *testing.T) {
	var th throttle
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range maxTrackedIPs + 500 {
		th.fail(fmt.Sprintf("192.0.2.%d", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(th.ips); n > maxTrackedIPs {
		t.Errorf("tracking %d addresses, want at most %d", n, maxTrackedIPs)
	}
	ip := "198.51.100.1"
	for range maxFailures {
		th.fail(ip, now)
	}
	if th.blocked(ip, now) != failureWindow {
		t.Errorf("blocked for %v, want %v", th.blocked(ip, now), failureWindow)
	}
	if th.blocked("198.51.100.2", now) != 0 {
		t.Error("an address with no failures is blocked")
	}
}

// anyone marks an endpoint every authenticated caller may use but a
// sensor, whose role only posts events; public endpoints need no token at
// all.
var (
	anyone = []string{"*"}
	public = []string(nil)
)

// matrix says who may call each endpoint. Every route the server registers
// must have a row (TestRoleMatrix checks it): add one with each new
// endpoint. path is a concrete request for the pattern, body its JSON.
//
// Endpoint packages in their own files add their rows from an init
// function in their own test file (matrix = append(matrix, …)), and set up
// their service on the test server through authServerHooks.
type matrixRow struct {
	pattern string
	path    string
	body    string
	allow   []string
}

// authServerHooks run on the server newAuthServer builds, before its
// handler is made: each endpoint package's test file sets its service.
var authServerHooks []func(t *testing.T, s *Server)

var matrix = []matrixRow{
	{"GET /log/checkpoint", "/log/checkpoint", "", public},
	{"GET /log/tile/", "/log/tile/0/000.p/1", "", public},
	{"GET /log/v1/vkey", "/log/v1/vkey", "", public},
	{"GET /log/v1/checkpoints", "/log/v1/checkpoints", "", public},
	{"GET /log/v1/checkpoints/{size}", "/log/v1/checkpoints/1", "", public},
	{"GET /log/v1/proof/inclusion", "/log/v1/proof/inclusion?index=0", "", public},
	{"GET /log/v1/proof/consistency", "/log/v1/proof/consistency?old=1", "", public},
	{"GET /log/v1/proof/tlog-proof", "/log/v1/proof/tlog-proof?index=0", "", public},
	{"GET /healthz", "/healthz", "", public},
	{"GET /log/v1/entries/{index}", "/log/v1/entries/0", "", anyone},
	{"GET /api/v1/log/entries", "/api/v1/log/entries", "", anyone},
	{"POST /api/v1/log/entries", "/api/v1/log/entries?kind=note", `{}`, []string{RoleAnalyst, RoleIncidentCommander, RoleAdmin}},
	{"POST /api/v1/log/entries/{index}/erase", "/api/v1/log/entries/0/erase", `{"reason":"matrix"}`, []string{RoleDPO, RoleAdmin}},
	{"POST /api/v1/decisions", "/api/v1/decisions", `{}`, []string{RoleAnalyst, RoleIncidentCommander, RoleAdmin}},
	{"POST /api/v1/guard/reload", "/api/v1/guard/reload", "", []string{RoleAdmin}},
	{"POST /api/v1/users", "/api/v1/users", `{"name":"matrix-new","roles":["auditor"]}`, []string{RoleAdmin}},
	{"GET /api/v1/users", "/api/v1/users", "", []string{RoleAdmin}},
	{"POST /api/v1/users/{name}/tokens", "/api/v1/users/target/tokens", "", []string{RoleAdmin}},
	{"POST /api/v1/users/{name}/disable", "/api/v1/users/target/disable", "", []string{RoleAdmin}},
	{"DELETE /api/v1/tokens/{id}", "/api/v1/tokens/TARGET_TOKEN", "", []string{RoleAdmin}},
	// The incident desk: reads for anyone signed in, case work for
	// analysts and incident commanders, approval for the approval roles.
	{"POST /api/v1/incidents", "/api/v1/incidents", `{}`, caseWork},
	{"GET /api/v1/incidents", "/api/v1/incidents", "", anyone},
	{"GET /api/v1/incidents/{id}", "/api/v1/incidents/INC-NONE", "", anyone},
	{"PATCH /api/v1/incidents/{id}", "/api/v1/incidents/INC-NONE", `{}`, caseWork},
	{"POST /api/v1/incidents/{id}/notes", "/api/v1/incidents/INC-NONE/notes", `{}`, caseWork},
	{"POST /api/v1/incidents/{id}/observables", "/api/v1/incidents/INC-NONE/observables", `{}`, caseWork},
	{"POST /api/v1/incidents/{id}/events", "/api/v1/incidents/INC-NONE/events", `{}`, caseWork},
	{"GET /api/v1/incidents/{id}/timeline", "/api/v1/incidents/INC-NONE/timeline", "", anyone},
	{"POST /api/v1/incidents/{id}/evidence", "/api/v1/incidents/INC-NONE/evidence", `{}`, caseWork},
	{"GET /api/v1/evidence/{id}", "/api/v1/evidence/EV-NONE", "", anyone},
	{"POST /api/v1/evidence/{id}/custody", "/api/v1/evidence/EV-NONE/custody", `{}`, caseWork},
	{"POST /api/v1/incidents/{id}/actions", "/api/v1/incidents/INC-NONE/actions", `{}`, caseWork},
	{"GET /api/v1/incidents/{id}/actions", "/api/v1/incidents/INC-NONE/actions", "", anyone},
	{"GET /api/v1/actions/{id}", "/api/v1/actions/ACT-NONE", "", anyone},
	{"POST /api/v1/actions/{id}/decide", "/api/v1/actions/ACT-NONE/decide", `{}`, caseWork},
	{"POST /api/v1/actions/{id}/approve", "/api/v1/actions/ACT-NONE/approve", `{}`, approvalRoles},
	{"POST /api/v1/actions/{id}/execute", "/api/v1/actions/ACT-NONE/execute", `{}`, caseWork},
	{"POST /api/v1/actions/{id}/verify", "/api/v1/actions/ACT-NONE/verify", `{}`, caseWork},
	{"POST /api/v1/actions/{id}/expire", "/api/v1/actions/ACT-NONE/expire", `{}`, caseWork},
	{"POST /api/v1/actions/{id}/revert", "/api/v1/actions/ACT-NONE/revert", `{}`, caseWork},
	// Regulatory clocks: filed by case work, legal counsel and the DPO.
	{"POST /api/v1/incidents/{id}/clocks", "/api/v1/incidents/INC-NONE/clocks", `{}`, clockFilers},
	{"POST /api/v1/incidents/{id}/clocks/{regime}/submissions", "/api/v1/incidents/INC-NONE/clocks/gdpr-33/submissions", `{}`, clockFilers},
	{"GET /api/v1/incidents/{id}/clocks", "/api/v1/incidents/INC-NONE/clocks", "", anyone},
	{"GET /api/v1/clocks/due", "/api/v1/clocks/due?within=24h", "", anyone},
	{"GET /api/v1/regimes", "/api/v1/regimes", "", anyone},
	// Notification drafts: generated by those who file notifications.
	{"GET /api/v1/incidents/{id}/drafts/{kind}", "/api/v1/incidents/INC-NONE/drafts/gdpr-33", "", clockFilers},
	// Sanctions: importing for legal counsel, the DPO and the admin;
	// screening for case work and legal work.
	{"POST /api/v1/sanctions/lists", "/api/v1/sanctions/lists?format=eu-xml", `{}`, []string{RoleLegalCounsel, RoleDPO, RoleAdmin}},
	{"GET /api/v1/sanctions/lists", "/api/v1/sanctions/lists", "", anyone},
	{"POST /api/v1/sanctions/screen", "/api/v1/sanctions/screen", `{}`, []string{RoleAnalyst, RoleIncidentCommander, RoleLegalCounsel, RoleDPO}},
	// Ransom track: kept by the incident commander, legal counsel and the DPO.
	{"POST /api/v1/incidents/{id}/ransom", "/api/v1/incidents/INC-NONE/ransom", `{}`, ransomKeepers},
	{"POST /api/v1/incidents/{id}/ransom/authority-reports", "/api/v1/incidents/INC-NONE/ransom/authority-reports", `{}`, ransomKeepers},
	{"POST /api/v1/incidents/{id}/ransom/messages", "/api/v1/incidents/INC-NONE/ransom/messages", `{}`, ransomKeepers},
	{"POST /api/v1/incidents/{id}/ransom/screenings", "/api/v1/incidents/INC-NONE/ransom/screenings", `{}`, ransomKeepers},
	{"GET /api/v1/incidents/{id}/ransom", "/api/v1/incidents/INC-NONE/ransom", "", anyone},
}

var (
	caseWork      = []string{RoleAnalyst, RoleIncidentCommander}
	clockFilers   = []string{RoleAnalyst, RoleIncidentCommander, RoleLegalCounsel, RoleDPO}
	ransomKeepers = []string{RoleIncidentCommander, RoleLegalCounsel, RoleDPO}
	approvalRoles = []string{RoleAnalyst, RoleIncidentCommander, RoleBusinessOwner, RoleLegalCounsel, RoleDPO, RoleExecutive, RoleBoard}
)

// TestRoleMatrix calls every endpoint as a user of each role alone, as the
// bootstrap admin token, and with no token, and checks who gets past
// authorization: an allowed caller gets neither 401 nor 403 (the handler
// may still refuse the request), a refused one gets 403, and a caller
// without a token 401 unless the endpoint is public.
func TestRoleMatrix(t *testing.T) {
	as := newAuthServer(t)
	target := as.addUser(t, "target", RoleAuditor)
	as.appendAs(t, testToken, http.StatusCreated)

	type caller struct {
		name, token string
		roles       []string
	}
	callers := []caller{{"bootstrap admin token", testToken, []string{RoleAdmin}}, {"no token", "", nil}}
	for _, role := range allRoles {
		u := as.addUser(t, "as-"+strings.ReplaceAll(role, "_", "-"), role)
		callers = append(callers, caller{role, u.Token, []string{role}})
	}

	var registered []string
	for _, rt := range (&Server{Users: &Users{}, Desk: &incident.Desk{}, Sanctions: &SanctionLists{},
		Events: &EventService{}, Honeytokens: &HoneytokenService{}, Contain: &ContainService{}, Bundles: &BundleService{}}).routes() {
		registered = append(registered, rt.pattern)
	}
	var tested []string
	for _, row := range matrix {
		tested = append(tested, row.pattern)
	}
	slices.Sort(registered)
	slices.Sort(tested)
	if !slices.Equal(registered, tested) {
		t.Errorf("the matrix covers %v\nbut the server registers %v: add a row for each endpoint", tested, registered)
	}

	for _, row := range matrix {
		for _, c := range callers {
			t.Run(row.pattern+"/"+c.name, func(t *testing.T) {
				method, _, _ := strings.Cut(row.pattern, " ")
				path := strings.ReplaceAll(row.path, "TARGET_TOKEN", target.TokenID)
				code, b := as.do(t, method, path, c.token, "application/json", []byte(row.body))
				switch {
				case row.allow == nil:
					if code == http.StatusUnauthorized || code == http.StatusForbidden {
						t.Errorf("public endpoint: got HTTP %d %s", code, b)
					}
				case c.token == "":
					if code != http.StatusUnauthorized {
						t.Errorf("got HTTP %d %s, want 401", code, b)
					}
				case slices.Equal(row.allow, anyone) && !slices.Equal(c.roles, []string{RoleSensor}) ||
					slices.ContainsFunc(c.roles, func(r string) bool { return slices.Contains(row.allow, r) }):
					if code == http.StatusUnauthorized || code == http.StatusForbidden {
						t.Errorf("allowed: got HTTP %d %s", code, b)
					}
				default:
					if code != http.StatusForbidden {
						t.Errorf("got HTTP %d %s, want 403", code, b)
					}
				}
			})
		}
	}
}
