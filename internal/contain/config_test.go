package contain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/config"
)

// TestConfig decodes the contain section strictly and validates it.
func TestConfig(t *testing.T) {
	good := `
contain:
  default_expiry: 12h
  max_elements: 64
  self: [192.0.2.10]
  reconcile: report
  nftables:
    - device: fw-host
      netns: /var/run/netns/sensor
      isolation: {host: sensor1, management: [10.9.0.0/24, "2001:db8:9::/48"]}
  rpz:
    - {device: dns1, zone: rpz.vallum., file: /var/lib/vallum/rpz.zone, addresses: [192.0.2.53], reload: [unbound-control, auth_zone_reload, rpz.vallum.], reload_timeout: 5s, resolver: "127.0.0.1:53"}
  webhooks:
    - {device: edr, kinds: [host_isolation, account_disable], url: "https://edr.acme.example/api/contain", read_back: "https://edr.acme.example/api/state?action={action}", secret_file: /etc/vallum/edr.key, attempts: 5}
`
	c, err := config.Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	x := c.Contain
	if !x.Enabled() || x.Expiry() != 12*time.Hour || x.MinPrefix4 != 16 || x.MinPrefix6 != 32 || x.RPZ[0].ReloadTimeout != 5*time.Second || x.NFTables[0].Isolation.Host != "sensor1" {
		t.Errorf("decoded %+v", x)
	}
	if d, _ := config.Parse([]byte("")); d.Contain.Enabled() || d.Contain.Expiry() != 24*time.Hour || d.Contain.MaxElements != 256 || d.Contain.Reconcile != "repair" {
		t.Errorf("defaults %+v", d.Contain)
	}
	if n, _ := config.Parse([]byte("contain: {default_expiry: none}")); n.Contain.Expiry() != 0 {
		t.Error("default_expiry none")
	}
	for _, bad := range []struct{ yaml, want string }{
		{"contain: {nftables: [{table: x}]}", "device: missing"},
		{"contain: {nftables: [{device: a}], rpz: [{device: a, zone: z., file: f, cname: .}]}", "already the device"},
		{"contain: {nftables: [{device: a, isolation: {host: h}}]}", "management"},
		{"contain: {nftables: [{device: a, isolation: {host: h, management: [10.0.0.1/8]}}]}", "host bits"},
		{"contain: {rpz: [{device: d, zone: z., file: f}]}", "exactly one of cname"},
		{"contain: {webhooks: [{device: e, url: u, read_back: r, secret_file: s, kinds: [remote_access]}]}", "not one of"},
		{"contain: {webhooks: [{device: e, kinds: [host_isolation]}]}", "required"},
		{"contain: {webhooks: [{device: e, url: \"http://edr.acme.example/c\", read_back: \"https://edr.acme.example/s\", secret_file: s, kinds: [host_isolation]}]}", "webhooks[0].url: \"http://edr.acme.example/c\" is plain http"},
		{"contain: {webhooks: [{device: e, url: \"https://edr.acme.example/c\", read_back: \"http://u:p@edr.acme.example/s?token=t\", secret_file: s, kinds: [host_isolation]}]}", "webhooks[0].read_back: \"http://edr.acme.example/s\" is plain http"},
		{"contain: {default_expiry: forever}", "default_expiry"},
		{"contain: {reconcile: maybe}", "reconcile"},
		{"contain: {self: [not-an-address]}", "self[0]"},
		{"contain: {nftables: [{device: a, tabel: x}]}", "tabel"},
	} {
		if _, err := config.Parse([]byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: got %v, want an error about %q", bad.yaml, err, bad.want)
		}
	}
}
