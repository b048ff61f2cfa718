package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Roles. A user holds one or more; the bootstrap admin token holds only
// RoleAdmin. Admin does not imply the approval roles: four-eyes roles must
// be granted explicitly.
const (
	RoleAdmin             = "admin"              // manages users and tokens, reloads the guardrail
	RoleAnalyst           = "analyst"            // works incidents: appends, asks for decisions
	RoleIncidentCommander = "incident_commander" // leads an incident
	RoleBusinessOwner     = "business_owner"     // approves actions that touch the business
	RoleLegalCounsel      = "legal_counsel"      // approves on legal grounds
	RoleDPO               = "dpo"                // data protection officer: approves, erases personal data
	RoleExecutive         = "executive"          // approves high-impact actions
	RoleBoard             = "board"              // approves the gravest actions
	RoleAuditor           = "auditor"            // reads everything, changes nothing
	RoleSensor            = "sensor"             // a remote sensor: posts events, reads nothing
)

// roles is every role a person holds, in the order the docs list them.
var roles = []string{
	RoleAdmin, RoleAnalyst, RoleIncidentCommander, RoleBusinessOwner,
	RoleLegalCounsel, RoleDPO, RoleExecutive, RoleBoard, RoleAuditor,
}

// allRoles is every role a user may be given: the roles of people and
// RoleSensor, the role of a machine.
var allRoles = append(slices.Clone(roles), RoleSensor)

// Roles returns every role a person holds, each of which may sign in to
// the console, in the order the docs list them. It leaves out RoleSensor
// (see AllRoles).
func Roles() []string { return slices.Clone(roles) }

// AllRoles returns every role a user may be given: Roles and RoleSensor.
func AllRoles() []string { return slices.Clone(allRoles) }

// Principal is an authenticated caller.
type Principal struct {
	Name  string
	Roles []string
}

// Has reports whether p holds role. Admin holds only RoleAdmin: it does
// not imply any other role.
func (p Principal) Has(role string) bool { return slices.Contains(p.Roles, role) }

// Reads reports whether p may call the endpoints open to any signed-in
// caller (and sign in to the console): every role grants that but
// RoleSensor, so a sensor's token reads nothing.
func (p Principal) Reads() bool {
	return slices.ContainsFunc(p.Roles, func(r string) bool { return r != RoleSensor })
}

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// adminName is the principal of the bootstrap admin token, reserved: no
// user may take it.
const adminName = "admin"

// auth requires any authenticated caller.
func (s *Server) auth(h http.HandlerFunc) http.Handler { return s.authorize(h) }

// authorize authenticates the caller (the bootstrap admin token or a user's
// API token; an unknown or revoked token, or a disabled user, is 401) and
// requires them to hold at least one of roles (403 otherwise; no roles
// means any authenticated caller who Reads, that is any but a sensor). A remote address with too many failed
// attempts gets 429 until its window passes. h finds the caller with
// PrincipalFrom.
func (s *Server) authorize(h http.HandlerFunc, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			tok = ""
		}
		p, err := s.Authenticate(r.Context(), r.RemoteAddr, strings.TrimSpace(tok))
		var throttled *ThrottledError
		var reason *AuthError
		switch {
		case errors.As(err, &throttled):
			s.Logger.Warn("throttled API authentication", "remote", r.RemoteAddr, "path", r.URL.Path, "retry_after", throttled.Wait)
			w.Header().Set("Retry-After", strconv.Itoa(throttled.RetryAfter()))
			writeError(w, http.StatusTooManyRequests, "too many failed authentication attempts from your address; retry later")
			return
		case errors.Is(err, ErrNoToken):
			w.Header().Set("WWW-Authenticate", `Bearer realm="vallum"`)
			writeError(w, http.StatusUnauthorized, "this endpoint needs a bearer token (Authorization: Bearer <token>)")
			return
		case errors.As(err, &reason):
			// Never the token: only where the attempt came from and why
			// it failed.
			s.Logger.Warn("rejected API token", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", reason.Reason, "user", reason.User)
			w.Header().Set("WWW-Authenticate", `Bearer realm="vallum", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		case err != nil:
			s.internalError(w, r, err)
			return
		}
		if len(roles) > 0 && !slices.ContainsFunc(roles, p.Has) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s needs one of the roles %s; %s has %s",
				r.Pattern, strings.Join(roles, ", "), p.Name, strings.Join(p.Roles, ", ")))
			return
		}
		if len(roles) == 0 && !p.Reads() {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s needs a role other than %s; %s has %s",
				r.Pattern, RoleSensor, p.Name, strings.Join(p.Roles, ", ")))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// AuthError is a rejected credential. Reason and User are for the server
// log only: a client is told no more than that the credential is invalid.
type AuthError struct {
	Reason string
	// User is who the credential names or belongs to, when known.
	User string
}

func (e *AuthError) Error() string { return "authentication failed: " + e.Reason }

// ThrottledError refuses an attempt from an address that failed too
// often (maxFailures within failureWindow); Wait is how long it must
// still wait.
type ThrottledError struct {
	Wait time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed authentication attempts; retry in %v", e.Wait)
}

// RetryAfter is Wait in whole seconds, rounded up, for a Retry-After
// header.
func (e *ThrottledError) RetryAfter() int { return int((e.Wait + time.Second - 1) / time.Second) }

// ErrNoToken means no token was given. It is not a failed attempt: it
// does not count towards the throttle.
var ErrNoToken = errors.New("no token")

// Authenticate returns the principal holding token (the bootstrap admin
// token or a user's API token), with the API's throttle of failed
// attempts per remote address. remoteAddr is the connection's address
// (http.Request.RemoteAddr): forwarding headers are not trusted, a client
// could set them to dodge the throttle. Errors: *ThrottledError while the
// address must wait (the token is not even checked), ErrNoToken for an
// empty token, *AuthError for a credential that does not authenticate
// (counted against the address), another error if the token couldn't be
// checked. The API's bearer tokens and the console's sign-in
// (AuthenticateAs) share one count.
func (s *Server) Authenticate(ctx context.Context, remoteAddr, token string) (Principal, error) {
	return s.attempt(ctx, remoteAddr, token, func(Principal) string { return "" })
}

// AuthenticateAs is Authenticate for a caller who says who they are (the
// console's sign-in): a token that authenticates someone other than user,
// or a sensor's token (it reads nothing), is rejected, and counted, like
// an invalid one.
func (s *Server) AuthenticateAs(ctx context.Context, remoteAddr, user, token string) (Principal, error) {
	return s.attempt(ctx, remoteAddr, token, func(p Principal) string {
		switch {
		case p.Name != user:
			return "token of another user"
		case !p.Reads():
			return "token of a sensor"
		}
		return ""
	})
}

// attempt is Authenticate, accepting only a principal for which refuse
// returns no reason.
func (s *Server) attempt(ctx context.Context, remoteAddr, token string, refuse func(Principal) string) (Principal, error) {
	ip, now := hostOf(remoteAddr), s.now()
	if wait := s.failures.blocked(ip, now); wait > 0 {
		return Principal{}, &ThrottledError{Wait: wait}
	}
	if token == "" {
		return Principal{}, ErrNoToken
	}
	p, err := s.authenticate(ctx, token)
	if err == nil {
		if reason := refuse(p); reason != "" {
			p, err = Principal{}, &AuthError{Reason: reason, User: p.Name}
		}
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		s.failures.fail(ip, now)
	}
	return p, err
}

// TokenHolder returns the principal holding the token whose SHA-256 is
// sum, as Authenticate does but without the throttle: it re-checks a
// token that already authenticated (a console session keeps only the
// token's hash), so that revoking the token or disabling its user takes
// effect at once. Errors: *AuthError for a token that no longer
// authenticates, another error if it couldn't be checked.
func (s *Server) TokenHolder(ctx context.Context, sum [sha256.Size]byte) (Principal, error) {
	if subtle.ConstantTimeCompare(sum[:], s.AdminToken[:]) == 1 {
		return Principal{Name: adminName, Roles: []string{RoleAdmin}}, nil
	}
	if s.Users == nil {
		return Principal{}, &AuthError{Reason: "unknown token"}
	}
	return s.Users.authenticate(ctx, sum, s.now())
}

// authenticate returns the principal of tok, an *AuthError if tok is not a
// valid credential, or another error if it couldn't be checked.
func (s *Server) authenticate(ctx context.Context, tok string) (Principal, error) {
	sum := sha256.Sum256([]byte(tok))
	if !strings.HasPrefix(tok, tokenPrefix) && subtle.ConstantTimeCompare(sum[:], s.AdminToken[:]) != 1 {
		return Principal{}, &AuthError{Reason: "unknown token"}
	}
	return s.TokenHolder(ctx, sum)
}

// hostOf is the host part of a connection's remote address (the whole
// address if it has no port).
func hostOf(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// Throttling of failed authentication: after maxFailures failures from one
// address within failureWindow (counted from the first), the address gets
// 429 until the window passes.
const (
	maxFailures   = 10
	failureWindow = time.Minute
	maxTrackedIPs = 10000
)

// throttle counts failed authentications per remote address. It is safe
// for concurrent use; the zero value is ready.
type throttle struct {
	mu  sync.Mutex
	ips map[string]*failureCount // guarded by mu; at most maxTrackedIPs
}

type failureCount struct {
	n     int
	start time.Time
}

// blocked returns how long ip must still wait, or 0 if it may try.
func (t *throttle) blocked(ip string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.ips[ip]
	if c == nil || c.n < maxFailures {
		return 0
	}
	wait := c.start.Add(failureWindow).Sub(now)
	if wait <= 0 {
		delete(t.ips, ip)
		return 0
	}
	return wait
}

// fail records a failed attempt from ip.
func (t *throttle) fail(ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ips == nil {
		t.ips = make(map[string]*failureCount)
	}
	c := t.ips[ip]
	if c != nil && now.Sub(c.start) >= failureWindow {
		c = nil
	}
	if c == nil {
		if len(t.ips) >= maxTrackedIPs {
			t.evict(now)
		}
		c = &failureCount{start: now}
		t.ips[ip] = c
	}
	c.n++
}

// evict makes room: it drops the expired windows, and if none has expired,
// the oldest one (an attacker with many addresses can then reset one
// address's count, but memory stays bounded).
func (t *throttle) evict(now time.Time) {
	var oldest string
	for ip, c := range t.ips {
		if now.Sub(c.start) >= failureWindow {
			delete(t.ips, ip)
			continue
		}
		if oldest == "" || c.start.Before(t.ips[oldest].start) {
			oldest = ip
		}
	}
	if len(t.ips) >= maxTrackedIPs {
		delete(t.ips, oldest)
	}
}
