package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// frameRef locates one frame of a log file.
type frameRef struct {
	typ       byte
	off, end  int64 // the frame's bytes are raw[off:end]
	bodyOff   int64
	firstHash int64 // hashes frames: first stored-hash index
	nHashes   int64
}

// batchRef is one committed batch of a log file: its entry frames, hashes
// frame and checkpoint frame.
type batchRef struct {
	start   int64      // index of the first entry
	entries []frameRef // by entry index - start
	hashes  frameRef
	cp      frameRef
}

func (b batchRef) end() int64 { return b.start + int64(len(b.entries)) }

// layout is what a test needs to know about a log file to tamper with it.
type layout struct {
	raw     []byte
	logEnd  int64 // end of the last frame; zeros written ahead follow
	batches []batchRef
}

// readLayout scans a log file written by Files. It fails the test on
// anything but a clean sequence of committed batches.
func readLayout(t *testing.T, path string) layout {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lay := layout{raw: raw}
	var cur batchRef
	next := int64(0)
	err = ScanFrames(bufio.NewReader(bytes.NewReader(raw)), func(fr Frame) error {
		r := frameRef{typ: fr.Type, off: fr.Offset, end: fr.Offset + frameHeaderSize + int64(len(fr.Body)), bodyOff: fr.Offset + frameHeaderSize}
		switch fr.Type {
		case frameEntry:
			if len(cur.entries) == 0 {
				cur.start = next
			}
			cur.entries = append(cur.entries, r)
			next++
		case frameHashes:
			r.firstHash, r.nHashes = fr.FirstHash, int64(len(fr.Hashes))
			cur.hashes = r
		case frameCheckpoint:
			cur.cp = r
			lay.batches = append(lay.batches, cur)
			cur = batchRef{}
		}
		lay.logEnd = r.end
		return nil
	})
	if err != nil {
		t.Fatalf("scanning the untampered log: %v", err)
	}
	if len(cur.entries) > 0 {
		t.Fatal("untampered log ends with entries after its last checkpoint")
	}
	return lay
}

// target returns a batch that is neither the first nor the last and holds
// at least three entries, so that a tampered entry has neighbours in its
// batch and committed batches on both sides.
func (lay layout) target(t *testing.T) batchRef {
	t.Helper()
	for _, b := range lay.batches[1 : len(lay.batches)-1] {
		if len(b.entries) >= 3 {
			return b
		}
	}
	var sizes []int
	for _, b := range lay.batches {
		sizes = append(sizes, len(b.entries))
	}
	t.Fatalf("no inner batch of three or more entries; batch sizes %v", sizes)
	return batchRef{}
}

// frameBytes returns a copy of the bytes of frame r.
func (lay layout) frameBytes(r frameRef) []byte {
	return slices.Clone(lay.raw[r.off:r.end])
}

// splice returns raw with raw[from:to] replaced by repl.
func splice(raw []byte, from, to int64, repl []byte) []byte {
	out := make([]byte, 0, int64(len(raw))-(to-from)+int64(len(repl)))
	out = append(out, raw[:from]...)
	out = append(out, repl...)
	return append(out, raw[to:]...)
}

func checkpointFrame(msg []byte) []byte {
	b := []byte{frameCheckpoint}
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	return append(b, msg...)
}

// entryParts locates the header, flags byte, salt and payload of an entry
// frame in the file.
func (lay layout) entryParts(r frameRef) (header, flag, salt, payload [2]int64) {
	hl := int64(binary.BigEndian.Uint16(lay.raw[r.bodyOff:]))
	h := r.bodyOff + 2
	header = [2]int64{h, h + hl}
	flag = [2]int64{h + hl, h + hl + 1}
	salt = [2]int64{h + hl + 1, h + hl + 1 + evidence.SaltSize}
	payload = [2]int64{salt[1], r.end}
	return
}

// hashOffset returns the file offset of stored hash x in hashes frame r.
func hashOffset(r frameRef, x int64) int64 {
	return r.bodyOff + 8 + 32*(x-r.firstHash)
}

// buildTamperLog appends entries in rounds of concurrent writers, so the
// log holds many batches of several entries, closes it and returns its
// directory and layout.
func buildTamperLog(t *testing.T, k testKeys) (string, layout) {
	t.Helper()
	dir := t.TempDir()
	l, st := openLog(t, dir, k)
	for range 6 {
		fill(t, l, 24, 8)
	}
	l.Close()
	st.Close()
	return dir, readLayout(t, filepath.Join(dir, LogFileName))
}

// verifyWith runs the offline verification as 'vallum verify' does: the
// file, then the trees witnessed elsewhere, then Finish.
func verifyWith(t *testing.T, dir string, k testKeys, witnesses ...evidence.Checkpoint) *evidence.Report {
	t.Helper()
	v := evidence.NewVerifier(testOrigin, k.verifier)
	if err := VerifyFiles(dir, v); err != nil {
		t.Fatal(err)
	}
	for _, c := range witnesses {
		v.CheckTree(c, "witnessed checkpoint")
	}
	return v.Finish()
}

func openCheckpoint(t *testing.T, lay layout, b batchRef, k testKeys) evidence.Checkpoint {
	t.Helper()
	c, err := evidence.OpenCheckpoint(lay.raw[b.cp.bodyOff:b.cp.end], testOrigin, k.verifier)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// otherSigner returns a signer with the log's key name but another key.
func otherSigner(t *testing.T) note.Signer {
	t.Helper()
	skey, _, err := evidence.GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantProblem is a problem a verification must report: at an entry index
// from first to last, with what in its description.
type wantProblem struct {
	first, last int64
	what        string
}

func at(i int64, what string) wantProblem { return wantProblem{i, i, what} }

func (w wantProblem) String() string {
	if w.first == w.last {
		return fmt.Sprintf("%q at index %d", w.what, w.first)
	}
	return fmt.Sprintf("%q at an index from %d to %d", w.what, w.first, w.last)
}

// tamperCase is one way of tampering with a closed log. tamper returns
// the new file contents and the problem verification must report first.
type tamperCase struct {
	name string
	// tamper returns the tampered file and the first problem verification
	// must report.
	tamper func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem)
	// witness passes the untampered log's last checkpoint to CheckTree.
	witness bool
}

var tamperCases = []tamperCase{
	{
		name: "changed payload byte",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			_, _, _, p := lay.entryParts(b.entries[1])
			raw := slices.Clone(lay.raw)
			raw[p[1]-2] ^= 0x01 // the payload ends in a digit and '}'
			return raw, at(b.start+1, "payload doesn't match the commitment")
		},
	},
	{
		name: "changed header byte (actor)",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			h, _, _, _ := lay.entryParts(b.entries[1])
			raw := slices.Clone(lay.raw)
			a := bytes.Index(raw[h[0]:h[1]], []byte(`"actor":"writer-`))
			if a < 0 {
				t.Fatalf("no actor in header %s", raw[h[0]:h[1]])
			}
			d := h[0] + int64(a) + int64(len(`"actor":"writer-`))
			raw[d] = '0' + (raw[d]-'0'+1)%10 // still a canonical header
			return raw, at(b.start+1, "stored leaf hash")
		},
	},
	{
		name: "deleted entry frame",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			e := b.entries[1]
			return splice(lay.raw, e.off, e.end, nil), at(b.start+1, "stored leaf hash")
		},
	},
	{
		name: "deleted last entry frame of a batch",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			e := b.entries[len(b.entries)-1]
			return splice(lay.raw, e.off, e.end, nil), at(b.end()-1, "deleted")
		},
	},
	{
		name: "two entry frames swapped",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			e1, e2 := b.entries[1], b.entries[2]
			swapped := append(lay.frameBytes(e2), lay.frameBytes(e1)...)
			return splice(lay.raw, e1.off, e2.end, swapped), at(b.start+1, "stored leaf hash")
		},
	},
	{
		name: "extra entry frame inserted",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			dup := lay.frameBytes(b.entries[0])
			pos := b.entries[1].off
			return splice(lay.raw, pos, pos, dup), at(b.start+1, "stored leaf hash")
		},
	},
	{
		name:    "truncated at a batch boundary",
		witness: true,
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			return lay.raw[:b.cp.end], at(b.end(), "log truncated")
		},
	},
	{
		name:    "truncated mid-batch, witnessed",
		witness: true,
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.batches[len(lay.batches)-1]
			cut := (b.hashes.off + b.hashes.end) / 2
			return lay.raw[:cut], at(b.start, "log truncated")
		},
	},
	{
		name: "changed stored leaf hash",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			raw := slices.Clone(lay.raw)
			raw[hashOffset(b.hashes, tlog.StoredHashIndex(0, b.start+1))] ^= 0x80
			return raw, at(b.start+1, "stored leaf hash")
		},
	},
	{
		name: "changed stored interior hash",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			for x := b.hashes.firstHash; x < b.hashes.firstHash+b.hashes.nHashes; x++ {
				level, n := tlog.SplitStoredHashIndex(x)
				if level == 0 {
					continue
				}
				raw := slices.Clone(lay.raw)
				raw[hashOffset(b.hashes, x)+31] ^= 0x01
				// The hash covers entries n<<level to (n+1)<<level - 1.
				return raw, wantProblem{n << level, (n+1)<<level - 1, fmt.Sprintf("stored hash at level %d index %d differs", level, n)}
			}
			t.Fatal("target batch adds no interior hash")
			return nil, wantProblem{}
		},
	},
	{
		name: "checkpoint signed with another key",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			c := openCheckpoint(t, lay, b, k)
			forged, err := evidence.SignCheckpoint(c, otherSigner(t))
			if err != nil {
				t.Fatal(err)
			}
			return splice(lay.raw, b.cp.off, b.cp.end, checkpointFrame(forged)), at(b.end()-1, "forged or replaced checkpoint")
		},
	},
	{
		name: "checkpoint of a fork signed with the log key",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			// A second log with the same key and as many entries, but
			// other ones: one writer, so there is a checkpoint at every
			// size.
			l, _ := openLog(t, t.TempDir(), k)
			for i := range b.end() {
				if _, err := l.Append(context.Background(), evidence.Record{Kind: "fork", Actor: "mallory", Payload: fmt.Appendf(nil, `{"f":%d}`, i)}); err != nil {
					t.Fatal(err)
				}
			}
			fork, err := l.Checkpoint(b.end())
			if err != nil {
				t.Fatal(err)
			}
			return splice(lay.raw, b.cp.off, b.cp.end, checkpointFrame(fork)), at(b.end()-1, "a fork")
		},
	},
	{
		name: "payload erased without an erasure entry",
		tamper: func(t *testing.T, lay layout, k testKeys) ([]byte, wantProblem) {
			b := lay.target(t)
			_, f, s, p := lay.entryParts(b.entries[1])
			raw := slices.Clone(lay.raw)
			clear(raw[s[0]:p[1]])
			raw[f[0]] = flagErased
			return raw, at(b.start+1, "no erasure entry records its erasure")
		},
	},
}

func TestTamper(t *testing.T) {
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeys(t)
			dir, lay := buildTamperLog(t, k)
			if rep := verifyWith(t, dir, k); !rep.OK() {
				t.Fatalf("untampered log: %s", rep)
			}
			last := openCheckpoint(t, lay, lay.batches[len(lay.batches)-1], k)
			raw, want := tc.tamper(t, lay, k)
			if err := os.WriteFile(filepath.Join(dir, LogFileName), raw, 0o600); err != nil {
				t.Fatal(err)
			}
			var witnesses []evidence.Checkpoint
			if tc.witness {
				witnesses = append(witnesses, last)
			}
			rep := verifyWith(t, dir, k, witnesses...)
			if rep.OK() {
				t.Fatalf("tampered log verified: %s", rep)
			}
			p := rep.Problems[0]
			if p.Index < want.first || p.Index > want.last || !strings.Contains(p.What, want.what) {
				t.Errorf("first problem is %q at index %d, want %s\n%s", p.What, p.Index, want, rep)
			}
		})
	}
}

// TestTruncatedWithoutWitness checks what the log file alone can show: a
// truncation at a batch boundary leaves a valid shorter log (only a
// witnessed checkpoint reveals it, see TestTamper), and a torn tail is a
// warning, not tampering.
func TestTruncatedWithoutWitness(t *testing.T) {
	k := newKeys(t)
	dir, lay := buildTamperLog(t, k)
	path := filepath.Join(dir, LogFileName)

	b := lay.target(t)
	if err := os.WriteFile(path, lay.raw[:b.cp.end], 0o600); err != nil {
		t.Fatal(err)
	}
	rep := verifyWith(t, dir, k)
	if !rep.OK() || rep.Entries != b.end() || len(rep.Warnings) != 0 {
		t.Errorf("log cut after a batch: got %s, want ok with %d entries and no warning", rep, b.end())
	}

	last := lay.batches[len(lay.batches)-1]
	for _, cut := range []int64{last.entries[0].off + 3, last.entries[len(last.entries)-1].end, last.hashes.end, last.cp.end - 1} {
		if err := os.WriteFile(path, lay.raw[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		rep := verifyWith(t, dir, k)
		if !rep.OK() || rep.Entries != last.start || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "torn tail") {
			t.Errorf("log torn at offset %d of the last batch [%d, %d): got %s, want ok with %d entries and a torn-tail warning", cut, last.entries[0].off, last.cp.end, rep, last.start)
		}
	}
}

func TestLegitimateErasureVerifies(t *testing.T) {
	k := newKeys(t)
	dir := t.TempDir()
	l, st := openLog(t, dir, k)
	for range 4 {
		fill(t, l, 24, 8)
	}
	r, err := l.Erase(context.Background(), 17, "GDPR art. 17 request 2026-114", "dpo")
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 24, 8)
	l.Close()
	st.Close()
	rep := verifyWith(t, dir, k)
	if !rep.OK() || !slices.Equal(rep.Erased, []int64{17}) {
		t.Fatalf("got %s, erased %v; want ok with entry 17 erased (by entry %d)", rep, rep.Erased, r.Index)
	}
}

// TestOpenRefusesMismatchedHashes changes the stored hash of the largest
// complete subtree, which the root of the last checkpoint is computed
// from: the log must refuse to start rather than sign on top of it.
func TestOpenRefusesMismatchedHashes(t *testing.T) {
	k := newKeys(t)
	dir, lay := buildTamperLog(t, k)
	size := lay.batches[len(lay.batches)-1].end()
	level := 0
	for size>>(level+1) > 0 {
		level++
	}
	x := tlog.StoredHashIndex(level, 0)
	raw := slices.Clone(lay.raw)
	found := false
	for _, b := range lay.batches {
		if x >= b.hashes.firstHash && x < b.hashes.firstHash+b.hashes.nHashes {
			raw[hashOffset(b.hashes, x)] ^= 0xff
			found = true
		}
	}
	if !found {
		t.Fatalf("stored hash %d not in any hashes frame", x)
	}
	if err := os.WriteFile(filepath.Join(dir, LogFileName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := OpenFiles(dir, quietLogger())
	if err != nil {
		t.Fatalf("OpenFiles: %v", err)
	}
	defer st.Close()
	l, err := evidence.Open(evidence.Config{Origin: testOrigin, Signer: k.signer, Verifier: k.verifier, Storage: st, Logger: quietLogger()})
	if err == nil {
		l.Close()
		t.Fatal("evidence.Open accepted stored hashes that don't give the last checkpoint's root")
	}
	if !strings.Contains(err.Error(), "vallum verify") {
		t.Errorf("got error %q, want a hint to run 'vallum verify'", err)
	}
}

// TestTornTailSetAside writes what a crash can leave after the last
// committed batch and checks that OpenFiles moves it to a side file, and
// that the log then opens, verifies and keeps every committed entry.
func TestTornTailSetAside(t *testing.T) {
	tests := []struct {
		name string
		torn func(lay layout) (raw, tail []byte)
	}{
		{"garbage after the zeros written ahead", func(lay layout) ([]byte, []byte) {
			tail := []byte("\x01garbage from a torn write")
			return append(slices.Clone(lay.raw), tail...), nil
		}},
		{"garbage right after the last batch", func(lay layout) ([]byte, []byte) {
			tail := []byte("E\x00\x00\x01\x00{\"v\":1")
			return splice(lay.raw, lay.logEnd, lay.logEnd+int64(len(tail)), tail), tail
		}},
		{"first half of a batch", func(lay layout) ([]byte, []byte) {
			b := lay.batches[len(lay.batches)-1]
			tail := lay.raw[b.entries[0].off : (b.entries[0].off+b.cp.end)/2]
			return splice(lay.raw, lay.logEnd, lay.logEnd+int64(len(tail)), tail), tail
		}},
		{"a batch with a hole of zeros (pages written out of order)", func(lay layout) ([]byte, []byte) {
			b := lay.batches[len(lay.batches)-1]
			tail := slices.Clone(lay.raw[b.entries[0].off:b.cp.end])
			clear(tail[len(tail)/3 : 2*len(tail)/3])
			return splice(lay.raw, lay.logEnd, lay.logEnd+int64(len(tail)), tail), tail
		}},
		{"a batch without its checkpoint", func(lay layout) ([]byte, []byte) {
			b := lay.batches[len(lay.batches)-1]
			tail := lay.raw[b.entries[0].off:b.cp.off]
			return splice(lay.raw, lay.logEnd, lay.logEnd+int64(len(tail)), tail), tail
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeys(t)
			dir := t.TempDir()
			l, st := openLog(t, dir, k)
			receipts := map[int64]evidence.Receipt{}
			for range 4 {
				for i, r := range fill(t, l, 24, 8) {
					receipts[i] = r
				}
			}
			l.Close()
			st.Close()
			path := filepath.Join(dir, LogFileName)
			lay := readLayout(t, path)
			raw, tail := tc.torn(lay)
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			rep := verifyWith(t, dir, k)
			if !rep.OK() || len(rep.Warnings) == 0 {
				t.Errorf("before reopening: got %s, want ok with a torn-tail warning", rep)
			}

			l, _ = openLog(t, dir, k)
			aside, _ := filepath.Glob(path + ".torn-*")
			if len(aside) != 1 {
				t.Fatalf("got side files %v, want one evidence.log.torn-*", aside)
			}
			if tail != nil {
				got, err := os.ReadFile(aside[0])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tail) {
					t.Errorf("side file holds %d bytes %q, want the %d torn bytes", len(got), got, len(tail))
				}
			}
			if got, want := l.Size(), int64(len(receipts)); got != want {
				t.Fatalf("size after reopening %d, want %d", got, want)
			}
			for i, r := range receipts {
				e, err := l.Entry(i)
				if err != nil {
					t.Fatal(err)
				}
				if evidence.LeafHash(e.Header) != r.LeafHash {
					t.Errorf("entry %d: leaf hash %s, receipt says %s", i, evidence.LeafHash(e.Header), r.LeafHash)
				}
			}
			r, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: "a", Payload: []byte(`{}`)})
			if err != nil || r.Index != int64(len(receipts)) {
				t.Fatalf("append after reopening: index %d, err %v; want index %d", r.Index, err, len(receipts))
			}
			if rep := verifyDir(t, dir, k); !rep.OK() || len(rep.Warnings) != 0 || rep.Entries != int64(len(receipts))+1 {
				t.Errorf("after reopening: got %s, want ok, no warning, %d entries", rep, len(receipts)+1)
			}
		})
	}
}

// failingFiles is storage whose Commit fails, without writing anything,
// on the calls the test chooses: a disk that is full for a moment.
type failingFiles struct {
	*Files
	mu     sync.Mutex
	calls  int
	failOn map[int]bool
	failed map[string]bool // payloads of the batches that failed
}

var _ evidence.Storage = (*failingFiles)(nil)

func (s *failingFiles) Commit(b *evidence.Batch) error {
	s.mu.Lock()
	s.calls++
	fail := s.failOn[s.calls]
	if fail {
		for _, p := range b.Payloads {
			s.failed[string(p)] = true
		}
	}
	s.mu.Unlock()
	if fail {
		return fmt.Errorf("write %s: %w", LogFileName, syscall.ENOSPC)
	}
	return s.Files.Commit(b)
}

func TestCommitFailure(t *testing.T) {
	tests := []struct {
		name   string
		failOn []int
	}{
		{"first commit", []int{1}},
		{"a later commit", []int{4}},
		{"two commits in a row", []int{3, 4}},
		{"two commits apart", []int{2, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeys(t)
			dir := t.TempDir()
			files, err := OpenFiles(dir, quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			st := &failingFiles{Files: files, failOn: map[int]bool{}, failed: map[string]bool{}}
			for _, c := range tc.failOn {
				st.failOn[c] = true
			}
			l, err := evidence.Open(evidence.Config{Origin: testOrigin, Signer: k.signer, Verifier: k.verifier, Storage: st, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer files.Close()
			defer l.Close()

			const writers, each = 16, 20
			var mu sync.Mutex
			acked := map[int64]string{} // index -> payload
			failed := map[string]error{}
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						payload := fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)
						r, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: "a", Payload: []byte(payload)})
						mu.Lock()
						if err != nil {
							failed[payload] = err
						} else if old, dup := acked[r.Index]; dup {
							t.Errorf("index %d acknowledged twice, for %s and %s", r.Index, old, payload)
						} else {
							acked[r.Index] = payload
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()

			st.mu.Lock()
			calls, inFailed := st.calls, st.failed
			st.mu.Unlock()
			if calls < slices.Max(tc.failOn) {
				t.Fatalf("only %d commits; the test needs more batches", calls)
			}
			if len(inFailed) == 0 {
				t.Fatal("no batch failed")
			}
			for p, err := range failed {
				if !inFailed[p] {
					t.Errorf("append of %s failed but it was in no failed batch: %v", p, err)
				}
				if !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("append of %s: got error %v, want one wrapping ENOSPC", p, err)
				}
			}
			for p := range inFailed {
				if _, ok := failed[p]; !ok {
					t.Errorf("append of %s succeeded but its batch failed", p)
				}
			}
			if got, want := len(acked)+len(failed), writers*each; got != want {
				t.Errorf("%d acknowledged + %d failed appends, want %d in all", len(acked), len(failed), want)
			}
			n := int64(len(acked))
			if l.Size() != n {
				t.Errorf("log size %d, want %d acknowledged entries", l.Size(), n)
			}
			for i := range n {
				p, ok := acked[i]
				if !ok {
					t.Errorf("index %d was never acknowledged: indexes are not contiguous", i)
					continue
				}
				e, err := l.Entry(i)
				if err != nil {
					t.Errorf("entry %d: %v", i, err)
				} else if string(e.Payload) != p {
					t.Errorf("entry %d holds %s, acknowledged for %s", i, e.Payload, p)
				}
			}
			r, err := l.Append(context.Background(), evidence.Record{Kind: "test", Actor: "a", Payload: []byte(`{"after":true}`)})
			if err != nil || r.Index != n {
				t.Errorf("append after the failures: index %d, err %v; want index %d", r.Index, err, n)
			}
			l.Close()
			if rep := verifyDir(t, dir, k); !rep.OK() || rep.Entries != n+1 {
				t.Errorf("verify: got %s, want ok with %d entries", rep, n+1)
			}
		})
	}
}
