package incident

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/store"
)

// Log is the evidence log the desk writes to and replays.
//
// Append must return only once the entry is durable (the evidence log's
// contract); Entry returns entry i or an error wrapping
// evidence.ErrNotFound; Size is the number of committed entries. All three
// must be safe for concurrent use. *evidence.Log implements it.
type Log interface {
	Append(ctx context.Context, rec evidence.Record) (evidence.Receipt, error)
	EntryReader
	Size() int64
}

// EntryReader reads log entries; CheckPermit needs nothing more.
type EntryReader interface {
	Entry(i int64) (evidence.Entry, error)
}

var _ Log = (*evidence.Log)(nil)

// Decider decides a request with the guardrail and logs the decision.
//
// Decide returns the decision only once it is in the log, with Receipt
// set; the entry has kind "decision", header incident = incident, and a
// JSON payload {"request": <the request>, "decision": <the decision>, …}
// (the server's decision record). An error means nothing may be acted on.
// It must be safe for concurrent use.
type Decider interface {
	Decide(ctx context.Context, req guard.Request, incident string) (guard.Decision, error)
}

// Desk is the incident desk. It is safe for concurrent use: mu serialises
// every write (check, append, apply), so entries are applied in log order
// and the checks see the state the entry is applied to. Reads go straight
// to the database.
type Desk struct {
	db      *sql.DB
	log     Log
	decider Decider
	clock   func() time.Time

	mu sync.Mutex
	// stale is set when an entry was appended but its projection failed;
	// the next write replays the log from the projection's head first.
	stale bool // guarded by mu
}

// Open opens the desk on db (migrating component "incident") and brings
// the projection up to date with the log: entries appended but not
// applied before a crash are applied now.
func Open(ctx context.Context, db *store.DB, log Log, decider Decider, clock func() time.Time) (*Desk, error) {
	if err := db.Migrate(ctx, "incident", migrations); err != nil {
		return nil, fmt.Errorf("couldn't migrate the incident tables: %w", err)
	}
	if clock == nil {
		clock = time.Now
	}
	d := &Desk{db: db.SQL(), log: log, decider: decider, clock: clock}
	if err := catchUp(ctx, d.db, log); err != nil {
		return nil, err
	}
	return d, nil
}

// Rebuild empties the incident tables of db and replays every desk entry
// of the log from index 0 with the same apply as live writes. Erased or
// unreadable payloads keep their row with a marker; Rebuild fails only on
// a database or log read error. It must not run while a Desk writes to db.
func Rebuild(ctx context.Context, db *store.DB, log Log) error {
	if err := db.Migrate(ctx, "incident", migrations); err != nil {
		return fmt.Errorf("couldn't migrate the incident tables: %w", err)
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range slices.Concat(tables, []string{"inc_head"}) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return fmt.Errorf("couldn't empty %s: %w", t, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return catchUp(ctx, db.SQL(), log)
}

// catchUp applies the desk's entries after the projection's head, in
// transactions of at most 10,000 entries.
func catchUp(ctx context.Context, db *sql.DB, log Log) error {
	var next int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(applied)+1, 0) FROM inc_head`).Scan(&next); err != nil {
		return err
	}
	size := log.Size()
	for next < size {
		end := min(size, next+10000)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i := next; i < end; i++ {
			e, err := log.Entry(i)
			if err != nil {
				tx.Rollback()
				return fmt.Errorf("couldn't read log entry %d: %w", i, err)
			}
			h, err := evidence.DecodeHeader(e.Header)
			if err != nil {
				tx.Rollback()
				return fmt.Errorf("log entry %d: %w", i, err)
			}
			if !ours(h.Kind) {
				continue
			}
			payload := e.Payload
			if e.Erased {
				payload = nil
			}
			if err := apply(ctx, tx, i, evidence.LeafHash(e.Header).String(), h, payload); err != nil {
				tx.Rollback()
				return fmt.Errorf("couldn't project log entry %d: %w", i, err)
			}
		}
		// Record the scan's end even if it held none of the desk's
		// entries, so that the next open starts from there.
		if _, err := tx.ExecContext(ctx, `INSERT INTO inc_head(id, applied) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET applied = MAX(applied, excluded.applied)`, end-1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		next = end
	}
	return nil
}

// write appends one entry and applies it. The caller holds d.mu and has
// checked the change against the projection. Once Append succeeds the
// change has happened, whatever follows: a projection failure is returned
// wrapped, with the receipt, and repaired by the next write.
func (d *Desk) write(ctx context.Context, actor Actor, kind, incident string, payload any) (evidence.Receipt, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return evidence.Receipt{}, err
	}
	rcpt, err := d.log.Append(ctx, evidence.Record{Kind: kind, Actor: actor.Name, Incident: incident, Payload: b})
	if err != nil {
		return rcpt, fmt.Errorf("couldn't log %s: %w", kind, err)
	}
	h := evidence.Header{V: evidence.HeaderVersion, Kind: kind, Time: rcpt.Time, Actor: actor.Name, Incident: incident}
	err = d.applyLive(context.WithoutCancel(ctx), rcpt, h, b)
	if err != nil {
		d.stale = true
		return rcpt, fmt.Errorf("%s logged at index %d, but couldn't update the projection: %w", kind, rcpt.Index, err)
	}
	return rcpt, nil
}

func (d *Desk) applyLive(ctx context.Context, rcpt evidence.Receipt, h evidence.Header, b []byte) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := apply(ctx, tx, rcpt.Index, rcpt.LeafHash.String(), h, b); err != nil {
		return err
	}
	return tx.Commit()
}

// lock takes d.mu and repairs a stale projection; call unlock when done.
func (d *Desk) lock(ctx context.Context, actor Actor) error {
	if err := evidence.ValidActor(actor.Name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d.mu.Lock()
	if d.stale {
		if err := catchUp(ctx, d.db, d.log); err != nil {
			d.mu.Unlock()
			return fmt.Errorf("couldn't repair the incident projection: %w", err)
		}
		d.stale = false
	}
	return nil
}

func (d *Desk) unlock() { d.mu.Unlock() }

// NewIncident is what opening an incident takes.
type NewIncident struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Severity    Severity `json:"severity"`
	Categories  []string `json:"categories"`
	Assignees   []string `json:"assignees"`
}

// Create opens an incident. IDs are "INC-" and 10 random Crockford base32
// characters.
func (d *Desk) Create(ctx context.Context, actor Actor, in NewIncident) (Incident, error) {
	if err := checkText("title", in.Title, 1, maxShort); err != nil {
		return Incident{}, err
	}
	if err := checkText("description", in.Description, 0, maxLong); err != nil {
		return Incident{}, err
	}
	if !in.Severity.valid() {
		return Incident{}, invalidf("severity %q is not low, medium, high or critical", in.Severity)
	}
	if err := errors.Join(checkList("categories", in.Categories), checkList("assignees", in.Assignees)); err != nil {
		return Incident{}, err
	}
	if err := d.lock(ctx, actor); err != nil {
		return Incident{}, err
	}
	defer d.unlock()
	id := newID("INC")
	for d.exists(ctx, `SELECT 1 FROM inc_incidents WHERE id = ?`, id) {
		id = newID("INC")
	}
	p := createdPayload{ID: id, Title: in.Title, Description: in.Description, Severity: in.Severity, Categories: cleanList(in.Categories), Assignees: cleanList(in.Assignees)}
	if _, err := d.write(ctx, actor, KindCreated, id, p); err != nil {
		return Incident{}, err
	}
	return d.GetIncident(ctx, id)
}

func (d *Desk) exists(ctx context.Context, q string, args ...any) bool {
	var one int
	return d.db.QueryRowContext(ctx, q, args...).Scan(&one) == nil
}

// Update changes an incident's fields; a status change must follow
// StatusTransitions (else *StatusError).
func (d *Desk) Update(ctx context.Context, actor Actor, id string, u Update) (Incident, error) {
	if u.Title != nil {
		if err := checkText("title", *u.Title, 1, maxShort); err != nil {
			return Incident{}, err
		}
	}
	if u.Description != nil {
		if err := checkText("description", *u.Description, 0, maxLong); err != nil {
			return Incident{}, err
		}
	}
	if u.Severity != nil && !u.Severity.valid() {
		return Incident{}, invalidf("severity %q is not low, medium, high or critical", *u.Severity)
	}
	if _, ok := StatusTransitions[deref(u.Status)]; u.Status != nil && !ok {
		return Incident{}, invalidf("status %q is not open, contained or closed", *u.Status)
	}
	if u.Categories != nil {
		if err := checkList("categories", *u.Categories); err != nil {
			return Incident{}, err
		}
	}
	if u.Assignees != nil {
		if err := checkList("assignees", *u.Assignees); err != nil {
			return Incident{}, err
		}
	}
	if err := d.lock(ctx, actor); err != nil {
		return Incident{}, err
	}
	defer d.unlock()
	inc, err := d.GetIncident(ctx, id)
	if err != nil {
		return Incident{}, err
	}
	if u.Status != nil && *u.Status != inc.Status && !slices.Contains(StatusTransitions[inc.Status], *u.Status) {
		return Incident{}, &StatusError{Incident: id, From: inc.Status, To: *u.Status}
	}
	if _, err := d.write(ctx, actor, KindUpdated, id, updatedPayload{ID: id, Update: u}); err != nil {
		return Incident{}, err
	}
	return d.GetIncident(ctx, id)
}

// AddNote adds an analyst note and returns its log index.
func (d *Desk) AddNote(ctx context.Context, actor Actor, id, text string) (int64, error) {
	if err := checkText("note", text, 1, maxLong); err != nil {
		return 0, err
	}
	return d.writeFor(ctx, actor, id, KindNote, notePayload{ID: id, Text: text})
}

// writeFor writes an entry of an existing incident.
func (d *Desk) writeFor(ctx context.Context, actor Actor, id, kind string, p any) (int64, error) {
	if err := d.lock(ctx, actor); err != nil {
		return 0, err
	}
	defer d.unlock()
	if !d.exists(ctx, `SELECT 1 FROM inc_incidents WHERE id = ?`, id) {
		return 0, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	rcpt, err := d.write(ctx, actor, kind, id, p)
	return rcpt.Index, err
}

// NewObservable is an observable to add; Seen is when it was observed
// (zero: now).
type NewObservable struct {
	Type  string    `json:"type"`
	Value string    `json:"value"`
	Tags  []string  `json:"tags"`
	Seen  time.Time `json:"seen,omitzero"`
}

// AddObservable adds an observable, normalised (NormalizeObservable); a
// repeat merges into the existing one.
func (d *Desk) AddObservable(ctx context.Context, actor Actor, id string, in NewObservable) (Observable, error) {
	v, err := NormalizeObservable(in.Type, in.Value)
	if err != nil {
		return Observable{}, err
	}
	if err := checkList("tags", in.Tags); err != nil {
		return Observable{}, err
	}
	seen := in.Seen
	if seen.IsZero() {
		seen = d.clock()
	}
	p := observablePayload{ID: id, Type: in.Type, Value: v, Tags: cleanList(in.Tags), Seen: seen.UTC().Format(evidence.TimeFormat)}
	if _, err := d.writeFor(ctx, actor, id, KindObservable, p); err != nil {
		return Observable{}, err
	}
	obs, err := d.Observables(ctx, id)
	for _, o := range obs {
		if o.Type == in.Type && o.Value == v {
			return o, err
		}
	}
	return Observable{}, fmt.Errorf("observable not projected: %w", err)
}

// MaxLinkEvents bounds the events one LinkEvents call links.
const MaxLinkEvents = 1000

// LinkEvents links event entries of the log (by index) to an incident, in
// one log entry. Each index must name an existing entry that is not one of
// the desk's own; its kind and time are copied into the link. Returns the
// link entry's index.
func (d *Desk) LinkEvents(ctx context.Context, actor Actor, id string, indexes []int64) (int64, error) {
	if len(indexes) == 0 || len(indexes) > MaxLinkEvents {
		return 0, invalidf("link 1 to %d events at a time, not %d", MaxLinkEvents, len(indexes))
	}
	p := eventsPayload{ID: id, Events: make([]linkedEvent, 0, len(indexes))}
	for _, i := range indexes {
		e, err := d.log.Entry(i)
		if err != nil {
			return 0, invalidf("event %d: %v", i, err)
		}
		h, err := evidence.DecodeHeader(e.Header)
		if err != nil {
			return 0, fmt.Errorf("event %d: %w", i, err)
		}
		if ours(h.Kind) || h.Kind == DecisionKind || h.Kind == evidence.ErasureKind {
			return 0, invalidf("entry %d is a %s entry, not an event", i, h.Kind)
		}
		p.Events = append(p.Events, linkedEvent{Index: i, Kind: h.Kind, Time: h.Time})
	}
	return d.writeFor(ctx, actor, id, KindEventLink, p)
}

func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}
