package evidence_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const logOrigin = "log-test.vallum.example/log"

type logKeys struct {
	signer   note.Signer
	verifier note.Verifier
}

func newLogKeys(t testing.TB) logKeys {
	t.Helper()
	skey, vkey, err := evidence.GenerateKey(logOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return logKeys{s, v}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTestLog opens a log on a store.Files in dir; edit may change the
// config (and wrap the storage) before the log opens.
func openTestLog(t testing.TB, dir string, k logKeys, edit func(*evidence.Config)) (*evidence.Log, error) {
	t.Helper()
	files, err := store.OpenFiles(dir, discard())
	if err != nil {
		t.Fatal(err)
	}
	cfg := evidence.Config{Origin: logOrigin, Signer: k.signer, Verifier: k.verifier, Storage: files, Logger: discard()}
	if edit != nil {
		edit(&cfg)
	}
	l, err := evidence.Open(cfg)
	if err != nil {
		files.Close()
		return nil, err
	}
	t.Cleanup(func() { l.Close(); files.Close() })
	return l, nil
}

func mustOpen(t testing.TB, dir string, k logKeys, edit func(*evidence.Config)) *evidence.Log {
	t.Helper()
	l, err := openTestLog(t, dir, k, edit)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// appendMany appends n entries from w writers and returns the receipts in
// the order they came back.
func appendMany(t testing.TB, l *evidence.Log, n, w int, payload []byte) []evidence.Receipt {
	t.Helper()
	out := make([]evidence.Receipt, 0, n)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	var failed error
	for range w {
		wg.Go(func() {
			for {
				next.Lock()
				if i == n || failed != nil {
					next.Unlock()
					return
				}
				i++
				next.Unlock()
				r, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: "writer", Payload: payload})
				next.Lock()
				if err != nil {
					failed = err
				} else {
					out = append(out, r)
				}
				next.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	return out
}

func TestLogHeaders(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, nil)
	recs := []evidence.Record{
		{Kind: "decision", Actor: "analyst:rossi", Incident: "INC-1", Payload: []byte(`{"a":1}`)},
		{Kind: "approval", Actor: `Zoë "<ceo>" & co`, Payload: []byte(`"x"`)},
		{Kind: "honeypot.event", Actor: "a\u2028b", Incident: "ÏNC", Payload: []byte(`[]`)},
	}
	for i, rec := range recs {
		r, err := l.Append(context.Background(), rec)
		if err != nil {
			t.Fatal(err)
		}
		if r.Index != int64(i) || r.TreeSize != int64(i+1) {
			t.Errorf("receipt %+v, want index %d in a tree of %d", r, i, i+1)
		}
		e, err := l.Entry(r.Index)
		if err != nil {
			t.Fatal(err)
		}
		h, err := evidence.DecodeHeader(e.Header)
		if err != nil {
			t.Fatalf("the log wrote a header DecodeHeader rejects: %s: %v", e.Header, err)
		}
		want := evidence.Header{V: evidence.HeaderVersion, Kind: rec.Kind, Time: r.Time, Actor: rec.Actor, Incident: rec.Incident, Commitment: evidence.Commit(e.Salt, rec.Payload)}
		if h != want {
			t.Errorf("entry %d header %+v, want %+v", i, h, want)
		}
		if evidence.LeafHash(e.Header) != r.LeafHash {
			t.Errorf("entry %d: leaf hash %s, receipt says %s", i, evidence.LeafHash(e.Header), r.LeafHash)
		}
		if string(e.Payload) != string(rec.Payload) || len(e.Salt) != evidence.SaltSize {
			t.Errorf("entry %d: payload %q, salt of %d bytes", i, e.Payload, len(e.Salt))
		}
	}
}

func TestLogTimeNeverGoesBack(t *testing.T) {
	k := newLogKeys(t)
	var mu sync.Mutex
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(-time.Second) // a clock stepped back at every read
		return now
	}
	l := mustOpen(t, t.TempDir(), k, func(c *evidence.Config) { c.Clock = clock })
	var last string
	for i := range 5 {
		r, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: "a", Payload: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(r.Time, "Z") {
			t.Errorf("entry %d time %q is not UTC", i, r.Time)
		}
		if r.Time < last {
			t.Errorf("entry %d time %s is before the previous entry's %s", i, r.Time, last)
		}
		last = r.Time
	}
}

func TestAppendRejects(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, func(c *evidence.Config) { c.MaxPayload = 64 })
	good := evidence.Record{Kind: "test", Actor: "a", Payload: []byte(`{}`)}
	tests := []struct {
		name string
		edit func(*evidence.Record)
	}{
		{"empty kind", func(r *evidence.Record) { r.Kind = "" }},
		{"uppercase kind", func(r *evidence.Record) { r.Kind = "Test" }},
		{"empty actor", func(r *evidence.Record) { r.Actor = "" }},
		{"actor with newline", func(r *evidence.Record) { r.Actor = "a\nb" }},
		{"actor with invalid UTF-8", func(r *evidence.Record) { r.Actor = "\xff" }},
		{"incident too long", func(r *evidence.Record) { r.Incident = strings.Repeat("i", 1000) }},
		{"payload not JSON", func(r *evidence.Record) { r.Payload = []byte(`{`) }},
		{"empty payload", func(r *evidence.Record) { r.Payload = nil }},
		{"two JSON values", func(r *evidence.Record) { r.Payload = []byte(`{} {}`) }},
		{"payload string with invalid UTF-8", func(r *evidence.Record) { r.Payload = []byte("\"\xff\"") }},
		{"payload over the limit", func(r *evidence.Record) { r.Payload = []byte(`"` + strings.Repeat("x", 64) + `"`) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := good
			tc.edit(&rec)
			if r, err := l.Append(context.Background(), rec); !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Append = %+v, %v; want an error wrapping ErrInvalid", r, err)
			}
		})
	}
	if l.Size() != 0 {
		t.Errorf("rejected appends left %d entries", l.Size())
	}
	if _, err := l.Append(context.Background(), good); err != nil {
		t.Errorf("good record after rejected ones: %v", err)
	}
}

func TestProofArguments(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, nil)
	appendMany(t, l, 10, 1, []byte(`{}`))
	for _, c := range [][2]int64{{0, 0}, {-1, 5}, {5, 5}, {0, 11}, {10, 10}} {
		if _, _, err := l.InclusionProof(c[0], c[1]); !errors.Is(err, evidence.ErrInvalid) {
			t.Errorf("InclusionProof(%d, %d): got %v, want ErrInvalid", c[0], c[1], err)
		}
	}
	for _, c := range [][2]int64{{0, 5}, {6, 5}, {5, 11}, {-1, 3}} {
		if _, err := l.ConsistencyProof(c[0], c[1]); !errors.Is(err, evidence.ErrInvalid) {
			t.Errorf("ConsistencyProof(%d, %d): got %v, want ErrInvalid", c[0], c[1], err)
		}
	}
	for n := int64(1); n <= 10; n++ {
		cp, _ := l.Checkpoint(n)
		c, err := evidence.OpenCheckpoint(cp, logOrigin, k.verifier)
		if err != nil {
			t.Fatalf("checkpoint %d: %v", n, err)
		}
		for i := range n {
			p, got, err := l.InclusionProof(i, n)
			if err != nil || string(got) != string(cp) {
				t.Fatalf("InclusionProof(%d, %d): %v", i, n, err)
			}
			e, _ := l.Entry(i)
			if err := tlog.CheckRecord(p, n, c.Hash, i, evidence.LeafHash(e.Header)); err != nil {
				t.Errorf("entry %d in tree %d: %v", i, n, err)
			}
		}
		for m := int64(1); m <= n; m++ {
			old, _ := l.Checkpoint(m)
			co, _ := evidence.OpenCheckpoint(old, logOrigin, k.verifier)
			p, err := l.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, n, c.Hash, m, co.Hash); err != nil {
				t.Errorf("tree %d in tree %d: %v", m, n, err)
			}
		}
	}
}

// tileReader reads tiles from a Log the way a client reads them over
// HTTP: by C2SP path.
type tileReader struct {
	l     *evidence.Log
	paths []string
}

func (r *tileReader) Height() int { return evidence.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := evidence.TilePath(t)
		r.paths = append(r.paths, p)
		parsed, err := evidence.ParseTilePath(p)
		if err != nil {
			return nil, err
		}
		if out[i], err = r.l.ReadTile(parsed); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// TestTilesServeAnXModClient checks that a client using only x/mod's tlog
// and note can verify the checkpoint, read the hash tiles and the entry
// bundles, and prove every entry.
func TestTilesServeAnXModClient(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, nil)
	for range 3 {
		appendMany(t, l, 300, 32, []byte(`{"x":1}`))
	}
	cp, size := l.Latest()
	n, err := note.Open(cp, note.VerifierList(k.verifier))
	if err != nil {
		t.Fatal(err)
	}
	c, err := evidence.ParseCheckpoint(n.Text)
	if err != nil || c.N != size {
		t.Fatalf("checkpoint %+v, %v; want size %d", c, err, size)
	}
	tr := &tileReader{l: l}
	hr := tlog.TileHashReader(c.Tree, tr)
	if root, err := tlog.TreeHash(c.N, hr); err != nil || root != c.Hash {
		t.Fatalf("root from tiles %s, %v; checkpoint says %s", root, err, c.Hash)
	}
	for i := int64(0); i < size; i += 37 {
		p, err := tlog.ProveRecord(c.N, i, hr)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := l.Entry(i)
		if err := tlog.CheckRecord(p, c.N, c.Hash, i, tlog.RecordHash(e.Header)); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
	if !slices.ContainsFunc(tr.paths, func(p string) bool { return strings.Contains(p, ".p/") }) {
		t.Errorf("read no partial tile: %v", tr.paths)
	}
	// Entry bundles hold the bytes whose leaf hashes are in the level 0
	// tiles.
	for _, w := range []int{256, int(size % 256)} {
		nTile := int64(0)
		if w != 256 {
			nTile = size / 256
		}
		bundle, err := l.ReadTile(tlog.Tile{H: 8, L: -1, N: nTile, W: w})
		if err != nil {
			t.Fatal(err)
		}
		hashes, err := l.ReadTile(tlog.Tile{H: 8, L: 0, N: nTile, W: w})
		if err != nil {
			t.Fatal(err)
		}
		entries, err := evidence.SplitEntryBundle(bundle)
		if err != nil || len(entries) != w || len(hashes) != 32*w {
			t.Fatalf("bundle of %d entries, %d hash bytes, %v; want %d", len(entries), len(hashes), err, w)
		}
		for j, e := range entries {
			if h := tlog.RecordHash(e); string(h[:]) != string(hashes[32*j:32*j+32]) {
				t.Errorf("tile %d entry %d: bundle and hash tile disagree", nTile, j)
			}
		}
	}
	for _, bad := range []tlog.Tile{
		{H: 8, L: 0, N: size/256 + 1, W: 256},
		{H: 8, L: 0, N: size / 256, W: 256},
		{H: 8, L: 0, N: size / 256, W: int(size%256) + 1},
		{H: 8, L: -1, N: size / 256, W: int(size%256) + 1},
		{H: 8, L: 2, N: 0, W: 1},
	} {
		if _, err := l.ReadTile(bad); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("ReadTile(%+v) beyond the tree of %d: got %v, want ErrNotFound", bad, size, err)
		}
	}
	if _, err := l.ReadTile(tlog.Tile{H: 4, L: 0, N: 0, W: 1}); err == nil {
		t.Error("ReadTile accepted a tile of height 4")
	}
}

func TestOpenRejectsForeignLog(t *testing.T) {
	dir := t.TempDir()
	k := newLogKeys(t)
	l := mustOpen(t, dir, k, nil)
	appendMany(t, l, 5, 1, []byte(`{}`))
	l.Close()
	if _, err := openTestLog(t, dir, newLogKeys(t), nil); err == nil {
		t.Error("a log signed with another key opened")
	}
	if _, err := openTestLog(t, dir, k, func(c *evidence.Config) { c.Origin = "other.example/log" }); err == nil {
		t.Error("a log of another origin opened")
	}
}

// brokenStorage fails one Commit with ErrBroken: storage that may hold a
// partial batch.
type brokenStorage struct {
	evidence.Storage
	mu    sync.Mutex
	calls int
	fail  int
}

func (s *brokenStorage) Commit(b *evidence.Batch) error {
	s.mu.Lock()
	s.calls++
	fail := s.calls == s.fail
	s.mu.Unlock()
	if fail {
		return fmt.Errorf("write: %w", evidence.ErrBroken)
	}
	return s.Storage.Commit(b)
}

func TestBrokenStorageStopsAppends(t *testing.T) {
	dir := t.TempDir()
	k := newLogKeys(t)
	l := mustOpen(t, dir, k, func(c *evidence.Config) { c.Storage = &brokenStorage{Storage: c.Storage, fail: 3} })
	for i := range 5 {
		_, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: "a", Payload: []byte(`{}`)})
		if i < 2 && err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if i >= 2 && !errors.Is(err, evidence.ErrBroken) {
			t.Errorf("append %d after a broken commit: got %v, want ErrBroken", i, err)
		}
	}
	if l.Size() != 2 {
		t.Errorf("size %d, want 2", l.Size())
	}
	l.Close()
	l = mustOpen(t, dir, k, nil)
	if r, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: "a", Payload: []byte(`{}`)}); err != nil || r.Index != 2 {
		t.Errorf("append after reopening: index %d, %v; want 2", r.Index, err)
	}
}

func TestEraseRejects(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, nil)
	appendMany(t, l, 3, 1, []byte(`{"secret":1}`))
	ctx := context.Background()
	if _, err := l.Erase(ctx, 1, "", "dpo"); !errors.Is(err, evidence.ErrInvalid) {
		t.Errorf("erasure without a reason: got %v, want ErrInvalid", err)
	}
	if _, err := l.Erase(ctx, 3, "r", "dpo"); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("erasing a missing entry: got %v, want ErrNotFound", err)
	}
	r, err := l.Erase(ctx, 1, "retention", "dpo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Erase(ctx, 1, "again", "dpo"); !errors.Is(err, evidence.ErrInvalid) {
		t.Errorf("erasing twice: got %v, want ErrInvalid", err)
	}
	if _, err := l.Erase(ctx, r.Index, "r", "dpo"); !errors.Is(err, evidence.ErrInvalid) {
		t.Errorf("erasing an erasure entry: got %v, want ErrInvalid", err)
	}
	e, err := l.Entry(1)
	if err != nil || !e.Erased || e.Payload != nil || e.Salt != nil {
		t.Errorf("entry 1 after erasure: %+v, %v", e, err)
	}
	if p, _, err := l.InclusionProof(1, l.Size()); err != nil || len(p) == 0 {
		t.Errorf("erased entry can no longer be proven: %v", err)
	}
}

func TestAppendAfterClose(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, nil)
	l.Close()
	if _, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: "a", Payload: []byte(`{}`)}); !errors.Is(err, evidence.ErrClosed) {
		t.Errorf("append after Close: got %v, want ErrClosed", err)
	}
}

// benchLog builds a log of n entries with 256-byte payloads in a few large
// batches (many concurrent writers).
func benchLog(b *testing.B, n int) (string, logKeys, *evidence.Log) {
	b.Helper()
	dir := b.TempDir()
	k := newLogKeys(b)
	l := mustOpen(b, dir, k, nil)
	payload := []byte(`{"d":"` + strings.Repeat("a", 248) + `"}`)
	appendMany(b, l, n, 4096, payload)
	return dir, k, l
}

// reportPercentiles reports the p50 and p99 of per-operation durations.
func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkInclusionProof(b *testing.B) {
	_, _, l := benchLog(b, 100_000)
	size := l.Size()
	var d []time.Duration
	for b.Loop() {
		i := rand.Int64N(size)
		start := time.Now()
		if _, _, err := l.InclusionProof(i, size); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	reportPercentiles(b, d)
}

func BenchmarkConsistencyProof(b *testing.B) {
	_, _, l := benchLog(b, 100_000)
	sizes := l.Storage().CheckpointSizes()
	var d []time.Duration
	for b.Loop() {
		n1, n2 := sizes[rand.IntN(len(sizes))], sizes[rand.IntN(len(sizes))]
		if n1 > n2 {
			n1, n2 = n2, n1
		}
		start := time.Now()
		if _, err := l.ConsistencyProof(n1, n2); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	reportPercentiles(b, d)
	b.ReportMetric(float64(len(sizes)), "checkpoints")
}

func BenchmarkVerify(b *testing.B) {
	dir, k, l := benchLog(b, 100_000)
	l.Close()
	for b.Loop() {
		v := evidence.NewVerifier(logOrigin, k.verifier)
		if err := store.VerifyFiles(dir, v); err != nil {
			b.Fatal(err)
		}
		if rep := v.Finish(); !rep.OK() || rep.Entries != 100_000 {
			b.Fatalf("verify: %s", rep)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "entries/s")
}
