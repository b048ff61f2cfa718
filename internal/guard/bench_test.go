package guard

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/perimeter"
)

// bigPerimeter has n networks (IPv4 /24s and IPv6 /48s), a domain, assets,
// devices and external ranges.
func bigPerimeter(tb testing.TB, n int) *perimeter.Perimeter {
	tb.Helper()
	f := perimeter.File{
		Domains:           []string{"acme.example"},
		Assets:            []perimeter.Asset{{Name: "pacs1", Addresses: []string{"10.2.0.20"}, Flags: []string{"health"}}},
		Devices:           []perimeter.Device{{Name: "fw-edge", Kind: "firewall"}, {Name: "dns1", Kind: "resolver"}},
		IdentityProviders: []string{"corp-ad"},
		Protected:         []string{"10.0.0.1/32"},
		External:          []perimeter.External{{CIDR: "198.51.100.0/24", Flags: []string{"critical_infra"}}},
	}
	for i := range n {
		if i < 65536 {
			f.Networks = append(f.Networks, perimeter.Network{CIDR: fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)})
			continue
		}
		f.Networks = append(f.Networks, perimeter.Network{CIDR: fmt.Sprintf("2001:db8:%x::/48", i-65536)})
	}
	p, err := perimeter.New(f)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// benchRequests is a mix of kinds and targets: allow, conditional and deny
// decisions, address, prefix, hostname, account and wallet targets.
func benchRequests() []Request {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ransom := Request{
		Action:        Action{Kind: "ransom_payment", Target: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
		Proposer:      "paola",
		Approvals:     []Approval{{Role: "executive", By: "e", At: now}, {Role: "legal_counsel", By: "l", At: now}, {Role: "dpo", By: "d", At: now}, {Role: "board", By: "b", At: now}},
		Notifications: []Notification{{Authority: "police", Ref: "r", At: now}},
		Sanctions:     &Sanctions{Result: "clear", ScreenedAt: now, ListVersion: "v"},
		LegalReview:   &LegalReview{By: "l", Ref: "r", At: now},
	}
	return []Request{
		{Action: Action{Kind: "firewall_block", Target: "192.0.2.7", Params: Params{Device: "fw-edge"}}, Proposer: "paola"},
		{Action: Action{Kind: "host_isolation", Target: "10.200.3.4"}, Proposer: "paola", Incident: Incident{LastMaliciousAt: now}},
		{Action: Action{Kind: "host_isolation", Target: "pacs1"}, Proposer: "paola"},
		{Action: Action{Kind: "passive_monitoring", Target: "2001:db8:1234::/64"}, Proposer: "paola"},
		{Action: Action{Kind: "dns_sinkhole", Target: "c2.evil.test", Params: Params{Resolver: "dns1"}}, Proposer: "paola"},
		{Action: Action{Kind: "account_disable", Target: "corp-ad:jdoe"}, Proposer: "paola"},
		{Action: Action{Kind: "remote_access", Target: "198.51.100.7"}, Proposer: "paola"},
		{Action: Action{Kind: "remote_data_deletion", Target: "exfil.evil.test"}, Proposer: "paola"},
		ransom,
		{Action: Action{Kind: "ransom_negotiation", Target: "lockbit"}, Proposer: "paola"},
		{Action: Action{Kind: "hack_back", Target: "203.0.113.9"}, Proposer: "paola"},
	}
}

// BenchmarkDecide measures one decision with the full default rule pack
// and a 100,000-network perimeter, without logging. It reports the p50 and
// p99 of the per-decision latencies and allocations per decision.
func BenchmarkDecide(b *testing.B) {
	e := mustDefault(b)
	p := bigPerimeter(b, 100_000)
	reqs := benchRequests()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	lat := make([]time.Duration, 0, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		e.Decide(reqs[i%len(reqs)], p, now)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
}

// BenchmarkDecideParallel is BenchmarkDecide from every CPU at once (the
// Engine is shared by the server's handlers).
func BenchmarkDecideParallel(b *testing.B) {
	e := mustDefault(b)
	p := bigPerimeter(b, 100_000)
	reqs := benchRequests()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			e.Decide(reqs[i%len(reqs)], p, now)
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkContextRecord is the cost a decision pays when its facts were
// never seen before (a record cache miss).
func BenchmarkContextRecord(b *testing.B) {
	c := context{kindKnown: true, targetType: "wallet", owner: "unknown", deviceKind: "none", resolverKind: "none",
		egress: "unstated", codeExecution: "unstated", validOn: "unstated", sanctions: "clear",
		approvals: []string{"executive", "legal_counsel", "dpo", "board"}, notified: []string{"police"}}
	b.ReportAllocs()
	for b.Loop() {
		c.record()
	}
}
