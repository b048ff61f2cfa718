package bundle

import (
	"context"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/perimeter"
	"github.com/vallum/vallum/internal/store"
	"github.com/vallum/vallum/internal/testenv"
	"github.com/vallum/vallum/internal/tsa"
	"github.com/vallum/vallum/internal/tsa/tsatest"
	"github.com/vallum/vallum/policies"
)

const testOrigin = "bundle-test.vallum.example/log"

type env struct {
	log      *evidence.Log
	db       *store.DB
	desk     *incident.Desk
	anchors  *tsa.Store
	anchorer *tsa.Anchorer
	tsa      *tsatest.Authority
	vkey     string
}

func newEnv(t testing.TB, withTSA bool) *env {
	t.Helper()
	dir := t.TempDir()
	l, vkey := testenv.Log(t, dir, testOrigin)
	db := testenv.DB(t, dir)
	perim := perimeter.File{
		Networks: []perimeter.Network{{CIDR: "10.0.0.0/8"}},
		Assets:   []perimeter.Asset{{Name: "ws7", Addresses: []string{"10.3.0.7"}}},
		Devices:  []perimeter.Device{{Name: "fw-edge", Kind: "firewall"}},
	}
	desk, err := incident.Open(context.Background(), db, l, testenv.NewDecider(t, perim, l, incident.DecisionKind, "vallum"), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := tsa.OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{log: l, db: db, desk: desk, anchors: st, vkey: vkey}
	if withTSA {
		e.tsa = tsatest.Start(t, tsatest.Options{ESSCertIDAlg: "sha256", Name: "Bundle Test TSA"})
		pool, _ := tsa.PoolFromPEM(e.tsa.CAPEM)
		e.anchorer = &tsa.Anchorer{Log: l, Store: st, Logger: testenv.Discard(),
			Authorities: []*tsa.Authority{{Name: "test-tsa", URL: e.tsa.URL, Roots: pool, RootsPEM: e.tsa.CAPEM}}}
	}
	return e
}

func (e *env) deps() Deps {
	return Deps{Log: e.log, DB: e.db, Desk: e.desk, Anchors: e.anchors, VKey: e.vkey, Packs: policies.FS(), Version: "test", Logger: testenv.Discard(),
		Clock: func() time.Time { return time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC) }}
}

// index brings the log's SQL index up to date (the server's Project loop).
func (e *env) index(t testing.TB) {
	t.Helper()
	if err := e.db.Reindex(context.Background(), e.log); err != nil {
		t.Fatal(err)
	}
}

var (
	paola = incident.Actor{Name: "paola", Roles: []string{"analyst"}}
	marta = incident.Actor{Name: "marta", Roles: []string{"incident_commander"}}
)

// scenario builds an incident with a note holding personal data, an item
// of evidence with a custody step, a linked sensor event, a firewall block
// decided, executed and verified, a GDPR clock met, and — with a TSA —
// anchors. It returns the incident's ID and the note's index.
func (e *env) scenario(t testing.TB) (string, int64) {
	t.Helper()
	ctx := context.Background()
	d := e.desk
	inc, err := d.Create(ctx, paola, incident.NewIncident{Title: "ransomware on ws7", Description: "encrypted shares on ws7", Severity: incident.High, Categories: []string{"ransomware"}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := e.log.Append(ctx, evidence.Record{Kind: "sensor.event", Actor: "sensor/ssh1", Payload: []byte(`{"src":"203.0.113.9","proto":"ssh"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.LinkEvents(ctx, paola, inc.ID, []int64{ev.Index}); err != nil {
		t.Fatal(err)
	}
	note, err := d.AddNote(ctx, paola, inc.ID, "call from Mario Rossi, +39 333 1234567, who saw the ransom note")
	if err != nil {
		t.Fatal(err)
	}
	item, err := d.AcquireEvidence(ctx, paola, inc.ID, incident.EvidenceInput{SHA256: sha256Hex([]byte("memory image")), Size: 12, MediaType: "application/octet-stream", Source: "ws7", Tool: "avml 0.14", Method: "live memory capture"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddCustody(ctx, marta, item.ID, incident.Custody{Step: incident.StepStored, Location: "safe 2", Seal: "S-0042"}); err != nil {
		t.Fatal(err)
	}
	if e.anchorer != nil {
		if _, err := e.anchorer.Anchor(ctx, "", "schedule"); err != nil {
			t.Fatal(err)
		}
	}
	a, err := d.Propose(ctx, paola, inc.ID, guard.Request{Action: guard.Action{Kind: "firewall_block", Target: "203.0.113.9", Params: guard.Params{Device: "fw-edge"}}})
	if err != nil {
		t.Fatal(err)
	}
	if a, err = d.Decide(ctx, paola, a.ID); err != nil {
		t.Fatal(err)
	}
	if a.Verdict != guard.Allow {
		t.Fatalf("firewall block: verdict %s, missing %v", a.Verdict, a.Missing)
	}
	if _, err := d.Execute(ctx, marta, a.ID, &incident.ManualExecutor{Log: e.log, Summary: "blocked 203.0.113.9 on fw-edge", Reference: "CHG-7"}); err != nil {
		t.Fatal(err)
	}
	trigger := time.Now().Add(-2 * time.Hour)
	if _, err := d.DeclareRegime(ctx, marta, inc.ID, "gdpr-33", trigger, "the attacker read the HR share"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RecordSubmission(ctx, marta, inc.ID, "gdpr-33", "notification", incident.Submission{Channel: "Garante online", Reference: "GPDP-2026-1", SentSHA256: sha256Hex([]byte("form")), At: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if e.anchorer != nil {
		if _, err := e.anchorer.Anchor(ctx, inc.ID, "milestone"); err != nil {
			t.Fatal(err)
		}
	}
	// Entries of another incident stay out of the bundle.
	if _, err := d.Create(ctx, paola, incident.NewIncident{Title: "unrelated", Severity: incident.Low}); err != nil {
		t.Fatal(err)
	}
	e.index(t)
	return inc.ID, note
}
