package evidence

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// InclusionProof returns the proof that entry i is in the tree of size n,
// and the signed checkpoint of size n (nil if none was signed at n).
func (l *Log) InclusionProof(i, n int64) (tlog.RecordProof, []byte, error) {
	if size := l.Size(); n <= 0 || n > size {
		return nil, nil, fmt.Errorf("%w: tree size %d is not between 1 and %d", ErrInvalid, n, size)
	}
	if i < 0 || i >= n {
		return nil, nil, fmt.Errorf("%w: index %d is not in a tree of size %d", ErrInvalid, i, n)
	}
	p, err := tlog.ProveRecord(n, i, l.cfg.Storage)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't prove entry %d in tree %d: %w", i, n, err)
	}
	latest, size := l.Latest()
	if n == size {
		return p, latest, nil
	}
	cp, _ := l.cfg.Storage.Checkpoint(n)
	return p, cp, nil
}

// ConsistencyProof returns the proof that the tree of size n1 is a prefix
// of the tree of size n2.
func (l *Log) ConsistencyProof(n1, n2 int64) (tlog.TreeProof, error) {
	size := l.Size()
	if n1 <= 0 || n1 > n2 || n2 > size {
		return nil, fmt.Errorf("%w: want 0 < old size %d <= new size %d <= %d", ErrInvalid, n1, n2, size)
	}
	p, err := tlog.ProveTree(n2, n1, l.cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("couldn't prove tree %d consistent with %d: %w", n1, n2, err)
	}
	return p, nil
}

// TlogProofHeader is the first line of a C2SP tlog-proof.
const TlogProofHeader = "c2sp.org/tlog-proof@v1"

// TlogProof is a C2SP tlog-proof: a signed checkpoint, an entry index, the
// inclusion proof of that entry in the checkpoint's tree and optional extra
// data.
type TlogProof struct {
	Extra      []byte
	Index      int64
	Proof      tlog.RecordProof
	Checkpoint []byte
}

// FormatTlogProof encodes p in the C2SP tlog-proof text format.
func FormatTlogProof(p TlogProof) []byte {
	var b bytes.Buffer
	b.WriteString(TlogProofHeader + "\n")
	if p.Extra != nil {
		fmt.Fprintf(&b, "extra %s\n", base64.StdEncoding.EncodeToString(p.Extra))
	}
	fmt.Fprintf(&b, "index %d\n", p.Index)
	for _, h := range p.Proof {
		fmt.Fprintf(&b, "%s\n", h)
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// ParseTlogProof decodes a C2SP tlog-proof. It does not verify it.
func ParseTlogProof(data []byte) (TlogProof, error) {
	var p TlogProof
	head, cp, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return p, fmt.Errorf("malformed tlog-proof: no blank line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != TlogProofHeader {
		return p, fmt.Errorf("malformed tlog-proof: first line %q, want %q", lines[0], TlogProofHeader)
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		x, err := base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(lines[0], "extra "))
		if err != nil {
			return p, fmt.Errorf("malformed tlog-proof: extra data: %v", err)
		}
		p.Extra, lines = x, lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return p, fmt.Errorf("malformed tlog-proof: missing index line")
	}
	s := strings.TrimPrefix(lines[0], "index ")
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i < 0 || strconv.FormatInt(i, 10) != s {
		return p, fmt.Errorf("malformed tlog-proof: index %q", s)
	}
	p.Index = i
	if len(lines)-1 > 63 {
		return p, fmt.Errorf("malformed tlog-proof: %d proof hashes", len(lines)-1)
	}
	for _, l := range lines[1:] {
		h, err := tlog.ParseHash(l)
		if err != nil || h.String() != l {
			return p, fmt.Errorf("malformed tlog-proof: hash %q", l)
		}
		p.Proof = append(p.Proof, h)
	}
	p.Checkpoint = cp
	return p, nil
}

// VerifyTlogProof checks a tlog-proof for the entry header against the log
// key: the checkpoint's signature and origin, and the inclusion proof.
func VerifyTlogProof(p TlogProof, header []byte, origin string, v note.Verifier) (Checkpoint, error) {
	c, err := OpenCheckpoint(p.Checkpoint, origin, v)
	if err != nil {
		return c, err
	}
	if p.Index >= c.N {
		return c, fmt.Errorf("index %d is not in the checkpoint's tree of size %d", p.Index, c.N)
	}
	if err := tlog.CheckRecord(p.Proof, c.N, c.Hash, p.Index, LeafHash(header)); err != nil {
		return c, fmt.Errorf("inclusion proof of entry %d in tree %d doesn't verify: %w", p.Index, c.N, err)
	}
	return c, nil
}
