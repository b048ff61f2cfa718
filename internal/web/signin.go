package web

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/api"
)

// authError is a credential that does not authenticate; reason is for
// the operator log only.
type authError struct{ reason string }

func (e *authError) Error() string { return "authentication failed: " + e.reason }

// adminName is the principal of the bootstrap admin token (api's).
const adminName = "admin"

// userTokenPrefix starts every user API token (api's tokenPrefix).
const userTokenPrefix = "vallum_"

// principal returns who holds the token whose SHA-256 is tokenSum, with
// the API's rules: the bootstrap admin token is admin with the admin role
// only; a user token must be known, not revoked, of a user not disabled.
//
// The api package exports no authentication function, so this reads the
// users tables the API keeps (component "users"), read-only; see
// docs/console.md.
func (c *Console) principal(ctx context.Context, tokenSum [32]byte) (api.Principal, error) {
	if subtle.ConstantTimeCompare(tokenSum[:], c.srv.AdminToken[:]) == 1 {
		return api.Principal{Name: adminName, Roles: []string{api.RoleAdmin}}, nil
	}
	if c.srv.Users == nil {
		return api.Principal{}, &authError{reason: "unknown token"}
	}
	var id, name, roles string
	var revoked, disabled bool
	err := c.srv.DB.SQL().QueryRowContext(ctx, `
SELECT t.id, t.revoked, u.name, u.roles, u.disabled
FROM api_tokens t JOIN users u ON u.name = t.user WHERE t.hash = ?`, hex.EncodeToString(tokenSum[:])).
		Scan(&id, &revoked, &name, &roles, &disabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return api.Principal{}, &authError{reason: "unknown token"}
	case err != nil:
		return api.Principal{}, fmt.Errorf("couldn't look up a token: %w", err)
	case revoked:
		return api.Principal{}, &authError{reason: "revoked token " + id}
	case disabled:
		return api.Principal{}, &authError{reason: "disabled user " + name}
	}
	return api.Principal{Name: name, Roles: strings.Fields(roles)}, nil
}

// signInData is the sign-in page's data.
type signInData struct {
	User  string
	Next  string
	Error string
	CSRF  string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	lang := c.language(w, r)
	now := c.now()
	if s := c.sessionOf(r, now); s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.renderSignIn(w, r, &request{lang: lang, now: now}, http.StatusOK, signInData{Next: safeNext(r.URL.Query().Get("next"))})
}

// renderSignIn renders the form with a fresh double-submit token.
func (c *Console) renderSignIn(w http.ResponseWriter, r *http.Request, rq *request, code int, d signInData) {
	d.CSRF = randomToken()
	c.setCookie(w, r, signinCookie, d.CSRF, 30*time.Minute)
	c.render(w, r, rq, code, "signin", "signin.title", d)
}

// signIn checks the user name and token and starts a session. The form
// carries the double-submit token of the sign-in cookie; failures count
// towards the address's throttle as the API's do.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	lang := c.language(w, r)
	now := c.now()
	rq := &request{lang: lang, now: now}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, rq, http.StatusBadRequest, "err.form")
		return
	}
	ck, err := r.Cookie(signinCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		c.fail(w, r, rq, http.StatusForbidden, "err.csrf")
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	next := safeNext(r.PostForm.Get("next"))
	ip := remoteIP(r)
	if wait := c.throttle.blocked(ip, now); wait > 0 {
		c.log.Warn("throttled console sign-in", "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", fmt.Sprint(int((wait+time.Second-1)/time.Second)))
		c.renderSignIn(w, r, rq, http.StatusTooManyRequests, signInData{User: user, Next: next, Error: translate(lang, "signin.throttled")})
		return
	}
	tokSum := sum(tok)
	p, err := c.principal(r.Context(), tokSum)
	if err == nil && p.Name != user {
		err = &authError{reason: "token of another user"}
	}
	if err != nil {
		var ae *authError
		if !errors.As(err, &ae) {
			c.internal(w, r, rq, err)
			return
		}
		c.throttle.fail(ip, now)
		// Never the token: where the attempt came from, for whom, and why.
		c.log.Warn("rejected console sign-in", "remote", r.RemoteAddr, "user", user, "reason", ae.reason)
		c.renderSignIn(w, r, rq, http.StatusUnauthorized, signInData{User: user, Next: next, Error: translate(lang, "signin.bad")})
		return
	}
	s, id := c.sessions.create(p.Name, p.Roles, tokSum, now)
	c.clearCookie(w, r, signinCookie)
	c.setCookie(w, r, sessionCookie, id, 0)
	c.log.Info("console sign-in", "user", s.user, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, rq *request) {
	c.sessions.drop(rq.sess)
	c.clearCookie(w, r, sessionCookie)
	c.log.Info("console sign-out", "user", rq.p.Name)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// safeNext keeps a redirect target on this site: a path starting with a
// single slash, no scheme, no host, no backslash; else "/".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, "/signin") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// remoteIP is the host part of r.RemoteAddr; forwarding headers are not
// trusted (as the API).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Sign-in throttling, the API's policy: after maxFailures failures from
// one address within failureWindow, the address waits for the window to
// pass.
const (
	maxFailures   = 10
	failureWindow = time.Minute
	maxTracked    = 10000
)

// throttle counts failed sign-ins per address; the zero value is ready
// and it is safe for concurrent use.
type throttle struct {
	mu  sync.Mutex
	ips map[string]*failures // guarded by mu
}

type failures struct {
	n     int
	start time.Time
}

func (t *throttle) blocked(ip string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.ips[ip]
	if f == nil || f.n < maxFailures {
		return 0
	}
	wait := f.start.Add(failureWindow).Sub(now)
	if wait <= 0 {
		delete(t.ips, ip)
		return 0
	}
	return wait
}

func (t *throttle) fail(ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ips == nil {
		t.ips = map[string]*failures{}
	}
	f := t.ips[ip]
	if f != nil && now.Sub(f.start) >= failureWindow {
		f = nil
	}
	if f == nil {
		if len(t.ips) >= maxTracked {
			for k, o := range t.ips {
				if now.Sub(o.start) >= failureWindow {
					delete(t.ips, k)
				}
			}
			if len(t.ips) >= maxTracked {
				for k := range t.ips {
					delete(t.ips, k)
					break
				}
			}
		}
		f = &failures{start: now}
		t.ips[ip] = f
	}
	f.n++
}
