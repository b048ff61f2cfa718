// Package web is Vallum's console: server-rendered pages (html/template,
// assets embedded with go:embed, no JavaScript build step) for the people
// who work an incident. It talks to the same objects as the API (the
// incident desk, the evidence log, the guardrail, the users) and enforces
// the same roles; every change it makes goes through the desk and is
// logged like the API's.
//
// Sign-in takes a user name and one of that user's API tokens; the
// console then keeps a server-side session (an HttpOnly, SameSite=Strict
// cookie holding a random ID) with a synchronizer CSRF token that every
// POST must carry. docs/console.md has the pages, the roles and the
// security choices.
package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/contain"
	"github.com/vallum/vallum/internal/incident"
)

// Config is what the console is built from. Srv's Desk, Log, DB, Guard
// and AdminToken must be set (Users for user sign-in). The optional
// services Srv.Contain, Srv.Bundles and Srv.Honeytokens are read at each
// request: the pages show "not available" for those that are nil.
type Config struct {
	Srv    *api.Server
	Logger *slog.Logger
	// SecureCookies marks cookies Secure even on plain HTTP (behind a TLS
	// proxy); over TLS they always are.
	SecureCookies bool
	// SessionLifetime and IdleTimeout end a session (defaults 8h and 1h).
	SessionLifetime time.Duration
	IdleTimeout     time.Duration
	// Language is the default language, "it" or "en" (default "it").
	Language string
	// Clock returns the current time; time.Now if nil.
	Clock func() time.Time

	// Honeypots are the honeypots of the configuration, shown on the
	// Sensors page with what the log has seen of each.
	Honeypots []Honeypot
}

// Console serves the console. Its fields are set by New and not changed
// afterwards; sessions, check and events guard themselves.
type Console struct {
	cfg      Config
	srv      *api.Server
	desk     *incident.Desk
	log      *slog.Logger
	now      func() time.Time
	pages    pageSet
	sessions *sessions
	check    *logCheck
	events   eventCache
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Srv == nil || cfg.Srv.Desk == nil || cfg.Srv.Log == nil || cfg.Srv.DB == nil || cfg.Srv.Guard == nil {
		return nil, errors.New("web: the console needs the API server with its desk, log, database and guardrail")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 8 * time.Hour
	}
	if cfg.IdleTimeout <= 0 || cfg.IdleTimeout > cfg.SessionLifetime {
		cfg.IdleTimeout = min(time.Hour, cfg.SessionLifetime)
	}
	if cfg.Language != "en" {
		cfg.Language = "it"
	}
	pages, err := loadPages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg: cfg, srv: cfg.Srv, desk: cfg.Srv.Desk, log: cfg.Logger, now: cfg.Clock, pages: pages,
		sessions: newSessions(cfg.SessionLifetime, cfg.IdleTimeout),
	}
	c.check = &logCheck{l: cfg.Srv.Log, now: cfg.Clock}
	return c, nil
}

// Run does the console's background work until ctx ends: it verifies
// the evidence log's latest checkpoint and tree every few minutes, so
// that the Now page can show when the log was last checked.
func (c *Console) Run(ctx context.Context) error {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		c.check.run()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Roles of the console's forms: the same sets as the API's routes.
var (
	roleWork      = []string{api.RoleAnalyst, api.RoleIncidentCommander}
	roleApprovers = incident.ApproverRoles
)

// route is one console endpoint and who may use it.
type route struct {
	pattern string
	h       pageFunc
	// roles: one of them is needed; none means any signed-in user.
	roles []string
}

// pageFunc is a handler of a signed-in request.
type pageFunc func(w http.ResponseWriter, r *http.Request, rq *request)

// routes lists every console endpoint behind sign-in. The role matrix
// test walks this list against every role.
func (c *Console) routes() []route {
	return []route{
		{pattern: "GET /{$}", h: c.nowPage},
		{pattern: "GET /feed", h: c.feed},
		{pattern: "POST /signout", h: c.signOut},
		{pattern: "GET /incidents", h: c.incidentsPage},
		{pattern: "POST /incidents", h: c.createIncident, roles: roleWork},
		{pattern: "GET /incidents/{id}", h: c.incidentPage},
		{pattern: "POST /incidents/{id}/notes", h: c.addNote, roles: roleWork},
		{pattern: "GET /incidents/{id}/propose", h: c.proposePage, roles: roleWork},
		{pattern: "GET /incidents/{id}/drafts/{kind}", h: c.draftPage, roles: draftRoles},
		{pattern: "POST /incidents/{id}/preview", h: c.previewDecision, roles: roleWork},
		{pattern: "POST /incidents/{id}/actions", h: c.proposeAction, roles: roleWork},
		{pattern: "POST /incidents/{id}/export", h: c.exportBundle, roles: exportRoles},
		{pattern: "GET /actions/{id}", h: c.actionPage},
		{pattern: "POST /actions/{id}/approve", h: c.approveAction, roles: roleApprovers},
		{pattern: "POST /actions/{id}/execute", h: c.executeAction, roles: roleWork},
		{pattern: "POST /actions/{id}/verify", h: c.closeAction("verify"), roles: roleWork},
		{pattern: "POST /actions/{id}/revert", h: c.closeAction("revert"), roles: roleWork},
		{pattern: "GET /sensors", h: c.sensorsPage},
		{pattern: "GET /sensors/sessions/{id}", h: c.sessionPage},
		{pattern: "GET /evidence-log", h: c.logPage},
		{pattern: "GET /evidence-log/{index}", h: c.entryPage},
		{pattern: "POST /evidence-log/verify", h: c.verifyLog},
	}
}

// Handler returns the console around apiHandler: the API's paths (/api/,
// /log/, /healthz) go to apiHandler unchanged, everything else to the
// console.
func (c *Console) Handler(apiHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /signin", c.signInPage)
	mux.HandleFunc("POST /signin", c.signIn)
	for _, rt := range c.routes() {
		mux.Handle(rt.pattern, c.page(rt.h, rt.roles...))
	}
	mux.HandleFunc("/", c.notFound)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, http.StatusForbidden, "err.crossorigin")
	}))
	console := cop.Handler(c.headers(mux))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPIPath(r.URL.Path) {
			apiHandler.ServeHTTP(w, r)
			return
		}
		console.ServeHTTP(w, r)
	})
}

// isAPIPath reports whether path belongs to the API.
func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/log/") || p == "/healthz"
}

// contentSecurityPolicy allows scripts, styles, images and fetches from
// the console's own origin only: no inline script, no eval, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// headers sets the security headers of every console answer.
func (c *Console) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// request is what a signed-in handler knows of its request.
type request struct {
	sess *session
	p    api.Principal
	lang string
	now  time.Time
}

func (rq *request) actor() incident.Actor {
	return incident.Actor{Name: rq.p.Name, Roles: rq.p.Roles}
}

// can reports whether the signed-in user holds one of roles (any user
// when roles is empty).
func (rq *request) can(roles ...string) bool {
	return len(roles) == 0 || slices.ContainsFunc(roles, rq.p.Has)
}

// holder re-checks the token behind session s and returns its holder.
// When the token no longer authenticates (revoked, or its user disabled)
// it drops the session and returns ok false; err is for a token that
// couldn't be checked.
func (c *Console) holder(ctx context.Context, s *session) (p api.Principal, ok bool, err error) {
	p, err = c.srv.TokenHolder(ctx, s.tokenSum)
	var ae *api.AuthError
	switch {
	case err == nil:
		return p, true, nil
	case errors.As(err, &ae):
		c.sessions.drop(s)
		c.log.Info("console session ended: its token no longer authenticates", "user", s.user, "reason", ae.Reason)
		return p, false, nil
	default:
		return p, false, err
	}
}

// page wraps h: a valid session is required (GET without one redirects
// to the sign-in page), a POST must carry the session's CSRF token, and
// the user must hold one of roles.
func (c *Console) page(h pageFunc, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := c.language(w, r)
		now := c.now()
		s := c.sessionOf(r, now)
		if s == nil {
			c.clearCookie(w, r, sessionCookie)
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, "/signin?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, &request{lang: lang, now: now}, http.StatusUnauthorized, "err.signedout")
			return
		}
		// The token behind the session must still be good: revoking it or
		// disabling the user ends console sessions too.
		p, ok, err := c.holder(r.Context(), s)
		if err != nil {
			c.internal(w, r, &request{lang: lang, now: now}, err)
			return
		}
		if !ok {
			c.clearCookie(w, r, sessionCookie)
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			c.fail(w, r, &request{lang: lang, now: now}, http.StatusUnauthorized, "err.signedout")
			return
		}
		rq := &request{sess: s, p: p, lang: lang, now: now}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !s.checkCSRF(csrfFrom(r)) {
				c.log.Warn("console request without a valid CSRF token", "user", p.Name, "path", r.URL.Path, "remote", r.RemoteAddr)
				c.fail(w, r, rq, http.StatusForbidden, "err.csrf")
				return
			}
		}
		if !rq.can(roles...) {
			c.fail(w, r, rq, http.StatusForbidden, "err.role", r.Pattern, strings.Join(roles, ", "), p.Name, strings.Join(p.Roles, ", "))
			return
		}
		h(w, r, rq)
	})
}

// csrfFrom returns the CSRF token of a POST: the X-CSRF-Token header
// (fetch) or the csrf form field.
func csrfFrom(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return ""
	}
	return r.PostForm.Get("csrf")
}

// maxForm bounds a form body.
const maxForm = 64 << 10

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	lang := c.language(w, r)
	var rq *request
	if s := c.sessionOf(r, c.now()); s != nil {
		rq = &request{sess: s, p: api.Principal{Name: s.user, Roles: s.roles}, lang: lang, now: c.now()}
	} else {
		rq = &request{lang: lang, now: c.now()}
	}
	c.fail(w, r, rq, http.StatusNotFound, "err.notfound")
}

// fail renders an error page with a translated message.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, rq *request, code int, key string, args ...any) {
	if rq == nil {
		rq = &request{lang: c.language(w, r), now: c.now()}
	}
	msg := translate(rq.lang, key, args...)
	if r.Header.Get("X-Requested-With") == "fetch" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintln(w, msg)
		return
	}
	c.render(w, r, rq, code, "error", "err.title", map[string]any{"Code": code, "Message": msg})
}

// internal logs err and renders a generic error.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	c.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	c.fail(w, r, rq, http.StatusInternalServerError, "err.internal")
}

// deskError answers an error from the desk as the API would, in words.
func (c *Console) deskError(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	var te *incident.TransitionError
	var se *incident.StatusError
	var re *incident.RefusedError
	var ve *contain.VerifyError
	switch {
	case errors.Is(err, incident.ErrNotFound):
		c.fail(w, r, rq, http.StatusNotFound, "err.plain", err.Error())
	case errors.Is(err, incident.ErrForbidden):
		c.fail(w, r, rq, http.StatusForbidden, "err.plain", err.Error())
	case errors.As(err, &te), errors.As(err, &se), errors.As(err, &re),
		errors.Is(err, incident.ErrNoPermit), errors.Is(err, incident.ErrHashMismatch),
		errors.Is(err, contain.ErrRefused), errors.Is(err, contain.ErrNotActive), errors.Is(err, contain.ErrNoConnector), errors.As(err, &ve):
		c.fail(w, r, rq, http.StatusConflict, "err.plain", err.Error())
	case errors.Is(err, incident.ErrInvalid):
		c.fail(w, r, rq, http.StatusBadRequest, "err.plain", err.Error())
	default:
		c.internal(w, r, rq, err)
	}
}

// sum is the SHA-256 of a secret.
func sum(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
