package evidence

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "test.vallum.example/log"

// testRoot is a root hash in its canonical base64 form.
var testRoot = tlog.RecordHash([]byte("root"))

type testKeys struct {
	signer   note.Signer
	verifier note.Verifier
}

func newTestKeys(t testing.TB, name string) testKeys {
	t.Helper()
	skey, vkey, err := GenerateKey(name)
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

func TestParseCheckpoint(t *testing.T) {
	root := testRoot.String()
	tests := []struct {
		name string
		body string
		want Checkpoint
	}{
		{"plain", testOrigin + "\n42\n" + root + "\n", Checkpoint{testOrigin, tlog.Tree{N: 42, Hash: testRoot}}},
		{"empty tree", testOrigin + "\n0\n" + root + "\n", Checkpoint{testOrigin, tlog.Tree{N: 0, Hash: testRoot}}},
		{"extension lines", testOrigin + "\n7\n" + root + "\nextension one\nextension two\n", Checkpoint{testOrigin, tlog.Tree{N: 7, Hash: testRoot}}},
		{"largest size", testOrigin + "\n9223372036854775807\n" + root + "\n", Checkpoint{testOrigin, tlog.Tree{N: 1<<63 - 1, Hash: testRoot}}},
		{"origin with spaces", "example.com/log v2\n1\n" + root + "\n", Checkpoint{"example.com/log v2", tlog.Tree{N: 1, Hash: testRoot}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCheckpoint(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	root := testRoot.String()
	good := testOrigin + "\n42\n" + root + "\n"
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"no final newline", strings.TrimSuffix(good, "\n")},
		{"two lines", testOrigin + "\n42\n"},
		{"one line", testOrigin + "\n"},
		{"empty origin", "\n42\n" + root + "\n"},
		{"CRLF line ends", strings.ReplaceAll(good, "\n", "\r\n")},
		{"negative size", testOrigin + "\n-1\n" + root + "\n"},
		{"size with plus sign", testOrigin + "\n+42\n" + root + "\n"},
		{"size with leading zero", testOrigin + "\n042\n" + root + "\n"},
		{"size with space", testOrigin + "\n 42\n" + root + "\n"},
		{"size in hex", testOrigin + "\n0x2a\n" + root + "\n"},
		{"size with exponent", testOrigin + "\n4e1\n" + root + "\n"},
		{"size overflows int64", testOrigin + "\n9223372036854775808\n" + root + "\n"},
		{"empty size", testOrigin + "\n\n" + root + "\n"},
		{"root not base64", testOrigin + "\n42\nnot a hash!\n"},
		{"root too short", testOrigin + "\n42\n" + root[:40] + "\n"},
		{"root of 33 bytes", testOrigin + "\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"},
		{"root in URL-safe base64", testOrigin + "\n42\n" + strings.NewReplacer("+", "-", "/", "_").Replace(tlog.Hash{0xfb, 0xff}.String()) + "\n"},
		{"root without padding", testOrigin + "\n42\n" + strings.TrimRight(root, "=") + "\n"},
		{"root with non-zero trailing bits", testOrigin + "\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n"},
		{"root with trailing space", testOrigin + "\n42\n" + root + " \n"},
		{"empty extension line", good + "\n"},
		{"empty extension line between", good + "ext\n\next\n"},
		{"invalid UTF-8", "\xff" + good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCheckpoint(tc.body)
			if err == nil {
				t.Fatalf("ParseCheckpoint(%q) = %+v, want an error", tc.body, c)
			}
			if !errors.Is(err, ErrMalformedCheckpoint) {
				t.Errorf("got error %v, want one wrapping ErrMalformedCheckpoint", err)
			}
		})
	}
}

func TestFormatCheckpoint(t *testing.T) {
	c := Checkpoint{testOrigin, tlog.Tree{N: 42, Hash: testRoot}}
	want := testOrigin + "\n42\n" + testRoot.String() + "\n"
	if got := string(FormatCheckpoint(c)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, err := ParseCheckpoint(want); err != nil || got != c {
		t.Errorf("round trip: got %+v, %v; want %+v", got, err, c)
	}
}

func TestOpenCheckpoint(t *testing.T) {
	k := newTestKeys(t, testOrigin)
	c := Checkpoint{testOrigin, tlog.Tree{N: 42, Hash: testRoot}}
	msg, err := SignCheckpoint(c, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(msg, testOrigin, k.verifier)
	if err != nil || got != c {
		t.Fatalf("OpenCheckpoint = %+v, %v; want %+v", got, err, c)
	}
	if n, err := CheckpointSize(msg); err != nil || n != 42 {
		t.Errorf("CheckpointSize = %d, %v; want 42", n, err)
	}

	other := newTestKeys(t, testOrigin)         // same name, other key
	stranger := newTestKeys(t, "other.example") // other name
	otherOrigin, err := SignCheckpoint(Checkpoint{"other.example/log", c.Tree}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(strings.Replace(string(msg), "\n42\n", "\n43\n", 1))
	tests := []struct {
		name     string
		msg      []byte
		verifier note.Verifier
	}{
		{"signed with another key of the same name", msg, other.verifier},
		{"verified with a key of another name", msg, stranger.verifier},
		{"other origin", otherOrigin, k.verifier},
		{"body changed after signing", tampered, k.verifier},
		{"no signature", FormatCheckpoint(c), k.verifier},
		{"oversized", append(msg, strings.Repeat("x", maxCheckpointSize)...), k.verifier},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := OpenCheckpoint(tc.msg, testOrigin, tc.verifier); err == nil {
				t.Errorf("OpenCheckpoint accepted %q as %+v", tc.msg, got)
			}
		})
	}
	// A checkpoint carrying the signatures of two keys opens with either.
	both, err := note.Sign(&note.Note{Text: string(FormatCheckpoint(c))}, k.signer, stranger.signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(both, testOrigin, k.verifier); err != nil {
		t.Errorf("cosigned checkpoint: %v", err)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	root := testRoot.String()
	f.Add(testOrigin + "\n42\n" + root + "\n")
	f.Add(testOrigin + "\n0\n" + root + "\next\n")
	f.Add(testOrigin + "\n042\n" + root + "\n")
	f.Add("\n\n\n")
	f.Fuzz(func(t *testing.T, body string) {
		c, err := ParseCheckpoint(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedCheckpoint) {
				t.Fatalf("ParseCheckpoint(%q): error %v doesn't wrap ErrMalformedCheckpoint", body, err)
			}
			return
		}
		// The three lines it read are exactly their canonical form, and
		// anything after them is extension lines.
		canon := string(FormatCheckpoint(c))
		if !strings.HasPrefix(body, canon) {
			t.Fatalf("ParseCheckpoint(%q) = %+v, whose canonical form %q doesn't begin the body", body, c, canon)
		}
		if c.N < 0 || c.Origin == "" || strings.Contains(c.Origin, "\n") {
			t.Fatalf("ParseCheckpoint(%q) = %+v", body, c)
		}
		again, err := ParseCheckpoint(canon)
		if err != nil || again != c {
			t.Fatalf("canonical form %q parses as %+v, %v; want %+v", canon, again, err, c)
		}
	})
}
