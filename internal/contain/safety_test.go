package contain

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/perimeter"
)

func TestSafetyCheck(t *testing.T) {
	p := mustPerimeter(t, perimeter.File{
		Networks:          []perimeter.Network{{CIDR: "10.0.0.0/8"}},
		Domains:           []string{"acme.example"},
		Assets:            []perimeter.Asset{{Name: "ws7", Addresses: []string{"10.3.0.7"}, Hostnames: []string{"ws7.corp.test"}}},
		Devices:           []perimeter.Device{{Name: "fw", Kind: "firewall"}, {Name: "dns1", Kind: "resolver"}, {Name: "edr", Kind: "edr"}},
		IdentityProviders: []string{"corp-ad"},
		Protected:         []string{"10.0.0.1/32", "2001:db8:1::/48"},
	})
	s := Safety{Self: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}, MaxElements: 2, MinBits4: 16, MinBits6: 32}
	fw, dns, edr := []string{"firewall"}, []string{"resolver"}, []string{"firewall", "edr"}
	for _, c := range []struct {
		name      string
		spec      Spec
		kinds     []string
		want      string // "" for no refusal
		forceable bool
	}{
		{"block an attacker", Spec{Kind: "firewall_block", Target: "203.0.113.9", Device: "fw"}, fw, "", false},
		{"block an IPv6 /48", Spec{Kind: "firewall_block", Target: "2001:db8:66::/48", Device: "fw"}, fw, "", false},
		{"device not ours", Spec{Kind: "firewall_block", Target: "203.0.113.9", Device: "fw-other"}, fw, "not one of our", false},
		{"device of another kind", Spec{Kind: "firewall_block", Target: "203.0.113.9", Device: "dns1"}, fw, "not one of our", false},
		{"no device", Spec{Kind: "firewall_block", Target: "203.0.113.9"}, fw, "names no device", false},
		{"protected", Spec{Kind: "firewall_block", Target: "10.0.0.1", Device: "fw"}, fw, "protected", true},
		{"prefix over protected", Spec{Kind: "firewall_block", Target: "10.0.0.0/24", Device: "fw"}, fw, "protected", true},
		{"protected IPv6", Spec{Kind: "firewall_block", Target: "2001:db8:1::5", Device: "fw"}, fw, "protected", true},
		{"own address", Spec{Kind: "firewall_block", Target: "192.0.2.10", Device: "fw"}, fw, "lock us out", true},
		{"prefix over own address", Spec{Kind: "firewall_block", Target: "192.0.2.0/24", Device: "fw"}, fw, "lock us out", true},
		{"mapped own address", Spec{Kind: "firewall_block", Target: "::ffff:192.0.2.10", Device: "fw"}, fw, "lock us out", true},
		{"too wide v4", Spec{Kind: "firewall_block", Target: "100.64.0.0/10", Device: "fw"}, fw, "wider than /16", true},
		{"too wide v6", Spec{Kind: "firewall_block", Target: "2001:db0::/29", Device: "fw"}, fw, "wider than /32", true},
		{"isolate ours", Spec{Kind: "host_isolation", Target: "ws7", Device: "edr"}, edr, "", false},
		{"isolate not ours", Spec{Kind: "host_isolation", Target: "203.0.113.9", Device: "edr"}, edr, "not ours", false},
		{"sinkhole", Spec{Kind: "dns_sinkhole", Target: "c2.evil.example", Device: "dns1"}, dns, "", false},
		{"sinkhole on a firewall", Spec{Kind: "dns_sinkhole", Target: "c2.evil.example", Device: "fw"}, dns, "not one of our", false},
		{"sinkhole our own name", Spec{Kind: "dns_sinkhole", Target: "mail.acme.example", Device: "dns1"}, dns, "our own names", true},
		{"sinkhole our own domain", Spec{Kind: "dns_sinkhole", Target: "acme.example", Device: "dns1"}, dns, "our own names", true},
		{"sinkhole the parent of our domain", Spec{Kind: "dns_sinkhole", Target: "example", Device: "dns1"}, dns, "parent of acme.example", true},
		{"sinkhole the parent of our domain, trailing dot", Spec{Kind: "dns_sinkhole", Target: "Example.", Device: "dns1"}, dns, "parent of acme.example", true},
		{"sinkhole the parent of an asset's name", Spec{Kind: "dns_sinkhole", Target: "corp.test", Device: "dns1"}, dns, "parent of ws7.corp.test", true},
		{"sinkhole a sibling of our domain", Spec{Kind: "dns_sinkhole", Target: "evil.example", Device: "dns1"}, dns, "", false},
		{"sinkhole a name ending like ours", Spec{Kind: "dns_sinkhole", Target: "me.example.net", Device: "dns1"}, dns, "", false},
		{"sinkhole a top-level domain", Spec{Kind: "dns_sinkhole", Target: "zip", Device: "dns1"}, dns, "single-label", true},
		{"disable our account", Spec{Kind: "account_disable", Target: "corp-ad:mrossi", Device: "idp"}, edr, "", false},
		{"disable a third party's account", Spec{Kind: "account_disable", Target: "gmail:mrossi", Device: "idp"}, edr, "identity providers", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := s.Check(c.spec, p, c.kinds)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) || !errors.Is(err, ErrRefused) || !strings.Contains(r.Reason, c.want) || r.Forceable != c.forceable {
				t.Fatalf("got %v (forceable %v), want a refusal about %q (forceable %v)", err, r != nil && r.Forceable, c.want, c.forceable)
			}
		})
	}
	if err := s.Check(Spec{Kind: "firewall_block", Target: "203.0.113.9", Device: "fw"}, nil, fw); !errors.Is(err, ErrRefused) {
		t.Errorf("no perimeter: %v", err)
	}
	if err := s.CheckPlan(Plan{Changes: make([]Change, 3)}); !errors.Is(err, ErrRefused) {
		t.Errorf("3 elements over a cap of 2: %v", err)
	}
}
