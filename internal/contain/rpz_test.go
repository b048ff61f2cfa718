package contain

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freePort returns a loopback UDP/TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startUnbound runs a real unbound in the foreground on a loopback port,
// loading zoneFile as an RPZ, answering example.test names locally (no
// remote lookups). It returns its address and pid.
func startUnbound(t testing.TB, dir, zoneFile string) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		t.Skip("skipping: unbound is not installed (Debian package unbound)")
	}
	port := freePort(t)
	conf := filepath.Join(dir, "unbound.conf")
	// The names the test resolves, served by unbound itself (auth-zone),
	// so nothing is looked up remotely and RPZ applies to the answers.
	names := filepath.Join(dir, "example.test.zone")
	if err := os.WriteFile(names, []byte(`$ORIGIN example.test.
$TTL 60
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@ IN NS ns.example.test.
ns IN A 127.0.0.1
evil IN A 203.0.113.66
www.evil IN A 203.0.113.67
good IN A 203.0.113.10
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  do-daemonize: no
  chroot: ""
  username: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-ip6: no
  module-config: "respip validator iterator"
  do-not-query-localhost: yes
  # test. is a special-use name unbound answers NXDOMAIN by default.
  local-zone: "test." nodefault
auth-zone:
  name: "example.test."
  zonefile: %q
  for-downstream: yes
  for-upstream: yes
  fallback-enabled: no
rpz:
  name: "rpz.vallum."
  zonefile: %q
  rpz-log: yes
`, port, dir, names, zoneFile)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unbound-checkconf", conf).CombinedOutput(); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-d", "-c", conf)
	var logb strings.Builder
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("unbound output:\n%s", logb.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, err := exec.Command("dig", "+short", "+time=1", "+tries=1", "-p", fmt.Sprint(port), "@127.0.0.1", "good.example.test", "A").Output(); err == nil && strings.TrimSpace(string(out)) == "203.0.113.10" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound did not answer within 10 s:\n%s", logb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr, cmd.Process.Pid
}

func dig(t testing.TB, addr, name string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("dig", "+short", "+time=2", "+tries=1", "-p", port, "@"+host, name, "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", name, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestRPZUnbound: a real unbound answers the sinkholed name (and its
// subdomains) with the sinkhole address after the RPZ update and reload,
// not before; revert restores the real answer; Verify records what the
// resolver answered.
func TestRPZUnbound(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "rpz.vallum.zone")
	if _, err := NewRPZ(RPZConfig{Device: "dns1", Zone: "rpz.vallum", File: zone, Addresses: []string{"192.0.2.53"}}); err != nil {
		t.Fatal(err)
	}
	addr, pid := startUnbound(t, dir, zone)
	r, err := NewRPZ(RPZConfig{Device: "dns1", Zone: "rpz.vallum.", File: zone, Addresses: []string{"192.0.2.53"},
		Reload: []string{"kill", "-HUP", fmt.Sprint(pid)}, Resolver: addr})
	if err != nil {
		t.Fatal(err)
	}
	if got := dig(t, addr, "evil.example.test"); got != "203.0.113.66" {
		t.Fatalf("before the sinkhole: evil.example.test = %q", got)
	}
	ctx := context.Background()
	p, err := r.Plan(ctx, Spec{Action: "ACT-0000000001", Kind: "dns_sinkhole", Target: "Evil.Example.Test.", Device: "dns1"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(zone)
	o, err := r.Verify(ctx, p, false)
	if err != nil || !o.OK || !strings.Contains(o.Elements[0].Detail, "203.0.113.66") {
		t.Fatalf("Verify before = %+v, %v", o, err)
	}
	mustApply(t, r, p)
	after, _ := os.ReadFile(zone)
	zb, _ := ParseZone(before, "rpz.vallum.")
	za, err := ParseZone(after, "rpz.vallum.")
	if err != nil || za.Serial <= zb.Serial || za.Names["evil.example.test"] != "ACT-0000000001" {
		t.Fatalf("zone after apply: %+v, %v (before %+v)\n%s", za, err, zb, after)
	}
	waitDig(t, addr, "evil.example.test", "192.0.2.53")
	if got := dig(t, addr, "www.evil.example.test"); got != "192.0.2.53" {
		t.Errorf("subdomain www.evil.example.test = %q, want the sinkhole", got)
	}
	if got := dig(t, addr, "good.example.test"); got != "203.0.113.10" {
		t.Errorf("good.example.test = %q: the sinkhole leaked", got)
	}
	o = mustObserve(t, r, p, true)
	if !strings.Contains(o.Elements[0].Detail, "answered 192.0.2.53") {
		t.Errorf("observation does not record the answer: %+v", o)
	}
	mustApply(t, r, p) // idempotent
	mustRevert(t, r, p)
	waitDig(t, addr, "evil.example.test", "203.0.113.66")
	mustObserve(t, r, p, false)
	if els, _ := r.Elements(ctx); len(els) != 0 {
		t.Errorf("elements after revert: %v", els)
	}
}

func waitDig(t testing.TB, addr, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := dig(t, addr, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q after 10 s, want %q", name, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRPZBadInput: a zone file edited by hand is refused with the line,
// and nothing is written over it.
func TestRPZBadInput(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "z")
	bad := "$TTL 60\n@ IN SOA localhost. hostmaster.localhost. 7 3600 600 86400 60\nevil.example.rpz.vallum. IN CNAME .\n"
	os.WriteFile(zone, []byte(bad), 0o644)
	if _, err := NewRPZ(RPZConfig{Device: "dns1", Zone: "rpz.vallum.", File: zone, CNAME: "."}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("NewRPZ on a hand-edited zone: %v", err)
	}
	if b, _ := os.ReadFile(zone); string(b) != bad {
		t.Error("the zone file was changed")
	}
	for _, cfg := range []RPZConfig{
		{Device: "dns1", Zone: "rpz.vallum.", File: zone},
		{Device: "dns1", Zone: "rpz.vallum.", File: zone, CNAME: "x.example.", Addresses: []string{"192.0.2.1"}},
		{Device: "dns1", Zone: "rpz.vallum.", File: zone, Addresses: []string{"nope"}},
		{Zone: "rpz.vallum.", File: zone, CNAME: "."},
	} {
		if _, err := NewRPZ(cfg); err == nil {
			t.Errorf("NewRPZ(%+v): no error", cfg)
		}
	}
}

func FuzzParseZone(f *testing.F) {
	f.Add([]byte("$TTL 60\n@ IN SOA localhost. hostmaster.localhost. 7 3600 600 86400 60\n@ IN NS localhost.\nevil.example.rpz.vallum. IN A 192.0.2.1 ; ACT-1\n*.evil.example.rpz.vallum. IN A 192.0.2.1 ; ACT-1\n"))
	f.Add([]byte("@ IN SOA a. b. (1"))
	f.Add([]byte("x ; ACT-"))
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := ParseZone(b, "rpz.vallum.")
		if err != nil {
			return
		}
		for n, a := range z.Names {
			if n == "" || !strings.HasPrefix(a, "ACT-") {
				t.Errorf("parsed name %q action %q", n, a)
			}
		}
	})
}
