// Package honeytoken issues and recognises honeytokens: decoy credentials,
// API keys, database rows and e-mail addresses that no legitimate process
// ever uses, so that seeing one used against our sensors, or in a log line
// our intake reads, means someone took it from where it was planted.
//
// Only class A tokens are offered (DOMAIN.md, LEGAL.md §1.3 rows 3 and 4):
// they are detected only on our own systems, valid nowhere else, and
// synthetic. Tokens that call home from the opener's machine (document
// beacons, tracking URLs) are refused with the legal reason.
//
// Every token is appended to the evidence log (kind "honeytoken.created")
// before it is stored or returned, so the log proves when it was made,
// where it was planted and by whom. The entry holds the SHA-256 of the
// value and of each field and their masked forms, never the value: log
// entries are readable by every signed-in role. The values are kept in
// the registry's SQLite table, from which Open loads them.
package honeytoken

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
)

// Token types.
const (
	TypeCredential = "credential" // a user name and password
	TypeAPIKey     = "api_key"    // an API key (formats: aws, vallum)
	TypeDBRow      = "db_row"     // a synthetic customer row (formats: sql, csv)
	TypeEmail      = "email"      // an e-mail address at a domain we run
)

// Types lists the token types Vallum issues.
var Types = []string{TypeCredential, TypeAPIKey, TypeDBRow, TypeEmail}

// ClassA is the only class issued: detected only on our own systems.
const ClassA = "A"

// CreatedKind is the evidence log kind of a token's creation.
const CreatedKind = "honeytoken.created"

// Token is one honeytoken.
type Token struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	Type  string `json:"type"`
	// Value is the text to plant (a credential line, a key file, a row).
	Value string `json:"value"`
	// Fields are the token's parts (username, password, access_key_id,
	// secret_access_key, api_key, email, customer_id); each is a marker
	// that Match recognises.
	Fields map[string]string `json:"fields"`
	// Planted says where the token was put ("fileserver:/srv/share/x").
	Planted   string    `json:"planted"`
	Note      string    `json:"note,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// LogIndex is the index of the token's honeytoken.created entry.
	LogIndex int64 `json:"log_index"`
	// Masked is set on a copy whose value and fields are masked.
	Masked bool `json:"masked,omitempty"`
}

// Mask returns a copy of t with its value and fields hidden but for a
// short prefix, for callers not entitled to see tokens.
func (t Token) Mask() Token {
	m := t
	m.Masked = true
	m.Value = mask(t.Value)
	m.Fields = make(map[string]string, len(t.Fields))
	for k, v := range t.Fields {
		m.Fields[k] = mask(v)
	}
	return m
}

// Redact returns s with every occurrence of t's value and fields
// replaced by its masked form, longest first, for callers not entitled
// to see tokens.
func (t Token) Redact(s string) string {
	secrets := make([]string, 0, len(t.Fields)+1)
	for _, v := range t.Fields {
		secrets = append(secrets, v)
	}
	secrets = append(secrets, t.Value)
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, v := range secrets {
		if v != "" && strings.Contains(s, v) {
			pairs = append(pairs, v, mask(v))
		}
	}
	if len(pairs) == 0 {
		return s
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// MaskString hides s but for a short prefix, the way Mask hides a
// token's value.
func MaskString(s string) string { return mask(s) }

func mask(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:4] + "****"
}

// Request asks for a new token.
type Request struct {
	// Type is one of Types.
	Type string `json:"type"`
	// Class must be empty or "A".
	Class string `json:"class,omitempty"`
	// Planted says where the token will be put; required.
	Planted string `json:"planted"`
	Note    string `json:"note,omitempty"`
	// Username is the user name of a credential; generated if empty.
	Username string `json:"username,omitempty"`
	// Format is "aws" (default) or "vallum" for an API key, "sql"
	// (default) or "csv" for a database row.
	Format string `json:"format,omitempty"`
	// Domain is the e-mail domain of an e-mail address or a row; the
	// registry's default if empty.
	Domain string `json:"domain,omitempty"`
}

// ErrInvalid wraps a request that cannot be served as asked.
var ErrInvalid = errors.New("invalid honeytoken request")

// ErrNotFound is returned for an unknown token ID.
var ErrNotFound = errors.New("no such honeytoken")

// RefusedError is a request for a kind of token Vallum never issues, with
// the legal reason.
type RefusedError struct {
	Type   string
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("honeytoken type %q is not offered: %s", e.Type, e.Reason)
}

// beaconRefusal is the legal reason for refusing tokens that call home.
const beaconRefusal = "a token that calls home from the opener's machine runs on, or makes " +
	"requests from, a system that is not ours. Active beacons (code that runs there) are always " +
	"denied (c.p. 615-ter, 635-quater.1; DOMAIN.md beacon_active); passive callbacks need a legal " +
	"review case by case (DOMAIN.md beacon_passive) and Vallum does not issue them. " +
	"Use a class A token (credential, api_key, db_row, email): it is detected only on our own systems"

// beaconTypes are the names under which beaconing tokens are asked for.
var beaconTypes = map[string]bool{
	"beacon": true, "document": true, "doc": true, "docx": true, "pdf": true, "xlsx": true,
	"url": true, "web_bug": true, "webbug": true, "canary_url": true, "dns": true,
	"tracking_pixel": true, "qr": true, "macro": true,
}

// Appender appends to the evidence log. Append returns once the entry is
// durable; it must be safe for concurrent use. *evidence.Log implements it.
type Appender interface {
	Append(ctx context.Context, rec evidence.Record) (evidence.Receipt, error)
}

var _ Appender = (*evidence.Log)(nil)

// Options configure a Registry.
type Options struct {
	// Domain is the default e-mail domain of e-mail and row tokens: one
	// whose mail we receive and read, so a use shows up on our systems.
	Domain string
	// Clock returns the current time; time.Now if nil.
	Clock func() time.Time
}

// Registry issues tokens, keeps them in the database and recognises them
// in events. It is safe for concurrent use: mu serialises creations, and
// Match reads an immutable index swapped in after each creation, so it
// never waits for a lock.
type Registry struct {
	db   *sql.DB
	log  Appender
	opts Options

	mu  sync.Mutex // serialises Create (generate, log, store, reindex)
	idx atomic.Pointer[index]
}

var migrations = []string{
	1: `
CREATE TABLE honeytokens (
	id         TEXT PRIMARY KEY,
	class      TEXT NOT NULL,
	type       TEXT NOT NULL,
	value      TEXT NOT NULL,
	fields     TEXT NOT NULL,
	planted    TEXT NOT NULL,
	note       TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at TEXT NOT NULL,
	log_index  INTEGER NOT NULL
);`,
}

// Open applies the honeytoken schema to db, loads the tokens and returns
// the registry.
func Open(ctx context.Context, db *store.DB, log Appender, opts Options) (*Registry, error) {
	if err := db.Migrate(ctx, "honeytokens", migrations); err != nil {
		return nil, fmt.Errorf("couldn't prepare the honeytoken tables: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	r := &Registry{db: db.SQL(), log: log, opts: opts}
	toks, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	r.idx.Store(newIndex(toks))
	return r, nil
}

const timeFormat = time.RFC3339Nano

// maxText bounds the free-text fields of a request.
const maxText = 1024

func (r *Registry) check(req *Request) error {
	req.Type = strings.TrimSpace(strings.ToLower(req.Type))
	if beaconTypes[req.Type] {
		return &RefusedError{Type: req.Type, Reason: beaconRefusal}
	}
	if req.Class != "" && !strings.EqualFold(req.Class, ClassA) {
		return &RefusedError{Type: req.Type, Reason: fmt.Sprintf("class %q: only class A tokens (detected only on our own systems) are offered; %s", req.Class, beaconRefusal)}
	}
	switch req.Type {
	case TypeCredential, TypeAPIKey, TypeDBRow, TypeEmail:
	case "":
		return fmt.Errorf("%w: type is required (one of %s)", ErrInvalid, strings.Join(Types, ", "))
	default:
		return fmt.Errorf("%w: unknown type %q (want one of %s)", ErrInvalid, req.Type, strings.Join(Types, ", "))
	}
	if strings.TrimSpace(req.Planted) == "" {
		return fmt.Errorf("%w: planted is required: say where the token will be put, e.g. \"fileserver:/srv/share/passwords.xlsx\"", ErrInvalid)
	}
	for name, v := range map[string]string{"planted": req.Planted, "note": req.Note, "username": req.Username, "domain": req.Domain} {
		if len(v) > maxText {
			return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, name, maxText)
		}
	}
	if req.Username != "" && (strings.ContainsAny(req.Username, " \t\r\n:") || len(req.Username) > 64) {
		return fmt.Errorf("%w: username %q: want up to 64 characters without spaces or colons", ErrInvalid, req.Username)
	}
	if req.Domain == "" {
		req.Domain = r.opts.Domain
	}
	if (req.Type == TypeEmail || req.Type == TypeDBRow) && !validDomain(req.Domain) {
		if req.Domain == "" {
			return fmt.Errorf("%w: an %s token needs an e-mail domain whose mail we read: pass domain (or configure a default)", ErrInvalid, req.Type)
		}
		return fmt.Errorf("%w: domain %q is not a domain name", ErrInvalid, req.Domain)
	}
	return nil
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, c := range d {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Create issues a token for req on behalf of actor: it generates the
// token with crypto/rand, appends it to the evidence log, then stores it
// and makes Match recognise it. It returns a *RefusedError for beaconing
// tokens and an error wrapping ErrInvalid for a bad request.
func (r *Registry) Create(ctx context.Context, actor string, req Request) (Token, error) {
	if err := r.check(&req); err != nil {
		return Token{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	idx := r.idx.Load()
	var t Token
	for {
		var err error
		if t, err = generate(req); err != nil {
			return Token{}, err
		}
		// A generated marker that is already some token's would make
		// Match ambiguous: draw again (astronomically rare but for
		// chosen user names, which are then not markers).
		if !idx.collides(t) {
			break
		}
		if req.Username != "" && t.Type == TypeCredential {
			delete(t.Fields, "username")
			if !idx.collides(t) {
				break
			}
		}
	}
	t.ID = newID()
	t.Class = ClassA
	t.Planted = req.Planted
	t.Note = req.Note
	t.CreatedBy = actor
	t.CreatedAt = r.opts.Clock().UTC()
	payload, err := json.Marshal(createdPayload(t))
	if err != nil {
		return Token{}, err
	}
	rec, err := r.log.Append(ctx, evidence.Record{Kind: CreatedKind, Actor: actor, Payload: payload})
	if err != nil {
		return Token{}, fmt.Errorf("couldn't log honeytoken %s: %w", t.ID, err)
	}
	t.LogIndex = rec.Index
	fields, _ := json.Marshal(t.Fields)
	_, err = r.db.ExecContext(ctx, `INSERT INTO honeytokens(id, class, type, value, fields, planted, note, created_by, created_at, log_index)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.Class, t.Type, t.Value, string(fields), t.Planted, t.Note, t.CreatedBy, t.CreatedAt.Format(timeFormat), t.LogIndex)
	// Recognise the token even if the database write failed: it is in
	// the log (entry LogIndex) and may already be planted.
	r.idx.Store(idx.with(t))
	if err != nil {
		return t, fmt.Errorf("couldn't store honeytoken %s after logging it (log entry %d): %w", t.ID, t.LogIndex, err)
	}
	return t, nil
}

// Created is the payload of a honeytoken.created log entry. It commits
// to the value and to each field by SHA-256 and shows them only masked:
// the log is readable by every signed-in role, the values only by the
// issuing roles, so the values themselves stay in the registry's table.
// Whoever holds a value can show it was the one planted by hashing it.
type Created struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	Type  string `json:"type"`
	// ValueSHA256 is the hex SHA-256 of the value.
	ValueSHA256 string `json:"value_sha256"`
	// ValueMasked is the value as Mask shows it.
	ValueMasked string `json:"value_masked"`
	// FieldsSHA256 maps each field to the hex SHA-256 of its value.
	FieldsSHA256 map[string]string `json:"fields_sha256"`
	// FieldsMasked maps each field to its value as Mask shows it.
	FieldsMasked map[string]string `json:"fields_masked"`
	Planted      string            `json:"planted"`
	Note         string            `json:"note"`
	CreatedBy    string            `json:"created_by"`
}

// createdPayload is what the log records of t.
func createdPayload(t Token) Created {
	m := t.Mask()
	c := Created{
		ID: t.ID, Class: t.Class, Type: t.Type,
		ValueSHA256: hashHex(t.Value), ValueMasked: m.Value,
		FieldsSHA256: make(map[string]string, len(t.Fields)), FieldsMasked: m.Fields,
		Planted: t.Planted, Note: t.Note, CreatedBy: t.CreatedBy,
	}
	for k, v := range t.Fields {
		c.FieldsSHA256[k] = hashHex(v)
	}
	return c
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// List returns every token, oldest first.
func (r *Registry) List(ctx context.Context) ([]Token, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT id, class, type, value, fields, planted, note, created_by, created_at, log_index FROM honeytokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("couldn't list honeytokens: %w", err)
	}
	defer rows.Close()
	toks := []Token{}
	for rows.Next() {
		t, err := scan(rows)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
	}
	return toks, rows.Err()
}

// Get returns the token id, or an error wrapping ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (Token, error) {
	t, err := scan(r.db.QueryRowContext(ctx, `SELECT id, class, type, value, fields, planted, note, created_by, created_at, log_index FROM honeytokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return t, err
}

// Len returns how many tokens Match recognises.
func (r *Registry) Len() int { return len(r.idx.Load().tokens) }

func scan(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var fields, created string
	if err := row.Scan(&t.ID, &t.Class, &t.Type, &t.Value, &fields, &t.Planted, &t.Note, &t.CreatedBy, &created, &t.LogIndex); err != nil {
		return Token{}, err
	}
	if err := json.Unmarshal([]byte(fields), &t.Fields); err != nil {
		return Token{}, fmt.Errorf("honeytoken %s has unreadable fields: %w", t.ID, err)
	}
	var err error
	t.CreatedAt, err = time.Parse(timeFormat, created)
	return t, err
}

// clone returns t with its own Fields map.
func (t Token) clone() Token {
	t.Fields = maps.Clone(t.Fields)
	return t
}
