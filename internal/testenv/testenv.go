// Package testenv opens what tests run against for real: an evidence log
// on disk with fresh keys, a SQLite database, the guardrail deciding for a
// perimeter; and the settable clock and the log buffer that tests share.
//
// It imports neither incident nor api, so that their own tests can use it.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/perimeter"
	"github.com/vallum/vallum/internal/store"
)

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Log opens a file-backed evidence log in dir/log, signed with fresh keys
// for origin, and closes it when the test ends. It returns the log and
// its verifier key.
func Log(t testing.TB, dir, origin string) (*evidence.Log, string) {
	t.Helper()
	skey, vkey, err := evidence.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	files, err := store.OpenFiles(filepath.Join(dir, "log"), Discard())
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.Open(evidence.Config{Origin: origin, Signer: signer, Verifier: verifier, Storage: files, Logger: Discard()})
	if err != nil {
		files.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); files.Close() })
	return l, vkey
}

// DB opens the SQLite database dir/vallum.db and closes it when the test
// ends.
func DB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "vallum.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Appender appends a record to an evidence log.
type Appender interface {
	Append(ctx context.Context, rec evidence.Record) (evidence.Receipt, error)
}

// Decider is the guardrail as the server runs it for the incident desk:
// it decides with the default rule pack, the perimeter and the real
// clock, appends the decision in the server's record format (as
// api.DecisionRecord) and returns it with the receipt.
type Decider struct {
	engine *guard.Engine
	perim  *perimeter.Perimeter
	log    Appender
	kind   string // the record kind: incident.DecisionKind
	actor  string // who the record says decided
}

// NewDecider returns a Decider for the default rule pack and the
// perimeter f, appending records of kind, by actor, to log.
func NewDecider(t testing.TB, f perimeter.File, log Appender, kind, actor string) *Decider {
	t.Helper()
	eng, err := guard.Default()
	if err != nil {
		t.Fatal(err)
	}
	p, err := perimeter.New(f)
	if err != nil {
		t.Fatal(err)
	}
	return &Decider{engine: eng, perim: p, log: log, kind: kind, actor: actor}
}

// Decide decides req for incident inc and logs the decision.
func (d *Decider) Decide(ctx context.Context, req guard.Request, inc string) (guard.Decision, error) {
	now := time.Now()
	dec := d.engine.Decide(req, d.perim, now)
	body, err := json.Marshal(req)
	if err != nil {
		return guard.Decision{}, err
	}
	payload, err := json.Marshal(struct {
		Request   json.RawMessage `json:"request"`
		Decision  guard.Decision  `json:"decision"`
		DecidedAt time.Time       `json:"decided_at"`
	}{body, dec, now})
	if err != nil {
		return guard.Decision{}, err
	}
	r, err := d.log.Append(ctx, evidence.Record{Kind: d.kind, Actor: d.actor, Incident: inc, Payload: payload})
	if err != nil {
		return guard.Decision{}, err
	}
	dec.Receipt = &guard.Receipt{Index: r.Index, LeafHash: r.LeafHash.String()}
	return dec, nil
}

// Clock is a clock the test sets and moves by hand. It is safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Buffer is a bytes.Buffer safe for concurrent writers, such as the
// goroutines of a server logging into it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
