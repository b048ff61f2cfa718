package perimeter

import (
	"cmp"
	"net/netip"
	"slices"
)

// u128 is an IPv6 address (IPv4 addresses are stored IPv4-mapped) as a
// 128-bit unsigned integer, so that ranges compare with two integer
// comparisons.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) isMax() bool { return a.hi == ^uint64(0) && a.lo == ^uint64(0) }

// next returns a+1; callers check isMax first.
func (a u128) next() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func (a u128) prev() u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, ^uint64(0)}
	}
	return u128{a.hi, a.lo - 1}
}

// key maps an address to its position in the 128-bit space; an IPv4 address
// and its IPv4-mapped IPv6 form have the same key.
func key(a netip.Addr) u128 {
	b := a.Unmap().As16()
	var k u128
	for i := range 8 {
		k.hi = k.hi<<8 | uint64(b[i])
		k.lo = k.lo<<8 | uint64(b[i+8])
	}
	return k
}

// bounds returns the first and last key of a prefix. IPv4 prefixes and
// IPv4-mapped IPv6 prefixes of the same addresses give the same bounds.
func bounds(p netip.Prefix) (first, last u128) {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	first = key(p.Addr())
	host := 128 - bits
	last = first
	switch {
	case host >= 64:
		last.lo = ^uint64(0)
		if host > 64 {
			last.hi |= (uint64(1) << (host - 64)) - 1
		}
		if host == 128 {
			last.hi = ^uint64(0)
		}
	case host > 0:
		last.lo |= (uint64(1) << host) - 1
	}
	return first, last
}

// Bits of a range mask. A mask says what the address space at a point is:
// ours, protected, listed as external, and the external collateral flags.
const (
	bitOurs uint16 = 1 << iota
	bitProtected
	bitExternal
	bitFlag0 // first collateral flag; flag i is bitFlag0 << i
)

// span is a contiguous range of keys with the same mask.
type span struct {
	first, last u128
	mask        uint16
}

// rangeSet is a set of disjoint, sorted spans. Lookups are binary searches,
// so 100,000 overlapping prefixes cost about 18 comparisons per address.
type rangeSet struct {
	spans []span
}

// buildRanges turns possibly overlapping, nested or duplicated spans into
// disjoint spans whose mask is the union of the masks of every input span
// covering them (a sweep over the span boundaries).
func buildRanges(in []span) rangeSet {
	type event struct {
		at   u128
		end  bool // the event is at last+1 of a span: its bits stop counting
		mask uint16
	}
	events := make([]event, 0, 2*len(in))
	for _, s := range in {
		events = append(events, event{at: s.first, mask: s.mask})
		if !s.last.isMax() {
			events = append(events, event{at: s.last.next(), end: true, mask: s.mask})
		}
	}
	slices.SortFunc(events, func(a, b event) int { return a.at.cmp(b.at) })

	var counts [16]int32
	var out []span
	for i := 0; i < len(events); {
		at := events[i].at
		for ; i < len(events) && events[i].at == at; i++ {
			d := int32(1)
			if events[i].end {
				d = -1
			}
			for b := range 16 {
				if events[i].mask&(1<<b) != 0 {
					counts[b] += d
				}
			}
		}
		var mask uint16
		for b := range 16 {
			if counts[b] > 0 {
				mask |= 1 << b
			}
		}
		last := u128{^uint64(0), ^uint64(0)}
		if i < len(events) {
			last = events[i].at.prev()
		}
		if mask == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].mask == mask && !out[n-1].last.isMax() && out[n-1].last.next() == at {
			out[n-1].last = last
			continue
		}
		out = append(out, span{first: at, last: last, mask: mask})
	}
	return rangeSet{spans: out}
}

// at returns the mask of the address with key k (0 when no span covers it).
func (r rangeSet) at(k u128) uint16 {
	i, found := slices.BinarySearchFunc(r.spans, k, func(s span, k u128) int { return s.first.cmp(k) })
	if !found {
		i--
	}
	if i < 0 || r.spans[i].last.cmp(k) < 0 {
		return 0
	}
	return r.spans[i].mask
}

// over returns, for the keys first..last, the bits set on every key (all)
// and the bits set on at least one key (any).
func (r rangeSet) over(first, last u128) (all, any uint16) {
	i, found := slices.BinarySearchFunc(r.spans, first, func(s span, k u128) int { return s.first.cmp(k) })
	if !found && i > 0 && r.spans[i-1].last.cmp(first) >= 0 {
		i--
	}
	all = ^uint16(0)
	cur := first
	for ; i < len(r.spans) && r.spans[i].first.cmp(last) <= 0; i++ {
		s := r.spans[i]
		if s.first.cmp(cur) > 0 {
			all = 0 // a gap before this span
		}
		all &= s.mask
		any |= s.mask
		if s.last.cmp(last) >= 0 {
			return all, any
		}
		cur = s.last.next()
	}
	return 0, any // nothing, or not everything up to last, is covered
}
