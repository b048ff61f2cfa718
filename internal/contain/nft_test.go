package contain

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func openNFT(t testing.TB, tp topo, iso *IsolationConfig) *NFTables {
	t.Helper()
	n, err := OpenNFTables(NFTablesConfig{Device: "fw-host", NetNS: nsPath(tp.b), Isolation: iso})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func nftList(t testing.TB, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", "vallum").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	return string(out)
}

func blockPlan(t testing.TB, n *NFTables, target string, expires time.Time) Plan {
	t.Helper()
	p, err := n.Plan(context.Background(), Spec{Action: "ACT-TEST", Kind: "firewall_block", Target: target, Device: "fw-host", Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustApply(t testing.TB, c Connector, p Plan) {
	t.Helper()
	r, err := c.Apply(context.Background(), p)
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		t.Fatalf("Apply %s: %v", p.Target, err)
	}
}

func mustRevert(t testing.TB, c Connector, p Plan) {
	t.Helper()
	r, err := c.Revert(context.Background(), p)
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		t.Fatalf("Revert %s: %v", p.Target, err)
	}
}

func mustObserve(t testing.TB, c Connector, p Plan, present bool) Observation {
	t.Helper()
	o, err := c.Verify(context.Background(), p, present)
	if err != nil {
		t.Fatal(err)
	}
	if !o.OK {
		t.Fatalf("Verify %s want %s: observed %+v", p.Target, want(present), o)
	}
	return o
}

// TestNFTablesBlockTraffic blocks a host, a /24 and an IPv6 /112 in the
// defended namespace and proves with TCP connections that exactly those
// sources are cut off, that revert restores them, and that a kernel
// timeout lifts a block by itself.
func TestNFTablesBlockTraffic(t *testing.T) {
	tp := newTopo(t)
	n := openNFT(t, tp, nil)
	port := serveTCP(t, tp.b)
	// The namespace's own addresses are known (the safety rules refuse
	// blocking them).
	host := fmt.Sprint(n.HostAddrs())
	for _, want := range []string{bAddr4 + "/32", bAddr6 + "/128", "127.0.0.1/32"} {
		if !strings.Contains(host, want) {
			t.Errorf("HostAddrs = %s, lacks %s", host, want)
		}
	}
	for _, src := range []string{aAddr4, aAddr4b, aAddr4c} {
		if !reach(t, tp.a, src, bAddr4, port) {
			t.Fatalf("before any block: %s cannot reach %s", src, bAddr4)
		}
	}
	if !reach(t, tp.a, aAddr6b, bAddr6, port) {
		t.Fatalf("before any block: %s cannot reach %s", aAddr6b, bAddr6)
	}

	single := blockPlan(t, n, aAddr4, time.Now().Add(time.Hour))
	cidr := blockPlan(t, n, "10.77.2.0/24", time.Now().Add(time.Hour))
	v6 := blockPlan(t, n, "fd77::2:0/112", time.Time{})
	for _, p := range []Plan{single, cidr, v6} {
		mustApply(t, n, p)
		mustApply(t, n, p) // idempotent
		o := mustObserve(t, n, p, true)
		if p.Expires.IsZero() != !strings.Contains(o.Elements[0].Detail, "expires in") {
			t.Errorf("observed %q for %s (expires %v)", o.Elements[0].Detail, p.Target, p.Expires)
		}
	}
	for _, c := range []struct {
		src, dst string
		want     bool
	}{{aAddr4, bAddr4, false}, {aAddr4b, bAddr4, false}, {aAddr4c, bAddr4, true}, {aAddr6b, bAddr6, false}, {aAddr6, bAddr6, true}} {
		if got := reach(t, tp.a, c.src, c.dst, port); got != c.want {
			t.Errorf("after blocks: %s → %s reachable = %v, want %v", c.src, c.dst, got, c.want)
		}
	}
	if curlReach(t, tp.a, aAddr4b, bAddr4, port) {
		t.Errorf("curl from %s reached %s through a /24 block", aAddr4b, bAddr4)
	}
	list := nftList(t, tp.b)
	for _, want := range []string{"10.77.1.1", "10.77.2.0/24", "fd77::2:0/112", "flags interval,timeout"} {
		if !strings.Contains(list, want) {
			t.Errorf("nft list table inet vallum lacks %q:\n%s", want, list)
		}
	}

	// Revert restores traffic, and is idempotent.
	for _, p := range []Plan{single, cidr, v6} {
		mustRevert(t, n, p)
		mustRevert(t, n, p)
		mustObserve(t, n, p, false)
	}
	for _, c := range []struct{ src, dst string }{{aAddr4, bAddr4}, {aAddr4b, bAddr4}, {aAddr6b, bAddr6}} {
		if !reach(t, tp.a, c.src, c.dst, port) {
			t.Errorf("after revert: %s cannot reach %s", c.src, c.dst)
		}
	}

	// A kernel timeout lifts the block without Vallum.
	short := blockPlan(t, n, aAddr4, time.Now().Add(2*time.Second))
	mustApply(t, n, short)
	if reach(t, tp.a, aAddr4, bAddr4, port) {
		t.Fatal("short block not in force")
	}
	deadline := time.Now().Add(10 * time.Second)
	for reach(t, tp.a, aAddr4, bAddr4, port) == false {
		if time.Now().After(deadline) {
			t.Fatalf("block with a 2 s timeout still in force after 10 s:\n%s", nftList(t, tp.b))
		}
		time.Sleep(200 * time.Millisecond)
	}
	mustObserve(t, n, short, false)
}

// TestNFTablesOverlap shows what the kernel does with a prefix inside one
// already blocked: the error names the element.
func TestNFTablesOverlap(t *testing.T) {
	tp := newTopo(t)
	n := openNFT(t, tp, nil)
	mustApply(t, n, blockPlan(t, n, "10.77.2.0/24", time.Time{}))
	errs := n.Block(context.Background(), []netip.Prefix{netip.MustParsePrefix("10.77.2.5/32"), netip.MustParsePrefix("10.77.5.0/24")}, 0)
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "overlaps") {
		t.Errorf("a /32 inside a blocked /24: %v", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("non-overlapping prefix in the same batch failed: %v", errs[1])
	}
	// Adjacent blocks (the end of one is the start of the next) verify
	// exactly; a shorter interval at the same start does not pass for a
	// longer one.
	for _, s := range []string{"10.77.6.1", "10.77.6.2", "10.77.7.0/25", "10.77.7.128/25"} {
		mustApply(t, n, blockPlan(t, n, s, time.Time{}))
	}
	for _, s := range []string{"10.77.6.1", "10.77.6.2", "10.77.7.0/25", "10.77.7.128/25"} {
		mustObserve(t, n, blockPlan(t, n, s, time.Time{}), true)
	}
	for _, s := range []string{"10.77.7.0/24", "10.77.6.0/30", "10.77.6.3"} {
		if o, err := n.Verify(context.Background(), blockPlan(t, n, s, time.Time{}), true); err != nil || o.OK {
			t.Errorf("Verify %s present = %+v, %v; want not observed", s, o, err)
		}
	}
}

// TestNFTablesIsolation isolates the defended host: only the management
// address (and loopback) still reach it, over IPv4; everything else,
// IPv6 included, is cut off; reverting restores it. Isolation survives
// reopening the connector (a restart).
func TestNFTablesIsolation(t *testing.T) {
	tp := newTopo(t)
	iso := &IsolationConfig{Host: "sensor1", Management: []string{mgmt4 + "/32", mgmt6}}
	n := openNFT(t, tp, iso)
	port := serveTCP(t, tp.b)
	ctx := context.Background()
	if _, err := n.Plan(ctx, Spec{Action: "ACT-X", Kind: "host_isolation", Target: "ws7"}); err == nil {
		t.Fatal("isolating another host than the configured one was planned")
	}
	p, err := n.Plan(ctx, Spec{Action: "ACT-X", Kind: "host_isolation", Target: "SENSOR1"})
	if err != nil {
		t.Fatal(err)
	}
	mustObserve(t, n, p, false)
	mustApply(t, n, p)
	mustApply(t, n, p)
	o := mustObserve(t, n, p, true)
	if !strings.Contains(o.Elements[0].Detail, "management: "+mgmt4+"/32, "+mgmt6+"/128") {
		t.Errorf("observation %q lacks the management list", o.Elements[0].Detail)
	}
	check := func(when string, wantOthers bool) {
		t.Helper()
		if !reach(t, tp.a, mgmt4, bAddr4, port) {
			t.Errorf("%s: management %s cannot reach the host", when, mgmt4)
		}
		// IPv6 management needs neighbour discovery to keep working.
		run(t, "ip", "netns", "exec", tp.a, "ip", "-6", "neigh", "flush", "all")
		run(t, "ip", "netns", "exec", tp.b, "ip", "-6", "neigh", "flush", "all")
		if !reach(t, tp.a, mgmt6, bAddr6, port) {
			t.Errorf("%s: management %s cannot reach the host", when, mgmt6)
		}
		if got := reach(t, tp.a, aAddr4c, bAddr4, port); got != wantOthers {
			t.Errorf("%s: %s reachable = %v, want %v", when, aAddr4c, got, wantOthers)
		}
		if got := reach(t, tp.a, aAddr6, bAddr6, port); got != wantOthers {
			t.Errorf("%s: %s reachable = %v, want %v", when, aAddr6, got, wantOthers)
		}
		if !reach(t, tp.b, "127.0.0.1", "127.0.0.1", port) {
			t.Errorf("%s: loopback broken", when)
		}
	}
	check("isolated", false)
	// Reopening (a restart) keeps the isolation in force.
	n.Close()
	n = openNFT(t, tp, iso)
	mustObserve(t, n, p, true)
	check("isolated after reopening", false)
	if els, _ := n.Elements(ctx); len(els) != 1 || els[0] != isolateElement {
		t.Errorf("Elements = %v", els)
	}
	mustRevert(t, n, p)
	mustObserve(t, n, p, false)
	check("released", true)
}

func TestIntervals(t *testing.T) {
	for _, s := range []string{"10.0.0.1/32", "10.0.0.0/24", "0.0.0.0/1", "2001:db8::/32", "::1/128"} {
		p := netip.MustParsePrefix(s)
		ivs := Intervals(intervalElems(p, 0))
		if len(ivs) != 1 || ivs[0].String() != s {
			t.Errorf("%s → %+v", s, ivs)
		}
	}
	// Two adjacent intervals: the end of one is the start of the next.
	els := append(intervalElems(netip.MustParsePrefix("10.0.0.0/25"), 0), intervalElems(netip.MustParsePrefix("10.0.0.128/25"), 0)...)
	if ivs := Intervals(els); len(ivs) != 2 || ivs[0].String() != "10.0.0.0/25" || ivs[1].String() != "10.0.0.128/25" {
		t.Errorf("adjacent → %+v", ivs)
	}
	if iv := (Interval{First: netip.MustParseAddr("10.0.0.1"), Last: netip.MustParseAddr("10.0.0.5")}); iv.String() != "10.0.0.1-10.0.0.5" {
		t.Errorf("range → %s", iv)
	}
	for _, bad := range []string{"10.0.0.1/8", "fe80::1%eth0", "host", ""} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q): no error", bad)
		}
	}
	if p, err := ParsePrefix("::ffff:10.0.0.0/104"); err != nil || p.String() != "10.0.0.0/8" {
		t.Errorf("mapped prefix → %v, %v", p, err)
	}
}
