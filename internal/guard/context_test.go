package guard

import (
	"math/rand/v2"
	"testing"
)

// TestContextKey: two contexts share a cache key only when their Cedar
// records are equal, so a cached record is never reused for a different
// context.
func TestContextKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	some := func(xs []string) []string {
		var out []string
		for _, x := range xs {
			if rng.IntN(3) == 0 {
				out = append(out, x)
			}
		}
		return out
	}
	seen := map[uint64]context{}
	for range 50000 {
		c := context{
			kindKnown: rng.IntN(2) == 0, targetType: pick(keyTargetTypes), inPerimeter: rng.IntN(2) == 0,
			owner: pick(keyOwners), collateral: some(keyCollateral), protected: rng.IntN(2) == 0,
			presentDanger: rng.IntN(2) == 0, deviceKind: pick(keyDevices), resolverKind: pick(keyDevices),
			egress: pick(keyTri[0]), codeExecution: pick(keyTri[1]), validOn: pick(keyTri[2]),
			approvals: some(roles), notified: some(authorities), sanctions: pick(keySanctions),
			sanctionsFresh: rng.IntN(2) == 0, legalReview: rng.IntN(2) == 0,
		}
		k, ok := c.key()
		if !ok {
			t.Fatalf("key(%+v): not ok, want ok", c)
		}
		if prev, dup := seen[k]; dup {
			if got, want := c.record(), prev.record(); !got.Equal(want) {
				t.Fatalf("key %x shared by different contexts:\n%+v\n%+v", k, c, prev)
			}
			continue
		}
		seen[k] = c
	}
	odd := context{targetType: "address", owner: "self", deviceKind: "none", resolverKind: "none",
		egress: "unstated", codeExecution: "unstated", validOn: "unstated", sanctions: "missing", approvals: []string{"pope"}}
	if _, ok := odd.key(); ok {
		t.Errorf("key with an unknown role: got ok, want not ok (not cacheable)")
	}
}
