package honeytoken

import (
	"encoding/binary"
	"strings"

	"github.com/vallum/vallum/internal/sensor"
)

// index is an immutable snapshot of the tokens for Match. Each token's
// fields are its markers, all at least minMarker bytes long.
//
// A candidate string is looked up whole in exact (one map lookup). Free
// text is scanned once: at each position a hash of the four bytes there
// is checked in a 1 Mi-bit table of the markers' first four bytes, and
// only on a hit are the eight bytes there looked up in byPrefix, whose
// entries are then compared in full. Text without any marker costs about
// one multiplication and one table load per byte.
type index struct {
	tokens   []Token
	exact    map[string]int           // marker → position in tokens
	byPrefix map[uint64][]prefixEntry // first 8 bytes of a marker → markers
	first    *filter                  // bit per hash of a marker's first four bytes
}

type prefixEntry struct {
	marker string
	token  int
}

func newIndex(toks []Token) *index {
	x := &index{exact: map[string]int{}, byPrefix: map[uint64][]prefixEntry{}, first: new(filter)}
	for _, t := range toks {
		x.add(t)
	}
	return x
}

func (x *index) add(t Token) {
	i := len(x.tokens)
	x.tokens = append(x.tokens, t.clone())
	for _, m := range t.Fields {
		if len(m) < minMarker {
			continue
		}
		x.exact[m] = i
		k := binary.LittleEndian.Uint64([]byte(m[:8]))
		x.byPrefix[k] = append(x.byPrefix[k], prefixEntry{marker: m, token: i})
		x.first.set(binary.LittleEndian.Uint32([]byte(m[:4])))
	}
}

// filter is a one-hash Bloom filter of 2^20 bits (128 KiB) over the
// first four bytes of the markers: with 20,000 markers about 2% of text
// positions pass it to the map lookup.
type filter [1 << 20 / 64]uint64

func filterBit(v uint32) uint32 { return (v * 2654435761) >> 12 }

func (f *filter) set(v uint32) { b := filterBit(v); f[b/64] |= 1 << (b % 64) }

func (f *filter) has(v uint32) bool { b := filterBit(v); return f[b/64]&(1<<(b%64)) != 0 }

// with returns a new index holding x's tokens and t; x is unchanged.
func (x *index) with(t Token) *index {
	n := &index{
		tokens:   make([]Token, len(x.tokens), len(x.tokens)+1),
		exact:    make(map[string]int, len(x.exact)+4),
		byPrefix: make(map[uint64][]prefixEntry, len(x.byPrefix)+4),
		first:    new(filter),
	}
	copy(n.tokens, x.tokens)
	for k, v := range x.exact {
		n.exact[k] = v
	}
	for k, v := range x.byPrefix {
		n.byPrefix[k] = append([]prefixEntry(nil), v...)
	}
	*n.first = *x.first
	n.add(t)
	return n
}

// collides reports whether a marker of t is already a marker.
func (x *index) collides(t Token) bool {
	for _, m := range t.Fields {
		if _, ok := x.exact[m]; ok {
			return true
		}
	}
	return false
}

// find returns the position of the token with a marker in s, or -1.
func (x *index) find(s string) int {
	if len(s) < minMarker || len(x.tokens) == 0 {
		return -1
	}
	if i, ok := x.exact[s]; ok {
		return i
	}
	for p := 0; p+minMarker <= len(s); p++ {
		if !x.first.has(uint32(s[p]) | uint32(s[p+1])<<8 | uint32(s[p+2])<<16 | uint32(s[p+3])<<24) {
			continue
		}
		k := uint64(s[p]) | uint64(s[p+1])<<8 | uint64(s[p+2])<<16 | uint64(s[p+3])<<24 |
			uint64(s[p+4])<<32 | uint64(s[p+5])<<40 | uint64(s[p+6])<<48 | uint64(s[p+7])<<56
		for _, e := range x.byPrefix[k] {
			if strings.HasPrefix(s[p:], e.marker) {
				return e.token
			}
		}
	}
	return -1
}

// Match returns the token an event carries: a marker of it in the
// credentials (user name, password), the command or request line, a
// detail or fingerprint value, or a payload name. It is safe for
// concurrent use and takes no lock.
func (r *Registry) Match(e sensor.Event) (Token, bool) {
	x := r.idx.Load()
	if len(x.tokens) == 0 {
		return Token{}, false
	}
	try := func(s string) (Token, bool) {
		if i := x.find(s); i >= 0 {
			return x.tokens[i].clone(), true
		}
		return Token{}, false
	}
	if c := e.Credentials; c != nil {
		if t, ok := try(c.Password); ok {
			return t, true
		}
		if t, ok := try(c.Username); ok {
			return t, true
		}
	}
	if t, ok := try(e.Command); ok {
		return t, true
	}
	for _, v := range e.Details {
		if t, ok := try(v); ok {
			return t, true
		}
	}
	for _, v := range e.Fingerprints {
		if t, ok := try(v); ok {
			return t, true
		}
	}
	for _, p := range e.Payloads {
		if t, ok := try(p.Name); ok {
			return t, true
		}
	}
	return Token{}, false
}

// MatchText returns the token with a marker anywhere in s (a log line
// read by intake, a captured body).
func (r *Registry) MatchText(s string) (Token, bool) {
	x := r.idx.Load()
	if i := x.find(s); i >= 0 {
		return x.tokens[i].clone(), true
	}
	return Token{}, false
}
