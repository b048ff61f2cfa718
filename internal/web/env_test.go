package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/honeytoken"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/store"
	"github.com/vallum/vallum/internal/testenv"
	"github.com/vallum/vallum/internal/tsa"
	"github.com/vallum/vallum/policies"
)

// testEnv is a real server (evidence log on disk, SQLite, guardrail with
// testdata/perimeter.yaml, users, desk) with the console around its API.
type testEnv struct {
	t       testing.TB
	srv     *api.Server
	console *Console
	h       http.Handler
	admin   string // the bootstrap admin token
	clock   fakeClock
	logs    *testenv.Buffer
	tokens  map[string]string // user → token
}

// fakeClock is the console's settable clock, under the names the tests
// use.
type fakeClock struct{ *testenv.Clock }

func (c fakeClock) now() time.Time          { return c.Now() }
func (c fakeClock) advance(d time.Duration) { c.Advance(d) }

// testUsers are created by newEnv: one per role, and a few people.
var testUsers = map[string][]string{
	"ana":   {api.RoleAnalyst},
	"ivo":   {api.RoleIncidentCommander},
	"bea":   {api.RoleBusinessOwner},
	"lea":   {api.RoleLegalCounsel},
	"dora":  {api.RoleDPO},
	"ezio":  {api.RoleExecutive},
	"bruno": {api.RoleBoard},
	"aldo":  {api.RoleAuditor},
	"paola": {api.RoleAnalyst},
	"marta": {api.RoleBusinessOwner, api.RoleAnalyst},
}

// userOfRole is the test user holding exactly that role ("admin": the
// bootstrap token).
var userOfRole = map[string]string{
	api.RoleAdmin: "admin", api.RoleAnalyst: "ana", api.RoleIncidentCommander: "ivo", api.RoleBusinessOwner: "bea",
	api.RoleLegalCounsel: "lea", api.RoleDPO: "dora", api.RoleExecutive: "ezio", api.RoleBoard: "bruno", api.RoleAuditor: "aldo",
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	// A minute ahead of the log's own (real) clock, so that entries the
	// log times are never in the console's future.
	clock := fakeClock{testenv.NewClock(time.Now().UTC().Add(time.Minute).Truncate(time.Second))}
	keys, _, err := evidence.LoadOrCreateKeys(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	tokHash, err := api.LoadOrCreateToken(filepath.Join(dir, api.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	adminTok, _ := os.ReadFile(filepath.Join(dir, api.TokenFile))
	files, err := store.OpenFiles(filepath.Join(dir, "log"), logger)
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.Open(evidence.Config{Origin: keys.Origin, Signer: keys.Signer, Verifier: keys.Verifier, Storage: files, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "vallum.db"))
	if err != nil {
		t.Fatal(err)
	}
	g := &api.Guard{PerimeterFile: "testdata/perimeter.yaml"}
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	users, err := api.OpenUsers(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	srv := &api.Server{Log: l, DB: db, Guard: g, Logger: logger, MaxBody: 1 << 20, AdminToken: tokHash, Users: users, VKey: keys.VKey, Clock: clock.now}
	desk, err := incident.Open(ctx, db, l, api.LogDecider{S: srv}, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	srv.Desk = desk
	anchors, err := tsa.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	srv.Bundles = &api.BundleService{Anchors: anchors, Packs: policies.FS()}
	reg, err := honeytoken.Open(ctx, db, l, honeytoken.Options{Domain: "acme.example", Clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	srv.Honeytokens = &api.HoneytokenService{Registry: reg}
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Project(ctx, l, filepath.Join(dir, "witness"), logger)
	}()
	c, err := New(Config{Srv: srv, Logger: logger, Clock: clock.now, SessionLifetime: 8 * time.Hour, IdleTimeout: time.Hour, Language: "en",
		Honeypots: []Honeypot{{Sensor: "edge-1/ssh", Protocol: "ssh", Listen: []string{"127.0.0.1:2222"}, Enabled: true}}})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, srv: srv, console: c, h: c.Handler(srv.Handler()), admin: strings.TrimSpace(string(adminTok)), clock: clock, logs: logs, tokens: map[string]string{}}
	t.Cleanup(func() {
		cancel()
		<-done
		l.Close()
		db.Close()
		files.Close()
	})
	for name, roles := range testUsers {
		e.tokens[name] = e.addUser(name, roles)
	}
	e.tokens["admin"] = e.admin
	return e
}

// addUser adds a user through the API with the admin token and returns
// the user's token.
func (e *testEnv) addUser(name string, roles []string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "roles": roles})
	r := httptest.NewRequest("POST", "/api/v1/users", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+e.admin)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusCreated {
		e.t.Fatalf("add user %s: %d %s", name, w.Code, w.Body)
	}
	var out struct{ Token string }
	json.Unmarshal(w.Body.Bytes(), &out)
	return out.Token
}

// browser is one signed-in (or not) browser: it keeps cookies and the
// CSRF token of the last page.
type browser struct {
	e       *testEnv
	cookies map[string]*http.Cookie
	csrf    string
	remote  string
}

func (e *testEnv) browser() *browser {
	return &browser{e: e, cookies: map[string]*http.Cookie{}, remote: "192.0.2.1:1234"}
}

// do sends a request and keeps the cookies it sets.
func (b *browser) do(method, target string, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = b.remote
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	b.e.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	if m := csrfField.FindStringSubmatch(w.Body.String()); m != nil {
		b.csrf = m[1]
	}
	return w
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) get(target string) *httptest.ResponseRecorder { return b.do("GET", target, nil, nil) }

// post sends a form with the browser's CSRF token.
func (b *browser) post(target string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	return b.do("POST", target, form, nil)
}

// signIn signs in as user with their token; it fails the test unless
// the console redirects to the page asked for.
func (b *browser) signIn(user string) {
	b.e.t.Helper()
	b.get("/signin")
	w := b.post("/signin", url.Values{"user": {user}, "token": {b.e.tokens[user]}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		b.e.t.Fatalf("sign in as %s: %d %s %s", user, w.Code, w.Header().Get("Location"), w.Body)
	}
	b.get("/") // picks up the session's CSRF token
}

// signedIn returns a browser signed in as user.
func (e *testEnv) signedIn(user string) *browser {
	b := e.browser()
	b.signIn(user)
	return b
}

// actor is a desk actor for user.
func actor(user string) incident.Actor {
	if user == "admin" {
		return incident.Actor{Name: "admin", Roles: []string{api.RoleAdmin}}
	}
	return incident.Actor{Name: user, Roles: testUsers[user]}
}

// incident opens an incident on the desk directly.
func (e *testEnv) incident(title string, sev incident.Severity) incident.Incident {
	e.t.Helper()
	inc, err := e.srv.Desk.Create(context.Background(), actor("paola"), incident.NewIncident{Title: title, Severity: sev})
	if err != nil {
		e.t.Fatal(err)
	}
	return inc
}

// waitProjected waits until the log's index holds every entry.
func (e *testEnv) waitProjected() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		es, err := e.srv.DB.Entries(context.Background(), "", e.srv.Log.Size()-2, 10)
		if err == nil && len(es) > 0 && es[len(es)-1].Index == e.srv.Log.Size()-1 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatal("the log's index did not catch up")
}

// event appends a sensor event to the log and returns its index.
func (e *testEnv) event(ev sensor.Event) int64 {
	e.t.Helper()
	b, _ := json.Marshal(ev)
	rc, err := e.srv.Log.Append(context.Background(), evidence.Record{Kind: eventKind, Actor: "sensor", Payload: b})
	if err != nil {
		e.t.Fatal(err)
	}
	return rc.Index
}
