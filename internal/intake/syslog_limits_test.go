package intake

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/sensor"
)

// startSyslog runs srv with its events sent to the returned channel.
func startSyslog(t *testing.T, srv *SyslogServer) <-chan sensor.Event {
	t.Helper()
	out := make(chan sensor.Event, 64)
	srv.Sink = sensor.SinkFunc(func(e sensor.Event) { out <- e })
	srv.Sensor = "hq/syslog"
	srv.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

func TestSyslogDropsPeersNotAllowed(t *testing.T) {
	// 127.0.0.1 is outside the allow list: nothing it sends is an event.
	srv := &SyslogServer{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	out := startSyslog(t, srv)
	u, err := net.Dial("udp", srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("<10>Nov 28 10:00:01 gw sshd[1]: Failed password for root from 203.0.113.77 port 50022 ssh2"))
	waitFor(t, "the datagram to be refused", func() bool { return srv.Refused() == 1 })
	c, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "<10>Nov 28 10:00:02 gw app: spoofed\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read from a refused connection: got no error, want it closed")
	}
	waitFor(t, "the connection to be refused", func() bool { return srv.Refused() == 2 })
	select {
	case e := <-out:
		t.Errorf("got event %+v from a peer not allowed, want none", e)
	case <-time.After(100 * time.Millisecond):
	}
	if got := srv.gate.Held(); got != 0 {
		t.Errorf("gate holds %d connections, want 0: a refused peer must not take a slot", got)
	}
}

func TestSyslogDefaultAllowIsLoopback(t *testing.T) {
	srv := &SyslogServer{}
	if err := srv.defaults(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:514", true},
		{"127.3.4.5:514", true},
		{"[::1]:514", true},
		{"[::ffff:127.0.0.1]:514", true},
		{"10.0.0.1:514", false},
		{"203.0.113.77:514", false},
		{"[2001:db8::1]:514", false},
	} {
		if got := srv.allowed(net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.addr))); got != tc.want {
			t.Errorf("allowed(%s): got %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestSyslogSeverityCappedBelowOpen(t *testing.T) {
	for _, tc := range []struct {
		name, max, want, claimed string
	}{
		{"default", "", sensor.SeverityMedium, sensor.SeverityHigh},
		{"operator allows high", sensor.SeverityHigh, sensor.SeverityHigh, ""},
		{"low", sensor.SeverityLow, sensor.SeverityLow, sensor.SeverityHigh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &SyslogServer{UDP: "127.0.0.1:0", MaxSeverity: tc.max}
			out := startSyslog(t, srv)
			u, err := net.Dial("udp", srv.UDPAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			u.Write([]byte("<10>Nov 28 10:00:01 gw kernel: critical, says the sender")) // severity 2: high
			select {
			case e := <-out:
				if e.Severity != tc.want || e.Details["claimed_severity"] != tc.claimed {
					t.Errorf("got severity %q claimed %q, want %q claimed %q", e.Severity, e.Details["claimed_severity"], tc.want, tc.claimed)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no event")
			}
		})
	}
}

func TestSyslogTCPRefusesBeyondPerSourceLimit(t *testing.T) {
	srv := &SyslogServer{TCP: "127.0.0.1:0", Limits: sensor.Limits{MaxConnsPerSource: 1}}
	out := startSyslog(t, srv)
	first, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	fmt.Fprintf(first, "<14>Nov 28 10:00:02 gw app: first\n")
	if e := <-out; e.Details["message"] != "first" {
		t.Fatalf("got %q, want first", e.Details["message"])
	}
	second, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(second).ReadByte(); err != io.EOF {
		t.Errorf("second connection from the same source: got %v, want it closed (EOF)", err)
	}
	fmt.Fprintf(first, "<14>Nov 28 10:00:03 gw app: still heard\n")
	select {
	case e := <-out:
		if e.Details["message"] != "still heard" {
			t.Errorf("got %q, want still heard", e.Details["message"])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the admitted connection is no longer heard")
	}
}

func TestSyslogTCPSessionTimeout(t *testing.T) {
	// A sender that keeps talking is still cut at the session timeout.
	srv := &SyslogServer{TCP: "127.0.0.1:0", Limits: sensor.Limits{SessionTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute}}
	out := startSyslog(t, srv)
	c, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if _, err := fmt.Fprintf(c, "<14>Nov 28 10:00:02 gw app: busy\n"); err != nil {
			break
		}
		select {
		case <-out:
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d >= 5*time.Second {
		t.Errorf("a busy connection lived %v, want it cut after 300ms", d)
	}
}

func TestSyslogRelayIsNotRateLimited(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, func(c *Config) {
		c.Intake.PerSourceRate = config.PerSourceRate{Rate: 0.001, Burst: 5, Summary: 50 * time.Millisecond}
	})
	srv := &SyslogServer{TCP: "127.0.0.1:0", Sensor: "hq/syslog", Sink: p.Pipeline, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	const relayed, attacks = 50, 20
	for i := range relayed {
		fmt.Fprintf(c, "<14>Nov 28 10:00:02 gw app: relayed %d\n", i)
	}
	for i := range attacks {
		fmt.Fprintf(c, "<38>Nov 28 10:00:03 gw sshd[1]: Failed password for root from 203.0.113.77 port %d ssh2\n", 40000+i)
	}
	c.Close()
	waitFor(t, "the relay's messages and the attacker's summary", func() bool {
		relay, summarised := 0, ""
		for _, x := range loggedEvents(t, e.log) {
			if strings.HasPrefix(x.Details["message"], "relayed ") {
				relay++
			}
			if x.Src.IP == "203.0.113.77" && x.Details[RateLimitedDetail] != "" {
				summarised = x.Details[RateLimitedDetail]
			}
		}
		return relay == relayed && summarised == fmt.Sprint(attacks-5)
	})
}
