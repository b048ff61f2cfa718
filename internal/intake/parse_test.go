package intake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vallum/vallum/internal/sensor"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	Lines(b, func(_ int, l []byte) { out = append(out, l) })
	return out
}

func TestParseEVE(t *testing.T) {
	lines := readLines(t, "eve.ndjson")
	type want struct {
		kind, severity, src, command string
		details                      map[string]string
		fp                           map[string]string
	}
	wants := []want{
		{kind: "alert", severity: "medium", src: "203.0.113.9", command: "ET SCAN Potential SSH Scan", details: map[string]string{"signature_id": "2001219", "category": "Attempted Information Leak", "flow_id": "1234567890123456"}},
		{kind: "request", severity: "", src: "203.0.113.9", command: "POST /wp-login.php", fp: map[string]string{"user_agent": "Mozilla/5.0 zgrab/0.x"}, details: map[string]string{"hostname": "intranet.example", "status": "200"}},
		{kind: "request", severity: "info", src: "192.0.2.55", command: "dns query evil.example A"},
		{kind: "connect", severity: "info", src: "192.0.2.55", fp: map[string]string{"ja3": "e7d705a3286e19ea42f587b344ee6865"}, details: map[string]string{"sni": "c2.example"}},
		{kind: "connect", src: "203.0.113.9", fp: map[string]string{"client_version": "libssh_0.9.6", "hassh": "ec7378c1a92f5a8dde7e8b7a1ddf33d1"}},
		{kind: "connect", severity: "info", src: "203.0.113.9", details: map[string]string{"bytes_toserver": "180", "state": "new"}},
		{}, // stats: skipped
		{kind: "upload", severity: "info", src: "203.0.113.9"},
		{kind: "alert", severity: "low", src: "203.0.113.9", command: "stream.pkt_invalid_timestamp"},
	}
	if len(lines) != len(wants) {
		t.Fatalf("got %d lines, want %d", len(lines), len(wants))
	}
	for i, line := range lines {
		e, err := ParseEVE(line, nil, "ids")
		w := wants[i]
		if w.kind == "" {
			if !errors.Is(err, ErrSkipped) {
				t.Errorf("line %d: got %v, want ErrSkipped", i+1, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("line %d: %v", i+1, err)
			continue
		}
		if e.Kind != w.kind || e.Severity != w.severity || e.Src.IP != w.src || e.Command != w.command {
			t.Errorf("line %d: got kind %q severity %q src %q command %q, want %q %q %q %q", i+1, e.Kind, e.Severity, e.Src.IP, e.Command, w.kind, w.severity, w.src, w.command)
		}
		for k, v := range w.details {
			if e.Details[k] != v {
				t.Errorf("line %d: details[%s] = %q, want %q", i+1, k, e.Details[k], v)
			}
		}
		for k, v := range w.fp {
			if e.Fingerprints[k] != v {
				t.Errorf("line %d: fingerprints[%s] = %q, want %q", i+1, k, e.Fingerprints[k], v)
			}
		}
		e.ID = EVEID("test", line)
		if _, err := Normalize(e, now); err != nil {
			t.Errorf("line %d: the mapped event does not normalise: %v", i+1, err)
		}
	}
	first, _ := ParseEVE(lines[0], nil, "ids")
	if want := time.Date(2026, 11, 28, 9, 15, 2, 123456000, time.UTC); !first.Time.Equal(want) {
		t.Errorf("alert time: got %v, want %v", first.Time, want)
	}
	fi, _ := ParseEVE(lines[7], nil, "ids")
	if len(fi.Payloads) != 1 || fi.Payloads[0].SHA256 != strings.ToLower("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855") {
		t.Errorf("fileinfo payload: %+v", fi.Payloads)
	}
	if _, err := ParseEVE([]byte(`{"event_type":"alert","timestamp":"yesterday"}`), nil, ""); err == nil {
		t.Error("a bad timestamp was accepted")
	}
	if EVEID("a", lines[0]) == EVEID("b", lines[0]) || EVEID("a", lines[0]) != EVEID("a", lines[0]) {
		t.Error("EVEID must depend on the origin and be stable")
	}
}

func FuzzParseEVE(f *testing.F) {
	for _, l := range readLines(f, "eve.ndjson") {
		f.Add(l)
	}
	f.Add([]byte(`{"event_type":"alert","timestamp":"2026-01-01T00:00:00+0000","src_ip":"::ffff:1.2.3.4","alert":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseEVE(line, nil, "ids")
		if err != nil {
			return
		}
		e.ID = EVEID("fuzz", line)
		n, err := Normalize(e, now)
		if err != nil {
			return // e.g. an address that is not one: rejected, not crashed
		}
		if _, err := json.Marshal(n); err != nil {
			t.Fatalf("normalised event does not encode: %v", err)
		}
	})
}

func TestParseSyslog(t *testing.T) {
	lines := readLines(t, "syslog.txt")
	tests := []struct {
		format, host, app, procid, msgid, sd, msg string
		facility, severity                        int
		time                                      time.Time
	}{
		{"rfc5424", "mymachine.example.com", "su", "", "ID47", "", "'su root' failed for lonvick on /dev/pts/8", 4, 2, time.Date(2026, 11, 28, 22, 14, 15, 3000000, time.UTC)},
		{"rfc5424", "192.0.2.1", "myproc", "8710", "", "", "%% It's time to make the do-nuts.", 20, 5, time.Date(2026, 11, 29, 5, 14, 15, 3000, time.UTC)},
		{"rfc5424", "mymachine.example.com", "evntslog", "", "ID47", `[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`, "An application event log entry", 20, 5, time.Date(2026, 11, 28, 22, 14, 15, 3000000, time.UTC)},
		{"rfc5424", "", "", "", "", "", "", 1, 5, time.Time{}},
		{"rfc3164", "mymachine", "su", "", "", "", "'su root' failed for lonvick on /dev/pts/8", 4, 2, time.Date(2026, 10, 11, 22, 14, 15, 0, time.UTC)},
		{"rfc3164", "gw", "sshd", "1234", "", "", "Failed password for invalid user admin from 203.0.113.77 port 50022 ssh2", 4, 6, time.Date(2026, 11, 28, 10, 0, 1, 0, time.UTC)},
		{"rfc3164", "gw", "sshd", "1234", "", "", "Accepted publickey for deploy from 192.0.2.20 port 50100 ssh2: ED25519 SHA256:abc", 4, 6, time.Date(2026, 11, 28, 10, 0, 2, 0, time.UTC)},
		{"rfc3164", "", "", "", "", "", "just a message without a header", 1, 5, time.Time{}},
	}
	if len(lines) != len(tests) {
		t.Fatalf("got %d lines, want %d", len(lines), len(tests))
	}
	for i, tt := range tests {
		m, err := ParseSyslog(lines[i], now)
		if err != nil {
			t.Errorf("line %d: %v", i+1, err)
			continue
		}
		got := []string{m.Format, m.Hostname, m.AppName, m.ProcID, m.MsgID, m.StructuredData, m.Message}
		want := []string{tt.format, tt.host, tt.app, tt.procid, tt.msgid, tt.sd, tt.msg}
		for j := range got {
			if got[j] != want[j] {
				t.Errorf("line %d field %d: got %q, want %q", i+1, j, got[j], want[j])
			}
		}
		if m.Facility != tt.facility || m.Severity != tt.severity || !m.Time.Equal(tt.time) {
			t.Errorf("line %d: facility %d severity %d time %v, want %d %d %v", i+1, m.Facility, m.Severity, m.Time, tt.facility, tt.severity, tt.time)
		}
	}
	peer := sensor.Endpoint{IP: "192.0.2.2", Port: 514}
	m, _ := ParseSyslog(lines[5], now)
	e := SyslogEvent(m, peer, "syslog", now)
	if e.Kind != sensor.KindAuth || e.Src.IP != "203.0.113.77" || e.Src.Port != 50022 || e.Credentials == nil || e.Credentials.Username != "admin" || e.Severity != "medium" {
		t.Errorf("sshd failure: %+v", e)
	}
	m, _ = ParseSyslog(lines[0], now)
	if e := SyslogEvent(m, peer, "syslog", now); e.Kind != sensor.KindLog || e.Src != peer || e.Severity != "high" {
		t.Errorf("plain message: %+v", e)
	}
	for _, bad := range []string{"", "no pri", "<>x", "<192>1 x", "<1x>", "<013>x", "<34>1 notatime h a p m -", "<34>1 2026-11-28T22:14:15Z h a p m [unclosed"} {
		if _, err := ParseSyslog([]byte(bad), now); err == nil {
			t.Errorf("%q: parsed, want an error", bad)
		}
	}
}

func FuzzParseSyslog(f *testing.F) {
	for _, l := range readLines(f, "syslog.txt") {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := ParseSyslog(msg, now)
		if err != nil {
			return
		}
		if m.Facility < 0 || m.Facility > 23 || m.Severity < 0 || m.Severity > 7 {
			t.Fatalf("facility %d severity %d out of range", m.Facility, m.Severity)
		}
		if len(m.Message) > len(msg) {
			t.Fatalf("message longer than the input")
		}
		e := SyslogEvent(m, sensor.Endpoint{IP: "127.0.0.1"}, "syslog", now)
		e.ID = "fuzz"
		if _, err := Normalize(e, now); err != nil && !strings.Contains(err.Error(), "address") {
			t.Fatalf("mapped event does not normalise: %v", err)
		}
	})
}

func TestParseWebhook(t *testing.T) {
	body := []byte(`[
	 {"alert":{"src":"203.0.113.80","port":"4444"},"when":"2026-11-28T10:00:00Z","what":"login failed","user":"root","level":"high","vendor":"acme"},
	 {"alert":{"src":"not an ip"}},
	 {"alert":{"src":"203.0.113.81"},"when":1764324000.5,"kind":"alert"},
	 "nope"
	]`)
	fields := WebhookFields{"src_ip": "alert.src", "src_port": "alert.port", "time": "when", "message": "what", "username": "user", "severity": "level"}
	got, err := ParseWebhook(body, fields, "webhook", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d documents, want 4", len(got))
	}
	e := got[0].Event
	if got[0].Err != nil || e.Src.IP != "203.0.113.80" || e.Src.Port != 4444 || e.Severity != "high" || e.Details["message"] != "login failed" ||
		e.Credentials.Username != "root" || e.Details["vendor"] != "acme" || e.Kind != sensor.KindLog || !strings.HasPrefix(e.ID, "wh-") {
		t.Errorf("document 1: %+v %v", e, got[0].Err)
	}
	if got[1].Err == nil {
		t.Error("document 2 (bad address) was taken")
	}
	if got[2].Err != nil || got[2].Event.Kind != "alert" || !got[2].Event.Time.Equal(time.Unix(1764324000, 5e8)) {
		t.Errorf("document 3: %+v %v", got[2].Event, got[2].Err)
	}
	if got[3].Err == nil {
		t.Error("document 4 (a string) was taken")
	}
	again, _ := ParseWebhook(body, fields, "webhook", now.Add(time.Hour))
	if again[0].Event.ID != e.ID {
		t.Error("the same document got a different ID")
	}
}

func TestCheckSignature(t *testing.T) {
	// echo -n body | openssl dgst -sha256 -hmac s3cret
	const good = "sha256=63d7d468988fe3de60e994cf90f219719ea4b63df0ee7521079ed251fa76e83d"
	secret, body := []byte("s3cret"), []byte("body")
	for _, tt := range []struct {
		sig  string
		want bool
	}{{good, true}, {strings.Replace(good, "63d7", "63d8", 1), false}, {"63d7d468", false}, {"sha256=zz", false}, {"", false}} {
		if got := CheckSignature(secret, body, tt.sig); got != tt.want {
			t.Errorf("%q: got %v, want %v", tt.sig, got, tt.want)
		}
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"src_ip":"203.0.113.1","message":"x","time":"2026-11-28T10:00:00Z"}`))
	f.Add([]byte(`[{"a":{"b":1}},{"time":1e300},{"src_port":"70000"}]`))
	f.Add([]byte(`"x"`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseWebhook(body, WebhookFields{"src_ip": "a.b"}, "webhook", now)
		if err != nil {
			return
		}
		for _, p := range got {
			if p.Err != nil {
				continue
			}
			b, err := json.Marshal(p.Event)
			if err != nil || !utf8.Valid(b) {
				t.Fatalf("event does not encode as UTF-8 JSON: %v", err)
			}
		}
	})
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte(`{"id":"a","sensor":"s","kind":"connect"}` + "\n" + `garbage` + "\n"))
	f.Add([]byte(`[{"id":"a"},1]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, lines, bad := DecodeEvents(body)
		if len(evs) != len(lines) {
			t.Fatalf("%d events, %d lines", len(evs), len(lines))
		}
		for _, b := range bad {
			if b.Line < 1 {
				t.Fatalf("bad line number %d", b.Line)
			}
		}
		if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) && len(evs)+len(bad) > bytes.Count(body, []byte("\n"))+1 {
			t.Fatalf("more results than lines")
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("<13>hello\n<14>world\n"), 16)
	f.Add([]byte("11 <13>hello\n5 <13>x"), 8)
	f.Add([]byte("999999999 x"), 8)
	f.Add([]byte("1a <13>x\n"), 8)
	f.Fuzz(func(t *testing.T, stream []byte, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		r := bufio.NewReaderSize(bytes.NewReader(stream), max+16)
		for range len(stream) + 1 {
			msg, _, err := ReadFrame(r, max)
			if len(msg) > max {
				t.Fatalf("frame of %d bytes, max %d", len(msg), max)
			}
			if err != nil {
				return
			}
		}
		t.Fatalf("more frames than bytes")
	})
}

func TestReadFrame(t *testing.T) {
	stream := "<13>one\n12 <13>two\nmore<13>three is long\n"
	r := bufio.NewReaderSize(strings.NewReader(stream), 64)
	var got []string
	var cuts []bool
	for {
		msg, cut, err := ReadFrame(r, 10)
		if len(msg) > 0 {
			got, cuts = append(got, string(msg)), append(cuts, cut)
		}
		if err != nil {
			break
		}
	}
	want := []string{"<13>one", "<13>two\nmo", "<13>three "}
	if strings.Join(got, "|") != strings.Join(want, "|") || !cuts[1] || cuts[0] || !cuts[2] {
		t.Errorf("got %q cut %v, want %q", got, cuts, want)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestParseEVEGolden pins ParseEVE and EVEID, byte for byte, on a corpus
// of real-shaped records and edge cases (odd numbers, both timestamp
// formats, bad JSON, duplicate and case-folded keys): a faster parser
// must give the same events and the same errors.
func TestParseEVEGolden(t *testing.T) {
	type result struct {
		File    string        `json:"file"`
		Line    int           `json:"line"`
		Types   []string      `json:"types,omitempty"`
		ID      string        `json:"id,omitempty"`
		Event   *sensor.Event `json:"event,omitempty"`
		Error   string        `json:"error,omitempty"`
		Skipped bool          `json:"skipped,omitempty"`
	}
	var got bytes.Buffer
	enc := json.NewEncoder(&got)
	for _, run := range []struct {
		types  []string
		sensor string
	}{{nil, "ids"}, {[]string{"stats", "alert", "netflow"}, ""}} {
		for _, file := range []string{"eve.ndjson", "eve-corpus.ndjson"} {
			b, err := os.ReadFile("testdata/" + file)
			if err != nil {
				t.Fatal(err)
			}
			Lines(b, func(n int, line []byte) {
				r := result{File: file, Line: n, Types: run.types}
				e, err := ParseEVE(line, run.types, run.sensor)
				if err != nil {
					r.Error, r.Skipped = err.Error(), errors.Is(err, ErrSkipped)
				} else {
					e.ID = EVEID(file+":"+strings.Repeat("0", n), line)
					r.ID, r.Event = e.ID, &e
				}
				if err := enc.Encode(r); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	const golden = "testdata/eve-corpus.golden"
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	gotLines, wantLines := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Errorf("golden line %d:\n got %s\nwant %s", i+1, g, w)
		}
	}
}
