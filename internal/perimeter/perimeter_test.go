package perimeter

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testFile = `
networks: [{cidr: 10.0.0.0/8}, {cidr: 10.2.0.0/16}, {cidr: 2001:db8:100::/48}, {cidr: "::ffff:192.168.0.0/112"}]
domains: [acme.example, Bücher.Example.]
assets:
  - name: pacs1
    addresses: [10.2.0.20, "2001:db8:100::20"]
    hostnames: [PACS.acme.example.]
    owner: self
    criticality: critical
    flags: [health]
  - name: crm
    addresses: [203.0.113.7]
    hostnames: [crm.partner.example]
    owner: contract
devices:
  - {name: fw-edge, kind: firewall}
  - {name: dns1, kind: resolver}
identity_providers: [corp-ad]
protected: [10.0.0.1/32]
external:
  - {cidr: 198.51.100.0/24, flags: [critical_infra]}
  - {cidr: 198.51.100.128/25, flags: [cdn, shared_hosting]}
`

func mustParse(t testing.TB, s string) *Perimeter {
	t.Helper()
	p, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestLookup(t *testing.T) {
	p := mustParse(t, testFile)
	tests := []struct {
		target     string
		typ        Type
		in         bool
		owner      string
		asset      string
		collateral []string
		protected  bool
	}{
		{"10.1.2.3", TypeAddress, true, OwnerSelf, "", nil, false},
		{"::ffff:10.1.2.3", TypeAddress, true, OwnerSelf, "", nil, false},
		{"11.0.0.1", TypeAddress, false, OwnerUnknown, "", nil, false},
		{"10.0.0.1", TypeAddress, true, OwnerSelf, "", nil, true},
		{"10.2.0.20", TypeAddress, true, OwnerSelf, "pacs1", []string{"health"}, false},
		{"::ffff:10.2.0.20", TypeAddress, true, OwnerSelf, "pacs1", []string{"health"}, false},
		{"2001:db8:100::20", TypeAddress, true, OwnerSelf, "pacs1", []string{"health"}, false},
		{"2001:DB8:100:ffff::1", TypeAddress, true, OwnerSelf, "", nil, false},
		{"2001:db8:101::1", TypeAddress, false, OwnerUnknown, "", nil, false},
		{"fe80::1%eth0", TypeInvalid, false, OwnerUnknown, "", nil, false},
		{"192.168.3.4", TypeAddress, true, OwnerSelf, "", nil, false},
		{"203.0.113.7", TypeAddress, true, OwnerContract, "crm", nil, false},
		{"198.51.100.5", TypeAddress, false, OwnerThirdParty, "", []string{"critical_infra"}, false},
		{"198.51.100.200", TypeAddress, false, OwnerThirdParty, "", []string{"cdn", "critical_infra", "shared_hosting"}, false},
		{"10.3.0.0/16", TypePrefix, true, OwnerSelf, "", nil, false},
		{"10.0.0.0/8", TypePrefix, true, OwnerSelf, "", nil, true},
		{"10.0.0.0/7", TypePrefix, false, OwnerUnknown, "", nil, true},
		{"::ffff:10.3.0.0/112", TypePrefix, true, OwnerSelf, "", nil, false},
		{"10.2.0.20/32", TypePrefix, true, OwnerSelf, "pacs1", []string{"health"}, false},
		{"198.51.0.0/16", TypePrefix, false, OwnerThirdParty, "", []string{"cdn", "critical_infra", "shared_hosting"}, false},
		{"0.0.0.0/0", TypePrefix, false, OwnerThirdParty, "", []string{"cdn", "critical_infra", "shared_hosting"}, true},
		{"10.0.0.0/33", TypeInvalid, false, OwnerUnknown, "", nil, false},
		{"pacs1", TypeAsset, true, OwnerSelf, "pacs1", []string{"health"}, false},
		{"PACS1", TypeAsset, true, OwnerSelf, "pacs1", []string{"health"}, false},
		{"pacs.acme.example", TypeHostname, true, OwnerSelf, "pacs1", []string{"health"}, false},
		{"PACS.ACME.EXAMPLE.", TypeHostname, true, OwnerSelf, "pacs1", []string{"health"}, false},
		{"www.acme.example", TypeHostname, true, OwnerSelf, "", nil, false},
		{"acme.example", TypeHostname, true, OwnerSelf, "", nil, false},
		{"a.b.c.acme.example.", TypeHostname, true, OwnerSelf, "", nil, false},
		{"acme.example.evil.test", TypeHostname, false, OwnerUnknown, "", nil, false},
		{"evilacme.example", TypeHostname, false, OwnerUnknown, "", nil, false},
		{"acme.example..", TypeInvalid, false, OwnerUnknown, "", nil, false},
		{"аcme.example", TypeHostname, false, OwnerUnknown, "", nil, false}, // Cyrillic а
		{"shop.bücher.example", TypeHostname, true, OwnerSelf, "", nil, false},
		{"shop.xn--bcher-kva.example", TypeHostname, true, OwnerSelf, "", nil, false},
		{"crm.partner.example", TypeHostname, true, OwnerContract, "crm", nil, false},
		{"x.crm.partner.example", TypeHostname, false, OwnerUnknown, "", nil, false},
		{"corp-ad:jdoe", TypeAccount, true, OwnerSelf, "", nil, false},
		{"CORP-AD:jdoe", TypeAccount, true, OwnerSelf, "", nil, false},
		{"gmail:jdoe", TypeAccount, false, OwnerUnknown, "", nil, false},
		{"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", TypeWallet, false, OwnerUnknown, "", nil, false},
		{"0x52908400098527886E0F7030069857D2E4169EE7", TypeWallet, false, OwnerUnknown, "", nil, false},
		{"", TypeNone, false, OwnerUnknown, "", nil, false},
		{"not a host!", TypeInvalid, false, OwnerUnknown, "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			m := p.Lookup(tt.target)
			if m.Type != tt.typ {
				t.Errorf("type: got %q, want %q", m.Type, tt.typ)
			}
			if m.InPerimeter != tt.in {
				t.Errorf("in_perimeter: got %v, want %v", m.InPerimeter, tt.in)
			}
			if m.Owner != tt.owner {
				t.Errorf("owner: got %q, want %q", m.Owner, tt.owner)
			}
			if m.Asset != tt.asset {
				t.Errorf("asset: got %q, want %q", m.Asset, tt.asset)
			}
			if !slices.Equal(m.Collateral, tt.collateral) {
				t.Errorf("collateral: got %v, want %v", m.Collateral, tt.collateral)
			}
			if m.Protected != tt.protected {
				t.Errorf("protected: got %v, want %v", m.Protected, tt.protected)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"unknown key", "networks: [{cidr: 10.0.0.0/8, owner: me}]", "field owner not found"},
		{"unknown top key", "netwrks: []", "field netwrks not found"},
		{"bad cidr", "networks: [{cidr: 10.0.0.0/99}]", "networks[0].cidr"},
		{"host bits", "networks: [{cidr: 10.0.0.1/8}]", "did you mean 10.0.0.0/8"},
		{"bad protected", "protected: [nope]", "protected[0]"},
		{"bad external flag", "external: [{cidr: 1.2.3.0/24, flags: [evil]}]", "external[0].flags[0]"},
		{"bad domain", "domains: ['a..b']", "domains[0]"},
		{"asset without name", "assets: [{addresses: [10.0.0.1]}]", "assets[0].name"},
		{"duplicate asset", "assets: [{name: a}, {name: A}]", "duplicate asset"},
		{"bad owner", "assets: [{name: a, owner: them}]", "assets[0].owner"},
		{"bad criticality", "assets: [{name: a, criticality: huge}]", "assets[0].criticality"},
		{"bad asset flag", "assets: [{name: a, flags: [cdn]}]", "assets[0].flags[0]"},
		{"bad address", "assets: [{name: a, addresses: [10.0.0.0/8]}]", "assets[0].addresses[0]"},
		{"shared address", "assets: [{name: a, addresses: [10.0.0.5]}, {name: b, addresses: ['::ffff:10.0.0.5']}]", "already belongs"},
		{"bad device kind", "devices: [{name: x, kind: laser}]", "devices[0].kind"},
		{"duplicate device", "devices: [{name: x, kind: edr}, {name: x, kind: edr}]", "duplicate device"},
		{"bad idp", "identity_providers: ['a:b']", "identity_providers[0]"},
		{"wrong type", "networks: {cidr: 10.0.0.0/8}", "cannot unmarshal"},
		{"two documents", "domains: [a.example]\n---\ndomains: [b.example]\n", "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	p := mustParse(t, "")
	if m := p.Lookup("10.0.0.1"); m.InPerimeter {
		t.Errorf("empty perimeter: got in_perimeter true for 10.0.0.1, want false")
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "perimeter.yaml")
	if err := os.WriteFile(path, []byte(testFile), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if d, ok := p.Device("fw-edge"); !ok || d.Kind != DeviceFirewall {
		t.Errorf("Device(fw-edge): got %+v, %v, want a firewall", d, ok)
	}
	if _, ok := p.Device("fw-other"); ok {
		t.Errorf("Device(fw-other): got ok, want not found")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Errorf("Load(missing): got nil error, want one")
	}
}

// TestRangesAgainstLinearScan compares the interval index with a linear
// scan over the prefixes for many random overlapping prefixes.
func TestRangesAgainstLinearScan(t *testing.T) {
	pfxs := randomPrefixes(2000, 7)
	var spans []span
	for i, pf := range pfxs {
		first, last := bounds(pf)
		spans = append(spans, span{first: first, last: last, mask: 1 << (i % 5)})
	}
	r := buildRanges(spans)
	probe := randomPrefixes(5000, 11)
	for _, q := range probe {
		a := q.Addr()
		var want uint16
		for i, pf := range pfxs {
			if pf.Contains(a) {
				want |= 1 << (i % 5)
			}
		}
		if got := r.at(key(a)); got != want {
			t.Fatalf("at(%s): got %b, want %b", a, got, want)
		}
	}
}

func randomPrefixes(n int, seed uint64) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	x := seed
	rnd := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	for range n {
		v := rnd()
		if v%4 == 0 {
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
			for i := 4; i < 16; i++ {
				b[i] = byte(rnd())
			}
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(b), 32+int(rnd()%97)).Masked())
			continue
		}
		a := netip.AddrFrom4([4]byte{10, byte(v >> 8), byte(v >> 16), byte(v >> 24)})
		out = append(out, netip.PrefixFrom(a, 8+int(rnd()%25)).Masked())
	}
	return out
}

// bigFile returns a perimeter file with n distinct networks.
func bigFile(n int) string {
	var b strings.Builder
	b.WriteString("networks:\n")
	for i := range n {
		if i < 65536 {
			fmt.Fprintf(&b, "  - {cidr: 10.%d.%d.0/24}\n", i/256, i%256)
			continue
		}
		fmt.Fprintf(&b, "  - {cidr: \"2001:db8:%x::/48\"}\n", i-65536)
	}
	b.WriteString("domains: [acme.example]\n")
	return b.String()
}

func BenchmarkLookup100k(b *testing.B) {
	p := mustParse(b, bigFile(100_000))
	targets := []string{"10.20.30.40", "11.0.0.1", "2001:db8:1ffff::1", "www.acme.example", "10.5.0.0/16"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p.Lookup(targets[i%len(targets)])
	}
}

func BenchmarkParse100k(b *testing.B) {
	f := []byte(bigFile(100_000))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(f); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNewDoesNotChangeFile(t *testing.T) {
	f := File{Assets: []Asset{{Name: "a", Addresses: []string{"10.0.0.5"}, Flags: []string{"public_interest", "health"}}}}
	p, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Assets[0]; got.Owner != "" || got.Criticality != "" || got.Flags[0] != "public_interest" {
		t.Errorf("New changed its input: got %+v", got)
	}
	m := p.Lookup("a")
	if m.Owner != OwnerSelf || m.Criticality != "medium" || !slices.Equal(m.Collateral, []string{"health", "public_interest"}) {
		t.Errorf("Lookup(a): got %+v, want owner self, criticality medium, sorted flags", m)
	}
}

func TestOwnNameUnder(t *testing.T) {
	p := mustParse(t, testFile)
	for _, c := range []struct {
		name, want string
	}{
		{"example", "acme.example"},
		{"EXAMPLE.", "acme.example"},
		{"acme.example", "acme.example"},
		{"pacs.acme.example", "pacs.acme.example"},
		{"partner.example", "crm.partner.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"mail.acme.example", ""}, // under ours, not above: Lookup answers that
		{"me.example", ""},        // acme.example does not end in .me.example
		{"evil.example.test", ""}, // unrelated
		{"com", ""},               // none of ours in com
		{"not a host name", ""},   // invalid
		{"", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := p.OwnNameUnder(c.name)
			if got != c.want || ok != (c.want != "") {
				t.Errorf("OwnNameUnder(%q) = %q, %v; want %q, %v", c.name, got, ok, c.want, c.want != "")
			}
		})
	}
}
