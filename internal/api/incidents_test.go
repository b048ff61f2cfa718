package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

// TestIncidentFlowOverHTTP works an incident through the API as three
// people: an analyst proposes, the guardrail decides, a business owner
// approves, the analyst executes by hand and verifies; denied and
// self-approved actions are refused.
func TestIncidentFlowOverHTTP(t *testing.T) {
	as := newAuthServer(t)
	paola := as.addUser(t, "paola", RoleAnalyst).Token
	marta := as.addUser(t, "marta", RoleBusinessOwner).Token
	self := as.addUser(t, "sara", RoleAnalyst, RoleBusinessOwner).Token
	audit := as.addUser(t, "ugo", RoleAuditor).Token

	var inc incident.Incident
	as.call(t, "POST", "/api/v1/incidents", paola, `{"title":"Ransomware on the PACS","description":"files encrypted","severity":"critical","categories":["ransomware"]}`, http.StatusCreated, &inc)
	as.call(t, "POST", "/api/v1/incidents", audit, `{"title":"x","severity":"low"}`, http.StatusForbidden, nil)
	as.call(t, "POST", "/api/v1/incidents/"+inc.ID+"/observables", paola, `{"type":"ip","value":"203.0.113.9","tags":["c2"]}`, http.StatusCreated, nil)

	propose := func(token, body string) incident.Action {
		t.Helper()
		var a incident.Action
		as.call(t, "POST", "/api/v1/incidents/"+inc.ID+"/actions", token, body, http.StatusCreated, &a)
		as.call(t, "POST", "/api/v1/actions/"+a.ID+"/decide", token, "", http.StatusOK, &a)
		return a
	}
	execute := `{"executor":"manual","summary":"done on the console","reference":"CHG-1"}`

	// A remote effect is denied and can never run.
	deny := propose(paola, `{"action":{"kind":"remote_data_deletion","target":"198.51.100.7","params":{}}}`)
	if deny.Verdict != guard.Deny || deny.State != incident.Decided {
		t.Fatalf("remote deletion: got %s/%s, want deny/decided", deny.Verdict, deny.State)
	}
	as.call(t, "POST", "/api/v1/actions/"+deny.ID+"/execute", paola, execute, http.StatusConflict, nil)

	// A block on our firewall is allowed and runs at once.
	block := propose(paola, `{"action":{"kind":"firewall_block","target":"203.0.113.9","params":{"device":"fw-edge"}}}`)
	if block.Verdict != guard.Allow {
		t.Fatalf("firewall block: got %s, want allow", block.Verdict)
	}
	as.call(t, "POST", "/api/v1/actions/"+block.ID+"/execute", paola, `{"executor":"manual","summary":"done"}`, http.StatusBadRequest, nil)
	as.call(t, "POST", "/api/v1/actions/"+block.ID+"/execute", paola, `{"executor":"nftables","summary":"x","reference":"y"}`, http.StatusBadRequest, nil)
	as.call(t, "POST", "/api/v1/actions/"+block.ID+"/execute", paola, execute, http.StatusOK, &block)
	as.call(t, "POST", "/api/v1/actions/"+block.ID+"/verify", paola, `{"note":"rule seen in the ruleset"}`, http.StatusOK, &block)
	if block.State != incident.Verified || block.Result == nil || block.Result.Reference != "CHG-1" {
		t.Fatalf("block after execution: %+v", block)
	}

	// Isolating a health asset needs the business owner, not the proposer.
	iso := propose(self, `{"action":{"kind":"host_isolation","target":"pacs1","params":{}}}`)
	if iso.Verdict != guard.Conditional || !strings.Contains(strings.Join(iso.Requires, ","), RoleBusinessOwner) {
		t.Fatalf("isolation of pacs1: got %s requiring %v, want conditional on business_owner", iso.Verdict, iso.Requires)
	}
	as.call(t, "POST", "/api/v1/actions/"+iso.ID+"/execute", self, execute, http.StatusConflict, nil)
	as.call(t, "POST", "/api/v1/actions/"+iso.ID+"/approve", self, `{"role":"business_owner"}`, http.StatusForbidden, nil)
	as.call(t, "POST", "/api/v1/actions/"+iso.ID+"/approve", paola, `{"role":"business_owner"}`, http.StatusForbidden, nil)
	as.call(t, "POST", "/api/v1/actions/"+iso.ID+"/approve", marta, `{"role":"business_owner"}`, http.StatusOK, &iso)
	// The log stamps the approval with the real clock; the server's test
	// clock must not lag behind it, or the approval is "in the future".
	as.clock.Advance(time.Minute)
	as.call(t, "POST", "/api/v1/actions/"+iso.ID+"/execute", self, execute, http.StatusOK, &iso)
	if iso.State != incident.Executed || len(iso.Approvals) != 1 || iso.Approvals[0].By != "marta" {
		t.Fatalf("isolation after approval: %+v", iso)
	}
	// Only the lifecycle's transitions: an executed action cannot be decided again.
	as.call(t, "POST", "/api/v1/actions/"+iso.ID+"/decide", self, "", http.StatusConflict, nil)

	// Everyone signed in reads; the timeline holds every step with its index.
	var tl struct{ Items []incident.TimelineItem }
	as.call(t, "GET", "/api/v1/incidents/"+inc.ID+"/timeline", audit, "", http.StatusOK, &tl)
	if len(tl.Items) < 10 {
		t.Fatalf("timeline has %d items, want every step", len(tl.Items))
	}
	for i := 1; i < len(tl.Items); i++ {
		if tl.Items[i].Time.Before(tl.Items[i-1].Time) {
			t.Errorf("timeline out of order at %d", i)
		}
	}
	var list struct{ Incidents []incident.Incident }
	as.call(t, "GET", "/api/v1/incidents?status=open&limit=10", audit, "", http.StatusOK, &list)
	if len(list.Incidents) != 1 || list.Incidents[0].ID != inc.ID {
		t.Errorf("listing: %+v", list.Incidents)
	}
	for _, bad := range []string{"/api/v1/incidents?limit=x", "/api/v1/incidents/INC-NOPE", "/api/v1/actions/ACT-NOPE"} {
		code, b := as.do(t, "GET", bad, audit, "", nil)
		if code != http.StatusBadRequest && code != http.StatusNotFound {
			t.Errorf("GET %s: HTTP %d %s, want 400 or 404", bad, code, b)
		}
	}
	code, b := as.do(t, "POST", "/api/v1/incidents", paola, "application/json", []byte(`{"title":"x","severity":"low","colour":"red"}`))
	if code != http.StatusBadRequest || !strings.Contains(string(b), "colour") {
		t.Errorf("unknown field: HTTP %d %s, want 400 naming it", code, b)
	}
}
