package evidence

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memTree is an in-memory tree of the given leaves, for proofs without a
// Log.
type memTree struct {
	leaves [][]byte
	hashes []tlog.Hash
}

func newMemTree(t testing.TB, leaves [][]byte) *memTree {
	t.Helper()
	m := &memTree{leaves: leaves}
	for i, l := range leaves {
		hs, err := tlog.StoredHashes(int64(i), l, m)
		if err != nil {
			t.Fatal(err)
		}
		m.hashes = append(m.hashes, hs...)
	}
	return m
}

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("stored hash %d: %w", x, ErrNotFound)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func testLeaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		h := testHeader()
		h.Actor = fmt.Sprintf("actor-%d", i)
		out[i], _ = EncodeHeader(h)
	}
	return out
}

// signedProof returns a tlog-proof of leaf i in the tree of the leaves,
// with its checkpoint signed by k under origin.
func signedProof(t testing.TB, m *memTree, i int64, origin string, k testKeys) TlogProof {
	t.Helper()
	n := int64(len(m.leaves))
	root, err := tlog.TreeHash(n, m)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := SignCheckpoint(Checkpoint{origin, tlog.Tree{N: n, Hash: root}}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tlog.ProveRecord(n, i, m)
	if err != nil {
		t.Fatal(err)
	}
	return TlogProof{Index: i, Proof: p, Checkpoint: cp}
}

func TestTlogProofRoundTrip(t *testing.T) {
	k := newTestKeys(t, testOrigin)
	m := newMemTree(t, testLeaves(13))
	for _, extra := range [][]byte{nil, {}, []byte("some extra data\x00\xff")} {
		for i := range int64(13) {
			p := signedProof(t, m, i, testOrigin, k)
			p.Extra = extra
			text := FormatTlogProof(p)
			got, err := ParseTlogProof(text)
			if err != nil {
				t.Fatalf("ParseTlogProof(%q): %v", text, err)
			}
			if got.Index != p.Index || !bytes.Equal(got.Extra, p.Extra) || (got.Extra == nil) != (p.Extra == nil) ||
				!bytes.Equal(got.Checkpoint, p.Checkpoint) || fmt.Sprint(got.Proof) != fmt.Sprint(p.Proof) {
				t.Fatalf("round trip of %q: got %+v, want %+v", text, got, p)
			}
			if again := FormatTlogProof(got); !bytes.Equal(again, text) {
				t.Fatalf("re-formatted %q, want %q", again, text)
			}
			if _, err := VerifyTlogProof(got, m.leaves[i], testOrigin, k.verifier); err != nil {
				t.Errorf("entry %d: %v", i, err)
			}
		}
	}
}

func TestFormatTlogProof(t *testing.T) {
	h := tlog.RecordHash([]byte("x"))
	p := TlogProof{Extra: []byte("hi"), Index: 5, Proof: tlog.RecordProof{h, h}, Checkpoint: []byte("cp\n\n— sig\n")}
	want := "c2sp.org/tlog-proof@v1\nextra aGk=\nindex 5\n" + h.String() + "\n" + h.String() + "\n\ncp\n\n— sig\n"
	if got := string(FormatTlogProof(p)); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestParseTlogProofRejects(t *testing.T) {
	h := tlog.RecordHash([]byte("x")).String()
	cp := "\n" + testOrigin + "\n1\n" + h + "\n\n— sig\n"
	tests := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"no blank line", TlogProofHeader + "\nindex 0\n" + h},
		{"wrong header", "c2sp.org/tlog-proof@v2\nindex 0\n" + cp},
		{"header with trailing space", TlogProofHeader + " \nindex 0\n" + cp},
		{"missing index", TlogProofHeader + "\n" + h + "\n" + cp},
		{"index before extra", TlogProofHeader + "\nindex 0\nextra aGk=\n" + cp},
		{"negative index", TlogProofHeader + "\nindex -1\n" + cp},
		{"index with leading zero", TlogProofHeader + "\nindex 01\n" + cp},
		{"index with plus", TlogProofHeader + "\nindex +1\n" + cp},
		{"index with two spaces", TlogProofHeader + "\nindex  1\n" + cp},
		{"index not a number", TlogProofHeader + "\nindex one\n" + cp},
		{"index overflows", TlogProofHeader + "\nindex 9223372036854775808\n" + cp},
		{"extra not base64", TlogProofHeader + "\nextra !!\nindex 0\n" + cp},
		{"extra without padding", TlogProofHeader + "\nextra aGk\nindex 0\n" + cp},
		{"hash not base64", TlogProofHeader + "\nindex 0\nnot a hash\n" + cp},
		{"short hash", TlogProofHeader + "\nindex 0\n" + h[:20] + "\n" + cp},
		{"hash with trailing space", TlogProofHeader + "\nindex 0\n" + h + " \n" + cp},
		{"64 hashes", TlogProofHeader + "\nindex 0\n" + strings.Repeat(h+"\n", 64) + cp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := ParseTlogProof([]byte(tc.text)); err == nil {
				t.Errorf("ParseTlogProof(%q) = %+v, want an error", tc.text, p)
			}
		})
	}
}

// TestParseTlogProofCanonicalHashes checks that a proof hash has one
// spelling only. base64.StdEncoding, which tlog.ParseHash uses, skips
// carriage returns and accepts non-zero trailing bits.
func TestParseTlogProofCanonicalHashes(t *testing.T) {
	h := tlog.RecordHash([]byte("x")).String()
	// The last base64 digit before "=" carries two unused bits.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", h[42])
	bits := h[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last^1]) + "="
	cp := "\n" + testOrigin + "\n1\n" + h + "\n\n— sig\n"
	for _, spelling := range []string{h + "\r", bits} {
		text := TlogProofHeader + "\nindex 0\n" + spelling + "\n" + cp
		p, err := ParseTlogProof([]byte(text))
		if err == nil {
			t.Errorf("ParseTlogProof accepts the non-canonical hash %q (as %s)", spelling, p.Proof[0])
		}
	}
}

func TestVerifyTlogProof(t *testing.T) {
	k := newTestKeys(t, testOrigin)
	m := newMemTree(t, testLeaves(10))
	good := signedProof(t, m, 6, testOrigin, k)
	if c, err := VerifyTlogProof(good, m.leaves[6], testOrigin, k.verifier); err != nil || c.N != 10 {
		t.Fatalf("good proof: checkpoint %+v, %v", c, err)
	}

	other := newTestKeys(t, testOrigin)
	wrongSigner := signedProof(t, m, 6, testOrigin, other)
	wrongOrigin := signedProof(t, m, 6, "other.example/log", k)
	wrongIndex := good
	wrongIndex.Index = 7
	outside := good
	outside.Index = 10
	shortProof := good
	shortProof.Proof = good.Proof[:len(good.Proof)-1]
	flipped := good
	flipped.Proof = append(tlog.RecordProof(nil), good.Proof...)
	flipped.Proof[0][0] ^= 1
	tests := []struct {
		name   string
		p      TlogProof
		leaf   []byte
		origin string
		k      testKeys
	}{
		{"wrong leaf", good, m.leaves[5], testOrigin, k},
		{"changed leaf", good, append(bytes.Clone(m.leaves[6]), ' '), testOrigin, k},
		{"checkpoint signed with another key", wrongSigner, m.leaves[6], testOrigin, k},
		{"verified with another key", good, m.leaves[6], testOrigin, other},
		{"checkpoint of another origin", wrongOrigin, m.leaves[6], testOrigin, k},
		{"expected origin differs", good, m.leaves[6], "other.example/log", k},
		{"wrong index", wrongIndex, m.leaves[6], testOrigin, k},
		{"index outside the tree", outside, m.leaves[6], testOrigin, k},
		{"proof hash missing", shortProof, m.leaves[6], testOrigin, k},
		{"proof hash changed", flipped, m.leaves[6], testOrigin, k},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := VerifyTlogProof(tc.p, tc.leaf, tc.origin, tc.k.verifier); err == nil {
				t.Errorf("VerifyTlogProof accepted it, checkpoint %+v", c)
			}
		})
	}
}

func FuzzParseTlogProof(f *testing.F) {
	k := newTestKeys(f, testOrigin)
	m := newMemTree(f, testLeaves(5))
	p := signedProof(f, m, 3, testOrigin, k)
	f.Add(FormatTlogProof(p))
	p.Extra = []byte("extra")
	f.Add(FormatTlogProof(p))
	f.Add([]byte(TlogProofHeader + "\nindex 0\n\n"))
	f.Add([]byte(TlogProofHeader + "\nextra \nindex 1\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseTlogProof(data)
		if err != nil {
			return
		}
		if p.Index < 0 || len(p.Proof) > 63 {
			t.Fatalf("ParseTlogProof(%q) = %+v", data, p)
		}
		if got := FormatTlogProof(p); !bytes.Equal(got, data) {
			t.Fatalf("ParseTlogProof(%q) = %+v, which formats as %q", data, p, got)
		}
		// Whatever parses must not make verification panic.
		VerifyTlogProof(p, m.leaves[0], testOrigin, k.verifier)
	})
}
