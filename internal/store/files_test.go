package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "test.vallum.example/log"

type testKeys struct {
	signer   note.Signer
	verifier note.Verifier
}

func newKeys(t testing.TB) testKeys {
	t.Helper()
	skey, vkey, err := evidence.GenerateKey(testOrigin)
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
	return testKeys{s, v}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openLog(t testing.TB, dir string, k testKeys) (*evidence.Log, *Files) {
	t.Helper()
	st, err := OpenFiles(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.Open(evidence.Config{Origin: testOrigin, Signer: k.signer, Verifier: k.verifier, Storage: st, Logger: quietLogger()})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); st.Close() })
	return l, st
}

// fill appends n entries from w concurrent writers and returns the receipts
// by index.
func fill(t testing.TB, l *evidence.Log, n, w int) map[int64]evidence.Receipt {
	t.Helper()
	var mu sync.Mutex
	got := map[int64]evidence.Receipt{}
	var wg sync.WaitGroup
	errs := make(chan error, w)
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += w {
				r, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: fmt.Sprintf("writer-%d", g), Incident: "INC-1", Payload: fmt.Appendf(nil, `{"i":%d}`, i)})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[r.Index] = r
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return got
}

func verifyDir(t testing.TB, dir string, k testKeys) *evidence.Report {
	t.Helper()
	v := evidence.NewVerifier(testOrigin, k.verifier)
	if err := VerifyFiles(dir, v); err != nil {
		t.Fatal(err)
	}
	return v.Finish()
}

func TestAppendVerifyReopen(t *testing.T) {
	dir := t.TempDir()
	k := newKeys(t)
	l, st := openLog(t, dir, k)
	got := fill(t, l, 1000, 16)
	if len(got) != 1000 {
		t.Fatalf("got %d distinct indexes, want 1000", len(got))
	}
	for i, r := range got {
		e, err := l.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		if evidence.LeafHash(e.Header) != r.LeafHash {
			t.Errorf("entry %d: leaf hash %s, receipt says %s", i, evidence.LeafHash(e.Header), r.LeafHash)
		}
		cp, err := l.Checkpoint(r.TreeSize)
		if err != nil {
			t.Fatalf("entry %d: no checkpoint at its receipt's size %d: %v", i, r.TreeSize, err)
		}
		p, _, err := l.InclusionProof(i, r.TreeSize)
		if err != nil {
			t.Fatal(err)
		}
		tp := evidence.TlogProof{Index: i, Proof: p, Checkpoint: cp}
		parsed, err := evidence.ParseTlogProof(evidence.FormatTlogProof(tp))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := evidence.VerifyTlogProof(parsed, e.Header, testOrigin, k.verifier); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
	rep := verifyDir(t, dir, k)
	if !rep.OK() || rep.Entries != 1000 {
		t.Fatalf("verify: %s", rep)
	}
	sizes := st.CheckpointSizes()
	if len(sizes) < 2 {
		t.Fatalf("got %d checkpoints, want several", len(sizes))
	}
	p, err := l.ConsistencyProof(sizes[0], sizes[len(sizes)-1])
	if err != nil {
		t.Fatal(err)
	}
	old, _ := l.Checkpoint(sizes[0])
	cur, _ := l.Checkpoint(sizes[len(sizes)-1])
	co, _ := evidence.OpenCheckpoint(old, testOrigin, k.verifier)
	cn, _ := evidence.OpenCheckpoint(cur, testOrigin, k.verifier)
	if err := tlog.CheckTree(p, cn.N, cn.Hash, co.N, co.Hash); err != nil {
		t.Errorf("consistency proof: %v", err)
	}

	l.Close()
	st.Close()
	l2, _ := openLog(t, dir, k)
	if l2.Size() != 1000 {
		t.Fatalf("after reopen size %d, want 1000", l2.Size())
	}
	r, err := l2.Append(context.Background(), evidence.Record{Kind: "test", Actor: "a", Payload: []byte(`{}`)})
	if err != nil || r.Index != 1000 {
		t.Fatalf("append after reopen: %v, index %d", err, r.Index)
	}
	if rep := verifyDir(t, dir, k); !rep.OK() || rep.Entries != 1001 {
		t.Fatalf("verify after reopen: %s", rep)
	}
}

func TestErase(t *testing.T) {
	dir := t.TempDir()
	k := newKeys(t)
	l, _ := openLog(t, dir, k)
	fill(t, l, 10, 1)
	if _, err := l.Erase(context.Background(), 3, "GDPR art. 17 request", "dpo"); err != nil {
		t.Fatal(err)
	}
	e, err := l.Entry(3)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Erased || e.Payload != nil {
		t.Fatalf("entry 3 not erased: %+v", e)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, LogFileName))
	if bytes.Contains(raw, []byte(`{"i":3}`)) {
		t.Fatal("erased payload bytes still in the log file")
	}
	rep := verifyDir(t, dir, k)
	if !rep.OK() || len(rep.Erased) != 1 || rep.Erased[0] != 3 {
		t.Fatalf("verify after erasure: %s erased=%v", rep, rep.Erased)
	}
	if _, err := l.Erase(context.Background(), 10, "x", "dpo"); err == nil {
		t.Error("erasing an erasure entry succeeded")
	}
}

func BenchmarkAppend256Writers(b *testing.B) {
	k := newKeys(b)
	l, _ := openLog(b, b.TempDir(), k)
	payload := bytes.Repeat([]byte("a"), 240)
	payload = append(append([]byte(`{"d":"`), payload...), `"}`...)
	b.SetParallelism(128)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), evidence.Record{Kind: "bench", Actor: "bench", Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
