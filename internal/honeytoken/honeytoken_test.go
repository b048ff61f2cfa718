package honeytoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/store"
	"github.com/vallum/vallum/internal/testenv"
)

// testEnv is a real evidence log and database in a temporary directory.
type testEnv struct {
	dir string
	log *evidence.Log
	db  *store.DB
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	l, _ := testenv.Log(t, dir, "test.vallum.example/log")
	return &testEnv{dir: dir, log: l, db: testenv.DB(t, dir)}
}

func (e *testEnv) registry(t testing.TB) *Registry {
	t.Helper()
	r, err := Open(context.Background(), e.db, e.log, Options{Domain: "corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func create(t *testing.T, r *Registry, req Request) Token {
	t.Helper()
	tok, err := r.Create(context.Background(), "alice", req)
	if err != nil {
		t.Fatalf("Create(%+v): %v", req, err)
	}
	return tok
}

func TestCreateEachType(t *testing.T) {
	e := newTestEnv(t)
	r := e.registry(t)
	for _, tt := range []struct {
		req    Request
		fields map[string]*regexp.Regexp
		value  *regexp.Regexp
	}{
		{Request{Type: "credential", Planted: "fileserver:/srv/share/passwords.xlsx"},
			map[string]*regexp.Regexp{"username": regexp.MustCompile(`^[a-z_.]+_[a-z0-9]{4}$`), "password": regexp.MustCompile(`^[A-Z][a-z]+[0-9]{4}![A-Za-z0-9]{6}$`)},
			regexp.MustCompile(`^[^:]+:[^:]+$`)},
		{Request{Type: "credential", Planted: "wiki", Username: "backup-admin"},
			map[string]*regexp.Regexp{"username": regexp.MustCompile(`^backup-admin$`), "password": regexp.MustCompile(`.{15}`)},
			regexp.MustCompile(`^backup-admin:`)},
		{Request{Type: "api_key", Planted: "ci:/etc/app/.aws/credentials"},
			map[string]*regexp.Regexp{"access_key_id": regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`), "secret_access_key": regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)},
			regexp.MustCompile(`(?s)^\[default\]\naws_access_key_id = AKIA.*aws_secret_access_key = `)},
		{Request{Type: "api_key", Format: "vallum", Planted: "repo:config.yaml"},
			map[string]*regexp.Regexp{"api_key": regexp.MustCompile(`^vk_live_[A-Za-z0-9]{32}$`)},
			regexp.MustCompile(`^vk_live_`)},
		{Request{Type: "email", Planted: "crm"},
			map[string]*regexp.Regexp{"email": regexp.MustCompile(`^[a-z]+\.[a-z]+\.[a-z0-9]{4}@corp\.example$`)},
			regexp.MustCompile(`@corp\.example$`)},
		{Request{Type: "db_row", Planted: "db:customers", Domain: "Shop.Example"},
			map[string]*regexp.Regexp{"customer_id": regexp.MustCompile(`^C[0-9]{9}$`), "email": regexp.MustCompile(`@shop\.example$`)},
			regexp.MustCompile(`^INSERT INTO customers \(id, full_name, email, city, created_at\) VALUES \('C[0-9]{9}', '[A-Z][a-z]+ [A-Z][a-z]+', '[^']+', '[A-Za-z]+', '20[0-9-]{8}'\);$`)},
		{Request{Type: "db_row", Format: "csv", Planted: "export.csv"},
			map[string]*regexp.Regexp{"customer_id": regexp.MustCompile(`^C[0-9]{9}$`)},
			regexp.MustCompile(`^C[0-9]{9},[A-Z][a-z]+ [A-Z][a-z]+,[^,]+@corp\.example,[A-Za-z]+,20[0-9-]{8}$`)},
	} {
		t.Run(tt.req.Type+"/"+tt.req.Format, func(t *testing.T) {
			size := e.log.Size()
			tok := create(t, r, tt.req)
			if tok.Class != ClassA || tok.Type != tt.req.Type || tok.Planted != tt.req.Planted || tok.CreatedBy != "alice" || !strings.HasPrefix(tok.ID, "HT-") {
				t.Errorf("got %+v", tok)
			}
			for k, re := range tt.fields {
				if !re.MatchString(tok.Fields[k]) {
					t.Errorf("field %s: got %q, want it to match %s", k, tok.Fields[k], re)
				}
			}
			if !tt.value.MatchString(tok.Value) {
				t.Errorf("value: got %q, want it to match %s", tok.Value, tt.value)
			}
			// Logged first: the entry is there, committing to the value
			// by its hash, never holding it.
			if tok.LogIndex != size || e.log.Size() != size+1 {
				t.Fatalf("log index %d, log size %d → %d: want one entry at %d", tok.LogIndex, size, e.log.Size(), size)
			}
			ent, err := e.log.Entry(tok.LogIndex)
			if err != nil {
				t.Fatal(err)
			}
			var p Created
			if err := json.Unmarshal(ent.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if p.ID != tok.ID || p.ValueSHA256 != sha256Hex(tok.Value) || p.ValueMasked != tok.Mask().Value ||
				p.Planted != tok.Planted || p.CreatedBy != "alice" || p.Class != "A" {
				t.Errorf("log payload %s doesn't describe %+v", ent.Payload, tok)
			}
			if strings.Contains(string(ent.Payload), tok.Value) {
				t.Errorf("log payload %s holds the value %q", ent.Payload, tok.Value)
			}
			if len(p.FieldsSHA256) != len(tok.Fields) || len(p.FieldsMasked) != len(tok.Fields) {
				t.Errorf("log payload %s: want %d fields hashed and masked", ent.Payload, len(tok.Fields))
			}
			for k, v := range tok.Fields {
				if p.FieldsSHA256[k] != sha256Hex(v) || p.FieldsMasked[k] != MaskString(v) {
					t.Errorf("field %s: logged %q %q, want the SHA-256 and masked form of %q", k, p.FieldsSHA256[k], p.FieldsMasked[k], v)
				}
				if len(v) > 4 && strings.Contains(string(ent.Payload), v) {
					t.Errorf("log payload %s holds field %s %q", ent.Payload, k, v)
				}
			}
			if !strings.Contains(string(ent.Header), CreatedKind) {
				t.Errorf("log header %q lacks kind %s", ent.Header, CreatedKind)
			}
			got, err := r.Get(context.Background(), tok.ID)
			if err != nil || got.Value != tok.Value || got.LogIndex != tok.LogIndex || !got.CreatedAt.Equal(tok.CreatedAt) {
				t.Errorf("Get: %+v, %v; want %+v", got, err, tok)
			}
		})
	}
	// The tokens survive a reopen and are recognised from the database.
	r2 := e.registry(t)
	toks, err := r2.List(context.Background())
	if err != nil || len(toks) != 7 || r2.Len() != 7 {
		t.Fatalf("reopened: %d tokens (%v), Len %d; want 7", len(toks), err, r2.Len())
	}
	for _, tok := range toks {
		for _, f := range tok.Fields {
			if got, ok := r2.MatchText("x " + f + " y"); !ok || got.ID != tok.ID {
				t.Errorf("reopened registry doesn't recognise %s field %q", tok.ID, f)
			}
		}
	}
}

func TestCreateRefused(t *testing.T) {
	e := newTestEnv(t)
	r := e.registry(t)
	noDomain, err := Open(context.Background(), e.db, e.log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		r       *Registry
		req     Request
		refused bool
		want    string
	}{
		{"document beacon", r, Request{Type: "document", Planted: "share"}, true, "615-ter"},
		{"tracking url", r, Request{Type: "url", Planted: "share"}, true, "635-quater.1"},
		{"class B", r, Request{Type: "credential", Class: "B", Planted: "share"}, true, "only class A"},
		{"unknown type", r, Request{Type: "cookie", Planted: "share"}, false, `unknown type "cookie"`},
		{"no type", r, Request{Planted: "share"}, false, "type is required"},
		{"no planted", r, Request{Type: "credential"}, false, "planted is required"},
		{"bad format", r, Request{Type: "api_key", Format: "gcp", Planted: "x"}, false, `format "gcp"`},
		{"bad username", r, Request{Type: "credential", Username: "a b", Planted: "x"}, false, "without spaces"},
		{"email without domain", noDomain, Request{Type: "email", Planted: "x"}, false, "needs an e-mail domain"},
		{"bad domain", r, Request{Type: "email", Domain: "not a domain", Planted: "x"}, false, "not a domain name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			size := e.log.Size()
			_, err := tt.r.Create(context.Background(), "alice", tt.req)
			var ref *RefusedError
			if tt.refused != errors.As(err, &ref) || (!tt.refused && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("got %v, want refused %v", err, tt.refused)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if e.log.Size() != size {
				t.Errorf("a refused request was logged")
			}
		})
	}
	if toks, _ := r.List(context.Background()); len(toks) != 0 {
		t.Errorf("refused requests stored %d tokens", len(toks))
	}
}

func TestMatch(t *testing.T) {
	e := newTestEnv(t)
	r := e.registry(t)
	cred := create(t, r, Request{Type: "credential", Planted: "share"})
	key := create(t, r, Request{Type: "api_key", Planted: "ci"})
	row := create(t, r, Request{Type: "db_row", Planted: "db"})
	short := create(t, r, Request{Type: "credential", Username: "root", Planted: "x"})
	for _, tt := range []struct {
		name string
		e    sensor.Event
		want string // token ID, "" for none
	}{
		{"password in an ssh attempt", sensor.Event{Credentials: &sensor.Credentials{Method: "password", Username: "x", Password: cred.Fields["password"]}}, cred.ID},
		{"user name alone", sensor.Event{Credentials: &sensor.Credentials{Method: "form", Username: cred.Fields["username"], Password: "guess"}}, cred.ID},
		{"key in a request line", sensor.Event{Command: "GET /s3?AWSAccessKeyId=" + key.Fields["access_key_id"] + "&x=1 HTTP/1.1"}, key.ID},
		{"secret in a header", sensor.Event{Details: map[string]string{"authorization": "AWS4-HMAC " + key.Fields["secret_access_key"]}}, key.ID},
		{"row e-mail in a user agent", sensor.Event{Fingerprints: map[string]string{"user_agent": "mailer " + row.Fields["email"]}}, row.ID},
		{"customer id in an upload name", sensor.Event{Payloads: []sensor.PayloadRef{{Name: "/tmp/" + row.Fields["customer_id"] + ".csv"}}}, row.ID},
		{"short user name is no marker", sensor.Event{Credentials: &sensor.Credentials{Username: "root", Password: "toor"}}, ""},
		{"short token password", sensor.Event{Credentials: &sensor.Credentials{Username: "root", Password: short.Fields["password"]}}, short.ID},
		{"a prefix is not enough", sensor.Event{Command: cred.Fields["password"][:len(cred.Fields["password"])-1]}, ""},
		{"nothing", sensor.Event{Command: "GET / HTTP/1.1", Details: map[string]string{"host": "example"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := r.Match(tt.e)
			if ok != (tt.want != "") || got.ID != tt.want {
				t.Errorf("Match: got %q %v, want %q", got.ID, ok, tt.want)
			}
		})
	}
	if got, ok := r.MatchText(`Nov 28 sshd[1]: Failed password for ` + cred.Fields["username"] + ` from 203.0.113.9`); !ok || got.ID != cred.ID {
		t.Errorf("MatchText on a syslog line: got %q %v, want %s", got.ID, ok, cred.ID)
	}
	// A match is a copy: changing it doesn't change the registry.
	got, _ := r.MatchText(cred.Value)
	got.Fields["password"] = "changed"
	if again, _ := r.MatchText(cred.Value); again.Fields["password"] != cred.Fields["password"] {
		t.Error("Match returned the registry's own map")
	}
	if m := cred.Mask(); strings.Contains(m.Value, cred.Fields["password"]) || m.Fields["password"] != cred.Fields["password"][:4]+"****" || !m.Masked {
		t.Errorf("Mask: got %+v", m)
	}
}

// TestMatchWhileCreating runs Match from several goroutines while tokens
// are created (the race detector checks the index swap).
func TestMatchWhileCreating(t *testing.T) {
	e := newTestEnv(t)
	r := e.registry(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					r.Match(sensor.Event{Command: "GET /index.html?q=AKIAAAAAAAAAAAAAAAAA HTTP/1.1"})
				}
			}
		}()
	}
	var toks []Token
	for range 10 {
		toks = append(toks, create(t, r, Request{Type: "api_key", Planted: "x"}))
	}
	close(stop)
	wg.Wait()
	for _, tok := range toks {
		if got, ok := r.MatchText(tok.Value); !ok || got.ID != tok.ID {
			t.Errorf("token %s not recognised", tok.ID)
		}
	}
}

// benchIndex is an index of n generated tokens of every type.
func benchIndex(n int) (*index, []Token) {
	var toks []Token
	for i := 0; len(toks) < n; i++ {
		req := Request{Type: Types[i%len(Types)], Domain: "corp.example"}
		tok, _ := generate(req)
		tok.ID = newID()
		toks = append(toks, tok)
	}
	return newIndex(toks), toks
}

// BenchmarkMatch is the cost of Match on a typical HTTP request event
// (request line, ten headers, a user agent) against 10,000 tokens, with no
// token in it (the common case: the whole event is scanned).
func BenchmarkMatch(b *testing.B) {
	x, _ := benchIndex(10000)
	r := &Registry{}
	r.idx.Store(x)
	e := sensor.Event{
		Kind:    sensor.KindRequest,
		Command: "GET /wp-login.php?redirect_to=https%3A%2F%2Fexample.com%2Fwp-admin%2F&reauth=1 HTTP/1.1",
		Details: map[string]string{
			"host": "203.0.113.7", "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
			"accept-language": "en-US,en;q=0.5", "accept-encoding": "gzip, deflate", "connection": "keep-alive",
			"cookie":                    "wordpress_test_cookie=WP%20Cookie%20check; wp-settings-time-1=1700000000",
			"upgrade-insecure-requests": "1", "cache-control": "max-age=0", "x-forwarded-for": "198.51.100.23",
		},
		Fingerprints: map[string]string{"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"},
		Credentials:  &sensor.Credentials{Method: "form", Username: "admin", Password: "P@ssw0rd123"},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, ok := r.Match(e); ok {
			b.Fatal("unexpected match")
		}
	}
}

// BenchmarkMatchText scans a 1 KiB log line holding no token, against
// 10,000 tokens; SetBytes makes the figure a scan rate.
func BenchmarkMatchText(b *testing.B) {
	x, toks := benchIndex(10000)
	r := &Registry{}
	r.idx.Store(x)
	line := strings.Repeat(`{"timestamp":"2026-11-28T20:00:00Z","event_type":"alert","src_ip":"203.0.113.9","alert":{"signature":"ET SCAN"}} `, 10)[:1024]
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, ok := r.MatchText(line); ok {
			b.Fatal("unexpected match")
		}
	}
	if _, ok := r.MatchText(line + toks[9999].Value); !ok {
		b.Fatal("a token at the end was missed")
	}
}

// TestFindEveryOffset places markers of the shortest length at every
// offset of texts of every length: the sampled scan must find each.
func TestFindEveryOffset(t *testing.T) {
	tok := Token{ID: "HT-x", Fields: map[string]string{"password": "Ab3$Zq9!", "api_key": "vk_live_0123456789abcdefghijABCDEFGHIJ"}}
	x := newIndex([]Token{tok})
	for _, m := range tok.Fields {
		for pre := 0; pre < 12; pre++ {
			for post := 0; post < 12; post++ {
				s := strings.Repeat("-", pre) + m + strings.Repeat("+", post)
				if x.find(s) != 0 {
					t.Fatalf("marker %q not found in %q", m, s)
				}
				if cut := s[:pre+len(m)-1]; x.find(cut) != -1 {
					t.Fatalf("a cut marker was found in %q", cut)
				}
			}
		}
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestRedact(t *testing.T) {
	tok := Token{Value: "svc_backup_x7k2:Autumn4821!q7Xk2m", Fields: map[string]string{"username": "svc_backup_x7k2", "password": "Autumn4821!q7Xk2m"}}
	for _, tt := range []struct{ name, in, want string }{
		{"password", "Autumn4821!q7Xk2m", "Autu****"},
		{"in a command", "login svc_backup_x7k2 Autumn4821!q7Xk2m now", "login svc_**** Autu**** now"},
		{"whole value", "cat svc_backup_x7k2:Autumn4821!q7Xk2m", "cat svc_****"},
		{"nothing", "GET / HTTP/1.1", "GET / HTTP/1.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tok.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
