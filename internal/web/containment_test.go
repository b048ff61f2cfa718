package web

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/contain"
	"github.com/vallum/vallum/internal/incident"
)

// TestContainmentThroughConnector proposes a DNS sinkhole that the real
// RPZ connector serves: the Action page shows the connector's plan before
// execution, execution goes through the connector (the zone file gets the
// record) and is verified at once, and a revert lifts it.
func TestContainmentThroughConnector(t *testing.T) {
	e := newEnv(t)
	zone := filepath.Join(t.TempDir(), "rpz.zone")
	rpz, err := contain.NewRPZ(contain.RPZConfig{Device: "dns1", Zone: "rpz.vallum", File: zone, CNAME: "."})
	if err != nil {
		t.Fatal(err)
	}
	m, err := contain.Open(context.Background(), contain.Options{
		Log: e.srv.Log, Desk: e.srv.Desk, Perimeter: e.srv.Guard.Perimeter, Connectors: []contain.Connector{rpz},
		Safety: contain.Safety{MaxElements: 100, MinBits4: 16, MinBits6: 32}, Clock: e.clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Contain = &api.ContainService{Manager: m}
	inc := e.incident("C2 over DNS", incident.High)
	ana := e.signedIn("ana")
	w := ana.post("/incidents/"+inc.ID+"/actions", url.Values{"kind": {"dns_sinkhole"}, "target": {"c2.evil.test"}, "resolver": {"dns1"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("propose: %d %s", w.Code, w.Body)
	}
	actionURL := w.Header().Get("Location")
	body := ana.get(actionURL).Body.String()
	if !strings.Contains(body, `id="connector-plan"`) || !strings.Contains(body, "c2.evil.test") || strings.Contains(body, `id="summary"`) {
		t.Fatalf("the Action page does not show the connector's plan (or asks for a manual summary): %s", body)
	}
	if w := ana.post(actionURL+"/execute", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("execute: %d %s", w.Code, w.Body)
	}
	id := strings.TrimPrefix(actionURL, "/actions/")
	a, err := e.srv.Desk.GetAction(context.Background(), id)
	if err != nil || a.State != incident.Verified {
		t.Fatalf("after execution through the connector: %+v %v; want verified", a.State, err)
	}
	if b, _ := os.ReadFile(zone); !strings.Contains(string(b), "c2.evil.test") {
		t.Fatalf("the zone file lacks the sinkholed name:\n%s", b)
	}
	if !strings.Contains(ana.get(actionURL).Body.String(), "in force") {
		t.Fatal("the Action page does not say the containment is in force")
	}
	if w := ana.post(actionURL+"/revert", url.Values{"note": {"false positive"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("revert: %d %s", w.Code, w.Body)
	}
	if b, _ := os.ReadFile(zone); strings.Contains(string(b), "c2.evil.test") {
		t.Fatalf("the zone file still holds the name after the revert:\n%s", b)
	}
}
