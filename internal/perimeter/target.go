package perimeter

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// Type is what kind of thing a target string names.
type Type string

// Target types.
const (
	TypeNone     Type = "none"     // empty target
	TypeAddress  Type = "address"  // an IPv4 or IPv6 address
	TypePrefix   Type = "prefix"   // a CIDR prefix
	TypeAsset    Type = "asset"    // the name of one of our assets
	TypeAccount  Type = "account"  // idp:account
	TypeWallet   Type = "wallet"   // a cryptocurrency wallet address
	TypeHostname Type = "hostname" // a DNS name
	TypeInvalid  Type = "invalid"  // none of the above
)

// Match is what the perimeter says about a target.
type Match struct {
	// Type is the kind of target.
	Type Type
	// InPerimeter is true only when the whole target is ours: an address or
	// every address of a prefix in our networks or assets, one of our asset
	// names, a hostname under one of our domains or of one of our assets, an
	// account at one of our identity providers.
	InPerimeter bool
	// Owner is self, contract, third_party (a listed external range) or
	// unknown (outside).
	Owner string
	// Asset is the name of the asset the target resolves to, if any.
	Asset string
	// Criticality is the asset's criticality, if any.
	Criticality string
	// Collateral are the collateral flags of the asset or of the external
	// ranges the target overlaps, sorted.
	Collateral []string
	// Protected is true when the target overlaps a protected prefix.
	Protected bool
}

// walletPatterns recognise the address formats of the common ransom
// currencies: Bitcoin (legacy, P2SH, bech32), Ethereum and Monero.
var walletPatterns = []*regexp.Regexp{
	regexp.MustCompile(`^[13][1-9A-HJ-NP-Za-km-z]{25,34}$`),
	regexp.MustCompile(`^(bc1|tb1)[02-9ac-hj-np-z]{11,87}$`),
	regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`),
	regexp.MustCompile(`^[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}$`),
}

// accountPattern is idp:account, where the provider is a plain name.
var accountPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*:[^:\s]+$`)

// NormalizeHost returns the canonical form of a DNS name: IDN labels in
// their ASCII (punycode) form, lower case, without a trailing dot.
func NormalizeHost(s string) (string, error) {
	t := strings.TrimSuffix(s, ".")
	if t == "" || strings.HasSuffix(t, ".") {
		return "", fmt.Errorf("%q is not a valid hostname", s)
	}
	h, err := idna.Lookup.ToASCII(t)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid hostname: %w", s, err)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%q is not a valid hostname", s)
		}
	}
	if len(h) > 253 {
		return "", fmt.Errorf("%q is not a valid hostname: too long", s)
	}
	return h, nil
}

// Lookup classifies target against the perimeter. Anything the perimeter
// does not name is outside (InPerimeter false, Owner unknown).
func (p *Perimeter) Lookup(target string) Match {
	m := Match{Type: TypeInvalid, Owner: OwnerUnknown}
	s := strings.TrimSpace(target)
	switch {
	case s == "":
		m.Type = TypeNone
	case strings.Contains(s, "/"):
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return m
		}
		m.Type = TypePrefix
		pfx = unmapPrefix(pfx.Masked())
		if pfx.Bits() == pfx.Addr().BitLen() {
			p.lookupAddr(pfx.Addr(), &m)
			return m
		}
		first, last := bounds(pfx)
		all, any := p.ranges.over(first, last)
		p.fromMask(all, any, &m)
	default:
		if addr, err := netip.ParseAddr(s); err == nil {
			if addr.Zone() != "" {
				return m
			}
			m.Type = TypeAddress
			p.lookupAddr(addr.Unmap(), &m)
			return m
		}
		if a := p.assets[strings.ToLower(s)]; a != nil {
			m.Type = TypeAsset
			p.fromAsset(a, &m)
			return m
		}
		if accountPattern.MatchString(s) {
			m.Type = TypeAccount
			idp, _, _ := strings.Cut(s, ":")
			if p.idps[strings.ToLower(idp)] {
				m.InPerimeter, m.Owner = true, OwnerSelf
			}
			return m
		}
		if slices.ContainsFunc(walletPatterns, func(re *regexp.Regexp) bool { return re.MatchString(s) }) {
			m.Type = TypeWallet
			return m
		}
		h, err := NormalizeHost(s)
		if err != nil {
			return m
		}
		m.Type = TypeHostname
		if a := p.byHost[h]; a != nil {
			p.fromAsset(a, &m)
			return m
		}
		if p.underDomain(h) {
			m.InPerimeter, m.Owner = true, OwnerSelf
		}
	}
	return m
}

// underDomain reports whether h is one of our domains or a subdomain of one,
// label by label: acme.example.evil.test and evilacme.example are not under
// acme.example.
func (p *Perimeter) underDomain(h string) bool {
	for {
		if p.domains[h] {
			return true
		}
		_, rest, ok := strings.Cut(h, ".")
		if !ok {
			return false
		}
		h = rest
	}
}

// OwnNameUnder returns one of our domains or asset hostnames that is name
// itself or a subdomain of it, label by label (the smallest such name, so
// that the answer is stable), and false when there is none or name is not
// a valid hostname. It answers the question Lookup does not: whether a
// rule covering name and everything under it (a DNS sinkhole) would cover
// names of ours, when name is *above* them (example for acme.example).
func (p *Perimeter) OwnNameUnder(name string) (string, bool) {
	h, err := NormalizeHost(strings.TrimSpace(name))
	if err != nil {
		return "", false
	}
	var found string
	consider := func(own string) {
		if (own == h || strings.HasSuffix(own, "."+h)) && (found == "" || own < found) {
			found = own
		}
	}
	for d := range p.domains {
		consider(d)
	}
	for host := range p.byHost {
		consider(host)
	}
	return found, found != ""
}

func (p *Perimeter) lookupAddr(addr netip.Addr, m *Match) {
	if a := p.byAddr[addr]; a != nil {
		p.fromAsset(a, m)
	}
	mask := p.ranges.at(key(addr))
	p.fromMask(mask, mask, m)
}

// fromAsset fills m from one of our assets.
func (p *Perimeter) fromAsset(a *asset, m *Match) {
	m.InPerimeter = true
	m.Owner = a.Owner
	m.Asset = a.Name
	m.Criticality = a.Criticality
	m.Collateral = append(m.Collateral, a.collateral...)
	m.Protected = m.Protected || a.protected
}

// fromMask fills m from range bits: all are the bits set on every address
// of the target, any those set on at least one.
func (p *Perimeter) fromMask(all, any uint16, m *Match) {
	if all&bitOurs != 0 && !m.InPerimeter {
		m.InPerimeter, m.Owner = true, OwnerSelf
	}
	if any&bitProtected != 0 {
		m.Protected = true
	}
	if !m.InPerimeter && any&bitExternal != 0 {
		m.Owner = OwnerThirdParty
	}
	sorted := true
	for i, f := range externalFlags {
		if any&(bitFlag0<<i) != 0 && !slices.Contains(m.Collateral, f) {
			m.Collateral = append(m.Collateral, f)
			sorted = false
		}
	}
	if !sorted {
		slices.Sort(m.Collateral)
	}
}
