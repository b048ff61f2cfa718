package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/api"
)

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

// signIn checks the user name and token with the API's authentication
// (api.Server.AuthenticateAs) and starts a session. The form carries the
// double-submit token of the sign-in cookie; failures count towards the
// address's throttle, which the API's bearer tokens share.
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
	p, err := c.srv.AuthenticateAs(r.Context(), r.RemoteAddr, user, tok)
	var throttled *api.ThrottledError
	var ae *api.AuthError
	switch {
	case errors.As(err, &throttled):
		c.log.Warn("throttled console sign-in", "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", strconv.Itoa(throttled.RetryAfter()))
		c.renderSignIn(w, r, rq, http.StatusTooManyRequests, signInData{User: user, Next: next, Error: translate(lang, "signin.throttled")})
		return
	case errors.As(err, &ae), errors.Is(err, api.ErrNoToken):
		reason := "no token"
		if ae != nil {
			reason = ae.Reason
		}
		// Never the token: where the attempt came from, for whom, and why.
		c.log.Warn("rejected console sign-in", "remote", r.RemoteAddr, "user", user, "reason", reason)
		c.renderSignIn(w, r, rq, http.StatusUnauthorized, signInData{User: user, Next: next, Error: translate(lang, "signin.bad")})
		return
	case err != nil:
		c.internal(w, r, rq, err)
		return
	}
	s, id := c.sessions.create(p.Name, p.Roles, sum(tok), now)
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
