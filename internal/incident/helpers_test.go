package incident

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/perimeter"
	"github.com/vallum/vallum/internal/store"
)

const testOrigin = "incident-test.vallum.example/log"

// testPerimeter: our networks, a firewall, a health asset.
var testPerimeter = perimeter.File{
	Networks: []perimeter.Network{{CIDR: "10.0.0.0/8"}},
	Assets:   []perimeter.Asset{{Name: "pacs1", Addresses: []string{"10.2.0.20"}, Flags: []string{"health"}}, {Name: "ws7", Addresses: []string{"10.3.0.7"}}},
	Devices:  []perimeter.Device{{Name: "fw-edge", Kind: "firewall"}},
}

// engineDecider is a real Decider: the default rule pack, a perimeter, the
// real clock, and the decision appended to the log in the server's record
// format before it is returned.
type engineDecider struct {
	engine *guard.Engine
	perim  *perimeter.Perimeter
	log    Log
}

func (e *engineDecider) Decide(ctx context.Context, req guard.Request, incident string) (guard.Decision, error) {
	now := time.Now()
	d := e.engine.Decide(req, e.perim, now)
	body, err := json.Marshal(req)
	if err != nil {
		return guard.Decision{}, err
	}
	payload, err := json.Marshal(struct {
		Request   json.RawMessage `json:"request"`
		Decision  guard.Decision  `json:"decision"`
		DecidedAt time.Time       `json:"decided_at"`
	}{body, d, now})
	if err != nil {
		return guard.Decision{}, err
	}
	r, err := e.log.Append(ctx, evidence.Record{Kind: DecisionKind, Actor: "guardrail", Incident: incident, Payload: payload})
	if err != nil {
		return guard.Decision{}, err
	}
	d.Receipt = &guard.Receipt{Index: r.Index, LeafHash: r.LeafHash.String()}
	return d, nil
}

type env struct {
	log  *evidence.Log
	db   *store.DB
	desk *Desk
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv opens a real evidence log, a real SQLite database and a desk in
// dir.
func newEnv(t testing.TB, dir string) *env {
	t.Helper()
	skey, vkey, err := evidence.GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	files, err := store.OpenFiles(filepath.Join(dir, "log"), discard())
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.Open(evidence.Config{Origin: testOrigin, Signer: signer, Verifier: verifier, Storage: files, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); files.Close() })
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "vallum.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := guard.Default()
	if err != nil {
		t.Fatal(err)
	}
	p, err := perimeter.New(testPerimeter)
	if err != nil {
		t.Fatal(err)
	}
	desk, err := Open(context.Background(), db, l, &engineDecider{engine: eng, perim: p, log: l}, nil)
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
