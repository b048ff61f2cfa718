package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/honeytoken"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/sensor"
)

func TestSignInShowsEveryPage(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("Ransomware on the PACS", incident.Critical)
	a, err := e.srv.Desk.Propose(context.Background(), actor("paola"), inc.ID, guard.Request{Action: guard.Action{Kind: "host_isolation", Target: "pacs1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Desk.Decide(context.Background(), actor("paola"), a.ID); err != nil {
		t.Fatal(err)
	}
	e.waitProjected()
	b := e.signedIn("ana")
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Open incidents (1)", inc.ID, "Evidence log", "Sensor events, live"}},
		{"/incidents", []string{inc.ID, "Ransomware on the PACS", "Open an incident"}},
		{"/incidents/" + inc.ID, []string{"Timeline", "<svg", a.ID, "Propose an action"}},
		{"/incidents/" + inc.ID + "/propose", []string{`id="proposal"`, "firewall_block"}},
		{"/actions/" + a.ID, []string{"conditional", "business owner", "Manual execution"}},
		{"/sensors", []string{"edge-1/ssh", "Events per hour", "No honeytokens issued"}},
		{"/evidence-log", []string{"incident.created", "Last signed checkpoint", "Last RFC 3161 anchor", "none yet"}},
		{"/evidence-log/0", []string{"Entry #0", "included, checkpoint signature valid", `id="verify"`}},
	} {
		w := b.get(tc.path)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200: %s\n%s", tc.path, w.Code, w.Body, e.logs)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("GET %s: the page lacks %q", tc.path, s)
			}
		}
	}
}

func TestUnsignedGetRedirectsToSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	w := b.get("/incidents?status=open")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/signin?next=%2Fincidents%3Fstatus%3Dopen" {
		t.Fatalf("got %d to %q, want 303 to the sign-in page", w.Code, w.Header().Get("Location"))
	}
	b.get("/signin?next=%2Fincidents%3Fstatus%3Dopen")
	w = b.post("/signin", url.Values{"user": {"ana"}, "token": {e.tokens["ana"]}, "next": {"/incidents?status=open"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/incidents?status=open" {
		t.Fatalf("sign in: got %d to %q, want 303 back to /incidents?status=open", w.Code, w.Header().Get("Location"))
	}
	// An unsigned POST is refused, not redirected.
	if w := e.browser().post("/incidents", url.Values{"title": {"x"}}); w.Code != http.StatusUnauthorized {
		t.Errorf("unsigned POST: got %d, want 401", w.Code)
	}
}

func TestSignInRejectsBadCredentials(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, user, token string }{
		{"wrong token", "ana", "vallum_wrong"},
		{"another user's token", "ana", e.tokens["paola"]},
		{"admin token under a user's name", "ana", e.admin},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.remote = "198.51.100.7:1" // own address, so the throttle of one case doesn't leak
			b.get("/signin")
			w := b.post("/signin", url.Values{"user": {tc.user}, "token": {tc.token}})
			if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "do not match an active account") {
				t.Fatalf("got %d, want 401 with the reason: %s", w.Code, w.Body)
			}
			if _, ok := b.cookies[sessionCookie]; ok {
				t.Fatal("a failed sign-in set a session cookie")
			}
		})
	}
	if s := e.logs.String(); strings.Contains(s, e.tokens["paola"]) || strings.Contains(s, e.admin) {
		t.Fatal("a token reached the operator log")
	}
	if !strings.Contains(e.logs.String(), "rejected console sign-in") {
		t.Fatal("failed sign-ins are not logged")
	}
}

// The API's throttle of failed authentications (docs/api.md), which the
// console's sign-in shares.
const (
	maxFailures   = 10
	failureWindow = time.Minute
)

func TestSignInThrottle(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get("/signin")
	for i := range maxFailures {
		if w := b.post("/signin", url.Values{"user": {"ana"}, "token": {fmt.Sprint("bad", i)}}); w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: got %d, want 401", i, w.Code)
		}
	}
	w := b.post("/signin", url.Values{"user": {"ana"}, "token": {e.tokens["ana"]}})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d failures, a good token: got %d, want 429 with Retry-After", maxFailures, w.Code)
	}
	e.clock.advance(failureWindow)
	b.get("/signin")
	if w := b.post("/signin", url.Values{"user": {"ana"}, "token": {e.tokens["ana"]}}); w.Code != http.StatusSeeOther {
		t.Fatalf("after the window: got %d, want 303", w.Code)
	}
}

// TestSignInThrottleSharedWithAPI: failed bearer tokens on the API and
// failed console sign-ins from one address are one count, so neither
// door gives an attacker a second set of guesses.
func TestSignInThrottleSharedWithAPI(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	bearer := func(tok string) int {
		return b.do("GET", "/api/v1/log/entries", nil, map[string]string{"Authorization": "Bearer " + tok}).Code
	}
	for i := range maxFailures - 1 {
		if code := bearer(fmt.Sprint("vallum_bad", i)); code != http.StatusUnauthorized {
			t.Fatalf("API attempt %d: got %d, want 401", i, code)
		}
	}
	b.get("/signin")
	if w := b.post("/signin", url.Values{"user": {"ana"}, "token": {"vallum_bad"}}); w.Code != http.StatusUnauthorized {
		t.Fatalf("the last failure allowed, through the console: got %d, want 401", w.Code)
	}
	if code := bearer(e.tokens["ana"]); code != http.StatusTooManyRequests {
		t.Errorf("API after %d failures on both doors, a good token: got %d, want 429", maxFailures, code)
	}
	if w := b.post("/signin", url.Values{"user": {"ana"}, "token": {e.tokens["ana"]}}); w.Code != http.StatusTooManyRequests {
		t.Errorf("console after %d failures on both doors, a good token: got %d, want 429", maxFailures, w.Code)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("Phishing", incident.Medium)
	b := e.signedIn("ana")
	good := b.csrf
	for _, tc := range []struct{ name, token string }{
		{"missing", ""},
		{"wrong", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"another session's", e.signedIn("paola").csrf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.srv.Log.Size()
			w := b.do("POST", "/incidents/"+inc.ID+"/notes", url.Values{"csrf": {tc.token}, "text": {"hello"}}, nil)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "did not come from this console") {
				t.Fatalf("got %d, want 403: %s", w.Code, w.Body)
			}
			if e.srv.Log.Size() != before {
				t.Fatal("a refused POST was logged")
			}
		})
	}
	// The header form (fetch) is accepted, and so is the field.
	w := b.do("POST", "/incidents/"+inc.ID+"/preview", url.Values{"kind": {"honeypot"}, "target": {"10.2.0.5"}}, map[string]string{"X-CSRF-Token": good})
	if w.Code != http.StatusOK {
		t.Fatalf("preview with the header token: got %d: %s", w.Code, w.Body)
	}
	if w := b.post("/incidents/"+inc.ID+"/notes", url.Values{"text": {"hello"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("note with the field token: got %d: %s", w.Code, w.Body)
	}
	// Cross-site POSTs are refused before anything else.
	w = b.do("POST", "/incidents/"+inc.ID+"/notes", url.Values{"csrf": {good}, "text": {"x"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if w.Code != http.StatusForbidden {
		t.Fatalf("cross-site POST: got %d, want 403", w.Code)
	}
	// Sign-in needs the double-submit cookie.
	nb := e.browser()
	w = nb.do("POST", "/signin", url.Values{"user": {"ana"}, "token": {e.tokens["ana"]}, "csrf": {"forged"}}, nil)
	if w.Code != http.StatusForbidden {
		t.Fatalf("sign-in without the form's cookie: got %d, want 403", w.Code)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	t.Run("idle", func(t *testing.T) {
		b := e.signedIn("ana")
		e.clock.advance(59 * time.Minute)
		if w := b.get("/incidents"); w.Code != http.StatusOK {
			t.Fatalf("after 59 idle minutes: got %d, want 200", w.Code)
		}
		e.clock.advance(time.Hour)
		if w := b.get("/incidents"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/signin") {
			t.Fatalf("after an idle hour: got %d, want 303 to sign in", w.Code)
		}
	})
	t.Run("the live feed is not use", func(t *testing.T) {
		b := e.signedIn("ana")
		for range 3 {
			e.clock.advance(25 * time.Minute)
			b.feedOnce()
		}
		if w := b.get("/incidents"); w.Code != http.StatusSeeOther {
			t.Fatalf("after 75 minutes of only the live feed: got %d, want 303 to sign in", w.Code)
		}
	})
	t.Run("lifetime", func(t *testing.T) {
		b := e.signedIn("ana")
		for range 9 {
			e.clock.advance(55 * time.Minute)
			b.get("/incidents")
		}
		if w := b.get("/incidents"); w.Code != http.StatusSeeOther {
			t.Fatalf("after 8 busy hours: got %d, want 303 to sign in", w.Code)
		}
	})
}

func TestSignOut(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("ana")
	old := *b.cookies[sessionCookie]
	w := b.post("/signout", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/signin" {
		t.Fatalf("sign out: got %d %q", w.Code, w.Header().Get("Location"))
	}
	if _, ok := b.cookies[sessionCookie]; ok {
		t.Fatal("the session cookie was not cleared")
	}
	// The old cookie no longer works, even if the browser kept it.
	b.cookies[sessionCookie] = &old
	if w := b.get("/"); w.Code != http.StatusSeeOther {
		t.Fatalf("old session after sign-out: got %d, want 303", w.Code)
	}
}

func TestRevokedUserLosesSession(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("ana")
	r := httptest.NewRequest("POST", "/api/v1/users/ana/disable", strings.NewReader(`{"reason":"left"}`))
	r.Header.Set("Authorization", "Bearer "+e.admin)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("disable: %d %s", w.Code, w.Body)
	}
	if w := b.get("/"); w.Code != http.StatusSeeOther {
		t.Fatalf("a disabled user's session: got %d, want 303 to sign in", w.Code)
	}
}

func TestCookiesAndHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	w := b.get("/signin")
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q: want scripts from self only, no unsafe-inline, no framing", csp)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("X-Frame-Options") != "DENY" {
		t.Error("missing nosniff or X-Frame-Options")
	}
	// No inline script anywhere in the markup.
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(w.Body.String()) || strings.Contains(w.Body.String(), " onclick=") {
		t.Error("the page has inline script")
	}
	w = b.post("/signin", url.Values{"user": {"ana"}, "token": {e.tokens["ana"]}})
	var sc *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Secure || len(sc.Value) < 40 {
		t.Fatalf("session cookie over plain HTTP: %+v; want HttpOnly, SameSite=Strict, long random value", sc)
	}
	if strings.Contains(sc.Value, e.tokens["ana"]) {
		t.Fatal("the cookie holds the API token")
	}
	// Over TLS the cookie is Secure, and HSTS is set.
	r := httptest.NewRequest("GET", "/signin", nil)
	r.TLS = &tls.ConnectionState{}
	rw := httptest.NewRecorder()
	e.h.ServeHTTP(rw, r)
	for _, c := range rw.Result().Cookies() {
		if !c.Secure {
			t.Errorf("cookie %s over TLS is not Secure", c.Name)
		}
	}
	if rw.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
}

func TestAPIPassesThrough(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/log/v1/vkey"} {
		w := e.browser().get(p)
		if w.Code != http.StatusOK || w.Header().Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s: got %d (CSP %q), want the API's 200 untouched", p, w.Code, w.Header().Get("Content-Security-Policy"))
		}
	}
	// The API keeps its own authentication: a console session is no token.
	b := e.signedIn("ana")
	if w := b.get("/api/v1/incidents"); w.Code != http.StatusUnauthorized {
		t.Errorf("API with a console cookie and no token: got %d, want 401", w.Code)
	}
}

func TestLanguage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	w := b.do("GET", "/signin", nil, map[string]string{"Accept-Language": "it-IT,it;q=0.9,en;q=0.8"})
	if !strings.Contains(w.Body.String(), `lang="it"`) || !strings.Contains(w.Body.String(), "Nome utente") {
		t.Fatal("Accept-Language it: the page is not in Italian")
	}
	w = b.do("GET", "/signin?lang=en", nil, map[string]string{"Accept-Language": "it"})
	if !strings.Contains(w.Body.String(), "User name") {
		t.Fatal("?lang=en: the page is not in English")
	}
	w = b.do("GET", "/signin", nil, map[string]string{"Accept-Language": "it"})
	if !strings.Contains(w.Body.String(), "User name") {
		t.Fatal("the chosen language is not remembered over Accept-Language")
	}
}

func TestMessagesComplete(t *testing.T) {
	verbs := regexp.MustCompile(`%[a-z]`)
	for _, pair := range [][2]string{{"en", "it"}, {"it", "en"}} {
		for k, v := range messages[pair[0]] {
			o, ok := messages[pair[1]][k]
			if !ok {
				t.Errorf("%q is in %s but not in %s", k, pair[0], pair[1])
				continue
			}
			if !slices.Equal(verbs.FindAllString(v, -1), verbs.FindAllString(o, -1)) {
				t.Errorf("%q: %s and %s have different format verbs", k, pair[0], pair[1])
			}
		}
	}
	// Every key the templates use is in the catalogue.
	used := regexp.MustCompile(`\{\{T "([^"]+)"`)
	entries, _ := templateFS.ReadDir("templates")
	for _, de := range entries {
		b, _ := templateFS.ReadFile("templates/" + de.Name())
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			if _, ok := messages["en"][m[1]]; !ok {
				t.Errorf("%s uses %q, which is not in the catalogue", de.Name(), m[1])
			}
		}
	}
}

// TestProposeApproveExecute walks the console's main path: a denied
// proposal shows why, an allowed one needs an approval from someone else,
// and is then executed; the preview writes nothing.
func TestProposeApproveExecute(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("Ransomware on the PACS", incident.Critical)
	paola := e.signedIn("paola")

	before := e.srv.Log.Size()
	w := paola.do("POST", "/incidents/"+inc.ID+"/preview", url.Values{"kind": {"remote_access"}, "target": {"203.0.113.9"}},
		map[string]string{"X-CSRF-Token": paola.csrf, "X-Requested-With": "fetch"})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "v-deny") || !strings.Contains(w.Body.String(), "cp-615-ter") || !strings.Contains(w.Body.String(), "Lawful alternatives") {
		t.Fatalf("preview of remote access: got %d, want a deny with its legal basis and alternatives: %s", w.Code, w.Body)
	}
	if e.srv.Log.Size() != before {
		t.Fatalf("a preview was logged: log size %d → %d", before, e.srv.Log.Size())
	}

	// Without JavaScript, the form's preview button renders the same answer,
	// unlogged.
	w = paola.post("/incidents/"+inc.ID+"/actions", url.Values{"kind": {"remote_access"}, "target": {"203.0.113.9"}, "op": {"preview"}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "v-deny") || !strings.Contains(w.Body.String(), "Preview: not logged") {
		t.Fatalf("preview button: got %d: %s", w.Code, w.Body)
	}
	if e.srv.Log.Size() != before {
		t.Fatalf("the preview button logged: log size %d → %d", before, e.srv.Log.Size())
	}

	// The denied proposal is logged with its decision, and shows why.
	w = paola.post("/incidents/"+inc.ID+"/actions", url.Values{"kind": {"remote_access"}, "target": {"203.0.113.9"}, "op": {"propose"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("propose denied: got %d: %s", w.Code, w.Body)
	}
	w = paola.get(w.Header().Get("Location"))
	if !strings.Contains(w.Body.String(), "No approval can unlock it") || strings.Contains(w.Body.String(), `id="execute"`) {
		t.Fatal("the denied action's page does not say why, or offers to execute it")
	}

	// Host isolation of a health asset needs the business owner.
	w = paola.post("/incidents/"+inc.ID+"/actions", url.Values{"kind": {"host_isolation"}, "target": {"pacs1"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("propose isolation: got %d: %s", w.Code, w.Body)
	}
	actionURL := w.Header().Get("Location")
	id := strings.TrimPrefix(actionURL, "/actions/")
	body := paola.get(actionURL).Body.String()
	if !strings.Contains(body, "v-conditional") || !strings.Contains(body, "the approval of business owner") || !strings.Contains(body, "four eyes") {
		t.Fatalf("conditional action page: want the missing approval and four-eyes note: %s", body)
	}
	// The proposer cannot approve, even holding the role (marta holds it
	// but did not propose; paola cannot).
	if w := paola.post(actionURL+"/approve", url.Values{"role": {"business_owner"}}); w.Code != http.StatusForbidden {
		t.Fatalf("proposer approving: got %d, want 403", w.Code)
	}
	bea := e.signedIn("bea")
	if !strings.Contains(bea.get("/").Body.String(), id) {
		t.Fatal("the pending approval is not on bea's Now page")
	}
	if !strings.Contains(bea.get(actionURL).Body.String(), `id="approve"`) {
		t.Fatal("bea is not offered the approval")
	}
	if w := bea.post(actionURL+"/approve", url.Values{"role": {"business_owner"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("bea approving: got %d: %s", w.Code, w.Body)
	}
	// bea may not execute (no case-work role).
	if w := bea.post(actionURL+"/execute", url.Values{"summary": {"x"}, "reference": {"y"}}); w.Code != http.StatusForbidden {
		t.Fatalf("business owner executing: got %d, want 403", w.Code)
	}
	if w := paola.post(actionURL+"/execute", url.Values{"summary": {"isolated on the EDR"}}); w.Code != http.StatusBadRequest {
		t.Fatalf("manual execution without a reference: got %d, want 400", w.Code)
	}
	if w := paola.post(actionURL+"/execute", url.Values{"summary": {"isolated on the EDR"}, "reference": {"CHG-1"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("execute: got %d: %s", w.Code, w.Body)
	}
	a, err := e.srv.Desk.GetAction(context.Background(), id)
	if err != nil || a.State != incident.Executed || a.Result == nil || a.Result.Reference != "CHG-1" {
		t.Fatalf("after execution: %+v %v; want executed with the reference", a, err)
	}
	if !strings.Contains(paola.get(actionURL).Body.String(), `aria-current="step">executed`) {
		t.Fatal("the lifecycle strip does not show executed")
	}
}

func TestProposalFormErrors(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("x", incident.Low)
	b := e.signedIn("ana")
	before := e.srv.Log.Size()
	for _, f := range []url.Values{
		{"kind": {"firewall_block"}, "target": {"192.0.2.7"}, "expires_in": {"forever"}},
		{"kind": {"firewall_block"}, "target": {"192.0.2.7"}, "surprise": {"1"}},
		{"kind": {"firewall_block"}, "target": {""}},
		{"kind": {"honeypot"}, "target": {"10.2.0.5"}, "egress_contained": {"maybe"}},
	} {
		w := b.post("/incidents/"+inc.ID+"/actions", f)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Cannot decide yet") {
			t.Errorf("form %v: got %d, want 400 naming the field", f, w.Code)
		}
	}
	if e.srv.Log.Size() != before {
		t.Fatal("a refused proposal was logged")
	}
}

// TestRoleMatrix checks every console endpoint against every role: a
// role outside the route's list gets the console's 403, one inside never
// does.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("matrix", incident.High)
	a, err := e.srv.Desk.Propose(context.Background(), actor("paola"), inc.ID, guard.Request{Action: guard.Action{Kind: "host_isolation", Target: "pacs1"}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Desk.Decide(context.Background(), actor("paola"), a.ID)
	e.waitProjected()
	e.event(sensor.Event{ID: "s1", Time: e.clock.now(), Sensor: "edge-1/ssh", Protocol: "ssh", Kind: sensor.KindCommand, Session: "sess-1", Command: "uname -a"})
	e.waitProjected()
	path := strings.NewReplacer("{$}", "", "{index}", "0", "{kind}", "gdpr-33")
	browsers := map[string]*browser{}
	for role, user := range userOfRole {
		browsers[role] = e.signedIn(user)
	}
	routes := e.console.routes()
	// Sign-out last: it ends the session.
	slices.SortStableFunc(routes, func(x, y route) int {
		return strings.Compare(fmt.Sprint(strings.Contains(x.pattern, "signout")), fmt.Sprint(strings.Contains(y.pattern, "signout")))
	})
	for _, rt := range routes {
		method, p, _ := strings.Cut(rt.pattern, " ")
		p = path.Replace(p)
		if strings.HasPrefix(p, "/sensors/sessions/") {
			p = strings.Replace(p, "{id}", "sess-1", 1)
		} else if strings.HasPrefix(p, "/actions/") {
			p = strings.Replace(p, "{id}", a.ID, 1)
		} else {
			p = strings.Replace(p, "{id}", inc.ID, 1)
		}
		for _, role := range api.Roles() {
			t.Run(rt.pattern+"/"+role, func(t *testing.T) {
				b := browsers[role]
				var w *httptest.ResponseRecorder
				switch {
				case method == "GET" && p == "/feed":
					w = b.feedOnce()
				case method == "GET":
					w = b.get(p)
				default:
					w = b.post(p, url.Values{})
				}
				allowed := len(rt.roles) == 0 || slices.Contains(rt.roles, role)
				denied := w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), "needs one of the roles")
				if allowed && denied {
					t.Errorf("%s may use it, got the role refusal", role)
				}
				if !allowed && !denied {
					t.Errorf("%s may not use it, got %d", role, w.Code)
				}
			})
		}
	}
}

// feedOnce opens the live feed and closes it after its first answer.
func (b *browser) feedOnce() *httptest.ResponseRecorder {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, "GET", "/feed", nil)
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	b.e.h.ServeHTTP(w, r)
	return w
}

func TestLiveFeedAndPictures(t *testing.T) {
	e := newEnv(t)
	var idx []int64
	for i, src := range []string{"203.0.113.9", "203.0.113.9", "198.51.100.4"} {
		ev := sensor.Event{ID: fmt.Sprint("ev", i), Time: e.clock.now(), Sensor: "edge-1/ssh", Protocol: "ssh", Kind: sensor.KindAuth,
			Src: sensor.Endpoint{IP: src, Port: 4000 + i}, Credentials: &sensor.Credentials{Method: "password", Username: "root<script>"}}
		b, _ := json.Marshal(ev)
		rc, err := e.srv.Log.Append(context.Background(), evidence.Record{Kind: eventKind, Actor: "sensor", Payload: b})
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, rc.Index)
	}
	e.waitProjected()
	b := e.signedIn("aldo")
	body := b.get("/").Body.String()
	if !strings.Contains(body, "203.0.113.9") || !strings.Contains(body, "root&lt;script&gt;") || strings.Contains(body, "root<script>") {
		t.Fatal("the Now page does not show the events, escaped")
	}
	if !strings.Contains(body, "3 sensor events in the last 24 hours") {
		t.Fatal("the events-per-hour picture does not count the events")
	}
	// The stream sends events after the given index.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, "GET", fmt.Sprint("/feed?after=", idx[0]), nil)
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	var got []feedEvent
	sc := bufio.NewScanner(strings.NewReader(w.Body.String()))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var fe feedEvent
			json.Unmarshal([]byte(d), &fe)
			got = append(got, fe)
		}
	}
	if len(got) != 2 || got[0].Index != idx[1] || got[1].Source != "198.51.100.4" {
		t.Fatalf("feed after %d: got %+v, want events %v in order", idx[0], got, idx[1:])
	}
	if w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("feed content type %q", w.Header().Get("Content-Type"))
	}
}

func TestLogCheckAndProofPage(t *testing.T) {
	e := newEnv(t)
	e.incident("a", incident.Low)
	res := e.console.check.run()
	if !res.OK || res.Size != e.srv.Log.Size() {
		t.Fatalf("log check: %+v", res)
	}
	e.incident("b", incident.Low)
	e.waitProjected()
	b := e.signedIn("aldo")
	w := b.post("/evidence-log/verify", url.Values{"back": {"/evidence-log"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/evidence-log" {
		t.Fatalf("check now: %d %q", w.Code, w.Header().Get("Location"))
	}
	body := b.get("/evidence-log").Body.String()
	if !strings.Contains(body, fmt.Sprintf("consistent, signature valid (size %d)", e.srv.Log.Size())) {
		t.Fatal("the Log page does not show the check just made")
	}
	if w := b.get("/evidence-log/999"); w.Code != http.StatusNotFound {
		t.Fatalf("missing entry: got %d, want 404", w.Code)
	}
	if w := b.get("/evidence-log/-1"); w.Code != http.StatusBadRequest {
		t.Fatalf("bad index: got %d, want 400", w.Code)
	}
}

func TestNoOpenRedirect(t *testing.T) {
	for in, want := range map[string]string{
		"/incidents":        "/incidents",
		"//evil.example/":   "/",
		"https://evil/":     "/",
		"/\\evil.example":   "/",
		"":                  "/",
		"/signin?next=/x":   "/",
		"/ok?a=1#frag":      "/ok?a=1#frag",
		"/x\r\nSet-Cookie:": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPreferredLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"it":                         "it",
		"en-GB,en;q=0.9":             "en",
		"de,it;q=0.5,en;q=0.6":       "en",
		"fr, it;q=0.9":               "it",
		"en;q=0, it;q=0.1":           "it",
		"it;q=abc, en;q=0.2":         "en",
		"xx;q=1;;;,,,":               "",
		"IT-it":                      "it",
		strings.Repeat("de,", 10000): "",
	} {
		if got := preferredLanguage(in); got != want {
			t.Errorf("preferredLanguage(%.40q) = %q, want %q", in, got, want)
		}
	}
}

func TestPartsUnavailable(t *testing.T) {
	e := newEnv(t)
	e.srv.Bundles = nil
	inc := e.incident("x", incident.Low)
	b := e.signedIn("ivo")
	body := b.get("/incidents/" + inc.ID).Body.String()
	if !strings.Contains(body, `id="export-unavailable"`) || strings.Contains(body, `id="export"`) {
		t.Fatal("without the bundle part, the incident page offers an export")
	}
	if w := b.post("/incidents/"+inc.ID+"/export", nil); w.Code != http.StatusNotImplemented {
		t.Fatalf("export without the bundle part: got %d, want 501", w.Code)
	}
	if !strings.Contains(b.get("/").Body.String(), "RFC 3161 time-stamping is not part of this build") {
		t.Fatal("the Now page does not say anchoring is unavailable")
	}
}

func TestExportBundle(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("Ransomware", incident.Critical)
	e.waitProjected()
	b := e.signedIn("lea")
	before := e.srv.Log.Size()
	w := b.post("/incidents/"+inc.ID+"/export", url.Values{"lang": {"en"}})
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/gzip" || w.Body.Len() < 100 {
		t.Fatalf("export: got %d %q (%d bytes): %.300s", w.Code, w.Header().Get("Content-Type"), w.Body.Len(), w.Body)
	}
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="vallum-bundle-`+inc.ID+`.tar.gz"` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	idx, _ := strconv.ParseInt(w.Header().Get("X-Vallum-Export-Entry"), 10, 64)
	ent, err := e.srv.Log.Entry(idx)
	if err != nil || idx < before {
		t.Fatalf("the export was not logged: entry %d: %v", idx, err)
	}
	h, _ := evidence.DecodeHeader(ent.Header)
	if h.Actor != "lea" || h.Incident != inc.ID {
		t.Fatalf("export entry %+v: want lea on %s", h, inc.ID)
	}
	// Analysts may not export (the API's rule: a bundle leaves the
	// organisation with personal data).
	if w := e.signedIn("ana").post("/incidents/"+inc.ID+"/export", nil); w.Code != http.StatusForbidden {
		t.Fatalf("analyst export: got %d, want 403", w.Code)
	}
}

func TestSensorsSessionsAndHoneytokens(t *testing.T) {
	e := newEnv(t)
	tok, err := e.srv.Honeytokens.Registry.Create(context.Background(), "ana", honeytoken.Request{Type: "credential", Planted: "fileserver:/srv/share/passwords.txt"})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.now()
	src := sensor.Endpoint{IP: "203.0.113.50", Port: 50123}
	for i, ev := range []sensor.Event{
		{Kind: sensor.KindConnect},
		{Kind: sensor.KindAuth, Credentials: &sensor.Credentials{Method: "password", Username: "root", Password: "hunter2", Accepted: true}, Honeytoken: tok.ID},
		{Kind: sensor.KindCommand, Command: "cat /etc/passwd; <b>x</b>"},
		{Kind: sensor.KindDisconnect},
	} {
		ev.ID, ev.Time, ev.Sensor, ev.Protocol, ev.Session, ev.Src = fmt.Sprint("e", i), now.Add(time.Duration(i)*time.Second), "edge-1/ssh", "ssh", "sess-42", src
		e.event(ev)
	}
	e.waitProjected()
	aldo := e.signedIn("aldo")
	body := aldo.get("/sensors").Body.String()
	for _, want := range []string{"sess-42", "203.0.113.50", tok.ID, "fileserver:/srv/share/passwords.txt", "masked", "4 · "} {
		if !strings.Contains(body, want) {
			t.Errorf("the Sensors page lacks %q", want)
		}
	}
	if strings.Contains(body, tok.Value) {
		t.Error("the auditor sees the honeytoken's value")
	}
	if !strings.Contains(e.signedIn("ana").get("/sensors").Body.String(), tok.Fields["username"]) {
		t.Error("an analyst does not see the honeytoken's value")
	}
	w := aldo.get("/sensors/sessions/sess-42")
	body = w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "cat /etc/passwd; &lt;b&gt;x&lt;/b&gt;") || !strings.Contains(body, "auth password root / hunter2: accepted") {
		t.Fatalf("transcript: %d %s", w.Code, body)
	}
	if strings.Index(body, "auth password") > strings.Index(body, "cat /etc/passwd") {
		t.Error("the transcript is not in log order")
	}
	if w := aldo.get("/sensors/sessions/nope"); w.Code != http.StatusNotFound {
		t.Errorf("unknown session: got %d, want 404", w.Code)
	}
}

// TestRansomTrack: the incident page shows the track, and the preview of
// a ransom action reads the track's facts as the desk will (not the
// form's): without a report to the police it stays conditional.
func TestRansomTrack(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("Extortion", incident.Critical)
	if _, err := e.srv.Desk.MarkExtortion(context.Background(), actor("ivo"), inc.ID, "ransom note on the file server"); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn("ivo")
	body := b.get("/incidents/" + inc.ID).Body.String()
	if !strings.Contains(body, "Ransom track") || !strings.Contains(body, "No report to the police or the prosecutor yet") {
		t.Fatal("the incident page does not show the ransom track and its missing report")
	}
	w := b.do("POST", "/incidents/"+inc.ID+"/preview", url.Values{"kind": {"ransom_negotiation"}, "target": {"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}},
		map[string]string{"X-CSRF-Token": b.csrf})
	if !strings.Contains(w.Body.String(), "v-conditional") || !strings.Contains(w.Body.String(), "a report to the police or the prosecutor") {
		t.Fatalf("ransom negotiation preview: %s", w.Body)
	}
}

func TestNotificationDraft(t *testing.T) {
	e := newEnv(t)
	inc := e.incident("Data breach", incident.High)
	if _, err := e.srv.Desk.DeclareRegime(context.Background(), actor("ivo"), inc.ID, "gdpr-33", e.clock.now().Add(-2*time.Hour), "customer records exposed"); err != nil {
		t.Fatal(err)
	}
	before := e.srv.Log.Size()
	b := e.signedIn("dora")
	if !strings.Contains(b.get("/incidents/"+inc.ID).Body.String(), "/drafts/gdpr-33") {
		t.Fatal("the incident page does not link the drafts for a filer")
	}
	w := b.get("/incidents/" + inc.ID + "/drafts/gdpr-33?draft_lang=it")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), inc.ID) || !strings.Contains(w.Body.String(), "Still to complete") {
		t.Fatalf("draft page: %d %s", w.Code, w.Body)
	}
	w = b.get("/incidents/" + inc.ID + "/drafts/gdpr-33?download=html")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Disposition"), "attachment;") ||
		!strings.Contains(w.Header().Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("draft download: %d %v", w.Code, w.Header())
	}
	if e.srv.Log.Size() != before {
		t.Fatal("generating a draft was logged")
	}
	if w := b.get("/incidents/" + inc.ID + "/drafts/nope"); w.Code != http.StatusNotFound {
		t.Fatalf("unknown draft: %d", w.Code)
	}
	if strings.Contains(e.signedIn("bea").get("/incidents/"+inc.ID).Body.String(), "/drafts/") {
		t.Fatal("the drafts are offered to a business owner, who does not file")
	}
}

// flushSignal is a ResponseRecorder that says when it is first flushed.
type flushSignal struct {
	*httptest.ResponseRecorder
	once    sync.Once
	flushed chan struct{}
}

func (f *flushSignal) Flush() {
	f.ResponseRecorder.Flush()
	f.once.Do(func() { close(f.flushed) })
}

// TestFeedEndsWhenTokenRevoked: a live feed open when its user is disabled
// (which revokes the token behind the session) sends "signedout" and ends
// within a few seconds, not at feedLifetime, and the session is gone.
func TestFeedEndsWhenTokenRevoked(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn("ana")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, "GET", "/feed", nil)
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := &flushSignal{ResponseRecorder: httptest.NewRecorder(), flushed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.h.ServeHTTP(w, r)
	}()
	select {
	case <-w.flushed:
	case <-done:
		t.Fatalf("the feed ended before the token was revoked: %d %s", w.Code, w.Body)
	}
	dr := httptest.NewRequest("POST", "/api/v1/users/ana/disable", strings.NewReader(`{"reason":"left"}`))
	dr.Header.Set("Authorization", "Bearer "+e.admin)
	dr.Header.Set("Content-Type", "application/json")
	dw := httptest.NewRecorder()
	e.h.ServeHTTP(dw, dr)
	if dw.Code != http.StatusOK {
		t.Fatalf("disable: %d %s", dw.Code, dw.Body)
	}
	revoked := time.Now()
	select {
	case <-done:
	case <-time.After(3*feedRecheck + 2*time.Second):
		cancel()
		<-done
		t.Fatalf("the feed still streamed %s after the token was revoked", time.Since(revoked).Round(time.Second))
	}
	if !strings.Contains(w.Body.String(), "event: signedout") {
		t.Errorf("the feed ended without the signedout event:\n%s", w.Body)
	}
	if got := b.get("/"); got.Code != http.StatusSeeOther {
		t.Errorf("the session after the feed ended: got %d, want 303 to sign in", got.Code)
	}
}
