package contain

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vallum/vallum/internal/perimeter"
)

// Safety holds what a containment must never touch, beyond what the
// guardrail already decided.
type Safety struct {
	// Self are Vallum's own addresses (the server's interfaces, its listen
	// address, configured extras) and the management allow-lists: blocking
	// them would lock us out.
	Self []netip.Prefix
	// MaxElements caps the elements one action may change.
	MaxElements int
	// MinBits4 and MinBits6 are the shortest prefixes blocked without
	// force (a /8 cuts off a continent's worth of addresses).
	MinBits4, MinBits6 int
}

// Force is an operator's override of a refusal that may be overridden
// (a protected or own address, a very wide prefix). The executor logs it
// before acting; the API lets only incident commanders and admins force.
type Force struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// Refusal is a safety refusal. Forceable is false for refusals no one may
// override (a device or host that is not ours, too many elements).
type Refusal struct {
	Reason    string
	Forceable bool
}

func (r *Refusal) Error() string { return r.Reason }

// Unwrap makes every refusal an ErrRefused.
func (r *Refusal) Unwrap() error { return ErrRefused }

// LocalAddrs returns the addresses of this host's interfaces (the
// namespace the server runs in) as host prefixes.
func LocalAddrs() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ad, ok := netip.AddrFromSlice(ipn.IP); ok {
				ad = ad.Unmap()
				out = append(out, netip.PrefixFrom(ad, ad.BitLen()))
			}
		}
	}
	return out
}

// Check refuses a spec that would contain a protected address, one of
// our own, a host or an enforcement point outside the perimeter, or too
// wide a range. p may be nil (nothing is ours: every device is refused).
func (s *Safety) Check(spec Spec, p *perimeter.Perimeter, devKind []string) error {
	if p == nil {
		return &Refusal{Reason: "no perimeter loaded: no enforcement point is known to be ours"}
	}
	if spec.Kind == "account_disable" {
		// The enforcement point is the account's identity provider, which
		// must be one of ours.
		if m := p.Lookup(spec.Target); m.Type != perimeter.TypeAccount || !m.InPerimeter {
			return &Refusal{Reason: fmt.Sprintf("%q is not an account (idp:account) at one of our identity providers", spec.Target)}
		}
		return nil
	}
	if spec.Device == "" {
		return &Refusal{Reason: "the action names no device (params.device or params.resolver)"}
	}
	d, ok := p.Device(spec.Device)
	if !ok || !containsStr(devKind, d.Kind) {
		return &Refusal{Reason: fmt.Sprintf("device %q is not one of our %s devices in the perimeter file: containment acts only on enforcement points we operate", spec.Device, strings.Join(devKind, " or "))}
	}
	m := p.Lookup(spec.Target)
	if spec.Kind == "host_isolation" && !m.InPerimeter {
		return &Refusal{Reason: fmt.Sprintf("host %q is not ours (perimeter: owner %s): isolation acts only on hosts we own or manage", spec.Target, m.Owner)}
	}
	if m.Protected {
		return &Refusal{Reason: fmt.Sprintf("%s is in a protected range of the perimeter file (gateways, management hosts, Vallum itself): it is never contained", spec.Target), Forceable: true}
	}
	if spec.Kind == "dns_sinkhole" {
		return checkSinkhole(spec.Target, m, p)
	}
	if spec.Kind != "firewall_block" {
		return nil
	}
	pfx, err := ParsePrefix(spec.Target)
	if err != nil {
		return nil // the connector refuses what it cannot block
	}
	for _, own := range s.Self {
		if own.Overlaps(pfx) {
			return &Refusal{Reason: fmt.Sprintf("%s covers %s, an address of Vallum itself or of its management allow-list: blocking it would lock us out", pfx, own), Forceable: true}
		}
	}
	if minBits := map[bool]int{true: s.MinBits4, false: s.MinBits6}[pfx.Addr().Is4()]; pfx.Bits() < minBits {
		return &Refusal{Reason: fmt.Sprintf("%s is wider than /%d: blocking it needs force with a reason", pfx, minBits), Forceable: true}
	}
	return nil
}

// checkSinkhole refuses, forceably, a sinkhole of one of our own names
// or of a name above one of them (the RPZ connector sinkholes a name and
// every name under it, so example would take acme.example with it), and
// of a single-label name (a top-level domain).
func checkSinkhole(target string, m perimeter.Match, p *perimeter.Perimeter) error {
	if m.InPerimeter {
		return &Refusal{Reason: fmt.Sprintf("%s is one of our own names: sinkholing it would cut off our own service", target), Forceable: true}
	}
	if own, ok := p.OwnNameUnder(target); ok {
		return &Refusal{Reason: fmt.Sprintf("%s is a parent of %s, one of our own names: sinkholing it (and every name under it) would cut off our own service", target, own), Forceable: true}
	}
	if h, err := perimeter.NormalizeHost(strings.TrimSpace(target)); err == nil && !strings.Contains(h, ".") {
		return &Refusal{Reason: fmt.Sprintf("%s is a single-label name (a top-level domain): sinkholing it and every name under it needs force with a reason", target), Forceable: true}
	}
	return nil
}

// CheckPlan refuses a plan with more elements than the cap.
func (s *Safety) CheckPlan(p Plan) error {
	if s.MaxElements > 0 && len(p.Changes) > s.MaxElements {
		return &Refusal{Reason: fmt.Sprintf("the plan changes %d elements, more than the cap of %d per action", len(p.Changes), s.MaxElements)}
	}
	return nil
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
