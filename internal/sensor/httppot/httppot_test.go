package httppot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/sensortest"
)

// pot is a honeypot serving on loopback.
type pot struct {
	s    *Server
	ev   *sensortest.Events
	url  string // http://127.0.0.1:port
	surl string // https://…, if TLS
	dir  string
}

func startPot(t testing.TB, cfg Config) *pot {
	t.Helper()
	dir := t.TempDir()
	ev := &sensortest.Events{}
	s, err := New(cfg, sensor.Env{Name: "test", Sink: ev, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var secure []net.Listener
	p := &pot{s: s, ev: ev, url: "http://" + ln.Addr().String(), dir: dir}
	if len(cfg.TLSListen) > 0 {
		sl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		secure = append(secure, sl)
		p.surl = "https://" + sl.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeListeners(ctx, []net.Listener{ln}, secure) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListeners: %v", err)
		}
	})
	return p
}

func needProgram(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("needs %s (not installed): %v", name, err)
	}
}

func curl(t *testing.T, args ...string) (code string, body string) {
	t.Helper()
	needProgram(t, "curl")
	out, err := exec.Command("curl", append([]string{"-sS", "-k", "--max-time", "20", "-w", "\n%{http_code}"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	return s[i+1:], s[:i]
}

func TestCurlLoginCapture(t *testing.T) {
	p := startPot(t, Config{})
	code, body := curl(t, p.url+"/wp-login.php")
	if code != "200" || !strings.Contains(body, `name="log"`) || !strings.Contains(body, "WordPress") {
		t.Fatalf("GET /wp-login.php: %s %q", code, body)
	}
	code, body = curl(t, "-A", "curl-test/1", "--data", "log=admin&pwd=hunter2<x>&wp-submit=Log+In", p.url+"/wp-login.php")
	if code != "200" || !strings.Contains(body, "The password you entered for the username <strong>admin</strong> is incorrect") {
		t.Fatalf("POST /wp-login.php: %s %q", code, body)
	}
	code, _ = curl(t, "-u", "tomcat:s3cret", p.url+"/manager/html")
	if code != "401" {
		t.Errorf("GET /manager/html with Basic: got %s, want 401", code)
	}
	curl(t, "--data", "username=vpnuser&credential=Vpn!2024", p.url+"/remote/logincheck")
	curl(t, "-H", "Content-Type: application/json", "--data", `{"Username":"api","Password":"j$on"}`, p.url+"/api/login")

	auth := p.ev.Of(t, sensor.KindAuth, 4)
	want := []sensor.Credentials{
		{Method: "form", Username: "admin", Password: "hunter2<x>"},
		{Method: "basic", Username: "tomcat", Password: "s3cret"},
		{Method: "form", Username: "vpnuser", Password: "Vpn!2024"},
		{Method: "form", Username: "api", Password: "j$on"},
	}
	if len(auth) != len(want) {
		t.Fatalf("got %d auth events, want %d: %+v", len(auth), len(want), auth)
	}
	for i, w := range want {
		if *auth[i].Credentials != w {
			t.Errorf("auth event %d: got %+v, want %+v", i, *auth[i].Credentials, w)
		}
		if auth[i].Protocol != "http" || auth[i].Sensor != "test/http" || auth[i].Src.IP != "127.0.0.1" || auth[i].Src.Port == 0 || auth[i].Dst.Port == 0 {
			t.Errorf("auth event %d: %+v", i, auth[i])
		}
	}
	reqs := p.ev.Of(t, sensor.KindRequest, 5)
	if len(reqs) != 5 {
		t.Fatalf("got %d request events, want 5", len(reqs))
	}
	post := reqs[1]
	if post.Command != "POST /wp-login.php HTTP/1.1" || post.Fingerprints["user_agent"] != "curl-test/1" || post.Details["content-type"] != "application/x-www-form-urlencoded" {
		t.Errorf("request event: %+v", post)
	}
	body0 := "log=admin&pwd=hunter2<x>&wp-submit=Log+In"
	sum := sha256.Sum256([]byte(body0))
	if len(post.Payloads) != 1 || post.Payloads[0].SHA256 != hex.EncodeToString(sum[:]) || post.Payloads[0].Size != int64(len(body0)) {
		t.Fatalf("request event payload: %+v", post.Payloads)
	}
	kept, err := os.ReadFile(filepath.Join(p.dir, "quarantine", post.Payloads[0].SHA256))
	if err != nil || string(kept) != body0 {
		t.Errorf("quarantined body: %q, %v", kept, err)
	}
}

func TestScannerPaths(t *testing.T) {
	p := startPot(t, Config{Bait: map[string]string{"/backup.sql": "-- MySQL dump 10.13\n"}})
	for _, tt := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"GET", "/", 200, "Management Console"},
		{"GET", "/.env", 200, "DB_PASSWORD="},
		{"GET", "/.git/config", 200, `[remote "origin"]`},
		{"GET", "/phpmyadmin/", 200, "pma_username"},
		{"GET", "/server-status", 403, "You don't have permission"},
		{"GET", "/actuator/env", 200, `"propertySources"`},
		{"GET", "/cgi-bin/luci/;stok=/locale", 403, "Forbidden"},
		{"POST", "/boaform/admin/formLogin", 200, "bad password"},
		{"GET", "/HNAP1/", 200, "GetDeviceSettingsResponse"},
		{"POST", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 200, ""},
		{"GET", "/solr/admin/info/system?wt=json", 200, `"solr-spec-version":"8.11.2"`},
		{"GET", "/console/login/LoginForm.jsp", 200, "j_password"},
		{"GET", "/manager/html", 401, "tomcat-users.xml"},
		{"GET", "/owa/auth/logon.aspx", 200, "Outlook"},
		{"GET", "/remote/login", 200, "SSL-VPN"},
		{"GET", "/+CSCOE+/logon.html", 200, "SSL-VPN"},
		{"GET", "/backup.sql", 200, "MySQL dump"},
		{"GET", "/nothing-here", 404, "<address>Apache/2.4.58 (Ubuntu) Server at 127.0.0.1 Port"},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, p.url+tt.path, strings.NewReader("<?php system('id'); ?>"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.want) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, b, tt.code, tt.want)
			}
			if resp.Header.Get("Server") != DefaultServerHeader {
				t.Errorf("Server header %q", resp.Header.Get("Server"))
			}
		})
	}
	// Redirects scanners follow.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, loc := range map[string]string{"/wp-admin/": "/wp-login.php?redirect_to=", "/owa/": "/owa/auth/logon.aspx", "/console": "/console/login/LoginForm.jsp"} {
		resp, err := c.Get(p.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), loc) {
			t.Errorf("GET %s: %d Location %q, want 302 to %s", path, resp.StatusCode, resp.Header.Get("Location"), loc)
		}
	}
}

func TestHugeBodyCapped(t *testing.T) {
	p := startPot(t, Config{MaxBody: 4096})
	f := filepath.Join(t.TempDir(), "big")
	big := bytes.Repeat([]byte("A"), 10<<20)
	if err := os.WriteFile(f, big, 0o600); err != nil {
		t.Fatal(err)
	}
	// curl may see the connection closed before it sent everything; the
	// answer still comes.
	needProgram(t, "curl")
	exec.Command("curl", "-sS", "--max-time", "20", "--data-binary", "@"+f, p.url+"/upload.php").Run()
	reqs := p.ev.Of(t, sensor.KindRequest, 1)
	if len(reqs) != 1 || len(reqs[0].Payloads) != 1 {
		t.Fatalf("events: %+v", reqs)
	}
	ref := reqs[0].Payloads[0]
	sum := sha256.Sum256(big[:4096])
	if ref.Size != 4096 || !ref.Truncated || ref.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("payload ref %+v, want the first 4096 bytes, truncated", ref)
	}
	if st := p.s.Stats(); st.Truncated != 1 {
		t.Errorf("stats %+v, want one truncated body", st)
	}
	if fi, err := os.Stat(filepath.Join(p.dir, "quarantine", ref.SHA256)); err != nil || fi.Size() != 4096 {
		t.Errorf("quarantine file: %v %v", fi, err)
	}
}

// TestSlowloris opens 2,000 connections that send half a request and
// then trickle a byte now and then (the beelzebub held 2,000 such
// requests open for over 60s): the per-source cap refuses those over it
// at once, and ReadHeaderTimeout cuts the rest even though they keep
// sending.
func TestSlowloris(t *testing.T) {
	const n, perSource = 2000, 1000
	const timeout = 4 * time.Second
	p := startPot(t, Config{ReadHeaderTimeout: timeout, Limits: sensor.Limits{MaxConnsPerSource: perSource}})
	addr := strings.TrimPrefix(p.url, "http://")
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-a: b\r\n"))
	}
	dialed := time.Since(start)
	if h := p.s.Stats().Held; h > perSource {
		t.Errorf("%d connections held, want at most %d", h, perSource)
	}
	// Trickle a header byte on every connection for a while: a byte
	// doesn't reset ReadHeaderTimeout.
	for time.Since(start) < timeout/2 {
		for _, c := range conns {
			c.Write([]byte("X"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		// EOF or a reset: cut off. A timeout: still held.
		if _, err := io.ReadAll(c); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection %d still open 10s after its ReadHeaderTimeout of %v: %v", i, timeout, err)
			}
		}
	}
	// While all were open at once (dialled within the timeout), those
	// over the cap were refused.
	if st := p.s.Stats(); dialed < timeout && st.Refused < n-perSource {
		t.Errorf("stats %+v: want at least %d connections refused by the per-source cap", st, n-perSource)
	} else if dialed >= timeout {
		t.Logf("dialling took %v, longer than the timeout: the per-source cap was not exercised", dialed)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.s.Stats().Held != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h := p.s.Stats().Held; h != 0 {
		t.Errorf("%d connections still held after all were cut", h)
	}
	if st := p.s.Stats(); st.Requests != 0 {
		t.Errorf("stats %+v: a half-finished request was answered", st)
	}
}

// TestSlowRead pipelines requests and never reads the answers: the write
// timeout cuts the connection.
func TestSlowRead(t *testing.T) {
	p := startPot(t, Config{WriteTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	req := []byte(strings.Repeat("GET /wp-login.php HTTP/1.1\r\nHost: x\r\n\r\n", 100))
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(req); err != nil {
			var ne net.Error
			if errorsAs(err, &ne) && ne.Timeout() {
				// The server stopped reading; wait for it to hang up.
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					if _, err := c.Read(make([]byte, 64<<10)); err != nil {
						if ne, ok := err.(net.Error); ok && ne.Timeout() {
							t.Fatalf("the server kept a slow reader for 10s")
						}
						return
					}
				}
			}
			return // reset by the server: cut off
		}
	}
	t.Fatal("the server kept accepting requests from a client that never reads for 20s")
}

func errorsAs(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

func TestTLSPersistedCert(t *testing.T) {
	p := startPot(t, Config{TLSListen: []string{"127.0.0.1:0"}, TLSHost: "vpn.corp.example"})
	code, body := curl(t, p.surl+"/remote/login")
	if code != "200" || !strings.Contains(body, "SSL-VPN") {
		t.Fatalf("https: %s %q", code, body)
	}
	ev := p.ev.Of(t, sensor.KindRequest, 1)
	if len(ev) != 1 || ev[0].Protocol != "https" {
		t.Errorf("events %+v, want one https request", ev)
	}
	pem1, err := os.ReadFile(filepath.Join(p.dir, certFile))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(p.dir, certFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("certificate mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := New(Config{TLSListen: []string{"127.0.0.1:0"}}, sensor.Env{Sink: p.ev, Dir: p.dir}); err != nil {
		t.Fatal(err)
	}
	pem2, _ := os.ReadFile(filepath.Join(p.dir, certFile))
	if !bytes.Equal(pem1, pem2) {
		t.Error("the certificate changed across restarts")
	}
	out, err := exec.Command("openssl", "x509", "-noout", "-subject", "-in", filepath.Join(p.dir, certFile)).CombinedOutput()
	if err == nil && !strings.Contains(string(out), "vpn.corp.example") {
		t.Errorf("certificate subject: %s", out)
	}
}

// TestHydra runs hydra against the WordPress form and Tomcat's Basic
// realm and checks every attempt arrived as an auth event.
func TestHydra(t *testing.T) {
	needProgram(t, "hydra")
	p := startPot(t, Config{})
	port := p.url[strings.LastIndexByte(p.url, ':')+1:]
	pw := filepath.Join(t.TempDir(), "pw")
	words := []string{"123456", "password", "admin", "letmein", "qwerty"}
	os.WriteFile(pw, []byte(strings.Join(words, "\n")+"\n"), 0o600)
	for _, args := range [][]string{
		{"-l", "admin", "-P", pw, "-s", port, "-t", "2", "-I", "127.0.0.1", "http-post-form", "/wp-login.php:log=^USER^&pwd=^PASS^:F=is incorrect"},
		{"-l", "tomcat", "-P", pw, "-s", port, "-t", "2", "-I", "127.0.0.1", "http-get", "/manager/html"},
	} {
		out, err := exec.Command("hydra", args...).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "0 valid password") {
			t.Fatalf("hydra %v: %v\n%s", args, err, out)
		}
		if strings.Contains(string(out), "host: 127.0.0.1") {
			t.Errorf("hydra found a valid password on a honeypot that accepts none:\n%s", out)
		}
	}
	auth := p.ev.Of(t, sensor.KindAuth, 2*len(words))
	got := map[string]bool{}
	for _, ev := range auth {
		got[ev.Credentials.Method+" "+ev.Credentials.Username+":"+ev.Credentials.Password] = true
	}
	for _, w := range words {
		for _, k := range []string{"form admin:" + w, "basic tomcat:" + w} {
			if !got[k] {
				t.Errorf("attempt %q not recorded; got %v", k, got)
			}
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{MaxBody: -1}, "must not be negative"},
		{Config{Bait: map[string]string{"x": "y"}}, "must start with /"},
		{Config{Limits: sensor.Limits{MaxConns: -1}}, "must not be negative"},
	} {
		if _, err := New(tt.cfg, sensor.Env{Sink: &sensortest.Events{}}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v): %v, want %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := New(Config{}, sensor.Env{}); err == nil {
		t.Error("New without a sink: no error")
	}
	if _, err := New(Config{TLSListen: []string{":0"}}, sensor.Env{Sink: &sensortest.Events{}}); err == nil {
		t.Error("New with TLS but no directory: no error")
	}
	c := Config{}.WithDefaults()
	if c.Listen[0] != DefaultListen || c.ReadHeaderTimeout != DefaultReadHeaderTimeout || !*c.CaptureBodies || c.Limits.MaxConnsPerSource == 0 {
		t.Errorf("defaults: %+v", c)
	}
}

// FuzzRequest feeds raw request bytes through the handler: it must not
// panic, and every request that parses is one request event.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /wp-login.php HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 17\r\n\r\nlog=a&pwd=b%ZZ&x=",
		"POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"user\":\"a\",\"password\":1}",
		"GET /manager/html HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dG9tY2F0OnRvbWNhdA==\r\n\r\n",
		"GET /wp-admin/ HTTP/1.0\r\nHost: <script>\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	ev := &sensortest.Events{}
	s, err := New(Config{MaxBody: 256}, sensor.Env{Sink: ev})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "192.0.2.1:1234"
		before := s.Stats().Requests
		w := &discardWriter{h: http.Header{}}
		s.ServeHTTP(w, req)
		if s.Stats().Requests != before+1 {
			t.Fatal("request not counted")
		}
		if w.code == 0 {
			t.Fatal("no answer written")
		}
	})
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(b), nil
}
func (w *discardWriter) WriteHeader(code int) { w.code = code }

// WriteString is what net/http's ResponseWriter also has: io.WriteString
// then writes a page without converting it to a []byte.
func (w *discardWriter) WriteString(s string) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(s), nil
}

// FuzzCredentials parses login bodies of every content type.
func FuzzCredentials(f *testing.F) {
	for _, s := range []string{"log=a&pwd=b", `{"username":"x","password":"y"}`, "pwd=%", "a=b;c=d", `{"password":{}}`, ""} {
		f.Add([]byte(s), "application/x-www-form-urlencoded")
		f.Add([]byte(s), "application/json")
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r, _ := http.NewRequest(http.MethodPost, "/x", nil)
		r.Header.Set("Content-Type", ct)
		c := credentials(r, &form{body: body})
		if c != nil && (len(c.Username) > maxValue || len(c.Password) > maxValue || c.Method != "form") {
			t.Fatalf("credentials %+v", c)
		}
	})
}

// TestMemoryBudget: a body that the process's memory budget cannot hold
// is not read; the event says so and the budget is whole afterwards.
func TestMemoryBudget(t *testing.T) {
	budget := sensor.NewBudget(1000)
	ev := &sensortest.Events{}
	s, err := New(Config{MaxBody: 4096}, sensor.Env{Sink: ev, Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.ServeListeners(ctx, []net.Listener{ln}, nil); close(done) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String() + "/upload"
	for _, size := range []int{500, 3000} {
		resp, err := http.Post(url, "application/octet-stream", strings.NewReader(strings.Repeat("x", size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	reqs := ev.Of(t, sensor.KindRequest, 2)
	if len(reqs) != 2 {
		t.Fatalf("events %+v", reqs)
	}
	if p := reqs[0].Payloads[0]; p.Size != 500 || p.Truncated || p.SHA256 == "" {
		t.Errorf("within the budget: %+v", p)
	}
	if p := reqs[1].Payloads[0]; p.Size != 0 || !p.Truncated || p.SHA256 != "" {
		t.Errorf("over the budget: %+v, want nothing read and truncated", p)
	}
	// The handler gives its reservation back once it has answered.
	deadline := time.Now().Add(5 * time.Second)
	for budget.Used() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if u := budget.Used(); u != 0 {
		t.Errorf("budget holds %d bytes after the requests", u)
	}
}

// TestEventCapFlood pipelines many requests on one connection past
// max_events and checks what reaches the sink, over plain HTTP and HTTPS.
func TestEventCapFlood(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[secure], func(t *testing.T) { testEventCapFlood(t, secure) })
	}
}

func testEventCapFlood(t *testing.T, secure bool) {
	const maxEvents, flood = 10, 60
	p := startPot(t, Config{Limits: sensor.Limits{MaxEvents: maxEvents}, TLSListen: []string{"127.0.0.1:0"}})
	var c net.Conn
	var err error
	if secure {
		c, err = tls.Dial("tcp", strings.TrimPrefix(p.surl, "https://"), &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, strings.Repeat("GET /robots.txt HTTP/1.1\r\nHost: x\r\n\r\n", flood-1)+"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal(err)
	}
	end := p.ev.Of(t, sensor.KindDisconnect, 1)
	if want := strconv.Itoa(flood - maxEvents); len(end) != 1 || end[0].Details["suppressed_events"] != want {
		t.Fatalf("disconnect events %+v, want one with suppressed_events %s", end, want)
	}
	if got := len(p.ev.All(sensor.KindRequest)); got != maxEvents {
		t.Errorf("%d request events emitted, want %d", got, maxEvents)
	}
}

// TestHasLowerPrefix checks the shortcut against what it replaces.
func TestHasLowerPrefix(t *testing.T) {
	for _, s := range []string{"/phpmyadmin", "/phpMyAdmin/index.php", "/PHPMYADMIN2", "/phpmyadmi", "", "/", "/pHpMyAdMiN", "/phpmyadm\u0130n/", "/\u212Aphpmyadmin", "/phpmyadmin\u212A", "/phpmyadmİn", "/xphpmyadmin"} {
		if got, want := hasLowerPrefix(s, "/phpmyadmin"), strings.HasPrefix(strings.ToLower(s), "/phpmyadmin"); got != want {
			t.Errorf("hasLowerPrefix(%q) = %v, want %v", s, got, want)
		}
	}
}
