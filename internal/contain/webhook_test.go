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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
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
	if !hmac.Equal([]byte(r.Header.Get(HeaderSignature)), []byte(Sign([]byte(testKey), r.Method, r.RequestURI, ts, body))) {
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

func newWebhook(t testing.TB, rc http.Handler) *Webhook {
	t.Helper()
	return newWebhookAt(t, rc, "/contain", "/state?action={action}")
}

// newWebhookAt is newWebhook with other URLs: a path is the receiver's,
// and {base} in a URL is replaced by the receiver's host and port.
func newWebhookAt(t testing.TB, rc http.Handler, post, readBack string) *Webhook {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte(testKey+"\n"), 0o600)
	at := func(u string) string {
		if strings.HasPrefix(u, "/") {
			return srv.URL + u
		}
		return strings.ReplaceAll(u, "{base}", strings.TrimPrefix(srv.URL, "http://"))
	}
	w, err := NewWebhook(WebhookConfig{Device: "edr", Kinds: []string{"host_isolation", "account_disable"}, URL: at(post),
		ReadBack: at(readBack), SecretFile: key, Attempts: 4, Backoff: time.Millisecond}, srv.Client())
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

// TestSignBindsRequest: a signature covers the method and the request
// target as well as the timestamp and body, so a captured call cannot be
// replayed to another endpoint or as another method.
func TestSignBindsRequest(t *testing.T) {
	key, body := []byte(testKey), []byte(`{"op":"contain"}`)
	base := Sign(key, "POST", "/contain", "1795896405", body)
	for _, c := range []struct {
		name               string
		method, target, ts string
		body               []byte
	}{
		{"another method", "GET", "/contain", "1795896405", body},
		{"another path", "POST", "/release", "1795896405", body},
		{"another query", "POST", "/contain?tenant=2", "1795896405", body},
		{"another timestamp", "POST", "/contain", "1795896406", body},
		{"another body", "POST", "/contain", "1795896405", []byte(`{"op":"release"}`)},
		{"fields shifted across the separator", "POST", "/contain\n1795896405", "", body},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Sign(key, c.method, c.target, c.ts, c.body); got == base {
				t.Errorf("Sign(%q, %q, %q) = %s, the same as for POST /contain", c.method, c.target, c.ts, got)
			}
		})
	}
	if got, want := Sign(key, "POST", "/contain", "1795896405", body), base; got != want {
		t.Errorf("Sign is not deterministic: got %s, want %s", got, want)
	}
}

// TestWebhookRedirect: a redirect is never followed (it would carry the
// signed call and its headers to another URL); it is a failure, reported.
func TestWebhookRedirect(t *testing.T) {
	ctx := context.Background()
	spec := Spec{Action: "ACT-00000000AB", Kind: "host_isolation", Target: "ws7", Device: "edr"}
	var mu sync.Mutex
	stolen := 0
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get(HeaderSignature) != "" {
			stolen++
		}
		if r.Method == http.MethodGet {
			json.NewEncoder(w).Encode(ReadBack{Action: spec.Action, Target: spec.Target, State: "contained"})
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(thief.Close)
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, thief.URL+r.URL.Path, status)
			})
			w := newWebhook(t, redirect)
			p, err := w.Plan(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := w.Apply(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "redirect") {
				t.Errorf("Apply redirected: got %v (report %+v), want a failure naming the redirect", err, rep)
			}
			o, err := w.Verify(ctx, p, true)
			if err != nil || o.OK || !strings.Contains(o.Elements[0].Detail, "redirect") {
				t.Errorf("Verify redirected: got %+v, %v; want a failed verification naming the redirect", o, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if stolen != 0 {
				t.Errorf("the redirect target got %d signed requests, want 0", stolen)
			}
		})
	}
}

// TestWebhookURLs: https, or plain http only to a loopback address.
func TestWebhookURLs(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte(testKey), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url, readBack string
		ok            bool
	}{
		{"https://edr.acme.example/contain", "https://edr.acme.example/state?action={action}", true},
		{"http://127.0.0.1:8080/contain", "http://[::1]:8080/state?action={action}", true},
		{"http://127.9.0.1/contain", "https://edr.acme.example/state", true},
		{"http://edr.acme.example/contain", "https://edr.acme.example/state", false},
		{"https://edr.acme.example/contain", "http://edr.acme.example/state?action={action}", false},
		{"http://10.0.0.5/contain", "https://edr.acme.example/state", false},
		{"http://localhost.evil.example/contain", "https://edr.acme.example/state", false},
		{"ftp://edr.acme.example/contain", "https://edr.acme.example/state", false},
		{"https:///contain", "https://edr.acme.example/state", false},
	} {
		t.Run(c.url+" "+c.readBack, func(t *testing.T) {
			_, err := NewWebhook(WebhookConfig{Device: "edr", Kinds: []string{"host_isolation"}, URL: c.url, ReadBack: c.readBack, SecretFile: key}, nil)
			if (err == nil) != c.ok {
				t.Errorf("NewWebhook: got %v, want ok %v", err, c.ok)
			}
		})
	}
}

// TestWebhookSecretsRedacted: credentials in the URLs (user:password,
// ?token=…) appear in no plan, report, observation, error or log entry,
// whether the call succeeds or fails on the network.
func TestWebhookSecretsRedacted(t *testing.T) {
	const user, pass, token = "vallumuser", "s3cretpass", "t0kenvalue"
	secrets := []string{user, pass, token}
	ctx := context.Background()
	e := newDeskEnv(t)
	rc := &receiver{state: map[string]ReadBack{}}
	good := newWebhookAt(t, rc, "http://"+user+":"+pass+"@{base}/contain?token="+token,
		"http://"+user+":"+pass+"@{base}/state?token="+token+"&action={action}")
	m := newManager(t, e, mustPerimeter(t, deskPerimeter), good)
	var shown []any

	a := e.decided(t, "host_isolation", "sensor1", guard.Params{Device: "edr"})
	p, err := m.PlanAction(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Changes[0].Where, "127.0.0.1") || !strings.Contains(p.Changes[0].Where, "/contain") {
		t.Errorf("plan Where %q does not say where the call goes", p.Changes[0].Where)
	}
	shown = append(shown, p)
	if _, err := e.desk.Execute(ctx, paola, a.ID, m.Executor(paola, nil)); err != nil {
		t.Fatal(err)
	}
	_, o, err := m.Verify(ctx, paola, a.ID)
	if err != nil || !o.OK {
		t.Fatalf("Verify = %+v, %v", o, err)
	}
	shown = append(shown, o, m.Active())
	if _, err := m.Revert(ctx, paola, a.ID, "done"); err != nil {
		t.Fatal(err)
	}
	if rc.posts != 2 || rc.bad != 0 {
		t.Fatalf("receiver: %d posts, %d badly signed; want 2, 0", rc.posts, rc.bad)
	}

	// A network error: the HTTP client's error names the URL.
	down := newWebhookAt(t, rc, "http://"+user+":"+pass+"@127.0.0.1:1/contain?token="+token,
		"http://"+user+":"+pass+"@127.0.0.1:1/state?token="+token+"&action={action}")
	down.cfg.Attempts = 1
	e2 := newDeskEnv(t)
	m2 := newManager(t, e2, mustPerimeter(t, deskPerimeter), down)
	b := e2.decided(t, "host_isolation", "sensor1", guard.Params{Device: "edr"})
	_, err = e2.desk.Execute(ctx, paola, b.ID, m2.Executor(paola, nil))
	if err == nil {
		t.Fatal("Execute against a closed port succeeded")
	}
	shown = append(shown, err.Error())
	pb, _ := down.Plan(ctx, Spec{Action: b.ID, Kind: "host_isolation", Target: "sensor1", Device: "edr"})
	ob, _ := down.Verify(ctx, pb, true)
	shown = append(shown, ob)
	if !strings.Contains(ob.Elements[0].Detail, "127.0.0.1:1") {
		t.Errorf("observation %q does not say what failed", ob.Elements[0].Detail)
	}

	js, _ := json.Marshal(shown)
	for _, s := range secrets {
		if strings.Contains(string(js), s) {
			t.Errorf("%q shown in a plan, observation or error: %s", s, js)
		}
	}
	entries := 0
	for _, l := range []*evidence.Log{e.log, e2.log} {
		for i := int64(0); i < l.Size(); i++ {
			en, err := l.Entry(i)
			if err != nil {
				t.Fatal(err)
			}
			entries++
			for _, s := range secrets {
				if strings.Contains(string(en.Payload), s) || strings.Contains(string(en.Header), s) {
					t.Errorf("log entry %d: %q in %s", i, s, en.Payload)
				}
			}
		}
	}
	if !e.hasKind(t, KindPlanned, "/contain") || !e2.hasKind(t, KindFailed, "127.0.0.1:1") || entries < 10 {
		t.Errorf("the log (%d entries) lacks the planned and failed entries checked", entries)
	}
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
