package api

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vallum/vallum/internal/contain"
	"github.com/vallum/vallum/internal/incident"
)

func init() {
	matrix = append(matrix,
		matrixRow{"GET /api/v1/actions/{id}/plan", "/api/v1/actions/ACT-NONE/plan", "", anyone},
		matrixRow{"GET /api/v1/containment", "/api/v1/containment", "", anyone},
		matrixRow{"POST /api/v1/containment/reconcile", "/api/v1/containment/reconcile", `{"repair":false}`, []string{RoleAdmin}},
	)
	authServerHooks = append(authServerHooks, func(t *testing.T, s *Server) {
		rc := &edr{state: map[string]contain.ReadBack{}}
		m := newTestContain(t, s, rc)
		s.Contain = &ContainService{Manager: m}
		edrs.Store(s, rc)
	})
}

// edrs maps each test server to its EDR stand-in.
var edrs sync.Map

const edrKey = "contain-test-hmac-key-0123456789"

// edr stands in for an EDR or cloud firewall behind the webhook
// connector: it checks the signature and keeps the state it reads back.
type edr struct {
	mu    sync.Mutex
	state map[string]contain.ReadBack
	lie   bool
}

func (e *edr) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if !hmac.Equal([]byte(r.Header.Get(contain.HeaderSignature)), []byte(contain.Sign([]byte(edrKey), r.Method, r.RequestURI, r.Header.Get(contain.HeaderTimestamp), body))) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet {
		rb, ok := e.state[r.URL.Query().Get("action")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if e.lie {
			rb.State = "released"
		}
		json.NewEncoder(w).Encode(rb)
		return
	}
	var c contain.WebhookCall
	json.Unmarshal(body, &c)
	e.state[c.Action] = contain.ReadBack{Action: c.Action, Target: c.Target, State: map[string]string{"contain": "contained", "release": "released"}[c.Op]}
}

// newTestContain is the containment of the API tests: a webhook
// connector on the test perimeter's firewall fw-edge, in front of rc.
func newTestContain(t *testing.T, s *Server, rc *edr) *contain.Manager {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	key := filepath.Join(t.TempDir(), "hmac.key")
	if err := os.WriteFile(key, []byte(edrKey), 0o600); err != nil {
		t.Fatal(err)
	}
	wh, err := contain.NewWebhook(contain.WebhookConfig{Device: "fw-edge", Kinds: []string{"firewall_block"}, URL: srv.URL + "/act",
		ReadBack: srv.URL + "/state?action={action}", SecretFile: key}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	m, err := contain.Open(context.Background(), contain.Options{Log: s.Log, Desk: s.Desk, Perimeter: s.Guard.Perimeter, Connectors: []contain.Connector{wh},
		Safety: contain.Safety{Self: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxElements: 8, MinBits4: 16, MinBits6: 32}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestContainOverHTTP: plan, execute with the connector (verified by its
// read-back), list, revert; a refusal for Vallum's own address; force
// reserved to incident commanders; a read-back that disagrees leaves the
// action executed, not verified.
func TestContainOverHTTP(t *testing.T) {
	as := newAuthServer(t)
	v, _ := edrs.Load(as.srv)
	rc := v.(*edr)
	paola := as.addUser(t, "paola", RoleAnalyst).Token
	ugo := as.addUser(t, "ugo", RoleIncidentCommander).Token

	var inc incident.Incident
	as.call(t, "POST", "/api/v1/incidents", paola, `{"title":"C2 beaconing","severity":"high"}`, http.StatusCreated, &inc)
	propose := func(body string) incident.Action {
		t.Helper()
		var a incident.Action
		as.call(t, "POST", "/api/v1/incidents/"+inc.ID+"/actions", paola, body, http.StatusCreated, &a)
		as.call(t, "POST", "/api/v1/actions/"+a.ID+"/decide", paola, "", http.StatusOK, &a)
		return a
	}

	a := propose(`{"action":{"kind":"firewall_block","target":"203.0.113.9","params":{"device":"fw-edge"}}}`)
	var pv PlanView
	as.call(t, "GET", "/api/v1/actions/"+a.ID+"/plan", paola, "", http.StatusOK, &pv)
	if pv.Plan == nil || pv.Plan.Connector != "webhook" || len(pv.Plan.Changes) != 1 || pv.Plan.Changes[0].Element != "203.0.113.9" || pv.Refused != "" {
		t.Fatalf("plan = %+v", pv)
	}
	var ev ExecutedView
	as.call(t, "POST", "/api/v1/actions/"+a.ID+"/execute", paola, `{}`, http.StatusOK, &ev)
	if ev.State != incident.Verified || ev.Observation == nil || !ev.Observation.OK || ev.Result.Executor != "contain" {
		t.Fatalf("after execute: %+v", ev)
	}
	var list struct {
		Active     []contain.Active
		Connectors []ConnectorView
	}
	as.call(t, "GET", "/api/v1/containment", paola, "", http.StatusOK, &list)
	if len(list.Active) != 1 || list.Active[0].Plan.Action != a.ID || len(list.Connectors) != 1 {
		t.Fatalf("containment = %+v", list)
	}
	as.call(t, "POST", "/api/v1/actions/"+a.ID+"/revert", paola, `{"note":"done"}`, http.StatusOK, &a)
	if a.State != incident.Reverted || rc.state[a.ID].State != "released" {
		t.Fatalf("after revert: %s, receiver %+v", a.State, rc.state[a.ID])
	}

	// Vallum's own address: refused, logged, the action failed.
	own := propose(`{"action":{"kind":"firewall_block","target":"127.0.0.1","params":{"device":"fw-edge"}}}`)
	as.call(t, "GET", "/api/v1/actions/"+own.ID+"/plan", paola, "", http.StatusOK, &pv)
	if pv.Refused == "" || !pv.Forceable {
		t.Fatalf("plan of own address = %+v", pv)
	}
	as.call(t, "POST", "/api/v1/actions/"+own.ID+"/execute", paola, `{"force":{"reason":"test"}}`, http.StatusForbidden, nil)
	as.call(t, "POST", "/api/v1/actions/"+own.ID+"/execute", paola, `{"executor":"contain"}`, http.StatusConflict, nil)
	as.call(t, "GET", "/api/v1/actions/"+own.ID, paola, "", http.StatusOK, &own)
	if own.State != incident.Failed || !strings.Contains(own.Error, "lock us out") {
		t.Fatalf("own address: %+v", own)
	}
	if _, ok := rc.state[own.ID]; ok {
		t.Fatal("a refused block reached the receiver")
	}

	// A read-back that disagrees: executed, not verified; verify again
	// answers 409 with the observation.
	rc.lie = true
	b := propose(`{"action":{"kind":"firewall_block","target":"203.0.113.10","params":{"device":"fw-edge"}}}`)
	as.call(t, "POST", "/api/v1/actions/"+b.ID+"/execute", ugo, `{"executor":"contain"}`, http.StatusOK, &ev)
	if ev.State != incident.Executed || ev.Observation.OK || ev.VerifyError == "" {
		t.Fatalf("disagreeing read-back: %+v", ev)
	}
	var conflict struct {
		Error       string
		Observation contain.Observation
	}
	as.call(t, "POST", "/api/v1/actions/"+b.ID+"/verify", paola, `{}`, http.StatusConflict, &conflict)
	if !strings.Contains(conflict.Observation.Elements[0].Detail, `"state":"released"`) {
		t.Errorf("409 body = %+v", conflict)
	}
	rc.lie = false
	as.call(t, "POST", "/api/v1/actions/"+b.ID+"/verify", paola, `{}`, http.StatusOK, &b)
	if b.State != incident.Verified {
		t.Fatalf("after a good read-back: %s", b.State)
	}
	// The HMAC key is in no log payload.
	for i := int64(0); i < as.log.Size(); i++ {
		e, _ := as.log.Entry(i)
		if strings.Contains(string(e.Payload), edrKey) {
			t.Fatalf("log entry %d holds the webhook key", i)
		}
	}
	var rec struct {
		Drift []contain.Drift
	}
	as.call(t, "POST", "/api/v1/containment/reconcile", testToken, `{"repair":false}`, http.StatusOK, &rec)
}
