package tsa

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vallum/vallum/internal/store"
)

// migrations of component "tsa". A released migration is never edited,
// only followed.
var migrations = []string{
	1: `
CREATE TABLE tsa_anchors (
	id                INTEGER PRIMARY KEY,
	tree_size         INTEGER NOT NULL,
	checkpoint        BLOB NOT NULL,
	checkpoint_sha256 TEXT NOT NULL,
	authority         TEXT NOT NULL,
	url               TEXT NOT NULL,
	gen_time          TEXT NOT NULL,
	serial            TEXT NOT NULL,
	hash              TEXT NOT NULL,
	token             BLOB NOT NULL,
	token_sha256      TEXT NOT NULL,
	roots_pem         BLOB NOT NULL,
	incident          TEXT NOT NULL,
	reason            TEXT NOT NULL,
	log_index         INTEGER
);
CREATE INDEX tsa_anchors_size ON tsa_anchors(tree_size, id);`,
}

// Anchor is one stored time-stamp of a signed checkpoint.
type Anchor struct {
	ID       int64 `json:"id"`
	TreeSize int64 `json:"tree_size"`
	// Checkpoint is the exact signed checkpoint note that was stamped.
	Checkpoint       []byte    `json:"-"`
	CheckpointSHA256 string    `json:"checkpoint_sha256"`
	Authority        string    `json:"authority"`
	URL              string    `json:"url"`
	Time             time.Time `json:"gen_time"`
	Serial           string    `json:"serial"`
	Hash             string    `json:"hash"`
	// Token is the DER TimeStampResp.
	Token       []byte `json:"-"`
	TokenSHA256 string `json:"token_sha256"`
	// RootsPEM are the authority's trusted roots when it was stamped.
	RootsPEM []byte `json:"-"`
	Incident string `json:"incident,omitempty"`
	Reason   string `json:"reason"`
	// LogIndex is the index of the "anchor" evidence entry, -1 if it was
	// not logged (a crash between storing and logging).
	LogIndex int64 `json:"log_index"`
}

// Store keeps anchors in the server's SQLite database. It is safe for
// concurrent use.
type Store struct{ db *sql.DB }

// OpenStore applies the component's migrations and returns the store.
func OpenStore(ctx context.Context, db *store.DB) (*Store, error) {
	if err := db.Migrate(ctx, "tsa", migrations); err != nil {
		return nil, err
	}
	return &Store{db: db.SQL()}, nil
}

// Add stores a and returns its ID; the token is durable once it returns.
func (s *Store) Add(ctx context.Context, a Anchor) (int64, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO tsa_anchors(tree_size, checkpoint, checkpoint_sha256, authority, url, gen_time, serial, hash, token, token_sha256, roots_pem, incident, reason, log_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		a.TreeSize, a.Checkpoint, a.CheckpointSHA256, a.Authority, a.URL, a.Time.UTC().Format(time.RFC3339Nano), a.Serial, a.Hash, a.Token, a.TokenSHA256, a.RootsPEM, a.Incident, a.Reason)
	if err != nil {
		return 0, fmt.Errorf("couldn't store anchor: %w", err)
	}
	return res.LastInsertId()
}

// SetLogIndex records the evidence entry that logged anchor id.
func (s *Store) SetLogIndex(ctx context.Context, id, index int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE tsa_anchors SET log_index = ? WHERE id = ?`, index, id)
	return err
}

const anchorCols = `id, tree_size, checkpoint, checkpoint_sha256, authority, url, gen_time, serial, hash, token, token_sha256, roots_pem, incident, reason, COALESCE(log_index, -1)`

func scanAnchors(rows *sql.Rows) ([]Anchor, error) {
	defer rows.Close()
	var out []Anchor
	for rows.Next() {
		var a Anchor
		var t string
		if err := rows.Scan(&a.ID, &a.TreeSize, &a.Checkpoint, &a.CheckpointSHA256, &a.Authority, &a.URL, &t, &a.Serial, &a.Hash, &a.Token, &a.TokenSHA256, &a.RootsPEM, &a.Incident, &a.Reason, &a.LogIndex); err != nil {
			return nil, err
		}
		a.Time, _ = time.Parse(time.RFC3339Nano, t)
		out = append(out, a)
	}
	return out, rows.Err()
}

// List returns anchors with ID below before (0: from the newest), newest
// first, at most limit.
func (s *Store) List(ctx context.Context, before int64, limit int) ([]Anchor, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+anchorCols+` FROM tsa_anchors WHERE (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?`, before, before, limit)
	if err != nil {
		return nil, err
	}
	return scanAnchors(rows)
}

// Covering returns, for each authority, the first anchor whose tree
// covers entry index (tree_size > index), and the latest anchor of every
// authority: what proves an entry existed no later than a time, and the
// freshest witness of the whole log.
func (s *Store) Covering(ctx context.Context, indexes []int64) ([]Anchor, error) {
	seen := map[int64]bool{}
	var out []Anchor
	add := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		as, err := scanAnchors(rows)
		if err != nil {
			return err
		}
		for _, a := range as {
			if !seen[a.ID] {
				seen[a.ID] = true
				out = append(out, a)
			}
		}
		return nil
	}
	// Entries are usually clustered; the first anchor after each distinct
	// "first covering size" is shared by many.
	covered := int64(-1)
	for _, i := range indexes {
		if i < covered {
			continue
		}
		err := add(s.db.QueryContext(ctx, `SELECT `+anchorCols+` FROM tsa_anchors a WHERE tree_size > ? AND id = (SELECT MIN(id) FROM tsa_anchors b WHERE b.authority = a.authority AND b.tree_size > ? AND b.tree_size = (SELECT MIN(tree_size) FROM tsa_anchors c WHERE c.authority = a.authority AND c.tree_size > ?))`, i, i, i))
		if err != nil {
			return nil, err
		}
		covered = -1
		for _, a := range out {
			if a.TreeSize > i && (covered < 0 || a.TreeSize < covered) {
				covered = a.TreeSize
			}
		}
		if covered < 0 {
			break // no anchor covers i, so none covers a later entry
		}
	}
	if err := add(s.db.QueryContext(ctx, `SELECT `+anchorCols+` FROM tsa_anchors WHERE id IN (SELECT MAX(id) FROM tsa_anchors GROUP BY authority)`)); err != nil {
		return nil, err
	}
	return out, nil
}
