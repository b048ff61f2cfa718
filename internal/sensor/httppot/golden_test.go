package httppot

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenRequests cover every kind of answer: each persona's page and its
// failed login, redirects, bait files, the 403 and 404 pages with and
// without a port in Host, hostile hosts and user names, Basic
// credentials, a JSON login, HEAD, and a configured bait that overrides a
// built-in one.
var goldenRequests = []struct{ head, body string }{
	{"GET / HTTP/1.1\r\nHost: 192.0.2.10\r\nUser-Agent: Mozilla/5.0 (golden)\r\nAccept: */*", ""},
	{"POST /admin/login HTTP/1.1\r\nHost: 192.0.2.10\r\nContent-Type: application/x-www-form-urlencoded", "username=admin&password=admin12"},
	{"GET /wp-login.php HTTP/1.1\r\nHost: blog.example\r\nUser-Agent: WPScan v3.8.25", ""},
	{"POST /wp-login.php HTTP/1.1\r\nHost: blog.example\r\nContent-Type: application/x-www-form-urlencoded", "log=%3Cb%3Eadmin%26co%3C%2Fb%3E&pwd=x&wp-submit=1"},
	{"GET /wp-admin/ HTTP/1.1\r\nHost: blog.example:8080", ""},
	{"GET /xmlrpc.php HTTP/1.1\r\nHost: blog.example", ""},
	{"POST /xmlrpc.php HTTP/1.1\r\nHost: blog.example\r\nContent-Type: text/xml", "<methodCall/>1234567"},
	{"GET /remote/login?lang=en HTTP/1.1\r\nHost: vpn.example", ""},
	{"POST /remote/logincheck HTTP/1.1\r\nHost: vpn.example\r\nContent-Type: application/x-www-form-urlencoded", "username=bob&credential=hunter2&a=1x"},
	{"GET /phpMyAdmin/index.php HTTP/1.1\r\nHost: db.example", ""},
	{"POST /phpmyadmin/index.php HTTP/1.1\r\nHost: db.example\r\nContent-Type: application/json", "{\"pma_username\":\"root\",\"pma_password\":\"toor\"}\r\n"},
	{"GET /owa/ HTTP/1.1\r\nHost: mail.example", ""},
	{"POST /owa/auth.owa HTTP/1.1\r\nHost: mail.example\r\nContent-Type: application/x-www-form-urlencoded", "username=CORP%5Cjo&password=p"},
	{"GET /owa/auth/logon.aspx?replaceCurrent=1 HTTP/1.1\r\nHost: mail.example", ""},
	{"GET /manager/html HTTP/1.1\r\nHost: tomcat.example:8080\r\nAuthorization: Basic dG9tY2F0OnMzY3JldA==", ""},
	{"GET /console HTTP/1.1\r\nHost: wls.example:7001", ""},
	{"POST /console/j_security_check HTTP/1.1\r\nHost: wls.example:7001\r\nContent-Type: application/x-www-form-urlencoded", "j_username=weblogic&j_password"},
	{"GET /boaform/admin/formLogin HTTP/1.1\r\nHost: 192.0.2.1", ""},
	{"POST /boaform/admin/formLogin HTTP/1.1\r\nHost: 192.0.2.1", "username=admin&psd=admin1"},
	{"POST /HNAP1/ HTTP/1.1\r\nHost: 192.0.2.1\r\nSOAPAction: \"http://purenetworks.com/HNAP1/GetDeviceSettings\"", ""},
	{"GET /.env HTTP/1.1\r\nHost: app.example", ""},
	{"GET /.git/config HTTP/1.1\r\nHost: app.example", ""},
	{"GET /.git/HEAD HTTP/1.1\r\nHost: app.example", ""},
	{"GET /server-status HTTP/1.1\r\nHost: www.example:8443", ""},
	{"GET /cgi-bin/luci HTTP/1.1\r\nHost: x&y'z:80", ""},
	{"GET /actuator HTTP/1.1\r\nHost: a&b'c", ""},
	{"GET /actuator/health HTTP/1.1\r\nHost: app.example", ""},
	{"GET /actuator/env HTTP/1.1\r\nHost: app.example", ""},
	{"POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\nHost: app.example", "<?php system('id');?"},
	{"GET /solr/ HTTP/1.1\r\nHost: solr.example:8983", ""},
	{"GET /solr/admin/info/system?wt=json HTTP/1.1\r\nHost: solr.example:8983", ""},
	{"GET /solr/admin/cores?action=STATUS HTTP/1.1\r\nHost: solr.example:8983", ""},
	{"GET /robots.txt HTTP/1.1\r\nHost: www.example", ""},
	{"GET /nothing-here HTTP/1.1\r\nHost: www.example\r\nUser-Agent: zgrab/0.x\r\nAccept-Encoding: gzip", ""},
	{"GET /nothing-here HTTP/1.1\r\nHost: 203.0.113.80:8080", ""},
	{"HEAD /nothing-here HTTP/1.1\r\nHost: www.example", ""},
	{"GET /bait/config.json HTTP/1.1\r\nHost: www.example", ""},
	{"GET /robots.txt HTTP/1.0", ""},
	{"GET /a%20b/../c?x=<y> HTTP/1.1\r\nHost: www.example\r\nX-Many: 1\r\nX-Many: 2\r\nCookie: a=b\r\nx_under_score: 1\r\nWEIRD-case: 2\r\nDNT: 1\r\nX-Forwarded-For: 10.0.0.1", ""},
}

// TestGoldenAnswers sends each of goldenRequests on its own connection
// and compares the raw answer (Date removed) and the events, with their
// random and time-dependent fields blanked, to testdata/answers.golden:
// a faster honeypot must answer and record exactly what it did before.
// go test -run TestGoldenAnswers -update rewrites the file.
func TestGoldenAnswers(t *testing.T) {
	var out bytes.Buffer
	p := startPot(t, Config{Bait: map[string]string{"/bait/config.json": `{"key":"AKIAEXAMPLEEXAMPLE00"}`, "/robots.txt": "User-agent: *\nDisallow: /private/\n"}})
	goldenRun(t, p, goldenRequests, &out)
	out.WriteString("### server_header: -\n")
	p = startPot(t, Config{ServerHeader: "-"})
	goldenRun(t, p, goldenRequests[len(goldenRequests)-5:len(goldenRequests)-3], &out)
	checkSharedValues(t)
	golden := filepath.Join("testdata", "answers.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		got := filepath.Join(t.TempDir(), "answers.got")
		os.WriteFile(got, out.Bytes(), 0o644)
		t.Errorf("answers or events differ from %s; got is in %s (diff them; -update rewrites)", golden, got)
	}
}

// goldenRun sends each request to p on its own connection and writes the
// answer and the events to out.
func goldenRun(t *testing.T, p *pot, reqs []struct{ head, body string }, out *bytes.Buffer) {
	t.Helper()
	seen := 0
	for i, gr := range reqs {
		raw := gr.head + "\r\n\r\n"
		if gr.body != "" {
			raw = gr.head + "\r\nContent-Length: " + strconv.Itoa(len(gr.body)) + "\r\n\r\n" + gr.body
		}
		c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		answer, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		// The handler emits a request's events before it answers, so
		// they are all in once the answer is.
		evs := p.ev.All("")
		out.WriteString("=== " + strings.SplitN(raw, "\r\n", 2)[0] + "\n")
		out.Write(dropDate(answer))
		out.WriteString("\n--- events\n")
		for _, ev := range evs[seen:] {
			ev.ID, ev.Time, ev.Session, ev.Src.Port, ev.Dst.Port = "", time.Time{}, "", 0, 0
			j, err := json.MarshalIndent(ev, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out.Write(j)
			out.WriteString("\n")
		}
		seen = len(evs)
	}
}

// dropDate removes the Date header line of a raw HTTP answer.
func dropDate(answer []byte) []byte {
	var out []byte
	for line := range bytes.Lines(answer) {
		if !bytes.HasPrefix(line, []byte("Date: ")) {
			out = append(out, line...)
		}
	}
	return out
}

// checkSharedValues fails if serving changed a header value that all
// answers share (net/http must only read them).
func checkSharedValues(t *testing.T) {
	t.Helper()
	for n := range lengths {
		if lengths[n][0] != strconv.Itoa(n) {
			t.Fatalf("shared Content-Length value for %d is now %q", n, lengths[n][0])
		}
	}
	for _, f := range []*fixed{adminLogin, adminFailed, wpLoginPage, tomcat401, xmlrpcGet, envBait, robots} {
		if len(f.length) != 1 || f.length[0] != strconv.Itoa(len(f.body)) || len(f.contentType) != 1 {
			t.Fatalf("shared header values of a fixed answer changed: %q %q", f.length, f.contentType)
		}
	}
	if htmlTypeValue[0] != htmlType || jsonTypeValue[0] != "application/json" || owaVersion[0] != "15.1.2507.6" || tomcatRealm[0] != `Basic realm="Tomcat Manager Application"` {
		t.Fatal("a shared header value changed")
	}
}
