package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
)

// tokenPrefix starts every user API token, so that a token found in a
// file or a paste is recognisable (and scanners can look for it).
const tokenPrefix = "vallum_"

// userMigrations is the schema of component "users". Tokens are stored as
// the SHA-256 of the token: a token is 32 random bytes, so a fast hash is
// enough (no password-hashing function is needed against guessing).
var userMigrations = []string{
	1: `
CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	roles      TEXT NOT NULL,
	created_at TEXT NOT NULL,
	disabled   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	hash         TEXT NOT NULL UNIQUE,
	user         TEXT NOT NULL REFERENCES users(name),
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user ON api_tokens(user);`,
}

// Users is the store of users and their API tokens. It is safe for
// concurrent use. Every change is appended to the evidence log before it
// is written here (see the user handlers), so the log records who could
// act; the token hashes are only here.
type Users struct {
	db *sql.DB
	// mu serialises changes, so that a check ("no such user yet") and the
	// log entry and the write that follow it are not interleaved with
	// another change.
	mu sync.Mutex
}

// OpenUsers applies the users schema to db and returns the store.
func OpenUsers(ctx context.Context, db *store.DB) (*Users, error) {
	if err := db.Migrate(ctx, "users", userMigrations); err != nil {
		return nil, fmt.Errorf("couldn't prepare the users tables: %w", err)
	}
	return &Users{db: db.SQL()}, nil
}

// User is a user as the API shows it.
type User struct {
	Name      string      `json:"name"`
	Roles     []string    `json:"roles"`
	CreatedAt time.Time   `json:"created_at"`
	Disabled  bool        `json:"disabled"`
	Tokens    []TokenInfo `json:"tokens,omitempty"`
}

// TokenInfo describes an API token, never the token itself.
type TokenInfo struct {
	ID         string     `json:"id"`
	User       string     `json:"user"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	Revoked    bool       `json:"revoked"`
}

// Payloads of the log entries that record user changes. None carries a
// token or its hash.
type (
	userAdded struct {
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
	}
	tokenIssued struct {
		User    string `json:"user"`
		TokenID string `json:"token_id"`
	}
	userDisabled struct {
		Name   string `json:"name"`
		Reason string `json:"reason,omitempty"`
	}
	tokenRevoked struct {
		User    string `json:"user"`
		TokenID string `json:"token_id"`
	}
)

var validName = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// checkUser validates a new user's name and roles and returns the roles
// sorted and without duplicates.
func checkUser(name string, rs []string) ([]string, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("name %q: want 1 to 64 characters among a-z 0-9 . _ -", name)
	}
	if name == adminName {
		return nil, fmt.Errorf("name %q is reserved for the bootstrap admin token", name)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("a user needs at least one role among %s", strings.Join(allRoles, ", "))
	}
	for _, r := range rs {
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("unknown role %q: want one of %s", r, strings.Join(allRoles, ", "))
		}
	}
	rs = slices.Clone(rs)
	slices.Sort(rs)
	return slices.Compact(rs), nil
}

// newToken returns a fresh API token, its SHA-256 and a token id.
func newToken() (tok string, sum [sha256.Size]byte, id string) {
	var b [32]byte
	rand.Read(b[:])
	tok = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	var i [8]byte
	rand.Read(i[:])
	return tok, sha256.Sum256([]byte(tok)), "tok_" + hex.EncodeToString(i[:])
}

const timeFormat = time.RFC3339Nano

// lastUsedEvery is how stale last_used_at may get before a use updates
// it, so that a busy client doesn't cost a write per request.
const lastUsedEvery = time.Minute

// authenticate returns the principal holding the token whose SHA-256 is
// sum. The lookup is by hash: the token has 256 bits of entropy, so the
// index lookup leaks nothing worth timing.
func (u *Users) authenticate(ctx context.Context, sum [sha256.Size]byte, now time.Time) (Principal, error) {
	var id, name, rs string
	var lastUsed sql.NullString
	var revoked, disabled bool
	err := u.db.QueryRowContext(ctx, `
SELECT t.id, t.last_used_at, t.revoked, u.name, u.roles, u.disabled
FROM api_tokens t JOIN users u ON u.name = t.user WHERE t.hash = ?`, hex.EncodeToString(sum[:])).
		Scan(&id, &lastUsed, &revoked, &name, &rs, &disabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Principal{}, &AuthError{Reason: "unknown token"}
	case err != nil:
		return Principal{}, fmt.Errorf("couldn't look up a token: %w", err)
	case revoked:
		return Principal{}, &AuthError{Reason: "revoked token " + id, User: name}
	case disabled:
		return Principal{}, &AuthError{Reason: "disabled user", User: name}
	}
	if t, err := time.Parse(timeFormat, lastUsed.String); err != nil || now.Sub(t) >= lastUsedEvery {
		if _, err := u.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now.UTC().Format(timeFormat), id); err != nil {
			return Principal{}, fmt.Errorf("couldn't record the use of token %s: %w", id, err)
		}
	}
	return Principal{Name: name, Roles: strings.Fields(rs)}, nil
}

// errNotFound and errConflict are the store's answers that handlers map to
// 404 and 409.
var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
)

// user returns the user called name, without tokens.
func (u *Users) user(ctx context.Context, name string) (User, error) {
	var rs, created string
	usr := User{Name: name}
	err := u.db.QueryRowContext(ctx, `SELECT roles, created_at, disabled FROM users WHERE name = ?`, name).Scan(&rs, &created, &usr.Disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q doesn't exist: %w", name, errNotFound)
	}
	if err != nil {
		return User{}, err
	}
	usr.Roles = strings.Fields(rs)
	usr.CreatedAt, err = time.Parse(timeFormat, created)
	return usr, err
}

// list returns every user with their tokens, by name.
func (u *Users) list(ctx context.Context) ([]User, error) {
	rows, err := u.db.QueryContext(ctx, `SELECT name, roles, created_at, disabled FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	users := []User{}
	byName := map[string]int{}
	for rows.Next() {
		var usr User
		var rs, created string
		if err := rows.Scan(&usr.Name, &rs, &created, &usr.Disabled); err != nil {
			return nil, err
		}
		usr.Roles = strings.Fields(rs)
		if usr.CreatedAt, err = time.Parse(timeFormat, created); err != nil {
			return nil, err
		}
		byName[usr.Name] = len(users)
		users = append(users, usr)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = u.db.QueryContext(ctx, `SELECT id, user, created_at, last_used_at, revoked FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		if i, ok := byName[t.User]; ok {
			users[i].Tokens = append(users[i].Tokens, t)
		}
	}
	return users, rows.Err()
}

func scanToken(row interface{ Scan(...any) error }) (TokenInfo, error) {
	var t TokenInfo
	var created string
	var lastUsed sql.NullString
	if err := row.Scan(&t.ID, &t.User, &created, &lastUsed, &t.Revoked); err != nil {
		return TokenInfo{}, err
	}
	var err error
	if t.CreatedAt, err = time.Parse(timeFormat, created); err != nil {
		return TokenInfo{}, err
	}
	if lastUsed.Valid {
		lu, err := time.Parse(timeFormat, lastUsed.String)
		if err != nil {
			return TokenInfo{}, err
		}
		t.LastUsedAt = &lu
	}
	return t, nil
}

func (u *Users) token(ctx context.Context, id string) (TokenInfo, error) {
	t, err := scanToken(u.db.QueryRowContext(ctx, `SELECT id, user, created_at, last_used_at, revoked FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return TokenInfo{}, fmt.Errorf("token %q doesn't exist: %w", id, errNotFound)
	}
	return t, err
}

// The user handlers. Each checks the request, appends the change to the
// evidence log, and only then writes the store, under Users.mu.

type addUserRequest struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// newTokenResponse is the only answer that ever carries a token.
type newTokenResponse struct {
	User    User   `json:"user"`
	TokenID string `json:"token_id"`
	// Token is shown once; the server keeps only its SHA-256.
	Token string `json:"token"`
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	var req addUserRequest
	if !s.decodeRequest(w, r, &req, false) {
		return
	}
	rs, err := checkUser(req.Name, req.Roles)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	u := s.Users
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, err := u.user(r.Context(), req.Name); err == nil {
		writeError(w, http.StatusConflict, fmt.Sprintf("user %q already exists", req.Name))
		return
	} else if !errors.Is(err, errNotFound) {
		s.internalError(w, r, err)
		return
	}
	if !s.logChange(w, r, "user.added", userAdded{Name: req.Name, Roles: rs}) {
		return
	}
	now := s.now().UTC()
	_, err = u.db.ExecContext(r.Context(), `INSERT INTO users(name, roles, created_at) VALUES (?, ?, ?)`, req.Name, strings.Join(rs, " "), now.Format(timeFormat))
	if err != nil {
		s.internalError(w, r, fmt.Errorf("couldn't store user %q after logging it: %w", req.Name, err))
		return
	}
	s.issueToken(w, r, User{Name: req.Name, Roles: rs, CreatedAt: now})
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.Users.list(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

func (s *Server) addToken(w http.ResponseWriter, r *http.Request) {
	if !s.decodeRequest(w, r, &struct{}{}, true) {
		return
	}
	u := s.Users
	u.mu.Lock()
	defer u.mu.Unlock()
	usr, ok := s.existingUser(w, r)
	if !ok {
		return
	}
	if usr.Disabled {
		writeError(w, http.StatusConflict, fmt.Sprintf("user %q is disabled: it gets no new tokens", usr.Name))
		return
	}
	s.issueToken(w, r, usr)
}

// issueToken logs and stores a new token for usr and answers with it.
// The caller holds Users.mu.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, usr User) {
	tok, sum, id := newToken()
	if !s.logChange(w, r, "token.issued", tokenIssued{User: usr.Name, TokenID: id}) {
		return
	}
	_, err := s.Users.db.ExecContext(r.Context(), `INSERT INTO api_tokens(id, hash, user, created_at) VALUES (?, ?, ?, ?)`,
		id, hex.EncodeToString(sum[:]), usr.Name, s.now().UTC().Format(timeFormat))
	if err != nil {
		s.internalError(w, r, fmt.Errorf("couldn't store token %s after logging it: %w", id, err))
		return
	}
	writeJSON(w, http.StatusCreated, newTokenResponse{User: usr, TokenID: id, Token: tok})
}

type disableRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) disableUser(w http.ResponseWriter, r *http.Request) {
	var req disableRequest
	if !s.decodeRequest(w, r, &req, true) {
		return
	}
	u := s.Users
	u.mu.Lock()
	defer u.mu.Unlock()
	usr, ok := s.existingUser(w, r)
	if !ok {
		return
	}
	if usr.Disabled {
		writeError(w, http.StatusConflict, fmt.Sprintf("user %q is already disabled", usr.Name))
		return
	}
	if !s.logThenUpdate(w, r, "user.disabled", userDisabled{Name: usr.Name, Reason: req.Reason},
		`UPDATE users SET disabled = 1 WHERE name = ?`, usr.Name) {
		return
	}
	usr.Disabled = true
	writeJSON(w, http.StatusOK, map[string]any{"user": usr})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	u := s.Users
	u.mu.Lock()
	defer u.mu.Unlock()
	t, err := u.token(r.Context(), r.PathValue("id"))
	if errors.Is(err, errNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if t.Revoked {
		writeError(w, http.StatusConflict, fmt.Sprintf("token %s is already revoked", t.ID))
		return
	}
	if !s.logThenUpdate(w, r, "token.revoked", tokenRevoked{User: t.User, TokenID: t.ID},
		`UPDATE api_tokens SET revoked = 1 WHERE id = ?`, t.ID) {
		return
	}
	t.Revoked = true
	writeJSON(w, http.StatusOK, map[string]any{"token": t})
}

// logThenUpdate logs a change of kind, then applies it with one SQL
// update of the row key; on failure it has written the response.
func (s *Server) logThenUpdate(w http.ResponseWriter, r *http.Request, kind string, payload any, update, key string) bool {
	if !s.logChange(w, r, kind, payload) {
		return false
	}
	if _, err := s.Users.db.ExecContext(r.Context(), update, key); err != nil {
		s.internalError(w, r, fmt.Errorf("couldn't apply %s for %q after logging it: %w", kind, key, err))
		return false
	}
	return true
}

// existingUser returns the user named in the path; on failure it has
// written the response.
func (s *Server) existingUser(w http.ResponseWriter, r *http.Request) (User, bool) {
	usr, err := s.Users.user(r.Context(), r.PathValue("name"))
	if errors.Is(err, errNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return User{}, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return User{}, false
	}
	return usr, true
}

// decodeRequest strictly decodes the JSON body into v; an empty body is
// accepted when optional. On failure it has written the response.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	if optional && r.ContentLength == 0 {
		return true
	}
	return s.decodeBody(w, r, v)
}

// logChange appends a user change to the evidence log; on failure it has
// written the response and the change must not be made.
func (s *Server) logChange(w http.ResponseWriter, r *http.Request, kind string, v any) bool {
	p, _ := PrincipalFrom(r.Context())
	payload, err := json.Marshal(v)
	if err == nil {
		_, err = s.Log.Append(r.Context(), evidence.Record{Kind: kind, Actor: p.Name, Payload: payload})
	}
	if err != nil {
		s.internalError(w, r, fmt.Errorf("couldn't log %s: %w", kind, err))
		return false
	}
	return true
}
