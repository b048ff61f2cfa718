package intake

import "hash/maphash"

// bloom is a Bloom filter of the event IDs in the index or being
// appended: an ID it has never seen is new without asking SQLite, which
// keeps the database off the hot path. A "maybe" is checked in SQLite.
// It is owned by the dispatcher goroutine (and by Open before Run).
type bloom struct {
	bits []uint64
	mask uint64
	seed maphash.Seed
}

// bloomHashes is the number of bits set per ID.
const bloomHashes = 7

// newBloom returns a filter of at least n bits (a power of two, at least
// 2^24): about 1% false positives at n/10 IDs.
func newBloom(n int) *bloom {
	size := uint64(1 << 24)
	for size < uint64(n) {
		size <<= 1
	}
	return &bloom{bits: make([]uint64, size/64), mask: size - 1, seed: maphash.MakeSeed()}
}

func (b *bloom) positions(id string, f func(uint64)) {
	h := maphash.String(b.seed, id)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := range uint64(bloomHashes) {
		f((h1 + i*h2) & b.mask)
	}
}

func (b *bloom) add(id string) {
	b.positions(id, func(p uint64) { b.bits[p/64] |= 1 << (p % 64) })
}

func (b *bloom) mayContain(id string) bool {
	in := true
	b.positions(id, func(p uint64) { in = in && b.bits[p/64]&(1<<(p%64)) != 0 })
	return in
}
