// Package api is Vallum's HTTP interface: the authenticated JSON API under
// /api/v1, and the read-only evidence log endpoints under /log/ (C2SP
// tlog-tiles, checkpoints, proofs) that outside verifiers use.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
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
	// AdminToken is the SHA-256 of the admin bearer token.
	AdminToken [sha256.Size]byte
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
	// Read-only log endpoints for outside verifiers (no payloads).
	mux.HandleFunc("GET /log/checkpoint", s.getCheckpoint)
	mux.HandleFunc("GET /log/tile/", s.getTile)
	mux.HandleFunc("GET /log/v1/vkey", s.getVKey)
	mux.HandleFunc("GET /log/v1/checkpoints", s.listCheckpoints)
	mux.HandleFunc("GET /log/v1/checkpoints/{size}", s.getCheckpointAt)
	mux.HandleFunc("GET /log/v1/proof/inclusion", s.getInclusion)
	mux.HandleFunc("GET /log/v1/proof/consistency", s.getConsistency)
	mux.HandleFunc("GET /log/v1/proof/tlog-proof", s.getTlogProof)
	// Entries carry payloads, which may hold personal data: token needed.
	mux.Handle("GET /log/v1/entries/{index}", s.auth(s.getEntry))
	mux.Handle("GET /api/v1/log/entries", s.auth(s.listEntries))
	mux.Handle("POST /api/v1/log/entries", s.auth(s.appendEntry))
	mux.Handle("POST /api/v1/log/entries/{index}/erase", s.auth(s.eraseEntry))
	mux.Handle("POST /api/v1/decisions", s.auth(s.postDecision))
	mux.Handle("POST /api/v1/guard/reload", s.auth(s.reloadGuard))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "log_size": s.Log.Size()})
	})
	return securityHeaders(mux)
}

// Principal is an authenticated caller.
type Principal struct {
	Name string
	Role string
}

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// auth requires a valid bearer token.
func (s *Server) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vallum"`)
			writeError(w, http.StatusUnauthorized, "this endpoint needs a bearer token (Authorization: Bearer <token>)")
			return
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(sum[:], s.AdminToken[:]) != 1 {
			s.Logger.Warn("rejected API token", "remote", r.RemoteAddr, "path", r.URL.Path)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, Principal{Name: "admin", Role: "admin"})
		h(w, r.WithContext(ctx))
	})
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
