package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/vallum/vallum/internal/contain"
)

// Contain configures the containment connectors (docs/containment.md).
// With no connector configured, actions are executed by hand only.
type Contain struct {
	// NFTables are nftables tables Vallum owns on this host or in a
	// network namespace (firewall_block, host_isolation).
	NFTables []contain.NFTablesConfig `yaml:"nftables"`
	// RPZ are response policy zones for resolvers we operate
	// (dns_sinkhole).
	RPZ []contain.RPZConfig `yaml:"rpz"`
	// Webhooks are signed webhooks to EDRs, cloud firewalls and identity
	// providers we operate.
	Webhooks []contain.WebhookConfig `yaml:"webhooks"`
	// DefaultExpiry is the expiry of an action that sets no
	// params.expires_at, as a Go duration ("24h"), or "none". Default 24h.
	DefaultExpiry string `yaml:"default_expiry"`
	// MaxElements caps the elements one action may change. Default 256.
	MaxElements int `yaml:"max_elements"`
	// MinPrefix4 and MinPrefix6 are the shortest prefixes blocked without
	// force. Defaults 16 and 32.
	MinPrefix4 int `yaml:"min_prefix4"`
	MinPrefix6 int `yaml:"min_prefix6"`
	// Self are more addresses or prefixes of Vallum itself (a public NAT
	// address, a cluster peer) never to be blocked; the server's interface
	// addresses, its listen address and the isolation management lists are
	// always included.
	Self []string `yaml:"self"`
	// Reconcile is what start-up does when an enforcement point and the
	// log disagree: "repair" (default: log the drift, re-apply what is
	// missing, remove what no action accounts for), "report" (log only) or
	// "off".
	Reconcile string `yaml:"reconcile"`
}

// containKinds are the action kinds a connector may carry out.
var containKinds = []string{"firewall_block", "host_isolation", "dns_sinkhole", "account_disable"}

// Expiry returns the default expiry (0: none).
func (x *Contain) Expiry() time.Duration {
	if x.DefaultExpiry == "none" {
		return 0
	}
	d, _ := time.ParseDuration(x.DefaultExpiry)
	return d
}

// Enabled reports whether any connector is configured.
func (x *Contain) Enabled() bool {
	return len(x.NFTables)+len(x.RPZ)+len(x.Webhooks) > 0
}

func (x *Contain) validate() error {
	if x.DefaultExpiry == "" {
		x.DefaultExpiry = "24h"
	}
	if x.DefaultExpiry != "none" {
		if d, err := time.ParseDuration(x.DefaultExpiry); err != nil || d <= 0 {
			return fmt.Errorf("config: contain.default_expiry %q must be a positive duration such as 24h, or none", x.DefaultExpiry)
		}
	}
	if x.MaxElements == 0 {
		x.MaxElements = 256
	}
	if x.MaxElements < 1 || x.MaxElements > 100000 {
		return fmt.Errorf("config: contain.max_elements %d must be between 1 and 100000", x.MaxElements)
	}
	if x.MinPrefix4 == 0 {
		x.MinPrefix4 = 16
	}
	if x.MinPrefix6 == 0 {
		x.MinPrefix6 = 32
	}
	if x.MinPrefix4 < 0 || x.MinPrefix4 > 32 || x.MinPrefix6 < 0 || x.MinPrefix6 > 128 {
		return fmt.Errorf("config: contain.min_prefix4 (0-32) or min_prefix6 (0-128) out of range")
	}
	if x.Reconcile == "" {
		x.Reconcile = "repair"
	}
	if !slices.Contains([]string{"repair", "report", "off"}, x.Reconcile) {
		return fmt.Errorf("config: contain.reconcile %q must be repair, report or off", x.Reconcile)
	}
	for i, s := range x.Self {
		if _, err := contain.ParsePrefix(s); err != nil {
			return fmt.Errorf("config: contain.self[%d]: %v", i, err)
		}
	}
	devices := map[string]string{}
	claim := func(field, dev string) error {
		if dev == "" {
			return fmt.Errorf("config: %s.device: missing (the device's name in the perimeter file)", field)
		}
		if other, dup := devices[dev]; dup {
			return fmt.Errorf("config: %s.device: %q is already the device of %s", field, dev, other)
		}
		devices[dev] = field
		return nil
	}
	for i, n := range x.NFTables {
		f := fmt.Sprintf("contain.nftables[%d]", i)
		if err := claim(f, n.Device); err != nil {
			return err
		}
		if iso := n.Isolation; iso != nil {
			if iso.Host == "" || len(iso.Management) == 0 {
				return fmt.Errorf("config: %s.isolation: host and at least one management address are required", f)
			}
			for j, m := range iso.Management {
				if _, err := contain.ParsePrefix(m); err != nil {
					return fmt.Errorf("config: %s.isolation.management[%d]: %v", f, j, err)
				}
			}
		}
	}
	for i, r := range x.RPZ {
		f := fmt.Sprintf("contain.rpz[%d]", i)
		if err := claim(f, r.Device); err != nil {
			return err
		}
		if r.File == "" || r.Zone == "" {
			return fmt.Errorf("config: %s: zone and file are required", f)
		}
		if (r.CNAME == "") == (len(r.Addresses) == 0) {
			return fmt.Errorf("config: %s: set exactly one of cname and addresses", f)
		}
		if r.ReloadTimeout < 0 {
			return fmt.Errorf("config: %s.reload_timeout must not be negative", f)
		}
	}
	for i, w := range x.Webhooks {
		f := fmt.Sprintf("contain.webhooks[%d]", i)
		if err := claim(f, w.Device); err != nil {
			return err
		}
		if w.URL == "" || w.ReadBack == "" || w.SecretFile == "" {
			return fmt.Errorf("config: %s: url, read_back and secret_file are required", f)
		}
		if len(w.Kinds) == 0 {
			return fmt.Errorf("config: %s.kinds: list the action kinds it carries out", f)
		}
		for j, k := range w.Kinds {
			if !slices.Contains(containKinds, k) {
				return fmt.Errorf("config: %s.kinds[%d]: %q is not one of %v", f, j, k, containKinds)
			}
		}
		for _, u := range []struct{ field, url string }{{"url", w.URL}, {"read_back", w.ReadBack}} {
			if err := contain.CheckURL(u.url); err != nil {
				return fmt.Errorf("config: %s.%s: %v", f, u.field, err)
			}
		}
		if w.Attempts < 0 || w.Attempts > 20 {
			return fmt.Errorf("config: %s.attempts %d must be between 1 and 20", f, w.Attempts)
		}
	}
	return nil
}
