package evidence_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"golang.org/x/mod/sumdb/tlog"
)

// checkCommitted checks that the entry a receipt names holds the payload
// appended and is proven in the latest checkpoint.
func checkCommitted(t *testing.T, l *evidence.Log, k logKeys, r evidence.Receipt, payload string) {
	t.Helper()
	e, err := l.Entry(r.Index)
	if err != nil {
		t.Fatalf("entry %d: %v", r.Index, err)
	}
	if string(e.Payload) != payload {
		t.Errorf("entry %d holds %s, want %s", r.Index, e.Payload, payload)
	}
	if got := evidence.LeafHash(e.Header); got != r.LeafHash {
		t.Errorf("entry %d: leaf hash %v, receipt says %v", r.Index, got, r.LeafHash)
	}
	h, err := evidence.DecodeHeader(e.Header)
	if err != nil {
		t.Fatalf("entry %d: %v", r.Index, err)
	}
	if got := evidence.Commit(e.Salt, e.Payload); h.Commitment != got {
		t.Errorf("entry %d commits to %s, its salt and payload give %s", r.Index, h.Commitment, got)
	}
	msg, n := l.Latest()
	c, err := evidence.OpenCheckpoint(msg, logOrigin, k.verifier)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := l.InclusionProof(r.Index, n)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", r.Index, n, err)
	}
	if err := tlog.CheckRecord(p, n, c.Hash, r.Index, r.LeafHash); err != nil {
		t.Errorf("entry %d is not proven in the checkpoint of size %d: %v", r.Index, n, err)
	}
}

func TestAppendBatch(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, func(c *evidence.Config) { c.MaxPayload = 64; c.MaxBatch = 3 })
	ctx := context.Background()
	recs := []evidence.Record{
		{Kind: "test", Actor: "a", Payload: []byte(`{"n":0}`)},
		{Kind: "test", Actor: "a", Payload: []byte(`{`)},                        // not JSON
		{Kind: "erasure", Actor: "a", Payload: []byte(`{"n":2}`)},               // reserved kind
		{Kind: "test", Actor: "a", Payload: []byte(`{"n":3}`), Incident: "i-1"}, // fine
		{Kind: "test", Actor: "", Payload: []byte(`{"n":4}`)},                   // no actor
		{Kind: "test", Actor: "b", Payload: []byte(`"` + strings.Repeat("x", 64) + `"`)},
		{Kind: "test", Actor: "b", Payload: []byte(`{"n":6}`)},
		{Kind: "test", Actor: "b", Payload: []byte(`{"n":7}`)},
		{Kind: "test", Actor: "b", Payload: []byte(`{"n":8}`)},
	}
	out := l.AppendBatch(ctx, recs)
	if len(out) != len(recs) {
		t.Fatalf("%d outcomes for %d records", len(out), len(recs))
	}
	invalid := map[int]bool{1: true, 2: true, 4: true, 5: true}
	last := int64(-1)
	for i, o := range out {
		if invalid[i] {
			if !errors.Is(o.Err, evidence.ErrInvalid) {
				t.Errorf("record %d: got %v, want an error wrapping ErrInvalid", i, o.Err)
			}
			continue
		}
		if o.Err != nil {
			t.Fatalf("record %d: %v", i, o.Err)
		}
		if o.Receipt.Index <= last {
			t.Errorf("record %d at index %d, after index %d: the batch's order is lost", i, o.Receipt.Index, last)
		}
		last = o.Receipt.Index
		if o.Receipt.TreeSize <= o.Receipt.Index {
			t.Errorf("record %d: tree size %d does not cover index %d", i, o.Receipt.TreeSize, o.Receipt.Index)
		}
		checkCommitted(t, l, k, o.Receipt, string(recs[i].Payload))
	}
	if l.Size() != 5 {
		t.Errorf("log size %d, want the 5 valid records", l.Size())
	}
}

// TestAppendBatchConcurrent mixes batches and single appends from many
// goroutines: every record lands exactly once, and each batch keeps its
// order.
func TestAppendBatchConcurrent(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, func(c *evidence.Config) { c.MaxBatch = 50 })
	ctx := context.Background()
	const writers, batches, size = 8, 10, 37
	var mu sync.Mutex
	got := map[int64]string{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]evidence.Record, size)
				for i := range recs {
					recs[i] = evidence.Record{Kind: "test", Actor: "w", Payload: fmt.Appendf(nil, `{"w":%d,"b":%d,"i":%d}`, w, b, i)}
				}
				last := int64(-1)
				for i, o := range l.AppendBatch(ctx, recs) {
					if o.Err != nil {
						t.Errorf("writer %d batch %d record %d: %v", w, b, i, o.Err)
						return
					}
					if o.Receipt.Index <= last {
						t.Errorf("writer %d batch %d: record %d at %d after %d", w, b, i, o.Receipt.Index, last)
					}
					last = o.Receipt.Index
					mu.Lock()
					if prev, dup := got[o.Receipt.Index]; dup {
						t.Errorf("index %d given twice: %s and %s", o.Receipt.Index, prev, recs[i].Payload)
					}
					got[o.Receipt.Index] = string(recs[i].Payload)
					mu.Unlock()
				}
				if _, err := l.Append(ctx, evidence.Record{Kind: "test", Actor: "w", Payload: []byte(`{"single":true}`)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if want := int64(writers * batches * (size + 1)); l.Size() != want {
		t.Fatalf("log size %d, want %d", l.Size(), want)
	}
	for i, p := range got {
		e, err := l.Entry(i)
		if err != nil || string(e.Payload) != p {
			t.Errorf("entry %d: %s, %v; want %s", i, e.Payload, err, p)
		}
	}
}

// TestAppendBatchBrokenStorage fails one commit in the middle of a batch:
// the records of that commit fail, none is reported durable that is not,
// and the log refuses further appends until reopened.
func TestAppendBatchBrokenStorage(t *testing.T) {
	dir := t.TempDir()
	k := newLogKeys(t)
	l := mustOpen(t, dir, k, func(c *evidence.Config) {
		c.MaxBatch = 4
		c.Storage = &brokenStorage{Storage: c.Storage, fail: 2}
	})
	recs := make([]evidence.Record, 12)
	for i := range recs {
		recs[i] = evidence.Record{Kind: "test", Actor: "a", Payload: fmt.Appendf(nil, `{"i":%d}`, i)}
	}
	out := l.AppendBatch(context.Background(), recs)
	ok := 0
	for i, o := range out {
		if o.Err == nil {
			ok++
			checkCommitted(t, l, k, o.Receipt, string(recs[i].Payload))
		}
	}
	if ok == len(recs) || ok == 0 {
		t.Fatalf("%d of %d records durable; want the second commit's records to fail", ok, len(recs))
	}
	if int64(ok) != l.Size() {
		t.Errorf("%d records reported durable, the log holds %d", ok, l.Size())
	}
	l.Close()
	l = mustOpen(t, dir, k, nil)
	if l.Size() != int64(ok) {
		t.Errorf("after reopening the log holds %d entries, %d were reported durable", l.Size(), ok)
	}
}

func TestAppendBatchCanceled(t *testing.T) {
	k := newLogKeys(t)
	l := mustOpen(t, t.TempDir(), k, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := l.AppendBatch(ctx, []evidence.Record{{Kind: "test", Actor: "a", Payload: []byte(`{}`)}})
	if !errors.Is(out[0].Err, context.Canceled) {
		t.Errorf("canceled batch: got %v, want context.Canceled", out[0].Err)
	}
	if l.Size() != 0 {
		t.Errorf("a canceled batch left %d entries", l.Size())
	}
	l.Close()
	if out := l.AppendBatch(context.Background(), []evidence.Record{{Kind: "test", Actor: "a", Payload: []byte(`{}`)}}); !errors.Is(out[0].Err, evidence.ErrClosed) {
		t.Errorf("batch after Close: got %v, want ErrClosed", out[0].Err)
	}
}

// BenchmarkAppendBatch appends b.N 256-byte records in batches of 512
// from 4 goroutines; compare BenchmarkAppendParallel (one record per
// call).
func BenchmarkAppendBatch(b *testing.B) {
	k := newLogKeys(b)
	l := mustOpen(b, b.TempDir(), k, nil)
	payload := []byte(`{"d":"` + strings.Repeat("a", 248) + `"}`)
	const size = 512
	recs := make([]evidence.Record, size)
	for i := range recs {
		recs[i] = evidence.Record{Kind: "test", Actor: "writer", Payload: payload}
	}
	var next sync.Mutex
	left := b.N
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				next.Lock()
				n := min(left, size)
				left -= n
				next.Unlock()
				if n == 0 {
					return
				}
				for _, o := range l.AppendBatch(context.Background(), recs[:n]) {
					if o.Err != nil {
						b.Error(o.Err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppend is BenchmarkAppendBatch with one record per call from
// 256 goroutines, as before batches.
func BenchmarkAppend(b *testing.B) {
	k := newLogKeys(b)
	l := mustOpen(b, b.TempDir(), k, nil)
	payload := []byte(`{"d":"` + strings.Repeat("a", 248) + `"}`)
	b.ResetTimer()
	appendMany(b, l, b.N, 256, payload)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
