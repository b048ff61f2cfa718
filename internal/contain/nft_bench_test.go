package contain

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// benchAddrs returns n distinct IPv4 host prefixes in 100.64.0.0/10,
// starting at offset.
func benchAddrs(n, offset int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		v := uint32(100<<24|64<<16) + uint32(offset+i)
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32)
	}
	return out
}

// BenchmarkNFTablesBlock applies block decisions with kernel timeouts in
// a fresh network namespace: "batch" hands 5,000 at once to Block (one
// call, split into netlink batches of maxPerFlush), "concurrent" has 64
// goroutines each blocking one address at a time (the group commit
// coalesces them). Reported: decisions/s.
func BenchmarkNFTablesBlock(b *testing.B) {
	tp := newTopo(b)
	n := openNFT(b, tp, nil)
	ctx := context.Background()
	b.Run("batch", func(b *testing.B) {
		const per = 5000
		off := 0
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			errs := n.Block(ctx, benchAddrs(per, off), time.Hour)
			off += per
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "decisions/s")
	})
	b.Run("concurrent", func(b *testing.B) {
		const workers, per = 64, 100
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var wg sync.WaitGroup
			base := 10_000_000 + i*workers*per
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, p := range benchAddrs(per, base+w*per) {
						if errs := n.Block(ctx, []netip.Prefix{p}, time.Hour); errs[0] != nil {
							b.Error(errs[0])
							return
						}
					}
				}()
			}
			wg.Wait()
		}
		b.ReportMetric(float64(b.N*workers*per)/b.Elapsed().Seconds(), "decisions/s")
	})
}
