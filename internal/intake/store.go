package intake

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/sensor"
)

// migrations of component "intake". The events table is an index of the
// log's "event" entries (rebuilt from the log by following it); the
// correlation tables hold which incident each hostile source goes to.
var migrations = []string{
	1: `
CREATE TABLE intake_events (
	idx        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	time       TEXT NOT NULL,
	sensor     TEXT NOT NULL,
	protocol   TEXT NOT NULL,
	kind       TEXT NOT NULL,
	severity   TEXT NOT NULL,
	src_ip     TEXT NOT NULL,
	src_port   INTEGER NOT NULL,
	dst_ip     TEXT NOT NULL,
	dst_port   INTEGER NOT NULL,
	session    TEXT NOT NULL,
	honeytoken TEXT NOT NULL
);
CREATE INDEX intake_events_time ON intake_events(time);
CREATE INDEX intake_events_src ON intake_events(src_ip, time);
CREATE INDEX intake_events_sensor ON intake_events(sensor, time);
CREATE INDEX intake_events_session ON intake_events(session) WHERE session != '';
CREATE TABLE intake_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	next INTEGER NOT NULL
);
CREATE TABLE intake_sources (
	src_ip   TEXT PRIMARY KEY,
	incident TEXT NOT NULL,
	last_at  TEXT NOT NULL
);
CREATE TABLE intake_incidents (
	incident          TEXT PRIMARY KEY,
	src_ip            TEXT NOT NULL,
	last_malicious_at TEXT NOT NULL,
	linked            INTEGER NOT NULL
);`,
	// 2: an index made for the projector's rate, rebuilt from the log
	// (the projector starts again at entry 0). There is no index on the
	// random event ID any more: every insert into it dirtied a random
	// page. An event is a duplicate when its ID and time both match
	// (knownIDs), found through the time index, whose keys grow with time;
	// an event sent without a time (time_source "arrival") when its ID
	// matches such an event, through a partial index of those only. Times
	// are Unix microseconds (8-byte keys, not 30-byte strings), and only
	// the columns listings filter on are kept: the event itself is always
	// read from the log.
	2: `
DROP TABLE intake_events;
CREATE TABLE intake_events (
	idx     INTEGER PRIMARY KEY,
	id      TEXT NOT NULL,
	t       INTEGER NOT NULL,
	sensor  TEXT NOT NULL,
	kind    TEXT NOT NULL,
	src_ip  TEXT NOT NULL,
	session TEXT NOT NULL,
	arrival INTEGER NOT NULL
);
CREATE INDEX intake_events_t ON intake_events(t);
CREATE INDEX intake_events_src ON intake_events(src_ip, t);
CREATE INDEX intake_events_sensor ON intake_events(sensor, t);
CREATE INDEX intake_events_session ON intake_events(session) WHERE session != '';
CREATE INDEX intake_events_arrival ON intake_events(id) WHERE arrival = 1;
DELETE FROM intake_head;`,
}

func (p *Pipeline) loadHead(ctx context.Context) (int64, error) {
	var next int64
	err := p.db.SQL().QueryRowContext(ctx, `SELECT next FROM intake_head WHERE id = 1`).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return next, err
}

// projectBatch bounds the entries indexed in one transaction;
// projectEvery is the least time between two transactions that index
// fewer.
const (
	projectBatch = 8192
	projectEvery = 50 * time.Millisecond
)

// project is the projector goroutine: it follows the log and indexes its
// event entries until ctx ends.
func (p *Pipeline) project(ctx context.Context) error {
	var last time.Time
	for {
		changed := p.log.Changed()
		if size := p.log.Size(); p.head() < size {
			if wait := projectEvery - time.Since(last); size-p.head() < projectBatch && wait > 0 {
				// A small backlog: let it grow, so that one transaction
				// (and one write of the pages it changes) takes what
				// several would. Copies of the events waiting are still
				// recognised through the in-flight set.
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
				continue
			}
			last = time.Now()
			if err := p.projectRange(ctx, size); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				p.logger.Error("couldn't index events; retrying", "from", p.head(), "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func (p *Pipeline) head() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.claimed
}

// projectRange indexes the entries from the head up to at most size, in
// one transaction, and moves the head.
func (p *Pipeline) projectRange(ctx context.Context, size int64) error {
	p.mu.Lock()
	from := p.claimed
	to := min(size, from+projectBatch)
	hints := make(map[int64]sensor.Event, to-from)
	for i := from; i < to; i++ {
		if e, ok := p.hints[i]; ok {
			hints[i] = e
			delete(p.hints, i)
		}
	}
	p.claimed = to // appenders store no hint below this any more
	p.mu.Unlock()
	ids, err := p.indexEntries(ctx, from, to, hints)
	if err != nil {
		// Put the head back; the entries are read from the log next time.
		p.mu.Lock()
		p.claimed = from
		p.mu.Unlock()
		return err
	}
	p.mu.Lock()
	for _, id := range ids {
		delete(p.recent, id) // an eventKey
	}
	p.mu.Unlock()
	select {
	case p.projected <- struct{}{}:
	default:
	}
	return nil
}

func (p *Pipeline) indexEntries(ctx context.Context, from, to int64, hints map[int64]sensor.Event) ([]string, error) {
	tx, err := p.db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	full, err := tx.PrepareContext(ctx, insertFull)
	if err != nil {
		return nil, err
	}
	defer full.Close()
	var keys []string
	args := make([]any, 0, insertRows*eventColumns)
	flush := func() error {
		var err error
		switch n := len(args) / eventColumns; n {
		case 0:
		case insertRows:
			_, err = full.ExecContext(ctx, args...)
		default:
			_, err = tx.ExecContext(ctx, insertPrefix+strings.Repeat(insertRow+",", n-1)+insertRow, args...)
		}
		args = args[:0]
		return err
	}
	for i := from; i < to; i++ {
		e, ok := hints[i]
		if !ok {
			ent, err := p.log.Entry(i)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			h, err := evidence.DecodeHeader(ent.Header)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			if h.Kind != EventKind {
				continue
			}
			if ent.Erased || json.Unmarshal(ent.Payload, &e) != nil || e.ID == "" {
				// The payload is gone (erased) or not an event: index the
				// entry under a placeholder ID so the head can move on.
				t, _ := h.ParsedTime()
				e = sensor.Event{ID: fmt.Sprintf("entry-%d", i), Time: t, Kind: "erased"}
			}
		}
		args = append(args, i, e.ID, e.Time.UnixMicro(), e.Sensor, e.Kind, e.Src.IP, e.Session, arrivalTimed(e))
		keys = append(keys, eventKey(e))
		if len(args) == insertRows*eventColumns {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("entries before %d: %w", i+1, err)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("entries before %d: %w", to, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO intake_head(id, next) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET next = excluded.next`, to); err != nil {
		return nil, err
	}
	return keys, tx.Commit()
}

// eventColumns is the number of columns of an intake_events row;
// insertRows bounds the rows of one INSERT statement (one statement per
// row costs more than the B-tree work it does).
const (
	eventColumns = 8
	insertRows   = 128
)

const (
	insertPrefix = `INSERT OR IGNORE INTO intake_events(idx, id, t, sensor, kind, src_ip, session, arrival) VALUES `
	insertRow    = `(?,?,?,?,?,?,?,?)`
)

var insertFull = insertPrefix + strings.Repeat(insertRow+",", insertRows-1) + insertRow

// loadSeen builds the Bloom filter of the indexed IDs.
func (p *Pipeline) loadSeen(ctx context.Context) (*bloom, error) {
	var n int
	if err := p.db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM intake_events`).Scan(&n); err != nil {
		return nil, err
	}
	b := newBloom(16 * n)
	rows, err := p.db.SQL().QueryContext(ctx, `SELECT id FROM intake_events`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		b.add(id)
	}
	return b, rows.Err()
}

// knownIDs returns which events of the batch (by eventKey) are already
// indexed: with the same ID and time, or, for an event sent without a
// time, with the same ID and no time either.
func (p *Pipeline) knownIDs(ctx context.Context, batch []item) (map[string]bool, error) {
	known := make(map[string]bool)
	if len(batch) == 0 {
		return known, nil
	}
	conn, err := p.db.SQL().Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	timed, err := conn.PrepareContext(ctx, `SELECT 1 FROM intake_events WHERE t = ? AND id = ?`)
	if err != nil {
		return nil, err
	}
	defer timed.Close()
	arrival, err := conn.PrepareContext(ctx, `SELECT 1 FROM intake_events WHERE id = ? AND arrival = 1`)
	if err != nil {
		return nil, err
	}
	defer arrival.Close()
	for _, it := range batch {
		var one int
		var err error
		if arrivalTimed(it.e) {
			err = arrival.QueryRowContext(ctx, it.e.ID).Scan(&one)
		} else {
			err = timed.QueryRowContext(ctx, it.e.Time.UnixMicro(), it.e.ID).Scan(&one)
		}
		switch {
		case err == nil:
			known[eventKey(it.e)] = true
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
	}
	return known, nil
}

// Query narrows List; empty fields match everything.
type Query struct {
	// Since and Until bound the event time.
	Since, Until time.Time
	Source       string
	Sensor       string
	Session      string
	Kind         string
	// From is the least log index listed: 0 for the first page, the
	// previous page's next cursor after that.
	From int64
	// Limit is the page size (default 100, at most 1000).
	Limit int
}

// Listed is one event of a listing, with its log index. Event is nil when
// the entry's payload was erased.
type Listed struct {
	Index int64         `json:"index"`
	Time  time.Time     `json:"time"`
	Event *sensor.Event `json:"event,omitempty"`
	// Erased is true when the event's payload was erased from the log.
	Erased bool `json:"erased,omitempty"`
}

// List returns the indexed events matching q, oldest log index first, and
// the From of the next page (0 when there is none). Each event is read
// from the log, so erased payloads stay erased.
func (p *Pipeline) List(ctx context.Context, q Query) ([]Listed, int64, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	where := []string{"idx >= ?"}
	args := []any{q.From}
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if !q.Since.IsZero() {
		add("t >= ?", q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		add("t < ?", q.Until.UnixMicro())
	}
	for _, f := range []struct{ col, v string }{{"src_ip", q.Source}, {"sensor", q.Sensor}, {"session", q.Session}, {"kind", q.Kind}} {
		if f.v != "" {
			add(f.col+" = ?", f.v)
		}
	}
	args = append(args, q.Limit+1)
	rows, err := p.db.SQL().QueryContext(ctx, `SELECT idx, t FROM intake_events WHERE `+strings.Join(where, " AND ")+` ORDER BY idx LIMIT ?`, args...)
	if err != nil {
		return nil, 0, err
	}
	var out []Listed
	for rows.Next() {
		var l Listed
		var t int64
		if err := rows.Scan(&l.Index, &t); err != nil {
			rows.Close()
			return nil, 0, err
		}
		l.Time = time.UnixMicro(t).UTC()
		out = append(out, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[len(out)-1].Index + 1
	}
	for i := range out {
		ent, err := p.log.Entry(out[i].Index)
		if err != nil {
			return nil, 0, fmt.Errorf("entry %d: %w", out[i].Index, err)
		}
		var e sensor.Event
		if ent.Erased || json.Unmarshal(ent.Payload, &e) != nil {
			out[i].Erased = true
			continue
		}
		out[i].Event = &e
	}
	return out, next, nil
}

// EventStats is what the console charts.
type EventStats struct {
	Since time.Time `json:"since"`
	// Total is the number of events since Since.
	Total int64 `json:"total"`
	// PerHour counts events per hour (UTC, "2006-01-02T15"), oldest first.
	PerHour []HourCount `json:"per_hour"`
	// TopSources are the source addresses with the most events.
	TopSources []SourceCount `json:"top_sources"`
	// ByKind counts events per kind.
	ByKind map[string]int64 `json:"by_kind"`
}

// HourCount is the number of events in one hour.
type HourCount struct {
	Hour  string `json:"hour"`
	Count int64  `json:"count"`
}

// SourceCount is the number of events from one address.
type SourceCount struct {
	Source string `json:"source"`
	Count  int64  `json:"count"`
	// Last is the time of the latest event from it.
	Last string `json:"last"`
}

// Stats counts the events since since: per hour, the top sources (at
// most top) and per kind.
func (p *Pipeline) EventStats(ctx context.Context, since time.Time, top int) (EventStats, error) {
	s := EventStats{Since: since.UTC(), PerHour: []HourCount{}, TopSources: []SourceCount{}, ByKind: map[string]int64{}}
	from := since.UnixMicro()
	const hour = int64(time.Hour / time.Microsecond)
	db := p.db.SQL()
	rows, err := db.QueryContext(ctx, `SELECT t / ? AS hour, count(*) FROM intake_events WHERE t >= ? GROUP BY hour ORDER BY hour`, hour, from)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var h HourCount
		var n int64
		if err := rows.Scan(&n, &h.Count); err != nil {
			rows.Close()
			return s, err
		}
		h.Hour = time.UnixMicro(n * hour).UTC().Format("2006-01-02T15")
		s.Total += h.Count
		s.PerHour = append(s.PerHour, h)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT src_ip, count(*) AS n, max(t) FROM intake_events WHERE t >= ? AND src_ip != '' GROUP BY src_ip ORDER BY n DESC, src_ip LIMIT ?`, from, top)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var c SourceCount
		var last int64
		if err := rows.Scan(&c.Source, &c.Count, &last); err != nil {
			rows.Close()
			return s, err
		}
		c.Last = time.UnixMicro(last).UTC().Format(evidence.TimeFormat)
		s.TopSources = append(s.TopSources, c)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT kind, count(*) FROM intake_events WHERE t >= ? GROUP BY kind`, from)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return s, err
		}
		s.ByKind[k] = n
	}
	return s, rows.Err()
}

// Indexed returns how far the SQLite index has followed the log: every
// event entry below the returned log index is indexed.
func (p *Pipeline) Indexed(ctx context.Context) (int64, error) { return p.loadHead(ctx) }
