package spool

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

func pinOf(srv *httptest.Server) string {
	sum := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	return "sha256/" + base64.StdEncoding.EncodeToString(sum[:])
}

func TestNewClientVerifiesTheServer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	// (httptest servers share one key, so a wrong pin is made up.)
	wrong := sha256.Sum256([]byte("another key"))
	wrongPin := "sha256/" + base64.StdEncoding.EncodeToString(wrong[:])
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)

	get := func(c *http.Client) error {
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, tt := range []struct {
		name    string
		ca, pin string
		ok      bool
	}{
		{"system roots do not know a test certificate", "", "", false},
		{"the CA file", ca, "", true},
		{"the right pin", "", pinOf(srv), true},
		{"another key's pin", "", wrongPin, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(srv.URL, tt.ca, tt.pin)
			if err != nil {
				t.Fatal(err)
			}
			if err := get(c); (err == nil) != tt.ok {
				t.Errorf("got %v, want ok %v", err, tt.ok)
			}
		})
	}
	for _, bad := range []struct{ url, pin string }{
		{"http://192.0.2.1:8080", ""}, {"ftp://127.0.0.1", ""}, {"https://x", "sha1/abc"}, {"https://x", "sha256/AAAA"},
	} {
		if _, err := NewClient(bad.url, "", bad.pin); err == nil {
			t.Errorf("NewClient(%q, pin %q): no error", bad.url, bad.pin)
		}
	}
	if _, err := NewClient("http://127.0.0.1:8080", "", ""); err != nil {
		t.Errorf("plain http to loopback: %v", err)
	}
}

// fakeServer answers POST /api/v1/events like the real one (per-line
// results, duplicates by ID) after failing the first fails requests.
type fakeServer struct {
	mu    sync.Mutex
	fails int
	seen  map[string]int
	// limitEvery answers every limitEvery-th line "limited", as the real
	// server does for events over their source's rate; 0: none.
	limitEvery int
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, `{"error":"invalid token"}`, http.StatusUnauthorized)
		return
	}
	if f.fails > 0 {
		f.fails--
		http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
		return
	}
	var res []map[string]any
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e sensor.Event
		json.Unmarshal(sc.Bytes(), &e)
		status := "accepted"
		if f.seen[e.ID]++; f.seen[e.ID] > 1 {
			status = "duplicate"
		} else if f.limitEvery > 0 && n%f.limitEvery == 0 {
			status = "limited"
		}
		res = append(res, map[string]any{"line": n, "id": e.ID, "status": status})
	}
	json.NewEncoder(w).Encode(map[string]any{"results": res})
}

// shipAll runs sh until its spool is empty (or 10 s have passed).
func shipAll(t *testing.T, sh *Shipper) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for sh.Stats().Spool.Events > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// shipEvents emits n events (IDs prefix0, prefix1, …) to a shipper that
// posts batches of batch to fs, and runs it until its spool is empty.
func shipEvents(t *testing.T, fs *fakeServer, batch, n int, prefix string) *Shipper {
	t.Helper()
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	sp, err := Open(t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	sh := &Shipper{Spool: sp, Server: srv.URL, Token: "tok", Name: "edge", Batch: batch, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	sh.Init()
	for i := range n {
		sh.Emit(sensor.Event{ID: fmt.Sprintf("%s%d", prefix, i), Sensor: "edge/x", Kind: sensor.KindConnect})
	}
	shipAll(t, sh)
	return sh
}

func TestShipperRetriesUntilTheServerTakesEverything(t *testing.T) {
	fs := &fakeServer{fails: 3, seen: map[string]int{}}
	sh := shipEvents(t, fs, 7, 50, "e")
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.seen) != 50 {
		t.Errorf("server saw %d distinct events, want 50", len(fs.seen))
	}
	if st := sh.Stats(); st.Failures < 3 || st.Shipped != 50 || st.Spool.Events != 0 {
		t.Errorf("stats: %+v, want at least 3 failures, 50 shipped, an empty spool", st)
	}
}

func TestShipperReportsDrops(t *testing.T) {
	sp, err := Open(t.TempDir(), Config{MaxBytes: 4096, SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sh := &Shipper{Spool: sp, Name: "edge", Logger: nil}
	sh.Init()
	for i := range 200 {
		sh.Emit(sensor.Event{ID: fmt.Sprintf("e%d", i), Sensor: "edge/x", Kind: sensor.KindConnect})
	}
	dropped := sh.Stats().Dropped
	if dropped == 0 {
		t.Fatal("nothing dropped with a 4 KiB spool")
	}
	// Once there is room the drop is reported as an event of its own.
	var all []sensor.Event
	for {
		evs, cur, _ := sp.Peek(1000)
		if len(evs) == 0 {
			break
		}
		all = append(all, evs...)
		sp.Ack(cur)
		sh.reportDrops()
	}
	var report *sensor.Event
	for i := range all {
		if all[i].Sensor == "edge/spool" {
			report = &all[i]
		}
	}
	if report == nil || report.Details["dropped"] != fmt.Sprint(dropped) || !strings.Contains(report.Details["message"], "dropped") {
		t.Errorf("drop report: %+v, want %d dropped", report, dropped)
	}
}

// TestShipperTakesLimitedAsFinal: an event the server answers "limited"
// (counted in its source's summary there) is not sent again.
func TestShipperTakesLimitedAsFinal(t *testing.T) {
	fs := &fakeServer{seen: map[string]int{}, limitEvery: 3}
	sh := shipEvents(t, fs, 10, 30, "l")
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for id, n := range fs.seen {
		if n != 1 {
			t.Errorf("%s sent %d times, want once", id, n)
		}
	}
	if st := sh.Stats(); st.Spool.Events != 0 || len(fs.seen) != 30 {
		t.Errorf("stats %+v, %d events seen; want all 30 sent once and an empty spool", st, len(fs.seen))
	}
}
