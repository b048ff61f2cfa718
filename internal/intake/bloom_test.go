package intake

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// TestBloomGrows adds four times the IDs the first layer is sized for:
// every added ID is still found (no false negatives) and IDs never added
// are "maybe" only a few percent of the time, where a filter that did
// not grow would answer "maybe" for most of them.
func TestBloomGrows(t *testing.T) {
	b := &bloom{seed: maphash.MakeSeed()}
	b.grow(1 << 16)
	first := b.layers[0].cap
	n := 4 * first
	for i := range n {
		b.add(fmt.Sprintf("id-%d", i))
	}
	if len(b.layers) < 2 {
		t.Fatalf("%d IDs in %d layer(s); want the filter to have grown", n, len(b.layers))
	}
	for i := 0; i < n; i += 997 {
		if id := fmt.Sprintf("id-%d", i); !b.mayContain(id) {
			t.Fatalf("%s was added and is not found", id)
		}
	}
	fp := 0
	const probes = 100000
	for i := range probes {
		if b.mayContain(fmt.Sprintf("never-%d", i)) {
			fp++
		}
	}
	if rate := float64(fp) / probes; rate > 0.05 {
		t.Errorf("false positive rate %.3f with %d layers, want at most 0.05", rate, len(b.layers))
	}
}
