package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin, the
// tree size and the root hash.
type Checkpoint struct {
	Origin string
	tlog.Tree
}

// ErrMalformedCheckpoint is wrapped by every checkpoint parsing error.
var ErrMalformedCheckpoint = errors.New("malformed checkpoint")

// maxCheckpointSize bounds a signed checkpoint note.
const maxCheckpointSize = 16 << 10

// FormatCheckpoint returns the C2SP tlog-checkpoint body of c.
func FormatCheckpoint(c Checkpoint) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.N, c.Hash)
}

// ParseCheckpoint parses a C2SP tlog-checkpoint body. Extension lines after
// the root hash are allowed and ignored, as the specification says.
func ParseCheckpoint(body string) (Checkpoint, error) {
	var c Checkpoint
	if !utf8.ValidString(body) || !strings.HasSuffix(body, "\n") {
		return c, fmt.Errorf("%w: body must be UTF-8 lines ending in a newline", ErrMalformedCheckpoint)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("%w: want origin, size and root hash lines, got %d lines", ErrMalformedCheckpoint, len(lines))
	}
	if lines[0] == "" {
		return c, fmt.Errorf("%w: empty origin", ErrMalformedCheckpoint)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return c, fmt.Errorf("%w: size %q is not a canonical decimal", ErrMalformedCheckpoint, lines[1])
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil || h.String() != lines[2] {
		return c, fmt.Errorf("%w: root hash %q is not a base64 SHA-256 hash", ErrMalformedCheckpoint, lines[2])
	}
	for _, l := range lines[3:] {
		if l == "" {
			return c, fmt.Errorf("%w: empty extension line", ErrMalformedCheckpoint)
		}
	}
	return Checkpoint{Origin: lines[0], Tree: tlog.Tree{N: n, Hash: h}}, nil
}

// SignCheckpoint returns c as a signed note.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: string(FormatCheckpoint(c))}, s)
	if err != nil {
		return nil, fmt.Errorf("couldn't sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint note against v and checks
// that its origin is origin. It returns the checkpoint.
func OpenCheckpoint(msg []byte, origin string, v note.Verifier) (Checkpoint, error) {
	if len(msg) > maxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes", ErrMalformedCheckpoint, len(msg))
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature doesn't verify with key %s: %w", v.Name(), err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != origin {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, want %q", ErrMalformedCheckpoint, c.Origin, origin)
	}
	return c, nil
}

// checkpointSize returns the tree size of a signed checkpoint without
// verifying it; storage uses it to index checkpoints it already trusts.
func checkpointSize(msg []byte) (int64, error) {
	body, _, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		return 0, fmt.Errorf("%w: no signature block", ErrMalformedCheckpoint)
	}
	c, err := ParseCheckpoint(string(body) + "\n")
	if err != nil {
		return 0, err
	}
	return c.N, nil
}

// CheckpointSize returns the tree size written in a signed checkpoint
// without verifying its signature.
func CheckpointSize(msg []byte) (int64, error) { return checkpointSize(msg) }

// GenerateKey returns a new Ed25519 signed-note key pair named name: the
// private signer key and the public verifier key (C2SP signed-note
// verifier-key form).
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(nil, name)
}
