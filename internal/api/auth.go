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
)

// roles is every role, in the order the docs list them.
var roles = []string{
	RoleAdmin, RoleAnalyst, RoleIncidentCommander, RoleBusinessOwner,
	RoleLegalCounsel, RoleDPO, RoleExecutive, RoleBoard, RoleAuditor,
}

// Roles returns every role, in the order the docs list them.
func Roles() []string { return slices.Clone(roles) }

// Principal is an authenticated caller.
type Principal struct {
	Name  string
	Roles []string
}

// Has reports whether p holds role. Admin holds only RoleAdmin: it does
// not imply any other role.
func (p Principal) Has(role string) bool { return slices.Contains(p.Roles, role) }

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
// means any authenticated caller). A remote address with too many failed
// attempts gets 429 until its window passes. h finds the caller with
// PrincipalFrom.
func (s *Server) authorize(h http.HandlerFunc, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := remoteIP(r)
		if wait := s.failures.blocked(ip, s.now()); wait > 0 {
			s.Logger.Warn("throttled API authentication", "remote", r.RemoteAddr, "path", r.URL.Path, "retry_after", wait)
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			writeError(w, http.StatusTooManyRequests, "too many failed authentication attempts from your address; retry later")
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok = strings.TrimSpace(tok)
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vallum"`)
			writeError(w, http.StatusUnauthorized, "this endpoint needs a bearer token (Authorization: Bearer <token>)")
			return
		}
		p, err := s.authenticate(r.Context(), tok)
		if err != nil {
			var reason *authError
			if !errors.As(err, &reason) {
				s.internalError(w, r, err)
				return
			}
			s.failures.fail(ip, s.now())
			// Never the token: only where the attempt came from and why
			// it failed.
			s.Logger.Warn("rejected API token", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", reason.reason, "user", reason.user)
			w.Header().Set("WWW-Authenticate", `Bearer realm="vallum", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		if len(roles) > 0 && !slices.ContainsFunc(roles, p.Has) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s needs one of the roles %s; %s has %s",
				r.Pattern, strings.Join(roles, ", "), p.Name, strings.Join(p.Roles, ", ")))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// authError is a rejected credential; reason and user are for the server
// log only.
type authError struct {
	reason string
	user   string
}

func (e *authError) Error() string { return "authentication failed: " + e.reason }

// authenticate returns the principal of tok, an *authError if tok is not a
// valid credential, or another error if it couldn't be checked.
func (s *Server) authenticate(ctx context.Context, tok string) (Principal, error) {
	sum := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(sum[:], s.AdminToken[:]) == 1 {
		return Principal{Name: adminName, Roles: []string{RoleAdmin}}, nil
	}
	if s.Users == nil || !strings.HasPrefix(tok, tokenPrefix) {
		return Principal{}, &authError{reason: "unknown token"}
	}
	return s.Users.authenticate(ctx, sum, s.now())
}

// remoteIP is the host part of r.RemoteAddr. Forwarding headers are not
// trusted: a client could set them to dodge throttling.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
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
