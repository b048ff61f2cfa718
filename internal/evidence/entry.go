// Package evidence is Vallum's tamper-evident evidence log: an append-only
// RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog) of canonical entry
// headers, with a C2SP signed-note checkpoint signed for every committed
// batch, inclusion and consistency proofs, C2SP tlog-tiles, erasure of
// payloads that keeps every proof valid, and an offline verifier.
//
// The core (entries, checkpoints, proofs, verification) is pure; durable
// storage is behind the Storage interface and time is injected.
package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// HeaderVersion is the version of the entry header format this package
// writes. Decoders reject other versions.
const HeaderVersion = 1

// TimeFormat is the canonical form of Header.Time: UTC with nanoseconds,
// always nine fractional digits, so that the bytes are canonical.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// SaltSize is the size in bytes of the random salt mixed into every
// payload commitment. Erasing an entry erases its salt too, so an erased
// payload cannot be confirmed by guessing.
const SaltSize = 32

// MaxHeaderSize bounds an encoded header. C2SP entry bundles prefix each
// entry with a 16-bit length, and headers are small by construction.
const MaxHeaderSize = 4096

// Field limits of a header.
const (
	maxKind     = 64
	maxActor    = 256
	maxIncident = 128
)

// Header is the canonical, versioned record header of one log entry. Its
// exact encoded bytes (EncodeHeader) are the tree's leaf: the RFC 6962 leaf
// hash is SHA-256(0x00 ‖ header). Every time and identity field is in the
// header; the payload is committed to by Commitment = SHA-256(salt ‖
// payload), so the payload can be erased without changing the leaf.
//
// The header holds no sequence number: an entry's index is its position in
// the tree, proven by an inclusion proof.
type Header struct {
	// V is the header format version, HeaderVersion.
	V int `json:"v"`
	// Kind names what the entry records, e.g. "decision", "approval",
	// "erasure" (lowercase letters, digits, '_', '.', '-').
	Kind string `json:"kind"`
	// Time is when the log sequenced the entry, in TimeFormat (UTC).
	Time string `json:"time"`
	// Actor is the authenticated identity that appended the entry.
	Actor string `json:"actor"`
	// Incident is the incident the entry belongs to, or empty.
	Incident string `json:"incident"`
	// Commitment is "sha256:" followed by the lowercase hex of
	// SHA-256(salt ‖ payload).
	Commitment string `json:"commitment"`
}

// Commit returns the commitment string of payload under salt.
func Commit(salt, payload []byte) string {
	h := sha256.New()
	h.Write(salt)
	h.Write(payload)
	var sum [sha256.Size]byte
	return "sha256:" + hex.EncodeToString(h.Sum(sum[:0]))
}

// ErrMalformedHeader is wrapped by every header decoding error.
var ErrMalformedHeader = errors.New("malformed entry header")

// EncodeHeader validates h and returns its canonical encoding: compact JSON
// with the fields in the order of the struct, strings escaped as
// encoding/json escapes them.
func EncodeHeader(h Header) ([]byte, error) { return encodeHeader(h, true) }

func encodeHeader(h Header, checkTime bool) ([]byte, error) {
	if err := h.validate(checkTime); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 128+len(h.Kind)+len(h.Actor)+len(h.Incident))
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(h.V), 10)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, h.Kind)
	b = append(b, `,"time":`...)
	b = appendJSONString(b, h.Time)
	b = append(b, `,"actor":`...)
	b = appendJSONString(b, h.Actor)
	b = append(b, `,"incident":`...)
	b = appendJSONString(b, h.Incident)
	b = append(b, `,"commitment":`...)
	b = appendJSONString(b, h.Commitment)
	b = append(b, '}')
	if len(b) > MaxHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformedHeader, len(b), MaxHeaderSize)
	}
	return b, nil
}

// appendJSONString appends s as encoding/json encodes it. Printable ASCII
// other than the characters encoding/json escapes is copied as is; anything
// else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// DecodeHeader parses an encoded header and checks that the bytes are
// exactly its canonical encoding, so that one header has one leaf hash.
// Re-encoding and comparing rejects unknown, duplicate, reordered or
// differently cased fields, and any other spelling of the same values.
func DecodeHeader(b []byte) (Header, error) { return decodeHeader(b, nil) }

func decodeHeader(b []byte, tc *timeCache) (Header, error) {
	var h Header
	if len(b) > MaxHeaderSize {
		return h, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformedHeader, len(b), MaxHeaderSize)
	}
	if !utf8.Valid(b) {
		return h, fmt.Errorf("%w: not valid UTF-8", ErrMalformedHeader)
	}
	h, ok := scanCanonical(b)
	if !ok {
		if err := json.Unmarshal(b, &h); err != nil {
			return h, fmt.Errorf("%w: %v", ErrMalformedHeader, err)
		}
	}
	var canon []byte
	var err error
	if tc != nil && h.Time == tc.valid && h.Time != "" {
		canon, err = encodeHeader(h, false)
	} else {
		canon, err = encodeHeader(h, true)
	}
	if err != nil {
		return h, err
	}
	if tc != nil {
		tc.valid = h.Time
	}
	if !bytes.Equal(canon, b) {
		return h, fmt.Errorf("%w: not in canonical form", ErrMalformedHeader)
	}
	return h, nil
}

// scanCanonical reads a header laid out exactly as EncodeHeader writes it,
// with no escapes in its strings: the fast path for the headers Vallum
// writes. It reports false for anything else, which DecodeHeader then
// decodes with encoding/json. Either way the caller re-encodes and compares
// the bytes, so a wrong reading here can only reject, never accept.
func scanCanonical(b []byte) (Header, bool) {
	var h Header
	rest, ok := bytes.CutPrefix(b, []byte(`{"v":1,"kind":`))
	if !ok {
		return h, false
	}
	h.V = 1
	fields := []struct {
		dst  *string
		next string
	}{
		{&h.Kind, `,"time":`}, {&h.Time, `,"actor":`}, {&h.Actor, `,"incident":`},
		{&h.Incident, `,"commitment":`}, {&h.Commitment, `}`},
	}
	for _, f := range fields {
		if len(rest) == 0 || rest[0] != '"' {
			return h, false
		}
		end := bytes.IndexByte(rest[1:], '"')
		if end < 0 || bytes.IndexByte(rest[1:1+end], '\\') >= 0 {
			return h, false
		}
		*f.dst = string(rest[1 : 1+end])
		if rest, ok = bytes.CutPrefix(rest[2+end:], []byte(f.next)); !ok {
			return h, false
		}
	}
	return h, len(rest) == 0
}

// ParsedTime returns the header's time.
func (h Header) ParsedTime() (time.Time, error) {
	return time.Parse(TimeFormat, h.Time)
}

func (h Header) validate(checkTime bool) error {
	if h.V != HeaderVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformedHeader, h.V, HeaderVersion)
	}
	if err := ValidKind(h.Kind); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedHeader, err)
	}
	if checkTime {
		if err := validTime(h.Time); err != nil {
			return err
		}
	}
	if err := validText("actor", h.Actor, 1, maxActor); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedHeader, err)
	}
	if err := validText("incident", h.Incident, 0, maxIncident); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedHeader, err)
	}
	c, ok := strings.CutPrefix(h.Commitment, "sha256:")
	if !ok || len(c) != 2*sha256.Size || !lowerHex(c) {
		return fmt.Errorf("%w: commitment %q is not sha256:<64 lowercase hex digits>", ErrMalformedHeader, h.Commitment)
	}
	return nil
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func validTime(s string) error {
	t, err := time.Parse(TimeFormat, s)
	if err != nil || t.Format(TimeFormat) != s {
		return fmt.Errorf("%w: time %q is not in the form %s", ErrMalformedHeader, s, TimeFormat)
	}
	return nil
}

// ValidKind reports whether kind is a well-formed entry kind.
func ValidKind(kind string) error {
	if kind == "" || len(kind) > maxKind {
		return fmt.Errorf("kind must be 1 to %d characters", maxKind)
	}
	for _, r := range kind {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return fmt.Errorf("kind %q may hold only lowercase letters, digits, '_', '.' and '-'", kind)
		}
	}
	return nil
}

// ValidActor reports whether actor is a well-formed actor identity.
func ValidActor(actor string) error { return validText("actor", actor, 1, maxActor) }

// ValidIncident reports whether id is a well-formed incident identifier
// (empty is allowed: no incident).
func ValidIncident(id string) error { return validText("incident", id, 0, maxIncident) }

func validText(field, s string, min, max int) error {
	if len(s) < min || len(s) > max {
		return fmt.Errorf("%s must be %d to %d bytes", field, min, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s holds a control character", field)
		}
	}
	return nil
}

// LeafHash returns the RFC 6962 leaf hash of an encoded header.
func LeafHash(header []byte) tlog.Hash { return tlog.RecordHash(header) }

// Entry is one stored entry: its position, header bytes, salt and payload.
type Entry struct {
	Index int64
	// Header is the exact encoded header, the tree's leaf.
	Header []byte
	// Salt and Payload are nil when the payload has been erased.
	Salt    []byte
	Payload []byte
	// Erased reports that the payload bytes were erased.
	Erased bool
}

// Receipt is what Append returns once an entry is durable and covered by a
// signed checkpoint.
type Receipt struct {
	Index    int64     `json:"index"`
	LeafHash tlog.Hash `json:"leaf_hash"`
	Time     string    `json:"time"`
	// TreeSize is the size of the signed checkpoint that first covers the
	// entry.
	TreeSize int64 `json:"tree_size"`
}
