// Package sensortest helps test honeypots: Events, a sensor.Sink that keeps
// what a honeypot emits, and Isolate, which runs a test in a network
// namespace where nftables counts every packet that tries to leave.
package sensortest

import (
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// Events is a sensor.Sink that keeps every event it receives. It is safe
// for concurrent use; the zero value is ready.
type Events struct {
	mu  sync.Mutex
	evs []sensor.Event
}

var _ sensor.Sink = (*Events)(nil)

// Emit keeps ev.
func (e *Events) Emit(ev sensor.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// All returns the events so far of kind ("" for all kinds).
func (e *Events) All(kind string) []sensor.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []sensor.Event
	for _, ev := range e.evs {
		if kind == "" || ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// Of returns the events of kind ("" for all kinds), waiting up to 5s for
// at least n. It returns fewer when they do not come: the caller decides
// whether that fails the test.
func (e *Events) Of(t testing.TB, kind string, n int) []sensor.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := e.All(kind)
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Wait waits up to 10s for ok to hold, or fails the test naming what it
// waited for and the events it has.
func (e *Events) Wait(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; events: %+v", what, e.All(""))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childEnv marks the process Isolate starts in the new namespace.
const childEnv = "VALLUM_SENSORTEST_NETNS_CHILD"

// Isolate runs the top-level test t in a fresh network namespace whose
// only route sends everything to the loopback device, with an nftables
// counter on every packet leaving for an address that is not loopback.
//
// Called first in the test, in the test process it runs the test binary
// again for that test alone under unshare -n, fails t unless the test
// passed there, and returns false: the caller then returns. In that child
// it sets up the namespace and returns true: the caller goes on with the
// real test and ends with CheckNoEgress. Isolate skips t when not run as
// root or when unshare, ip or nft is missing.
func Isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == "1" {
		run(t, "ip", "link", "set", "lo", "up")
		run(t, "ip", "route", "add", "default", "dev", "lo")
		run(t, "nft", "add", "table", "inet", "egress")
		run(t, "nft", "add", "chain", "inet", "egress", "out", "{ type filter hook output priority 0; }")
		run(t, "nft", "add", "rule", "inet", "egress", "out", "ip", "daddr", "!=", "127.0.0.0/8", "counter")
		run(t, "nft", "add", "rule", "inet", "egress", "out", "ip6", "daddr", "!=", "::1", "counter")
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace (unshare -n) and nftables rules in it")
	}
	for _, prog := range []string{"unshare", "ip", "nft"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("needs %s (not installed): %v", prog, err)
		}
	}
	name := t.Name()
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run", "^"+regexp.QuoteMeta(name)+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
	return false
}

// run runs a command, failing t if it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

var packetsRE = regexp.MustCompile(`counter packets (\d+)`)

// EgressPackets returns how many packets have left for a non-loopback
// address in the namespace Isolate set up.
func EgressPackets(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "inet", "egress").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	n := 0
	for _, m := range packetsRE.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

// CheckNoEgress fails t if any packet has left for a non-loopback address
// in the namespace Isolate set up. Then, as the control, it connects out
// itself and fails t if that was not counted: the check would prove
// nothing.
func CheckNoEgress(t *testing.T) {
	t.Helper()
	if n := EgressPackets(t); n != 0 {
		t.Fatalf("%d packets left for a non-loopback address while the honeypots ran", n)
	}
	net.DialTimeout("tcp", "198.51.100.7:80", 300*time.Millisecond)
	if n := EgressPackets(t); n == 0 {
		t.Fatal("an outbound connection attempt was not counted: the check above proves nothing")
	}
}
