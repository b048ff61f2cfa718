package incident

import (
	"context"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/perimeter"
	"github.com/vallum/vallum/internal/store"
	"github.com/vallum/vallum/internal/testenv"
)

const testOrigin = "incident-test.vallum.example/log"

// testPerimeter: our networks, a firewall, a health asset.
var testPerimeter = perimeter.File{
	Networks: []perimeter.Network{{CIDR: "10.0.0.0/8"}},
	Assets:   []perimeter.Asset{{Name: "pacs1", Addresses: []string{"10.2.0.20"}, Flags: []string{"health"}}, {Name: "ws7", Addresses: []string{"10.3.0.7"}}},
	Devices:  []perimeter.Device{{Name: "fw-edge", Kind: "firewall"}},
}

type env struct {
	log  *evidence.Log
	db   *store.DB
	desk *Desk
}

// newEnv opens a real evidence log, a real SQLite database and a desk in
// dir.
func newEnv(t testing.TB, dir string) *env {
	t.Helper()
	l, _ := testenv.Log(t, dir, testOrigin)
	db := testenv.DB(t, dir)
	desk, err := Open(context.Background(), db, l, testenv.NewDecider(t, testPerimeter, l, DecisionKind, "guardrail"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{log: l, db: db, desk: desk}
}

// Actors of the tests.
var (
	paola = Actor{Name: "paola", Roles: []string{"analyst"}}
	marta = Actor{Name: "marta", Roles: []string{"business_owner", "incident_commander"}}
	luca  = Actor{Name: "luca", Roles: []string{"analyst", "legal_counsel"}}
)

func mustIncident(t testing.TB, d *Desk) Incident {
	t.Helper()
	inc, err := d.Create(context.Background(), paola, NewIncident{Title: "ransomware on ws7", Severity: High, Categories: []string{"ransomware"}})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

func firewallBlock(target string) guard.Request {
	return guard.Request{Action: guard.Action{Kind: "firewall_block", Target: target, Params: guard.Params{Device: "fw-edge"}}}
}

func isolation(target string) guard.Request {
	return guard.Request{Action: guard.Action{Kind: "host_isolation", Target: target}}
}

// decided proposes and decides req.
func decided(t testing.TB, d *Desk, incident string, req guard.Request) Action {
	t.Helper()
	ctx := context.Background()
	a, err := d.Propose(ctx, paola, incident, req)
	if err != nil {
		t.Fatal(err)
	}
	a, err = d.Decide(ctx, paola, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func manual(l EntryReader) *ManualExecutor {
	return &ManualExecutor{Log: l, Summary: "blocked on the console", Reference: "CHG-1"}
}
