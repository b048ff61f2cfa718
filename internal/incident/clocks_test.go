package incident

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// TestAddMonths: calendar months on the Rome calendar, clamped to the end
// of a shorter month, keeping Rome wall-clock time across DST.
func TestAddMonths(t *testing.T) {
	for _, tc := range []struct {
		name, from string
		months     int
		want       string
	}{
		{"31 January + 1 month", "2026-01-31T10:00:00Z", 1, "2026-02-28T10:00:00Z"},
		{"31 January + 1 month, leap year", "2024-01-31T10:00:00Z", 1, "2024-02-29T10:00:00Z"},
		{"31 March + 1 month (into summer time)", "2026-03-31T10:00:00Z", 1, "2026-04-30T10:00:00Z"},
		{"30 November + 3 months", "2025-11-30T08:00:00Z", 3, "2026-02-28T08:00:00Z"},
		{"same day number across DST: 11:00 CET to 11:00 CEST", "2026-01-15T10:00:00Z", 3, "2026-04-15T09:00:00Z"},
		{"the day is Rome's: 00:30 on 1 February in Rome", "2026-01-31T23:30:00Z", 1, "2026-02-28T23:30:00Z"},
		{"end of year", "2026-12-31T12:00:00Z", 2, "2027-02-28T12:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AddMonths(utc(tc.from), tc.months); !got.Equal(utc(tc.want)) {
				t.Errorf("got %s, want %s", got.Format(time.RFC3339), tc.want)
			}
		})
	}
}

// TestComputeClocks computes every regime's deadlines from a fixed trigger
// on the Friday before the switch to summer time (29 March 2026).
func TestComputeClocks(t *testing.T) {
	trigger := utc("2026-03-27T10:00:00Z")
	sub := func(at string, late string) Submission {
		return Submission{Channel: "portal", Reference: "R", SentSHA256: strings.Repeat("ab", 32), At: utc(at), LateReason: late}
	}
	type want struct {
		deadline, due, rome string
		state               ClockState
	}
	for _, tc := range []struct {
		name     string
		regime   string
		triggers Declared
		subs     map[Ref]Submission
		now      string
		want     []want
	}{
		{
			name: "NIS2: final report waits for the notification", regime: "nis2-it", now: "2026-03-27T12:00:00Z",
			want: []want{
				{"pre_notification", "2026-03-28T10:00:00Z", "2026-03-28 11:00 CET", ClockDueSoon},
				{"notification", "2026-03-30T10:00:00Z", "2026-03-30 12:00 CEST", ClockPending},
				{"final_report", "", "", ClockWaiting},
			},
		},
		{
			name: "NIS2: final report one month after the notification's submission", regime: "nis2-it", now: "2026-04-05T00:00:00Z",
			subs: map[Ref]Submission{
				{"nis2-it", "pre_notification"}: sub("2026-03-28T09:00:00Z", ""),
				{"nis2-it", "notification"}:     sub("2026-03-30T11:00:00Z", "the portal was down"),
			},
			want: []want{
				{"pre_notification", "2026-03-28T10:00:00Z", "2026-03-28 11:00 CET", ClockMet},
				{"notification", "2026-03-30T10:00:00Z", "2026-03-30 12:00 CEST", ClockMetLate},
				{"final_report", "2026-04-30T11:00:00Z", "2026-04-30 13:00 CEST", ClockPending},
			},
		},
		{
			name: "Law 90: met by the NIS notifications", regime: "law90", now: "2026-03-31T00:00:00Z",
			subs: map[Ref]Submission{{"nis2-it", "pre_notification"}: sub("2026-03-28T09:00:00Z", "")},
			want: []want{
				{"alert", "2026-03-28T10:00:00Z", "2026-03-28 11:00 CET", ClockMet},
				{"full_notice", "2026-03-30T10:00:00Z", "2026-03-30 12:00 CEST", ClockOverdue},
			},
		},
		{
			name: "PSNC table 1", regime: "psnc-table1", now: "2026-03-27T10:30:00Z",
			want: []want{{"notification", "2026-03-27T16:00:00Z", "2026-03-27 17:00 CET", ClockDueSoon}},
		},
		{
			name: "PSNC table 2", regime: "psnc-table2", now: "2026-03-27T11:30:00Z",
			want: []want{{"notification", "2026-03-27T11:00:00Z", "2026-03-27 12:00 CET", ClockOverdue}},
		},
		{
			name: "GDPR art. 33", regime: "gdpr-33", now: "2026-03-27T10:00:00Z",
			want: []want{{"notification", "2026-03-30T10:00:00Z", "2026-03-30 12:00 CEST", ClockPending}},
		},
		{
			name: "DORA: classification not recorded, the 24 h limit from awareness", regime: "dora", now: "2026-03-27T10:00:00Z",
			want: []want{
				{"initial", "2026-03-28T10:00:00Z", "2026-03-28 11:00 CET", ClockDueSoon},
				{"intermediate", "", "", ClockWaiting},
				{"final", "", "", ClockWaiting},
			},
		},
		{
			name: "DORA: classified early, 4 h after classification wins", regime: "dora", now: "2026-03-27T10:00:00Z",
			triggers: Declared{"classified_major": utc("2026-03-27T12:00:00Z")},
			want:     []want{{"initial", "2026-03-27T16:00:00Z", "2026-03-27 17:00 CET", ClockDueSoon}},
		},
		{
			name: "DORA: classified late, 24 h after awareness wins", regime: "dora", now: "2026-03-27T10:00:00Z",
			triggers: Declared{"classified_major": utc("2026-03-28T08:00:00Z")},
			want:     []want{{"initial", "2026-03-28T10:00:00Z", "2026-03-28 11:00 CET", ClockDueSoon}},
		},
		{
			name: "DORA: intermediate from the initial, final from the intermediate", regime: "dora", now: "2026-03-29T00:00:00Z",
			triggers: Declared{"classified_major": utc("2026-03-27T12:00:00Z")},
			subs: map[Ref]Submission{
				{"dora", "initial"}:      sub("2026-03-27T15:00:00Z", ""),
				{"dora", "intermediate"}: sub("2026-03-28T15:00:00Z", ""),
			},
			want: []want{
				{"initial", "2026-03-27T16:00:00Z", "2026-03-27 17:00 CET", ClockMet},
				{"intermediate", "2026-03-30T15:00:00Z", "2026-03-30 17:00 CEST", ClockMet},
				{"final", "2026-04-28T14:00:00Z", "2026-04-28 16:00 CEST", ClockPending},
			},
		},
		{
			name: "querela: three calendar months", regime: "querela", now: "2026-06-28T00:00:00Z",
			want: []want{{"complaint", "2026-06-27T09:00:00Z", "2026-06-27 11:00 CEST", ClockOverdue}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := LookupRegime(tc.regime)
			if !ok {
				t.Fatalf("regime %s missing", tc.regime)
			}
			triggers := Declared{"": trigger}
			for k, v := range tc.triggers {
				triggers[k] = v
			}
			got := ComputeClocks(r, triggers, tc.subs, utc(tc.now), DueSoonWithin)
			for i, w := range tc.want {
				if i >= len(got) {
					t.Fatalf("got %d clocks, want at least %d", len(got), len(tc.want))
				}
				c := got[i]
				var due string
				if !c.Due.IsZero() {
					due = c.Due.Format(time.RFC3339)
				}
				if c.Deadline != w.deadline || due != w.due || c.DueRome != w.rome || c.State != w.state {
					t.Errorf("got %s due %q (%q) %s, want %s due %q (%q) %s", c.Deadline, due, c.DueRome, c.State, w.deadline, w.due, w.rome, w.state)
				}
			}
		})
	}
}

// TestRegimeTable: every regime is well formed: sources, deadlines,
// anchors that name an event or an earlier deadline, known satisfied-by
// references.
func TestRegimeTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Regimes {
		if seen[r.ID] || r.Name == "" || len(r.Sources) == 0 || r.Trigger == "" || len(r.Deadlines) == 0 {
			t.Errorf("regime %q is duplicated or incomplete", r.ID)
		}
		seen[r.ID] = true
		var earlier []string
		for _, d := range r.Deadlines {
			if len(d.Within) == 0 && !d.WithoutUndueDelay || len(d.Within) > 0 && d.WithoutUndueDelay {
				t.Errorf("%s %s: a deadline has limits or is without undue delay, exactly one of the two", r.ID, d.Label)
			}
			for _, o := range d.Within {
				label, sub := strings.CutPrefix(o.From, "submitted:")
				switch {
				case sub && !slices.Contains(earlier, label):
					t.Errorf("%s %s counts from %q, not an earlier deadline", r.ID, d.Label, o.From)
				case !sub && o.From != "" && !hasEvent(r, o.From):
					t.Errorf("%s %s counts from unknown event %q", r.ID, d.Label, o.From)
				}
			}
			for _, ref := range d.SatisfiedBy {
				other, ok := LookupRegime(ref.Regime)
				if _, has := other.deadline(ref.Deadline); !ok || !has {
					t.Errorf("%s %s is satisfied by unknown %v", r.ID, d.Label, ref)
				}
			}
			earlier = append(earlier, d.Label)
		}
	}
}

func hasEvent(r Regime, id string) bool {
	for _, e := range r.Events {
		if e.ID == id {
			return true
		}
	}
	return false
}

// TestDeskClocks works the clocks through the desk: declarations and
// submissions refused for bad input, a late GDPR notice refused without
// reasons, several regimes on one incident, the due-soon list.
func TestDeskClocks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	other := mustIncident(t, e.desk)
	now := time.Now()
	aware := now.Add(-80 * time.Hour)
	sha := strings.Repeat("ab", 32)

	for _, tc := range []struct {
		name, incident, regime, event string
		at                            time.Time
		rationale                     string
		want                          error
	}{
		{"unknown regime", inc.ID, "hipaa", "", aware, "x", ErrInvalid},
		{"no rationale", inc.ID, "gdpr-33", "", aware, "", ErrInvalid},
		{"trigger in the future", inc.ID, "gdpr-33", "", now.Add(time.Hour), "x", ErrInvalid},
		{"event before its regime", inc.ID, "dora", "classified_major", aware, "x", ErrInvalid},
		{"unknown incident", "INC-NONE", "gdpr-33", "", aware, "x", ErrNotFound},
		{"gdpr", inc.ID, "gdpr-33", "", aware, "customer records exfiltrated", nil},
		{"gdpr twice", inc.ID, "gdpr-33", "", aware, "again", ErrInvalid},
		{"querela", inc.ID, "querela", "", aware, "ransom note read", nil},
		{"psnc on another incident", other.ID, "psnc-table2", "", now.Add(-30 * time.Minute), "perimeter asset down", nil},
	} {
		t.Run("declare/"+tc.name, func(t *testing.T) {
			_, err := e.desk.DeclareEvent(ctx, paola, tc.incident, tc.regime, tc.event, tc.at, tc.rationale)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	late := Submission{Channel: "Garante online procedure", Reference: "GPDP-7", SentSHA256: sha}
	if _, err := e.desk.RecordSubmission(ctx, paola, inc.ID, "gdpr-33", "notification", late); !errors.Is(err, ErrInvalid) {
		t.Fatalf("late submission without reasons: got %v, want ErrInvalid", err)
	}
	if _, err := e.desk.RecordSubmission(ctx, paola, inc.ID, "gdpr-33", "annex", late); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown deadline: got %v, want ErrInvalid", err)
	}
	if _, err := e.desk.RecordSubmission(ctx, paola, inc.ID, "nis2-it", "notification", late); !errors.Is(err, ErrInvalid) {
		t.Fatalf("undeclared regime: got %v, want ErrInvalid", err)
	}
	late.LateReason = "the scope of the breach was only certain after the forensic copy"
	if _, err := e.desk.RecordSubmission(ctx, paola, inc.ID, "gdpr-33", "notification", late); err != nil {
		t.Fatalf("late submission with reasons: %v", err)
	}
	if _, err := e.desk.RecordSubmission(ctx, paola, inc.ID, "gdpr-33", "notification", late); !errors.Is(err, ErrInvalid) {
		t.Fatalf("second submission: got %v, want ErrInvalid", err)
	}

	clocks, err := e.desk.Clocks(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(clocks) != 2 || clocks[0].Regime != "gdpr-33" || clocks[0].State != ClockMetLate || clocks[0].Submission.LateReason == "" ||
		clocks[1].Regime != "querela" || clocks[1].State != ClockPending {
		t.Fatalf("got clocks %+v, want gdpr-33 met late and querela pending", clocks)
	}

	due, err := e.desk.DueSoon(ctx, 2*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].Incident != other.ID || due[0].State != ClockDueSoon {
		t.Fatalf("due soon: got %+v, want the PSNC notification only", due)
	}
	due, _ = e.desk.DueSoon(ctx, 2*time.Hour, now.Add(4*time.Hour))
	if len(due) != 1 || due[0].State != ClockOverdue {
		t.Fatalf("due soon later: got %+v, want the PSNC notification overdue", due)
	}
}
