package honeytoken

import (
	"strings"

	"github.com/vallum/vallum/internal/sensor"
)

// index is an immutable snapshot of the tokens for Match. Each token's
// fields are its markers, all at least minMarker (8) bytes long.
//
// A candidate string is first looked up whole in exact (one map lookup).
// Then it is scanned, not at every position but at every fifth one: any
// marker occurrence covers eight bytes, so one of its 4-byte blocks at
// offsets 0 to 4 starts at a sampled position. Each marker's five blocks
// are in a Bloom filter (first); a sampled block that passes it is looked
// up in blocks, which says at which offsets some marker has it, and for
// each such offset the eight bytes where that marker would start are
// looked up in byPrefix and its entries compared in full. Text without a
// marker costs about one multiplication and one table load per five
// bytes.
type index struct {
	tokens   []Token
	exact    map[string]int           // marker → position in tokens
	byPrefix map[uint64][]prefixEntry // first 8 bytes of a marker → markers
	blocks   map[uint32]uint8         // 4-byte block → bit k set if a marker has it at offset k
	first    *filter                  // the keys of blocks
}

// blockStep is how far apart the sampled positions are: a marker of
// minMarker bytes has minMarker-3 blocks of four bytes.
const blockStep = minMarker - 3

type prefixEntry struct {
	marker string
	token  int
}

func newIndex(toks []Token) *index {
	x := &index{exact: map[string]int{}, byPrefix: map[uint64][]prefixEntry{}, blocks: map[uint32]uint8{}, first: new(filter)}
	for _, t := range toks {
		x.add(t)
	}
	return x
}

func load32(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func load64(s string) uint64 {
	return uint64(load32(s)) | uint64(load32(s[4:]))<<32
}

func (x *index) add(t Token) {
	i := len(x.tokens)
	x.tokens = append(x.tokens, t.clone())
	for _, m := range t.Fields {
		if len(m) < minMarker {
			continue
		}
		x.exact[m] = i
		k := load64(m)
		x.byPrefix[k] = append(x.byPrefix[k], prefixEntry{marker: m, token: i})
		for off := range blockStep {
			b := load32(m[off:])
			x.blocks[b] |= 1 << off
			x.first.set(b)
		}
	}
}

// filter is a one-hash Bloom filter of 2^21 bits (256 KiB) over 4-byte
// blocks: with 10,000 tokens (about 90,000 blocks) about 4% of the
// sampled positions pass it to the map lookup.
type filter [1 << 21 / 64]uint64

func filterBit(v uint32) uint32 { return (v * 2654435761) >> 11 }

func (f *filter) set(v uint32) { b := filterBit(v); f[b/64] |= 1 << (b % 64) }

func (f *filter) has(v uint32) bool { b := filterBit(v); return f[b/64]&(1<<(b%64)) != 0 }

// with returns a new index holding x's tokens and t; x is unchanged.
func (x *index) with(t Token) *index {
	n := &index{
		tokens:   make([]Token, len(x.tokens), len(x.tokens)+1),
		exact:    make(map[string]int, len(x.exact)+4),
		byPrefix: make(map[uint64][]prefixEntry, len(x.byPrefix)+4),
		blocks:   make(map[uint32]uint8, len(x.blocks)+20),
		first:    new(filter),
	}
	copy(n.tokens, x.tokens)
	for k, v := range x.exact {
		n.exact[k] = v
	}
	for k, v := range x.byPrefix {
		n.byPrefix[k] = append([]prefixEntry(nil), v...)
	}
	for k, v := range x.blocks {
		n.blocks[k] = v
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
	for q := 0; q+4 <= len(s); q += blockStep {
		b := load32(s[q:])
		if !x.first.has(b) {
			continue
		}
		offs := x.blocks[b]
		for off := 0; offs != 0; off, offs = off+1, offs>>1 {
			start := q - off
			if offs&1 == 0 || start < 0 || start+minMarker > len(s) {
				continue
			}
			for _, e := range x.byPrefix[load64(s[start:])] {
				if strings.HasPrefix(s[start:], e.marker) {
					return e.token
				}
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

// RedactEvent returns a copy of e, an event that carried t, as a caller
// not entitled to see tokens may see it: the password masked whatever it
// is, and every occurrence of t's value and fields masked in each string
// Match looks at (user name, command, details, fingerprints, payload
// names). e itself is not changed. A zero t masks only the password.
func (t Token) RedactEvent(e sensor.Event) sensor.Event {
	if c := e.Credentials; c != nil {
		rc := *c
		if rc.Password != "" {
			rc.Password = mask(rc.Password)
		}
		rc.Username = t.Redact(rc.Username)
		e.Credentials = &rc
	}
	e.Command = t.Redact(e.Command)
	e.Details = t.redactMap(e.Details)
	e.Fingerprints = t.redactMap(e.Fingerprints)
	if e.Payloads != nil {
		ps := make([]sensor.PayloadRef, len(e.Payloads))
		for i, p := range e.Payloads {
			p.Name = t.Redact(p.Name)
			ps[i] = p
		}
		e.Payloads = ps
	}
	return e
}

func (t Token) redactMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	r := make(map[string]string, len(m))
	for k, v := range m {
		r[k] = t.Redact(v)
	}
	return r
}
