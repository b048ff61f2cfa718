package contain

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "0123456789abcdef-webhook-key"

// receiver is an EDR stand-in: it checks the signature, fails the first
// `fail` calls with `status`, records idempotency keys, and answers the
// read-back with its state (or with `lie` when set).
type receiver struct {
	mu     sync.Mutex
	fail   int
	status int
	keys   []string
	bad    int // calls with a bad signature
	state  map[string]ReadBack
	lie    *ReadBack
	posts  int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get(HeaderTimestamp)
	if !hmac.Equal([]byte(r.Header.Get(HeaderSignature)), []byte(Sign([]byte(testKey), ts, body))) {
		rc.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet {
		id := r.URL.Query().Get("action")
		rb, ok := rc.state[id]
		if rc.lie != nil {
			rb, ok = *rc.lie, true
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(rb)
		return
	}
	rc.posts++
	rc.keys = append(rc.keys, r.Header.Get(HeaderIdempotency))
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(rc.status)
		return
	}
	var c WebhookCall
	json.Unmarshal(body, &c)
	st := map[string]string{"contain": "contained", "release": "released"}[c.Op]
	rc.state[c.Action] = ReadBack{Action: c.Action, Target: c.Target, State: st}
	w.WriteHeader(http.StatusAccepted)
}

func newWebhook(t testing.TB, rc *receiver) *Webhook {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte(testKey+"\n"), 0o600)
	w, err := NewWebhook(WebhookConfig{Device: "edr", Kinds: []string{"host_isolation", "account_disable"}, URL: srv.URL + "/contain",
		ReadBack: srv.URL + "/state?action={action}", SecretFile: key, Attempts: 4, Backoff: time.Millisecond}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhook(t *testing.T) {
	ctx := context.Background()
	spec := Spec{Action: "ACT-00000000AB", Kind: "host_isolation", Target: "ws7", Device: "edr"}

	t.Run("success, verified, released", func(t *testing.T) {
		rc := &receiver{state: map[string]ReadBack{}}
		w := newWebhook(t, rc)
		p, err := w.Plan(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, w, p)
		o := mustObserve(t, w, p, true)
		if !strings.Contains(o.Elements[0].Detail, `"state":"contained"`) {
			t.Errorf("observation does not record the answer: %+v", o)
		}
		mustRevert(t, w, p)
		mustObserve(t, w, p, false)
		if rc.bad != 0 {
			t.Errorf("%d calls with a bad signature", rc.bad)
		}
	})

	t.Run("5xx retried with a stable idempotency key", func(t *testing.T) {
		rc := &receiver{state: map[string]ReadBack{}, fail: 2, status: http.StatusServiceUnavailable}
		w := newWebhook(t, rc)
		p, _ := w.Plan(ctx, spec)
		rep, _ := w.Apply(ctx, p)
		if rep.Err() != nil || rc.posts != 3 {
			t.Fatalf("Apply = %+v after %d posts", rep, rc.posts)
		}
		if rc.keys[0] == "" || rc.keys[0] != rc.keys[1] || rc.keys[1] != rc.keys[2] {
			t.Errorf("idempotency keys %v, want one key for every attempt", rc.keys)
		}
		if !strings.Contains(rep.Detail, "503, 503, 202") {
			t.Errorf("report detail %q", rep.Detail)
		}
	})

	t.Run("4xx not retried, reported", func(t *testing.T) {
		rc := &receiver{state: map[string]ReadBack{}, fail: 5, status: http.StatusBadRequest}
		w := newWebhook(t, rc)
		p, _ := w.Plan(ctx, spec)
		rep, _ := w.Apply(ctx, p)
		var pe *PartialError
		if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "HTTP 400") || rc.posts != 1 {
			t.Fatalf("Apply = %v after %d posts", err, rc.posts)
		} else if !asPartial(err, &pe) || pe.Failed[0].Element != "ws7" {
			t.Errorf("error %v does not name the element", err)
		}
	})

	t.Run("attempts exhausted", func(t *testing.T) {
		rc := &receiver{state: map[string]ReadBack{}, fail: 10, status: http.StatusBadGateway}
		w := newWebhook(t, rc)
		p, _ := w.Plan(ctx, spec)
		rep, _ := w.Apply(ctx, p)
		if rep.Err() == nil || rc.posts != 4 {
			t.Fatalf("Apply = %+v after %d posts, want failure after 4", rep, rc.posts)
		}
	})

	t.Run("network error", func(t *testing.T) {
		rc := &receiver{state: map[string]ReadBack{}}
		w := newWebhook(t, rc)
		w.cfg.URL = "http://127.0.0.1:1/contain"
		p, _ := w.Plan(ctx, spec)
		if rep, _ := w.Apply(ctx, p); rep.Err() == nil || !strings.Contains(rep.Detail, "network error") {
			t.Fatalf("Apply to a closed port = %+v", rep)
		}
	})

	t.Run("read-back that disagrees fails verification", func(t *testing.T) {
		for _, lie := range []ReadBack{
			{Action: spec.Action, Target: spec.Target, State: "released"},
			{Action: spec.Action, Target: "ws8", State: "contained"},
			{Action: "ACT-OTHER", Target: spec.Target, State: "contained"},
		} {
			rc := &receiver{state: map[string]ReadBack{}, lie: &lie}
			w := newWebhook(t, rc)
			p, _ := w.Plan(ctx, spec)
			mustApply(t, w, p)
			o, err := w.Verify(ctx, p, true)
			if err != nil || o.OK {
				t.Errorf("read-back %+v: observation %+v, %v; want a failed verification", lie, o, err)
			}
		}
	})

	t.Run("unknown action at read-back fails verification", func(t *testing.T) {
		rc := &receiver{state: map[string]ReadBack{}}
		w := newWebhook(t, rc)
		p, _ := w.Plan(ctx, spec)
		if o, err := w.Verify(ctx, p, true); err != nil || o.OK || !strings.Contains(o.Detail, "404") {
			t.Errorf("observation %+v, %v", o, err)
		}
	})

	t.Run("the key is in no report", func(t *testing.T) {
		rc := &receiver{state: map[string]ReadBack{}}
		w := newWebhook(t, rc)
		p, _ := w.Plan(ctx, spec)
		rep, _ := w.Apply(ctx, p)
		o, _ := w.Verify(ctx, p, true)
		b, _ := json.Marshal([]any{p, rep, o})
		if strings.Contains(string(b), testKey) {
			t.Error("the HMAC key leaked into a plan, report or observation")
		}
	})
}

func asPartial(err error, pe **PartialError) bool {
	p, ok := err.(*PartialError)
	*pe = p
	return ok
}

func FuzzParseReadBack(f *testing.F) {
	f.Add([]byte(`{"action":"ACT-1","target":"ws7","state":"contained"}`))
	f.Add([]byte(`{"action":"ACT-1","state":"released"} {}`))
	f.Add([]byte(`{"state":"x","extra":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rb, err := ParseReadBack(b)
		if err == nil && rb.State != "contained" && rb.State != "released" {
			t.Errorf("accepted state %q", rb.State)
		}
	})
}
