package incident

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWithoutUndueDelay: GDPR art. 34 has no fixed term; once declared it
// is owed now, shows in the due list, and a communication meets it
// whenever it is sent (there is no "late" without a term).
func TestWithoutUndueDelay(t *testing.T) {
	r, ok := LookupRegime("gdpr-34")
	if !ok {
		t.Fatal("gdpr-34 is not in the regime table")
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	if got := ComputeClocks(r, Declared{}, nil, now, time.Hour); len(got) != 1 || got[0].State != ClockWaiting {
		t.Errorf("undeclared: got %+v, want one waiting clock", got)
	}
	trig := now.Add(-30 * 24 * time.Hour)
	got := ComputeClocks(r, Declared{"": trig}, nil, now, time.Hour)
	if len(got) != 1 || got[0].State != ClockUndelayed || !got[0].Due.IsZero() || !got[0].WithoutUndueDelay {
		t.Fatalf("declared: got %+v, want without_undue_delay and no due time", got)
	}

	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	if _, err := e.desk.DeclareEvent(ctx, paola, inc.ID, "gdpr-34", "", time.Now().Add(-time.Hour), "ransomware group published health records"); err != nil {
		t.Fatal(err)
	}
	due, err := e.desk.DueSoon(ctx, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(due, func(c Clock) bool { return c.Regime == "gdpr-34" && c.State == ClockUndelayed }) {
		t.Errorf("due list %+v lacks the art. 34 communication", due)
	}
	if _, err := e.desk.RecordSubmission(ctx, paola, inc.ID, "gdpr-34", "communication", Submission{Channel: "e-mail to data subjects", Reference: "COMM-1", SentSHA256: strings.Repeat("cd", 32)}); err != nil {
		t.Fatalf("communication: %v", err)
	}
	cs, err := e.desk.Clocks(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(cs, func(c Clock) bool { return c.Regime == "gdpr-34" }); i < 0 || cs[i].State != ClockMet {
		t.Errorf("after the communication: %+v, want met", cs)
	}
}
