package intake

import "hash/maphash"

// bloom is a Bloom filter of the event IDs in the index or being
// appended: an ID it has never seen is new without asking SQLite, which
// keeps the database off the hot path. A "maybe" is checked in SQLite.
// It is owned by the dispatcher goroutine (and by Open before Run).
//
// It grows: when the newest layer holds as many IDs as it was sized for
// (about 1% false positives), a layer twice its size is added, so a
// server that runs for months keeps its false positives at a few
// percent instead of answering "maybe" for every ID.
type bloom struct {
	layers []*bloomLayer
	seed   maphash.Seed
}

type bloomLayer struct {
	bits []uint64
	mask uint64
	n    int // IDs added
	cap  int // IDs it is sized for
}

// bloomHashes is the number of bits set per ID; bloomBitsPerID sizes a
// layer for about 1% false positives.
const (
	bloomHashes    = 7
	bloomBitsPerID = 10
)

// newBloom returns a filter whose first layer has at least n bits (a
// power of two, at least 2^24).
func newBloom(n int) *bloom {
	b := &bloom{seed: maphash.MakeSeed()}
	b.grow(uint64(max(n, 1<<24)))
	return b
}

// grow adds a layer of at least bits bits (a power of two).
func (b *bloom) grow(bits uint64) {
	size := uint64(1 << 10)
	for size < bits {
		size <<= 1
	}
	b.layers = append(b.layers, &bloomLayer{bits: make([]uint64, size/64), mask: size - 1, cap: int(size / bloomBitsPerID)})
}

func (b *bloom) positions(id string, mask uint64, f func(uint64)) {
	h := maphash.String(b.seed, id)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := range uint64(bloomHashes) {
		f((h1 + i*h2) & mask)
	}
}

func (b *bloom) add(id string) {
	l := b.layers[len(b.layers)-1]
	if l.n >= l.cap {
		b.grow(2 * (l.mask + 1))
		l = b.layers[len(b.layers)-1]
	}
	l.n++
	b.positions(id, l.mask, func(p uint64) { l.bits[p/64] |= 1 << (p % 64) })
}

func (b *bloom) mayContain(id string) bool {
	for _, l := range b.layers {
		in := true
		b.positions(id, l.mask, func(p uint64) { in = in && l.bits[p/64]&(1<<(p%64)) != 0 })
		if in {
			return true
		}
	}
	return false
}
