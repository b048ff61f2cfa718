// Package api is Vallum's HTTP interface: the authenticated JSON API under
// /api/v1, and the read-only evidence log endpoints under /log/ (C2SP
// tlog-tiles, checkpoints, proofs) that outside verifiers use.
package api

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/store"
)

// TokenFile is the name of the admin token file in the data directory.
const TokenFile = "admin.token"

// Server serves the API. Its fields are set before Handler is called and
// not changed afterwards.
type Server struct {
	Log    *evidence.Log
	DB     *store.DB
	Logger *slog.Logger
	// MaxBody bounds request bodies in bytes.
	MaxBody int64
	// VKey is the log's verifier key in signed-note form.
	VKey string
	// Guard is the guardrail with its perimeter.
	Guard *Guard
	// Clock returns the current time; time.Now if nil.
	Clock func() time.Time
	// AdminToken is the SHA-256 of the bootstrap admin bearer token, whose
	// holder has the admin role.
	AdminToken [sha256.Size]byte
	// Users holds the users and their API tokens; if nil, only the admin
	// token authenticates and the user endpoints are absent.
	Users *Users
	// Desk is the incident desk; nil leaves its endpoints out.
	Desk *incident.Desk
	// Sanctions holds the imported sanctions lists; nil leaves the
	// sanctions endpoints out.
	Sanctions *SanctionLists
	// Events takes sensor events in (remote sensors, webhooks, Suricata)
	// and serves them; nil leaves its endpoints out (events.go).
	Events *EventService
	// Honeytokens issues and lists honeytokens; nil leaves its endpoints
	// out (honeytokens.go).
	Honeytokens *HoneytokenService
	// Contain runs the containment connectors; nil leaves its endpoints
	// out (contain.go).
	Contain *ContainService
	// Bundles exports court bundles and lists time-stamp anchors; nil
	// leaves its endpoints out (bundles.go).
	Bundles *BundleService

	// failures counts failed authentications per remote address; it
	// guards itself.
	failures throttle
}

// LoadOrCreateToken reads the admin token from path, creating a random one
// (mode 0600) on first start. It returns the token's SHA-256.
func LoadOrCreateToken(path string) ([sha256.Size]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var r [32]byte
		rand.Read(r[:])
		tok := "vallum-admin-" + base64.RawURLEncoding.EncodeToString(r[:])
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return [32]byte{}, fmt.Errorf("couldn't create admin token: %w", err)
		}
		if _, err := f.WriteString(tok + "\n"); err != nil {
			f.Close()
			return [32]byte{}, err
		}
		if err := f.Close(); err != nil {
			return [32]byte{}, err
		}
		b = []byte(tok)
	} else if err != nil {
		return [32]byte{}, fmt.Errorf("couldn't read admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return [32]byte{}, fmt.Errorf("admin token in %s is too short", path)
	}
	return sha256.Sum256([]byte(tok)), nil
}

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		if rt.public {
			mux.HandleFunc(rt.pattern, rt.h)
		} else {
			mux.Handle(rt.pattern, s.authorize(rt.h, rt.roles...))
		}
	}
	return securityHeaders(mux)
}

// route is one endpoint and who may call it.
type route struct {
	pattern string
	h       http.HandlerFunc
	// roles are the roles the caller needs one of; none means any
	// authenticated caller.
	roles []string
	// public endpoints need no token.
	public bool
}

// routes lists every endpoint. Handler wraps each non-public one with
// authorize(h, roles...). A package of endpoints (incidents, …) returns its
// own []route and is appended here. The role matrix test in auth_test.go
// checks each endpoint against every role: a new endpoint needs a row there
// too.
func (s *Server) routes() []route {
	writers := []string{RoleAnalyst, RoleIncidentCommander, RoleAdmin}
	rs := []route{
		// Read-only log endpoints for outside verifiers (no payloads).
		{pattern: "GET /log/checkpoint", h: s.getCheckpoint, public: true},
		{pattern: "GET /log/tile/", h: s.getTile, public: true},
		{pattern: "GET /log/v1/vkey", h: s.getVKey, public: true},
		{pattern: "GET /log/v1/checkpoints", h: s.listCheckpoints, public: true},
		{pattern: "GET /log/v1/checkpoints/{size}", h: s.getCheckpointAt, public: true},
		{pattern: "GET /log/v1/proof/inclusion", h: s.getInclusion, public: true},
		{pattern: "GET /log/v1/proof/consistency", h: s.getConsistency, public: true},
		{pattern: "GET /log/v1/proof/tlog-proof", h: s.getTlogProof, public: true},
		{pattern: "GET /healthz", h: s.healthz, public: true},
		// Entries carry payloads, which may hold personal data: token needed.
		{pattern: "GET /log/v1/entries/{index}", h: s.getEntry},
		{pattern: "GET /api/v1/log/entries", h: s.listEntries},
		{pattern: "POST /api/v1/log/entries", h: s.appendEntry, roles: writers},
		{pattern: "POST /api/v1/log/entries/{index}/erase", h: s.eraseEntry, roles: []string{RoleDPO, RoleAdmin}},
		{pattern: "POST /api/v1/decisions", h: s.postDecision, roles: writers},
		{pattern: "POST /api/v1/guard/reload", h: s.reloadGuard, roles: []string{RoleAdmin}},
	}
	if s.Users != nil {
		admin := []string{RoleAdmin}
		rs = append(rs,
			route{pattern: "POST /api/v1/users", h: s.addUser, roles: admin},
			route{pattern: "GET /api/v1/users", h: s.listUsers, roles: admin},
			route{pattern: "POST /api/v1/users/{name}/tokens", h: s.addToken, roles: admin},
			route{pattern: "POST /api/v1/users/{name}/disable", h: s.disableUser, roles: admin},
			route{pattern: "DELETE /api/v1/tokens/{id}", h: s.revokeToken, roles: admin},
		)
	}
	rs = append(rs, s.incidentRoutes()...)
	rs = append(rs, s.clockRoutes()...)
	rs = append(rs, s.draftRoutes()...)
	rs = append(rs, s.sanctionRoutes()...)
	rs = append(rs, s.ransomRoutes()...)
	rs = append(rs, s.eventRoutes()...)
	rs = append(rs, s.honeytokenRoutes()...)
	rs = append(rs, s.containRoutes()...)
	rs = append(rs, s.bundleRoutes()...)
	return rs
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "log_size": s.Log.Size()})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// apiError is the JSON body of every error response.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// internalError logs the detail and shows the client a generic message.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error; the server log has the detail")
}
