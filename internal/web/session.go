package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Cookies of the console.
const (
	// sessionCookie holds the session ID (random, 256 bits).
	sessionCookie = "vallum_session"
	// signinCookie holds the CSRF token of the sign-in form, before there
	// is a session (double submit).
	signinCookie = "vallum_signin"
	// langCookie holds the chosen language.
	langCookie = "vallum_lang"
)

// maxSessions bounds the sessions kept; past it the oldest is dropped.
const maxSessions = 10000

// session is one signed-in browser. Its fields are set when it is made;
// seen is guarded by the store's mutex.
type session struct {
	// key is the SHA-256 (hex) of the session ID: the ID itself is only in
	// the cookie.
	key   string
	user  string
	roles []string
	// tokenSum is the SHA-256 of the API token used to sign in; every
	// request checks it still authenticates.
	tokenSum [32]byte
	// csrf is the synchronizer token every POST must carry.
	csrf    string
	created time.Time
	seen    time.Time
}

// checkCSRF compares tok with the session's CSRF token in constant time.
func (s *session) checkCSRF(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) == 1
}

// sessions is the in-memory session store (sessions do not survive a
// restart: people sign in again). It is safe for concurrent use.
type sessions struct {
	lifetime, idle time.Duration

	mu sync.Mutex
	m  map[string]*session // guarded by mu
}

func newSessions(lifetime, idle time.Duration) *sessions {
	return &sessions{lifetime: lifetime, idle: idle, m: map[string]*session{}}
}

// randomToken returns 32 random bytes in unpadded base64url.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func keyOf(id string) string {
	s := sum(id)
	return hex.EncodeToString(s[:])
}

// create makes a session and returns it with its ID (for the cookie).
func (st *sessions) create(user string, roles []string, tokenSum [32]byte, now time.Time) (*session, string) {
	id := randomToken()
	s := &session{key: keyOf(id), user: user, roles: roles, tokenSum: tokenSum, csrf: randomToken(), created: now, seen: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	if len(st.m) >= maxSessions {
		var oldest *session
		for _, o := range st.m {
			if oldest == nil || o.seen.Before(oldest.seen) {
				oldest = o
			}
		}
		delete(st.m, oldest.key)
	}
	st.m[s.key] = s
	return s, id
}

// get returns the live session of id, or nil when there is none or it
// has expired (which drops it). touch marks it used.
func (st *sessions) get(id string, now time.Time, touch bool) *session {
	if id == "" {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.m[keyOf(id)]
	if s == nil {
		return nil
	}
	if st.expired(s, now) {
		delete(st.m, s.key)
		return nil
	}
	if touch {
		s.seen = now
	}
	return s
}

func (st *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.created) >= st.lifetime || now.Sub(s.seen) >= st.idle
}

// sweep drops expired sessions. The caller holds mu.
func (st *sessions) sweep(now time.Time) {
	for k, s := range st.m {
		if st.expired(s, now) {
			delete(st.m, k)
		}
	}
}

// alive reports whether s is still a live session, without counting
// this as use (the live feed must not keep an idle session alive).
func (st *sessions) alive(s *session, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.m[s.key] == s && !st.expired(s, now)
}

// drop ends a session.
func (st *sessions) drop(s *session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, s.key)
}

// sessionOf returns the request's live session, or nil. A request marks
// its session used, except the live feed's, which a page left open keeps
// making: it must not keep an idle session alive.
func (c *Console) sessionOf(r *http.Request, now time.Time) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return c.sessions.get(ck.Value, now, r.URL.Path != "/feed")
}

// secure reports whether cookies of r are marked Secure.
func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.cfg.SecureCookies }

// setCookie sets an HttpOnly, SameSite=Strict cookie for the whole
// console; maxAge 0 makes it a browser-session cookie.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	if _, err := r.Cookie(name); err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode})
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
