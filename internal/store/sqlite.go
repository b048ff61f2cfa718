package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver
)

// DB is Vallum's SQL database: indexes and projections of the evidence log.
// Everything in it can be rebuilt from the log.
type DB struct {
	db *sql.DB
}

// migrations are applied in order; a migration is never edited once
// released, only followed by a new one.
var migrations = []string{
	1: `
CREATE TABLE log_entries (
	idx       INTEGER PRIMARY KEY,
	kind      TEXT NOT NULL,
	time      TEXT NOT NULL,
	actor     TEXT NOT NULL,
	incident  TEXT NOT NULL,
	leaf_hash TEXT NOT NULL
);
CREATE INDEX log_entries_incident ON log_entries(incident, idx);
CREATE INDEX log_entries_kind ON log_entries(kind, idx);
CREATE TABLE log_head (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	size       INTEGER NOT NULL,
	checkpoint TEXT NOT NULL
);
CREATE TABLE log_erasures (
	target  INTEGER PRIMARY KEY,
	by_idx  INTEGER NOT NULL
);`,
}

// OpenSQLite opens (creating) the SQLite database at path in WAL mode and
// applies pending migrations.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-32768)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("couldn't open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises writes anyway
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return &DB{db: db}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// SchemaVersion returns the latest applied migration of the log's own
// schema (component "log").
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := d.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = 'log'`).Scan(&v)
	return v, err
}

// SQL returns the database handle, for packages that keep their own
// projections (each with its own migrations, see Migrate).
func (d *DB) SQL() *sql.DB { return d.db }

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("couldn't create schema_migrations: %w", err)
	}
	return applyMigrations(ctx, db, "log", migrations)
}

// Migrate applies a component's pending migrations, each in its own
// transaction. migrations[0] is unused; migrations[v] takes the schema to
// version v. A released migration is never edited, only followed.
func (d *DB) Migrate(ctx context.Context, component string, migrations []string) error {
	return applyMigrations(ctx, d.db, component, migrations)
}

func applyMigrations(ctx context.Context, db *sql.DB, component string, migrations []string) error {
	var cur int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?`, component).Scan(&cur); err != nil {
		return err
	}
	if cur > len(migrations)-1 {
		return fmt.Errorf("%s schema version %d is newer than this binary knows (%d): upgrade vallum", component, cur, len(migrations)-1)
	}
	for v := cur + 1; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s migration %d: %w", component, v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(component, version, applied_at) VALUES (?, ?, ?)`, component, v, time.Now().UTC().Format(time.RFC3339)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s migration %d: %w", component, v, err)
		}
	}
	return nil
}

// Head returns the latest checkpoint the projection has seen (size 0 and
// nil if none).
func (d *DB) Head(ctx context.Context) (int64, []byte, error) {
	var size int64
	var cp string
	err := d.db.QueryRowContext(ctx, `SELECT size, checkpoint FROM log_head WHERE id = 1`).Scan(&size, &cp)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return size, []byte(cp), nil
}

// ErrTruncated means the log holds less than the database has seen.
var ErrTruncated = errors.New("evidence log is shorter than its projection: truncated or replaced")

// CheckHead checks that the log still holds the tree the database last
// recorded: same or larger size, and the same root at that size.
func (d *DB) CheckHead(ctx context.Context, l *evidence.Log) error {
	size, cp, err := d.Head(ctx)
	if err != nil || cp == nil {
		return err
	}
	c, err := evidence.OpenCheckpoint(cp, l.Origin(), l.Verifier())
	if err != nil {
		return fmt.Errorf("recorded head: %w", err)
	}
	if size > l.Size() {
		return fmt.Errorf("%w: the database recorded a signed checkpoint of size %d, the log holds %d entries", ErrTruncated, size, l.Size())
	}
	root, err := tlog.TreeHash(c.N, l)
	if err != nil {
		return err
	}
	if root != c.Hash {
		return fmt.Errorf("%w: the log's root at size %d is %s, the recorded checkpoint says %s", ErrTruncated, c.N, root, c.Hash)
	}
	return nil
}

// Project keeps the database's projection of l up to date until ctx ends:
// it indexes every committed entry, records erasures and the latest
// checkpoint, and writes that checkpoint to witnessPath (atomically) for
// the offline verifier to detect truncation.
func (d *DB) Project(ctx context.Context, l *evidence.Log, witnessPath string, logger *slog.Logger) error {
	var next int64
	if err := d.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx)+1, 0) FROM log_entries`).Scan(&next); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for {
		changed := l.Changed()
		cp, size := l.Latest()
		if size > next {
			n, err := d.project(ctx, l, next, size, cp)
			if err != nil {
				if ctx.Err() != nil {
					// Shutting down: the next start resumes from the
					// last committed transaction.
					return nil
				}
				return fmt.Errorf("couldn't project entries from %d: %w", next, err)
			}
			next = n
			if err := writeWitness(witnessPath, cp); err != nil {
				logger.Error("couldn't write latest checkpoint", "path", witnessPath, "err", err)
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

// project indexes entries [from, to) in one transaction, at most 10,000.
func (d *DB) project(ctx context.Context, l *evidence.Log, from, to int64, cp []byte) (int64, error) {
	if to-from > 10000 {
		to = from + 10000
		var err error
		if cp, err = l.Checkpoint(to); err != nil {
			cp = nil
		}
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return from, err
	}
	defer tx.Rollback()
	full, err := tx.PrepareContext(ctx, insertEntries(entryRows))
	if err != nil {
		return from, err
	}
	defer full.Close()
	args := make([]any, 0, entryRows*entryColumns)
	flush := func() error {
		var err error
		switch n := len(args) / entryColumns; n {
		case 0:
		case entryRows:
			_, err = full.ExecContext(ctx, args...)
		default:
			_, err = tx.ExecContext(ctx, insertEntries(n), args...)
		}
		args = args[:0]
		return err
	}
	for i := from; i < to; i++ {
		e, err := l.Entry(i)
		if err != nil {
			return from, err
		}
		h, err := evidence.DecodeHeader(e.Header)
		if err != nil {
			return from, fmt.Errorf("entry %d: %w", i, err)
		}
		args = append(args, i, h.Kind, h.Time, h.Actor, h.Incident, evidence.LeafHash(e.Header).String())
		if len(args) == entryRows*entryColumns {
			if err := flush(); err != nil {
				return from, err
			}
		}
		if h.Kind == evidence.ErasureKind && !e.Erased {
			var req evidence.ErasureRequest
			if err := json.Unmarshal(e.Payload, &req); err == nil {
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO log_erasures(target, by_idx) VALUES (?, ?)`, req.Index, i); err != nil {
					return from, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return from, err
	}
	if cp != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_head(id, size, checkpoint) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET size = excluded.size, checkpoint = excluded.checkpoint`, to, string(cp)); err != nil {
			return from, err
		}
	}
	return to, tx.Commit()
}

// entryColumns is the number of columns of a log_entries row; entryRows
// bounds the rows of one INSERT (a statement per row costs more than the
// B-tree work it does).
const (
	entryColumns = 6
	entryRows    = 64
)

// insertEntries returns the INSERT statement for n rows of log_entries.
func insertEntries(n int) string {
	return `INSERT INTO log_entries(idx, kind, time, actor, incident, leaf_hash) VALUES ` +
		strings.Repeat(`(?,?,?,?,?,?),`, n-1) + `(?,?,?,?,?,?)`
}

// Reindex empties the log's projection and rebuilds it from l. It must not
// run while Project does.
func (d *DB) Reindex(ctx context.Context, l *evidence.Log) error {
	for _, t := range []string{"log_entries", "log_erasures", "log_head"} {
		if _, err := d.db.ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return fmt.Errorf("couldn't empty %s: %w", t, err)
		}
	}
	cp, size := l.Latest()
	for next := int64(0); next < size; {
		n, err := d.project(ctx, l, next, size, cp)
		if err != nil {
			return fmt.Errorf("couldn't project entries from %d: %w", next, err)
		}
		next = n
	}
	return nil
}

// IndexedEntry is one row of the entry index.
type IndexedEntry struct {
	Index    int64  `json:"index"`
	Kind     string `json:"kind"`
	Time     string `json:"time"`
	Actor    string `json:"actor"`
	Incident string `json:"incident"`
	LeafHash string `json:"leaf_hash"`
}

// Entries lists indexed entries from index after on, optionally of one
// incident, at most limit.
func (d *DB) Entries(ctx context.Context, incident string, after int64, limit int) ([]IndexedEntry, error) {
	return d.entries(ctx, `WHERE idx > ? AND (? = '' OR incident = ?) ORDER BY idx LIMIT ?`, after, incident, incident, limit)
}

// LatestOfKind lists the indexed entries of kind after index after,
// newest first, at most limit.
func (d *DB) LatestOfKind(ctx context.Context, kind string, after int64, limit int) ([]IndexedEntry, error) {
	return d.entries(ctx, `WHERE kind = ? AND idx > ? ORDER BY idx DESC LIMIT ?`, kind, after, limit)
}

// entries lists the index rows that where (a WHERE clause, its order and
// limit) selects.
func (d *DB) entries(ctx context.Context, where string, args ...any) ([]IndexedEntry, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT idx, kind, time, actor, incident, leaf_hash FROM log_entries `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []IndexedEntry
	for rows.Next() {
		var e IndexedEntry
		if err := rows.Scan(&e.Index, &e.Kind, &e.Time, &e.Actor, &e.Incident, &e.LeafHash); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// writeWitness replaces path with b atomically.
func writeWitness(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
