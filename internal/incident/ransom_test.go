package incident

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
)

// Approvers of the ransom tests, none of them the proposer (paola).
var (
	erika = Actor{Name: "erika", Roles: []string{"executive"}}
	dora  = Actor{Name: "dora", Roles: []string{"dpo"}}
	bruno = Actor{Name: "bruno", Roles: []string{"board"}}
)

const listSHA = "5f0c6e8d2a1b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5"

// logScreening appends a sanctions.screening entry as the API does.
func logScreening(t *testing.T, l Log, incident, result string, at time.Time) int64 {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"screened_at": at.UTC(), "by": "paola", "subjects": []any{}, "result": result,
		"lists":  []map[string]any{{"source": "ofac_sdn", "format": "sdn_csv", "sha256": listSHA, "files": []any{}, "entries": 3}},
		"method": map[string]any{}, "matches": []any{}, "notes": []string{}})
	r, err := l.Append(context.Background(), evidence.Record{Kind: SanctionsScreeningKind, Actor: "paola", Incident: incident, Payload: b})
	if err != nil {
		t.Fatal(err)
	}
	return r.Index
}

func ransomIncident(t *testing.T, e *env) Incident {
	t.Helper()
	inc := mustIncident(t, e.desk)
	if _, err := e.desk.MarkExtortion(context.Background(), marta, inc.ID, "ransom note on ws7"); err != nil {
		t.Fatal(err)
	}
	return inc
}

// refused executes a and returns the re-check's refusal.
func refused(t *testing.T, e *env, id string) *RefusedError {
	t.Helper()
	_, err := e.desk.Execute(context.Background(), luca, id, manual(e.log))
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("execute: got %v, want a RefusedError", err)
	}
	return re
}

// TestRansomNegotiation: the guardrail turns a negotiation from
// conditional into allow as the police report, the screening and the
// approvals arrive on the track; a hit then turns it into deny.
func TestRansomNegotiation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := ransomIncident(t, e)
	now := time.Now()
	// What the client claims is ignored: the track is empty.
	req := guard.Request{Action: guard.Action{Kind: "ransom_negotiation", Target: "lockbit-affiliate"},
		Notifications: []guard.Notification{{Authority: "police", Ref: "FAKE", At: now.Add(-time.Hour)}},
		Sanctions:     &guard.Sanctions{Result: "clear", ScreenedAt: now.Add(-time.Hour), ListVersion: "fake"}}
	a := decided(t, e.desk, inc.ID, req)
	if a.Verdict != guard.Conditional || a.Request.Notifications != nil || a.Request.Sanctions != nil {
		t.Fatalf("got %s with request %+v, want conditional and the client's notifications and sanctions dropped", a.Verdict, a.Request)
	}
	for _, r := range []string{"executive", "legal_counsel", "dpo"} {
		if !slices.Contains(a.Requires, r) {
			t.Fatalf("requires %v, want %s among them", a.Requires, r)
		}
	}
	missing := len(refused(t, e, a.ID).Missing)

	if _, err := e.desk.RecordAuthorityReport(ctx, marta, inc.ID, "police", "PP-2026-1142", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	re := refused(t, e, a.ID)
	if re.Verdict != guard.Conditional || len(re.Missing) >= missing {
		t.Fatalf("after the police report: got %s missing %v, want conditional with fewer than %d missing", re.Verdict, re.Missing, missing)
	}
	missing = len(re.Missing)

	if _, err := e.desk.LinkScreening(ctx, marta, inc.ID, logScreening(t, e.log, inc.ID, "clear", now.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	re = refused(t, e, a.ID)
	if re.Verdict != guard.Conditional || len(re.Missing) >= missing || slices.ContainsFunc(re.Missing, func(m string) bool { return strings.HasPrefix(m, "sanctions") }) {
		t.Fatalf("after the screening: got %s missing %v, want conditional, only approvals missing", re.Verdict, re.Missing)
	}

	for _, ap := range []struct {
		actor Actor
		role  string
	}{{erika, "executive"}, {luca, "legal_counsel"}, {dora, "dpo"}} {
		if _, err := e.desk.Approve(ctx, ap.actor, a.ID, ap.role); err != nil {
			t.Fatal(err)
		}
	}
	a, err := e.desk.Execute(ctx, luca, a.ID, manual(e.log))
	if err != nil || a.State != Executed || a.Verdict != guard.Allow {
		t.Fatalf("after the approvals: got %s/%s, %v, want executed after an allow", a.State, a.Verdict, err)
	}

	// A hit on a later screening: deny.
	if _, err := e.desk.LinkScreening(ctx, marta, inc.ID, logScreening(t, e.log, inc.ID, "hit", now.Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	if b := decided(t, e.desk, inc.ID, req); b.Verdict != guard.Deny {
		t.Fatalf("after a hit: got %s (missing %v), want deny", b.Verdict, b.Missing)
	}

	tr, err := e.desk.RansomTrack(ctx, inc.ID)
	if err != nil || !tr.Extortion || len(tr.Reports) != 1 || len(tr.Screenings) != 2 || tr.Screenings[1].Result != "hit" || tr.Screenings[0].ListVersion != listSHA {
		t.Fatalf("track: got %+v, %v", tr, err)
	}
}

// TestRansomPossibleMatch: a possible match keeps a negotiation
// conditional (the guardrail sees "none") until a clear one is linked.
func TestRansomPossibleMatch(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := ransomIncident(t, e)
	now := time.Now()
	if _, err := e.desk.LinkScreening(ctx, marta, inc.ID, logScreening(t, e.log, inc.ID, "possible_match", now.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	a := decided(t, e.desk, inc.ID, guard.Request{Action: guard.Action{Kind: "ransom_negotiation", Target: "lockbit-affiliate"}})
	if a.Verdict != guard.Conditional || !slices.Contains(a.Missing, "sanctions_screening:clear") {
		t.Fatalf("got %s missing %v, want conditional missing sanctions_screening:clear", a.Verdict, a.Missing)
	}
}

// TestRansomPaymentStaleScreening: a payment with everything but a
// screening older than 24 h stays conditional.
func TestRansomPaymentStaleScreening(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := ransomIncident(t, e)
	now := time.Now()
	if _, err := e.desk.RecordAuthorityReport(ctx, marta, inc.ID, "prosecutor", "RGNR-2026-881", now.Add(-26*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.LinkScreening(ctx, marta, inc.ID, logScreening(t, e.log, inc.ID, "clear", now.Add(-25*time.Hour))); err != nil {
		t.Fatal(err)
	}
	a := decided(t, e.desk, inc.ID, guard.Request{Action: guard.Action{Kind: "ransom_payment", Target: "bc1qransomwalletaddress0000000000000"},
		LegalReview: &guard.LegalReview{By: "luca", Ref: "LO-77", At: now.Add(-time.Hour)}})
	if a.Verdict != guard.Conditional {
		t.Fatalf("got %s, want conditional", a.Verdict)
	}
	for _, ap := range []struct {
		actor Actor
		role  string
	}{{erika, "executive"}, {luca, "legal_counsel"}, {dora, "dpo"}, {bruno, "board"}} {
		if _, err := e.desk.Approve(ctx, ap.actor, a.ID, ap.role); err != nil {
			t.Fatal(err)
		}
	}
	re := refused(t, e, a.ID)
	if re.Verdict != guard.Conditional || !slices.Equal(re.Missing, []string{"sanctions_screening:fresh"}) {
		t.Fatalf("got %s missing %v, want conditional missing only sanctions_screening:fresh", re.Verdict, re.Missing)
	}
}

func TestRansomTrackChecks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	now := time.Now()
	if _, err := e.desk.RecordAuthorityReport(ctx, marta, inc.ID, "police", "PP-1", now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("report before marking: got %v, want ErrInvalid", err)
	}
	if _, err := e.desk.MarkExtortion(ctx, marta, inc.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.MarkExtortion(ctx, marta, inc.ID, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mark twice: got %v, want ErrInvalid", err)
	}
	note, err := e.desk.AddNote(ctx, marta, inc.ID, "not a screening")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"acn is not a judicial authority", func() error {
			_, err := e.desk.RecordAuthorityReport(ctx, marta, inc.ID, "acn", "X", now)
			return err
		}, ErrInvalid},
		{"report in the future", func() error {
			_, err := e.desk.RecordAuthorityReport(ctx, marta, inc.ID, "police", "X", now.Add(time.Hour))
			return err
		}, ErrInvalid},
		{"unknown incident", func() error {
			_, err := e.desk.RecordAuthorityReport(ctx, marta, "INC-NONE", "police", "X", now)
			return err
		}, ErrNotFound},
		{"link a note", func() error { _, err := e.desk.LinkScreening(ctx, marta, inc.ID, note); return err }, ErrInvalid},
		{"link past the end", func() error { _, err := e.desk.LinkScreening(ctx, marta, inc.ID, 1<<40); return err }, ErrInvalid},
		{"link another incident's screening", func() error {
			_, err := e.desk.LinkScreening(ctx, marta, inc.ID, logScreening(t, e.log, "INC-OTHER", "clear", now))
			return err
		}, ErrInvalid},
		{"bad direction", func() error {
			_, _, err := e.desk.ArchiveMessage(ctx, marta, inc.ID, RansomMessage{Direction: "sideways", Channel: "tox", SHA256: listSHA, At: now})
			return err
		}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	_, id, err := e.desk.ArchiveMessage(ctx, marta, inc.ID, RansomMessage{Direction: "inbound", Channel: "tox", SHA256: strings.ToUpper(listSHA), At: now, Summary: "demand: 20 BTC"})
	if err != nil {
		t.Fatal(err)
	}
	item, err := e.desk.GetEvidence(ctx, id)
	if err != nil || item.SHA256 != listSHA || item.Incident != inc.ID {
		t.Fatalf("message evidence: got %+v, %v", item, err)
	}
	tr, err := e.desk.RansomTrack(ctx, inc.ID)
	if err != nil || len(tr.Messages) != 1 || tr.Messages[0].Evidence != id {
		t.Fatalf("track: got %+v, %v", tr, err)
	}
}
