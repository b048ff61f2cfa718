package store

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The seed log is a small log file written by this package, kept in
// testdata as a golden file: later versions must still verify it, and it
// seeds FuzzScanFrames. Regenerate it with
//
//	VALLUM_UPDATE_TESTDATA=1 go test -run TestSeedLog ./internal/store
const (
	seedLogDir    = "testdata/seed-log"
	seedLogVKey   = "testdata/seed-log/vkey"
	seedLogErased = 5
)

func TestSeedLog(t *testing.T) {
	if os.Getenv("VALLUM_UPDATE_TESTDATA") != "" {
		writeSeedLog(t)
	}
	v := evidence.NewVerifier(testOrigin, seedVerifier(t))
	if err := VerifyFiles(seedLogDir, v); err != nil {
		t.Fatal(err)
	}
	rep := v.Finish()
	if !rep.OK() || rep.Entries != 25 || rep.Checkpoints < 3 || !slices.Equal(rep.Erased, []int64{seedLogErased}) || len(rep.Warnings) != 0 {
		t.Errorf("golden seed log: got %s erased %v; want ok, 25 entries, several checkpoints, entry %d erased, no warning", rep, rep.Erased, seedLogErased)
	}
}

// writeSeedLog writes the seed log: 24 entries in batches of several
// entries, then the erasure of entry 5, trimmed of the zeros written
// ahead.
func writeSeedLog(t *testing.T) {
	dir := t.TempDir()
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
	l, st := openLog(t, dir, testKeys{s, v})
	for range 3 {
		fill(t, l, 8, 4)
	}
	if _, err := l.Erase(context.Background(), seedLogErased, "GDPR art. 17 request 2026-114", "dpo"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	st.Close()
	lay := readLayout(t, filepath.Join(dir, LogFileName))
	if err := os.MkdirAll(seedLogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seedLogDir, LogFileName), lay.raw[:lay.logEnd], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seedLogVKey, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func seedVerifier(t testing.TB) note.Verifier {
	t.Helper()
	b, err := os.ReadFile(seedLogVKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// FuzzScanFrames treats arbitrary bytes as a log file. Nothing may panic,
// and verification may pass only for the empty log or for a tree that the
// seed log's key really signed: random bytes cannot forge a checkpoint.
func FuzzScanFrames(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join(seedLogDir, LogFileName))
	if err != nil {
		f.Fatal(err)
	}
	verifier := seedVerifier(f)
	// The trees the seed log's key signed.
	signed := map[tlog.Tree]bool{}
	err = ScanFrames(bufio.NewReader(bytes.NewReader(seed)), func(fr Frame) error {
		if fr.Type == frameCheckpoint {
			c, err := evidence.OpenCheckpoint(fr.Body, testOrigin, verifier)
			if err != nil {
				return err
			}
			signed[c.Tree] = true
		}
		return nil
	})
	if err != nil || len(signed) == 0 {
		f.Fatalf("seed log: %d checkpoints, %v", len(signed), err)
	}

	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(append(slices.Clone(seed), make([]byte, 64)...))
	f.Add(append(slices.Clone(seed), "E\x00\x00\x00\x03abc"...))
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add([]byte("E\x00\x00\x00\x00"))
	f.Add([]byte("H\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("C\x00\x00\x00\x01\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		prevEnd := int64(0)
		negative := false
		ScanFrames(bufio.NewReader(bytes.NewReader(data)), func(fr Frame) error {
			end := fr.Offset + frameHeaderSize + int64(len(fr.Body))
			if fr.Offset != prevEnd || end > int64(len(data)) || !bytes.Equal(fr.Body, data[fr.Offset+frameHeaderSize:end]) {
				t.Fatalf("frame %c at offset %d of %d bytes doesn't lie where it was read", fr.Type, fr.Offset, len(fr.Body))
			}
			negative = negative || fr.Type == frameHashes && fr.FirstHash < 0
			prevEnd = end
			return nil
		})
		if negative {
			t.Fatal("ScanFrames yielded a hashes frame with a negative first index (regression seed testdata/fuzz/FuzzScanFrames/negative-first-hash)")
		}

		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, LogFileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		v := evidence.NewVerifier(testOrigin, verifier)
		if err := VerifyFiles(dir, v); err != nil {
			t.Fatal(err)
		}
		rep := v.Finish()
		if rep.OK() {
			empty := rep.Entries == 0 && rep.Checkpoints == 0
			if !empty && (rep.Entries != rep.TreeSize || !signed[tlog.Tree{N: rep.TreeSize, Hash: rep.Root}]) {
				t.Fatalf("random log verified: %s", rep)
			}
		}

		// Opening for writing must not panic either, whatever it decides.
		if st, err := OpenFiles(dir, quietLogger()); err == nil {
			st.State()
			st.Close()
		}
	})
}
