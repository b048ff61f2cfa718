package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
)

// project runs the projection until it has seen the whole log.
func projectAll(t *testing.T, db *DB, l *evidence.Log, witness string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Project(ctx, l, witness, quietLogger()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		size, _, err := db.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if size == l.Size() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projection stuck at %d of %d", size, l.Size())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestProjectionAndTruncationCheck(t *testing.T) {
	dir := t.TempDir()
	k := newKeys(t)
	l, st := openLog(t, dir, k)
	fill(t, l, 300, 8)
	db, err := OpenSQLite(context.Background(), filepath.Join(dir, "vallum.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	witness := filepath.Join(dir, "latest-checkpoint")
	projectAll(t, db, l, witness)

	es, err := db.Entries(context.Background(), "INC-1", -1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 300 {
		t.Fatalf("indexed %d entries of INC-1, want 300", len(es))
	}
	for _, e := range es {
		got, _ := l.Entry(e.Index)
		if evidence.LeafHash(got.Header).String() != e.LeafHash {
			t.Fatalf("entry %d: indexed leaf hash %s differs from the log's", e.Index, e.LeafHash)
		}
	}
	if err := db.CheckHead(context.Background(), l); err != nil {
		t.Fatalf("untouched log: %v", err)
	}
	w, err := os.ReadFile(witness)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := evidence.CheckpointSize(w); n != 300 {
		t.Errorf("latest-checkpoint file has size %d, want 300", n)
	}

	// Cut the log back to an earlier batch boundary: a valid shorter log.
	sizes := st.CheckpointSizes()
	cut := sizes[len(sizes)/2]
	l.Close()
	st.Close()
	truncateAtCheckpoint(t, dir, cut)
	st2, err := OpenFiles(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	l2, err := evidence.Open(evidence.Config{Origin: testOrigin, Signer: k.signer, Verifier: k.verifier, Storage: st2, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("the shorter log should open by itself: %v", err)
	}
	defer l2.Close()
	if err := db.CheckHead(context.Background(), l2); !errors.Is(err, ErrTruncated) {
		t.Errorf("CheckHead on a log cut to %d entries: got %v, want ErrTruncated", cut, err)
	}
	if v, err := db.SchemaVersion(context.Background()); err != nil || v != len(migrations)-1 {
		t.Errorf("schema version %d (%v), want %d", v, err, len(migrations)-1)
	}
}

// truncateAtCheckpoint cuts the log file right after the checkpoint frame
// of size n.
func truncateAtCheckpoint(t *testing.T, dir string, n int64) {
	t.Helper()
	st, err := OpenFiles(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	var end int64 = -1
	for _, c := range st.cps {
		if c.size == n {
			end = c.off + c.len
		}
	}
	st.Close()
	if end < 0 {
		t.Fatalf("no checkpoint of size %d", n)
	}
	if err := os.Truncate(filepath.Join(dir, LogFileName), end); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationsPerComponent(t *testing.T) {
	db, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := []string{1: `CREATE TABLE a (x INTEGER)`, 2: `ALTER TABLE a ADD COLUMN y TEXT`}
	for i := 0; i < 2; i++ { // applying twice is a no-op
		if err := db.Migrate(context.Background(), "test", m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SQL().Exec(`INSERT INTO a(x, y) VALUES (1, 'b')`); err != nil {
		t.Errorf("schema after migrations: %v", err)
	}
	if err := db.Migrate(context.Background(), "test", m[:2]); err == nil {
		t.Error("a binary knowing fewer migrations than applied was accepted")
	}
	bad := []string{1: `CREATE TABLE b (`}
	if err := db.Migrate(context.Background(), "bad", bad); err == nil {
		t.Error("a failing migration was reported as applied")
	}
	var n int
	db.SQL().QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE component = 'bad'`).Scan(&n)
	if n != 0 {
		t.Errorf("failed migration recorded %d rows", n)
	}
}

func TestLatestOfKind(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, newKeys(t))
	for i := range 10 {
		kind := "note"
		if i%3 == 0 {
			kind = "event" // 0, 3, 6, 9
		}
		if _, err := l.Append(context.Background(), evidence.Record{Kind: kind, Actor: "t", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := OpenSQLite(context.Background(), filepath.Join(dir, "vallum.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	projectAll(t, db, l, filepath.Join(dir, "latest-checkpoint"))
	for _, tc := range []struct {
		name  string
		after int64
		limit int
		want  []int64
	}{
		{"all", -1, 100, []int64{9, 6, 3, 0}},
		{"newest two", -1, 2, []int64{9, 6}},
		{"after 3", 3, 100, []int64{9, 6}},
		{"none after", 9, 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := db.LatestOfKind(context.Background(), "event", tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, e := range es {
				if e.Kind != "event" {
					t.Errorf("entry %d is a %q", e.Index, e.Kind)
				}
				got = append(got, e.Index)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
