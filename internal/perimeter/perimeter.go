// Package perimeter answers "is this ours?": it loads the perimeter file
// (the networks, domains, assets, enforcement devices and identity providers
// an organisation owns or manages, the ranges it must never contain, and the
// third-party ranges that carry collateral risk) and classifies a response
// action's target against it.
//
// Ownership is computed from the file, never taken from a request, and
// anything the file does not name is outside the perimeter. A Perimeter is
// immutable once built and safe for concurrent use.
package perimeter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// File is the perimeter file as written by an operator (YAML). Every field
// is optional; unknown keys are an error.
type File struct {
	// Networks is the address space the organisation owns or manages.
	Networks []Network `yaml:"networks"`
	// Domains are DNS names the organisation owns; every subdomain is ours
	// too.
	Domains []string `yaml:"domains"`
	// Assets are named systems with their addresses, hostnames, owner,
	// criticality and collateral flags.
	Assets []Asset `yaml:"assets"`
	// Devices are the enforcement points the organisation operates.
	Devices []Device `yaml:"devices"`
	// IdentityProviders are our identity providers; account targets are
	// written "idp:account".
	IdentityProviders []string `yaml:"identity_providers"`
	// Protected are prefixes that must never be contained (anti
	// self-lockout: gateways, management hosts, the Vallum server itself).
	Protected []string `yaml:"protected"`
	// External are third-party ranges that carry collateral risk.
	External []External `yaml:"external"`
}

// Network is one prefix of our address space.
type Network struct {
	// CIDR is the prefix in canonical form (10.0.0.0/8, 2001:db8::/32); a
	// bare address means a single host.
	CIDR string `yaml:"cidr"`
}

// Asset is a named system of ours.
type Asset struct {
	// Name identifies the asset; it may be used as an action's target.
	Name string `yaml:"name"`
	// Addresses are the asset's IP addresses.
	Addresses []string `yaml:"addresses"`
	// Hostnames are the asset's DNS names.
	Hostnames []string `yaml:"hostnames"`
	// Owner is "self" (we own it) or "contract" (managed for us under
	// contract); empty means self.
	Owner string `yaml:"owner"`
	// Criticality is low, medium, high or critical; empty means medium.
	Criticality string `yaml:"criticality"`
	// Flags are collateral flags: health, public_interest, critical_infra.
	Flags []string `yaml:"flags"`
}

// Device is an enforcement point we operate.
type Device struct {
	// Name identifies the device in action parameters (params.device,
	// params.resolver).
	Name string `yaml:"name"`
	// Kind is firewall, resolver, edr or honeypot_host.
	Kind string `yaml:"kind"`
}

// External is a third-party range with collateral risk.
type External struct {
	// CIDR is the prefix in canonical form.
	CIDR string `yaml:"cidr"`
	// Flags are public_interest, health, critical_infra, shared_hosting,
	// cdn or tor_exit.
	Flags []string `yaml:"flags"`
}

// Owners of a target, as reported in Match.Owner.
const (
	OwnerSelf       = "self"        // ours
	OwnerContract   = "contract"    // managed for us under contract
	OwnerThirdParty = "third_party" // listed as an external range
	OwnerUnknown    = "unknown"     // not in the file: outside
)

// Device kinds.
const (
	DeviceFirewall     = "firewall"
	DeviceResolver     = "resolver"
	DeviceEDR          = "edr"
	DeviceHoneypotHost = "honeypot_host"
)

var (
	owners        = []string{OwnerSelf, OwnerContract}
	criticalities = []string{"low", "medium", "high", "critical"}
	assetFlags    = []string{"health", "public_interest", "critical_infra"}
	deviceKinds   = []string{DeviceFirewall, DeviceResolver, DeviceEDR, DeviceHoneypotHost}
	// externalFlags is ordered: flag i is mask bit bitFlag0<<i.
	externalFlags = []string{"public_interest", "health", "critical_infra", "shared_hosting", "cdn", "tor_exit"}
)

// Perimeter is a loaded, validated perimeter file, indexed for lookups.
// It is immutable and safe for concurrent use.
type Perimeter struct {
	ranges   rangeSet
	assets   map[string]*asset     // by lowercase name
	byAddr   map[netip.Addr]*asset // unmapped address → asset
	byHost   map[string]*asset     // normalised hostname → asset
	domains  map[string]bool       // normalised domain names
	devices  map[string]Device     // by name
	idps     map[string]bool       // identity provider names
	networks int                   // number of networks, for String
}

// asset is an Asset as indexed.
type asset struct {
	Asset
	addrs      []netip.Addr // parsed Addresses, unmapped
	collateral []string     // sorted Flags
	protected  bool         // an address is in a protected range
}

// Load reads and parses the perimeter file at path.
func Load(path string) (*Perimeter, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read perimeter file: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("perimeter file %q: %w", path, err)
	}
	return p, nil
}

// Parse strictly decodes a perimeter file (unknown keys, duplicate names,
// non-canonical prefixes and unknown flags are errors) and indexes it.
func Parse(b []byte) (*Perimeter, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("couldn't decode perimeter: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("couldn't decode perimeter: more than one YAML document")
	}
	return New(f)
}

// New validates f and indexes it.
func New(f File) (*Perimeter, error) {
	p := &Perimeter{
		assets:   make(map[string]*asset),
		byAddr:   make(map[netip.Addr]*asset),
		byHost:   make(map[string]*asset),
		domains:  make(map[string]bool),
		devices:  make(map[string]Device),
		idps:     make(map[string]bool),
		networks: len(f.Networks),
	}
	var spans []span
	add := func(field, s string, mask uint16) error {
		pfx, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		first, last := bounds(pfx)
		spans = append(spans, span{first: first, last: last, mask: mask})
		return nil
	}
	for i, n := range f.Networks {
		if err := add(fmt.Sprintf("networks[%d].cidr", i), n.CIDR, bitOurs); err != nil {
			return nil, err
		}
	}
	for i, s := range f.Protected {
		if err := add(fmt.Sprintf("protected[%d]", i), s, bitProtected); err != nil {
			return nil, err
		}
	}
	for i, e := range f.External {
		mask := bitExternal
		for j, fl := range e.Flags {
			k := slices.Index(externalFlags, fl)
			if k < 0 {
				return nil, fmt.Errorf("external[%d].flags[%d]: unknown flag %q (want one of %s)", i, j, fl, strings.Join(externalFlags, ", "))
			}
			mask |= bitFlag0 << k
		}
		if err := add(fmt.Sprintf("external[%d].cidr", i), e.CIDR, mask); err != nil {
			return nil, err
		}
	}
	for i, d := range f.Domains {
		h, err := NormalizeHost(d)
		if err != nil {
			return nil, fmt.Errorf("domains[%d]: %w", i, err)
		}
		p.domains[h] = true
	}
	for i := range f.Assets {
		a := &asset{Asset: f.Assets[i]} // a copy: New does not change f
		field := fmt.Sprintf("assets[%d]", i)
		if a.Name == "" {
			return nil, fmt.Errorf("%s.name: missing", field)
		}
		name := strings.ToLower(a.Name)
		if p.assets[name] != nil {
			return nil, fmt.Errorf("%s.name: duplicate asset %q", field, a.Name)
		}
		p.assets[name] = a
		if a.Owner == "" {
			a.Owner = OwnerSelf
		}
		if !slices.Contains(owners, a.Owner) {
			return nil, fmt.Errorf("%s.owner: %q is not one of %s", field, a.Owner, strings.Join(owners, ", "))
		}
		if a.Criticality == "" {
			a.Criticality = "medium"
		}
		if !slices.Contains(criticalities, a.Criticality) {
			return nil, fmt.Errorf("%s.criticality: %q is not one of %s", field, a.Criticality, strings.Join(criticalities, ", "))
		}
		for j, fl := range a.Flags {
			if !slices.Contains(assetFlags, fl) {
				return nil, fmt.Errorf("%s.flags[%d]: unknown flag %q (want one of %s)", field, j, fl, strings.Join(assetFlags, ", "))
			}
		}
		for j, s := range a.Addresses {
			addr, err := netip.ParseAddr(s)
			if err != nil || addr.Zone() != "" {
				return nil, fmt.Errorf("%s.addresses[%d]: %q is not an IP address", field, j, s)
			}
			addr = addr.Unmap()
			if other := p.byAddr[addr]; other != nil {
				return nil, fmt.Errorf("%s.addresses[%d]: %s already belongs to asset %q", field, j, addr, other.Name)
			}
			p.byAddr[addr] = a
			a.addrs = append(a.addrs, addr)
			k := key(addr)
			spans = append(spans, span{first: k, last: k, mask: bitOurs})
		}
		for j, s := range a.Hostnames {
			h, err := NormalizeHost(s)
			if err != nil {
				return nil, fmt.Errorf("%s.hostnames[%d]: %w", field, j, err)
			}
			if other := p.byHost[h]; other != nil {
				return nil, fmt.Errorf("%s.hostnames[%d]: %s already belongs to asset %q", field, j, h, other.Name)
			}
			p.byHost[h] = a
		}
	}
	for i, d := range f.Devices {
		if d.Name == "" {
			return nil, fmt.Errorf("devices[%d].name: missing", i)
		}
		if _, dup := p.devices[d.Name]; dup {
			return nil, fmt.Errorf("devices[%d].name: duplicate device %q", i, d.Name)
		}
		if !slices.Contains(deviceKinds, d.Kind) {
			return nil, fmt.Errorf("devices[%d].kind: %q is not one of %s", i, d.Kind, strings.Join(deviceKinds, ", "))
		}
		p.devices[d.Name] = d
	}
	for i, s := range f.IdentityProviders {
		if s == "" || strings.ContainsAny(s, ": \t") {
			return nil, fmt.Errorf("identity_providers[%d]: %q is not a valid name", i, s)
		}
		p.idps[strings.ToLower(s)] = true
	}
	p.ranges = buildRanges(spans)
	for _, a := range p.assets {
		a.collateral = slices.Clone(a.Flags)
		slices.Sort(a.collateral)
		a.protected = slices.ContainsFunc(a.addrs, func(ad netip.Addr) bool { return p.ranges.at(key(ad))&bitProtected != 0 })
	}
	return p, nil
}

// parsePrefix parses a canonical prefix or a bare address (a single host).
// IPv4-mapped IPv6 prefixes are unmapped.
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix", s)
	}
	if pfx != pfx.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, pfx.Masked())
	}
	return unmapPrefix(pfx), nil
}

// unmapPrefix turns ::ffff:10.0.0.0/104 into 10.0.0.0/8.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// Device returns the device we operate with that name.
func (p *Perimeter) Device(name string) (Device, bool) {
	d, ok := p.devices[name]
	return d, ok
}

// String summarises the perimeter for logs.
func (p *Perimeter) String() string {
	return fmt.Sprintf("perimeter{networks: %d, domains: %d, assets: %d, devices: %d}",
		p.networks, len(p.domains), len(p.assets), len(p.devices))
}
