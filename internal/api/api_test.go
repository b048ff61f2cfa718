package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
)

const testToken = "vallum-admin-test-token-0123456789"

const testPerimeter = `
networks: [{cidr: 10.0.0.0/8}]
domains: [acme.example]
assets: [{name: pacs1, addresses: [10.2.0.20], criticality: critical, flags: [health]}]
devices: [{name: fw-edge, kind: firewall}]
protected: [10.0.0.1/32]
`

type testServer struct {
	*httptest.Server
	log  *evidence.Log
	db   *store.DB
	vkey string
}

func newTestServer(t testing.TB, maxBody int64) *testServer {
	t.Helper()
	dir := t.TempDir()
	keys, _, err := evidence.LoadOrCreateKeys(dir, "test.vallum.example/log")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	files, err := store.OpenFiles(filepath.Join(dir, "log"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.Open(evidence.Config{Origin: keys.Origin, Signer: keys.Signer, Verifier: keys.Verifier, Storage: files, MaxPayload: int(maxBody), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "vallum.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		db.Project(ctx, l, filepath.Join(dir, "log", "latest-checkpoint"), quiet)
	}()
	perim := filepath.Join(dir, "perimeter.yaml")
	if err := os.WriteFile(perim, []byte(testPerimeter), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &Guard{PerimeterFile: perim}
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	s := &Server{Log: l, DB: db, Guard: g, Logger: quiet, MaxBody: maxBody, AdminToken: sha256.Sum256([]byte(testToken)), VKey: keys.VKey}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		cancel()
		wg.Wait()
		l.Close()
		db.Close()
		files.Close()
	})
	return &testServer{Server: hs, log: l, db: db, vkey: keys.VKey}
}

func (ts *testServer) do(t testing.TB, method, path, token, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (ts *testServer) appendOK(t *testing.T, payload string) evidence.Receipt {
	t.Helper()
	code, b := ts.do(t, "POST", "/api/v1/log/entries?kind=note&incident=INC-7&actor=alice", testToken, "application/json", []byte(payload))
	if code != http.StatusCreated {
		t.Fatalf("append: HTTP %d %s", code, b)
	}
	var r evidence.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAppendAndShow(t *testing.T) {
	ts := newTestServer(t, 1024)
	r := ts.appendOK(t, `{"what":"blocked 203.0.113.9"}`)
	code, b := ts.do(t, "GET", fmt.Sprintf("/log/v1/entries/%d", r.Index), testToken, "", nil)
	if code != http.StatusOK {
		t.Fatalf("show: HTTP %d %s", code, b)
	}
	var v EntryView
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	h, err := evidence.DecodeHeader([]byte(v.Header))
	if err != nil {
		t.Fatal(err)
	}
	if v.LeafHash != r.LeafHash || h.Actor != "admin/alice" || h.Incident != "INC-7" || h.Kind != "note" {
		t.Errorf("got leaf %s actor %q incident %q kind %q, want leaf %s actor admin/alice incident INC-7 kind note", v.LeafHash, h.Actor, h.Incident, h.Kind, r.LeafHash)
	}
	if string(v.PayloadBytes) != `{"what":"blocked 203.0.113.9"}` || h != v.Fields {
		t.Errorf("payload %s fields %+v", v.PayloadBytes, v.Fields)
	}
	if evidence.Commit(v.Salt, v.PayloadBytes) != h.Commitment {
		t.Error("salt and payload don't match the header's commitment")
	}
}

func TestAuth(t *testing.T) {
	ts := newTestServer(t, 1024)
	ts.appendOK(t, `{}`)
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"append without token", "POST", "/api/v1/log/entries?kind=x", "", 401},
		{"append with wrong token", "POST", "/api/v1/log/entries?kind=x", "nope-nope-nope-nope", 401},
		{"erase without token", "POST", "/api/v1/log/entries/0/erase", "", 401},
		{"entry without token", "GET", "/log/v1/entries/0", "", 401},
		{"list without token", "GET", "/api/v1/log/entries", "", 401},
		{"checkpoint is public", "GET", "/log/checkpoint", "", 200},
		{"tile is public", "GET", "/log/tile/0/000.p/1", "", 200},
		{"vkey is public", "GET", "/log/v1/vkey", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := ts.do(t, tc.method, tc.path, tc.token, "application/json", []byte(`{"reason":"x"}`))
			if code != tc.want {
				t.Errorf("got HTTP %d (%s), want %d", code, b, tc.want)
			}
		})
	}
	if n := ts.log.Size(); n != 1 {
		t.Errorf("log size %d after refused writes, want 1", n)
	}
}

func TestBadAppends(t *testing.T) {
	ts := newTestServer(t, 64)
	for _, tc := range []struct {
		name, query, ctype, body string
		want                     int
		msg                      string
	}{
		{"not JSON", "kind=x", "application/json", `{"a":`, 400, "not a valid JSON"},
		{"invalid UTF-8", "kind=x", "application/json", "\"\xff\xfe\"", 400, "UTF-8"},
		{"too large", "kind=x", "application/json", `{"a":"` + strings.Repeat("x", 100) + `"}`, 413, "limit of 64 bytes"},
		{"no kind", "", "application/json", `{}`, 400, "kind"},
		{"bad kind", "kind=Bad%20Kind", "application/json", `{}`, 400, "kind"},
		{"control char in actor", "kind=x&actor=a%0Ab", "application/json", `{}`, 400, "control character"},
		{"wrong content type", "kind=x", "text/plain", `{}`, 415, "application/json"},
		{"empty body", "kind=x", "application/json", ``, 400, "not a valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := ts.do(t, "POST", "/api/v1/log/entries?"+tc.query, testToken, tc.ctype, []byte(tc.body))
			if code != tc.want || !strings.Contains(string(b), tc.msg) {
				t.Errorf("got HTTP %d %s, want %d mentioning %q", code, b, tc.want, tc.msg)
			}
		})
	}
	if n := ts.log.Size(); n != 0 {
		t.Errorf("log size %d after rejected appends, want 0 (nothing half-written)", n)
	}
}

func TestErase(t *testing.T) {
	ts := newTestServer(t, 1024)
	r := ts.appendOK(t, `{"name":"Mario Rossi"}`)
	code, b := ts.do(t, "POST", fmt.Sprintf("/api/v1/log/entries/%d/erase", r.Index), testToken, "application/json", []byte(`{"reason":"GDPR art. 17"}`))
	if code != http.StatusCreated {
		t.Fatalf("erase: HTTP %d %s", code, b)
	}
	_, b = ts.do(t, "GET", fmt.Sprintf("/log/v1/entries/%d", r.Index), testToken, "", nil)
	var v EntryView
	json.Unmarshal(b, &v)
	if !v.Erased || v.Payload != nil || strings.Contains(string(b), "Mario") {
		t.Errorf("entry after erasure: %s", b)
	}
	for _, tc := range []struct{ name, path, body string }{
		{"no reason", fmt.Sprintf("/api/v1/log/entries/%d/erase", r.Index), `{}`},
		{"unknown field", "/api/v1/log/entries/0/erase", `{"reason":"x","extra":1}`},
		{"erasure entry", "/api/v1/log/entries/1/erase", `{"reason":"x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := ts.do(t, "POST", tc.path, testToken, "application/json", []byte(tc.body))
			if code != http.StatusBadRequest {
				t.Errorf("got HTTP %d %s, want 400", code, b)
			}
		})
	}
}

// tileClient reads C2SP tlog-tiles over HTTP; it implements
// tlog.TileReader, so the test verifies the log with x/mod's code alone.
type tileClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (tc *tileClient) Height() int { return evidence.TileHeight }

func (tc *tileClient) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		// C2SP paths are x/mod's without the height element.
		p := "tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
		resp, err := tc.c.Get(tc.base + "/log/" + p)
		if err != nil {
			return nil, err
		}
		out[i], err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: HTTP %d", p, resp.StatusCode)
		}
	}
	return out, nil
}

func (tc *tileClient) SaveTiles([]tlog.Tile, [][]byte) {}

func TestTilesWithXModOnly(t *testing.T) {
	ts := newTestServer(t, 1024)
	const n = 700 // two full tiles and a partial one at level 0
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if _, err := ts.log.Append(context.Background(), evidence.Record{Kind: "t", Actor: "a", Payload: fmt.Appendf(nil, `{"i":%d}`, i)}); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()

	// Only x/mod from here on: the checkpoint, the tiles, the entry bundles.
	get := func(p string) []byte {
		resp, err := ts.Client().Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: HTTP %d %s", p, resp.StatusCode, b)
		}
		return b
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(get("/log/v1/vkey"))))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Open(get("/log/checkpoint"), note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("checkpoint signature: %v", err)
	}
	lines := strings.SplitN(msg.Text, "\n", 4)
	var tree tlog.Tree
	fmt.Sscan(lines[1], &tree.N)
	if tree.Hash, err = tlog.ParseHash(lines[2]); err != nil {
		t.Fatal(err)
	}
	if tree.N != n || lines[0] != verifier.Name() {
		t.Fatalf("checkpoint %q: want size %d and origin %q", msg.Text, n, verifier.Name())
	}
	hr := tlog.TileHashReader(tree, &tileClient{t: t, base: ts.URL, c: ts.Client()})
	for _, bundle := range []string{"/log/tile/entries/000", "/log/tile/entries/001", "/log/tile/entries/002.p/188"} {
		var first int64
		fmt.Sscanf(strings.TrimPrefix(bundle, "/log/tile/entries/"), "%d", &first)
		first *= 256
		entries, err := evidence.SplitEntryBundle(get(bundle))
		if err != nil {
			t.Fatal(err)
		}
		for k, e := range entries {
			i := first + int64(k)
			p, err := tlog.ProveRecord(tree.N, i, hr)
			if err != nil {
				t.Fatalf("prove %d: %v", i, err)
			}
			if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(e)); err != nil {
				t.Fatalf("entry %d from the bundle doesn't verify: %v", i, err)
			}
		}
	}
	for _, bad := range []string{"/log/tile/0/003", "/log/tile/entries/002", "/log/tile/0/002.p/189", "/log/tile/1/000", "/log/tile/0/0", "/log/tile/x/000", "/log/tile/data/000"} {
		resp, err := ts.Client().Get(ts.URL + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: HTTP %d, want 404", bad, resp.StatusCode)
		}
	}
	// A partial tile of level 1 exists once the tree has 256 entries.
	if b := get("/log/tile/1/000.p/2"); len(b) != 64 {
		t.Errorf("level-1 partial tile: %d bytes, want 64", len(b))
	}
	// Consistency between two checkpoints, through the JSON endpoint.
	var cv ConsistencyView
	json.Unmarshal(get("/log/v1/proof/consistency?old=1&new=700"), &cv)
	oldRoot, _ := tlog.TreeHash(1, hr)
	if err := tlog.CheckTree(cv.Proof, 700, tree.Hash, 1, oldRoot); err != nil {
		t.Errorf("consistency proof: %v", err)
	}
}

func FuzzAppendBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":null}]}`, `"x"`, `{"a":`, "\xff", ``, `[]`, strings.Repeat("[", 200)} {
		f.Add([]byte(s))
	}
	ts := newTestServer(f, 4096)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := ts.log.Size()
		code, b := ts.do(t, "POST", "/api/v1/log/entries?kind=fuzz", testToken, "application/json", body)
		switch code {
		case http.StatusCreated:
			if !json.Valid(body) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if ts.log.Size() != before {
				t.Fatalf("rejected body changed the log size")
			}
			var e apiError
			if json.Unmarshal(b, &e) != nil || e.Error == "" {
				t.Fatalf("error response without a message: %s", b)
			}
		default:
			t.Fatalf("HTTP %d for %q: %s", code, body, b)
		}
	})
}

func TestDecisionsAreLoggedBeforeTheyAreReturned(t *testing.T) {
	ts := newTestServer(t, 1<<16)
	for _, tc := range []struct {
		name, body string
		want       string
	}{
		{"remote access is denied", `{"action":{"kind":"remote_access","target":"198.51.100.7","params":{}},"proposer":"paola"}`, "deny"},
		{"block on our firewall is allowed", `{"action":{"kind":"firewall_block","target":"203.0.113.9","params":{"device":"fw-edge"}},"proposer":"paola"}`, "allow"},
		{"block on a firewall not ours is denied", `{"action":{"kind":"firewall_block","target":"203.0.113.9","params":{"device":"their-fw"}},"proposer":"paola"}`, "deny"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.log.Size()
			code, b := ts.do(t, "POST", "/api/v1/decisions?incident=INC-9", testToken, "application/json", []byte(tc.body))
			if code != http.StatusOK {
				t.Fatalf("HTTP %d %s", code, b)
			}
			var d struct {
				Verdict string
				Receipt *struct {
					Index    int64  `json:"index"`
					LeafHash string `json:"leaf_hash"`
				}
				Policy struct{ Digest string }
			}
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			if d.Verdict != tc.want || d.Receipt == nil || d.Receipt.Index != before {
				t.Fatalf("got verdict %q receipt %+v, want %q with receipt index %d: %s", d.Verdict, d.Receipt, tc.want, before, b)
			}
			e, err := ts.log.Entry(d.Receipt.Index)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := evidence.DecodeHeader(e.Header)
			var rec DecisionRecord
			if err := json.Unmarshal(e.Payload, &rec); err != nil {
				t.Fatal(err)
			}
			if h.Kind != "decision" || h.Incident != "INC-9" || string(rec.Decision.Verdict) != tc.want ||
				rec.Decision.Policy.Digest != d.Policy.Digest || evidence.LeafHash(e.Header).String() != d.Receipt.LeafHash {
				t.Errorf("logged %s %+v, want the decision as returned", e.Header, rec.Decision)
			}
			if !strings.Contains(string(rec.Request), tc.body[:20]) {
				t.Errorf("logged request %s, want the request as sent", rec.Request)
			}
		})
	}
}

func TestBadDecisionRequests(t *testing.T) {
	ts := newTestServer(t, 1<<16)
	for _, tc := range []struct{ name, body, field string }{
		{"unknown field", `{"action":{"kind":"honeypot","target":"10.1.1.1","params":{}},"colour":"red"}`, ""},
		{"wrong type", `{"action":{"kind":"honeypot","target":"10.1.1.1","params":{}},"approvals":"all"}`, "approvals"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := ts.do(t, "POST", "/api/v1/decisions", testToken, "application/json", []byte(tc.body))
			if code != http.StatusBadRequest || !strings.Contains(string(b), tc.field) {
				t.Errorf("got HTTP %d %s, want 400 naming %q", code, b, tc.field)
			}
		})
	}
	if n := ts.log.Size(); n != 0 {
		t.Errorf("rejected requests logged %d entries", n)
	}
	if code, _ := ts.do(t, "POST", "/api/v1/decisions", "", "application/json", []byte(`{}`)); code != 401 {
		t.Errorf("decision without token: HTTP %d, want 401", code)
	}
}

// BenchmarkServeInclusionProof measures an inclusion proof served over
// HTTP (loopback, keep-alive) from a 100,000-entry log: the latency a
// verifier sees, p50 and p99.
func BenchmarkServeInclusionProof(b *testing.B) {
	ts := newTestServer(b, 1024)
	const n = 100_000
	var wg sync.WaitGroup
	for w := 0; w < 256; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 256 {
				if _, err := ts.log.Append(context.Background(), evidence.Record{Kind: "b", Actor: "a", Payload: []byte(`{"d":"0123456789abcdef0123456789abcdef"}`)}); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	// Let the SQLite projection catch up, so it doesn't compete.
	for {
		if size, _, err := ts.db.Head(context.Background()); err != nil || size == n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := ts.Client()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		resp, err := c.Get(fmt.Sprintf("%s/log/v1/proof/inclusion?index=%d", ts.URL, (i*7919)%n))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("HTTP %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
