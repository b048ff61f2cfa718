package contain

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
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
// call, split into netlink batches of maxPerFlush), "concurrent-W" has W
// goroutines (1: no batching at all, one transaction per decision) each blocking one address at a time (the group commit
// coalesces them). Reported: decisions/s.
func BenchmarkNFTablesBlock(b *testing.B) {
	requireRoot(b)
	ctx := context.Background()
	var next atomic.Int64 // addresses are never reused
	b.Run("batch", func(b *testing.B) {
		n := openNFT(b, newTopo(b), nil)
		const per = 5000
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			errs := n.Block(ctx, benchAddrs(per, int(next.Add(per))-per), time.Hour)
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "decisions/s")
	})
	for _, workers := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("concurrent-%d", workers), func(b *testing.B) {
			n := openNFT(b, newTopo(b), nil)
			const per = 50
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				base := int(next.Add(int64(workers*per))) - workers*per
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
}

// BenchmarkNFTablesVerify reads one block back from a set holding 50,000
// others (every other address, so no two blocks are adjacent): the
// per-element lookup does not grow with the set.
func BenchmarkNFTablesVerify(b *testing.B) {
	n := openNFT(b, newTopo(b), nil)
	ctx := context.Background()
	var addrs []netip.Prefix
	for i, p := range benchAddrs(100_000, 0) {
		if i%2 == 0 {
			addrs = append(addrs, p)
		}
	}
	for i := 0; i < len(addrs); i += 5000 {
		for _, err := range n.Block(ctx, addrs[i:i+5000], time.Hour) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	p := Plan{Kind: "firewall_block", Changes: []Change{{Op: "add", Element: addrs[31_337].String()}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o, err := n.Verify(ctx, p, true)
		if err != nil || !o.OK {
			b.Fatal(o, err)
		}
	}
}
