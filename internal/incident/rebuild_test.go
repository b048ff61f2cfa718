package incident

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
)

func eventRecord() evidence.Record {
	return evidence.Record{Kind: "sensor.event", Actor: "sshpot", Payload: []byte(`{"src":"192.0.2.7","user":"root"}`)}
}

// scenario drives a desk through every kind of change and returns the
// index of a note entry.
func scenario(t *testing.T, e *env) int64 {
	t.Helper()
	ctx := context.Background()
	var events []int64
	for range 5 {
		r, err := e.log.Append(ctx, eventRecord())
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, r.Index)
	}
	inc := mustIncident(t, e.desk)
	inc2, err := e.desk.Create(ctx, luca, NewIncident{Title: "phishing", Description: "wave of mails", Severity: Medium, Assignees: []string{"luca", "paola"}})
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.desk.Update(ctx, paola, inc.ID, Update{Status: ptr(StatusContained), Severity: ptr(Critical), Categories: &[]string{"ransomware", "acn:malware"}}))
	noteIdx, err := e.desk.AddNote(ctx, paola, inc.ID, "the attacker's handle is mallory")
	must(nil, err)
	must(e.desk.AddObservable(ctx, paola, inc.ID, NewObservable{Type: ObsIP, Value: "192.0.2.7", Tags: []string{"c2"}}))
	must(e.desk.AddObservable(ctx, paola, inc.ID, NewObservable{Type: ObsIP, Value: "::ffff:192.0.2.7", Tags: []string{"ssh"}}))
	must(e.desk.AddObservable(ctx, luca, inc2.ID, NewObservable{Type: ObsEmail, Value: "ceo@evil.example"}))
	must(e.desk.LinkEvents(ctx, paola, inc.ID, events[:3]))
	must(e.desk.LinkEvents(ctx, paola, inc2.ID, events[2:]))
	item, err := e.desk.AcquireEvidence(ctx, paola, inc.ID, EvidenceInput{SHA256: strings.Repeat("ab", 32), Size: 42, MediaType: "text/plain", Source: "ws7", Tool: "ftk", Method: "logical"})
	must(nil, err)
	must(e.desk.AddCustody(ctx, paola, item.ID, Custody{Step: StepTransferred, From: "paola", To: "lab", Medium: "hand", Reference: "R1", SHA256: item.SHA256}))
	must(e.desk.AddCustody(ctx, luca, item.ID, Custody{Step: StepCopied, SHA256: strings.Repeat("cd", 32), Tool: "dd"}))
	must(e.desk.AddCustody(ctx, luca, item.ID, Custody{Step: StepStored, Location: "safe", Seal: "S1"}))

	a := decided(t, e.desk, inc.ID, firewallBlock("192.0.2.7"))
	must(e.desk.Execute(ctx, luca, a.ID, manual(e.log)))
	must(e.desk.Verify(ctx, luca, a.ID, "no more traffic"))
	must(e.desk.Expire(ctx, luca, a.ID, "expiry reached"))
	c := decided(t, e.desk, inc.ID, isolation("pacs1"))
	if _, err := e.desk.Execute(ctx, luca, c.ID, manual(e.log)); err == nil {
		t.Fatal("an unapproved conditional action executed")
	}
	must(e.desk.Approve(ctx, marta, c.ID, "business_owner"))
	must(e.desk.Execute(ctx, luca, c.ID, manual(e.log)))
	f := decided(t, e.desk, inc.ID, firewallBlock("192.0.2.99"))
	if _, err := e.desk.Execute(ctx, luca, f.ID, failing{e.log}); err == nil {
		t.Fatal("a failing executor succeeded")
	}
	decided(t, e.desk, inc2.ID, guard.Request{Action: guard.Action{Kind: "remote_access", Target: "198.51.100.9"}})
	must(e.desk.Propose(ctx, luca, inc2.ID, isolation("ws7")))

	aware := time.Now().Add(-2 * time.Hour)
	must(e.desk.DeclareRegime(ctx, paola, inc.ID, "nis2-it", aware, "ransomware stopped the PACS"))
	must(e.desk.DeclareRegime(ctx, paola, inc.ID, "law90", aware, "ASL in scope of L. 90"))
	must(e.desk.DeclareRegime(ctx, luca, inc2.ID, "dora", aware, "payment service affected"))
	must(e.desk.DeclareEvent(ctx, luca, inc2.ID, "dora", "classified_major", aware.Add(time.Hour), "criteria of RTS 2024/1772 met"))
	must(e.desk.RecordSubmission(ctx, paola, inc.ID, "nis2-it", "pre_notification", Submission{Channel: "ACN portal", Reference: "ACN-1", SentSHA256: strings.Repeat("ef", 32)}))

	must(e.desk.MarkExtortion(ctx, marta, inc.ID, "ransom note on ws7"))
	must(e.desk.RecordAuthorityReport(ctx, marta, inc.ID, "police", "PP-2026-1142", aware))
	_, _, err = e.desk.ArchiveMessage(ctx, marta, inc.ID, RansomMessage{Direction: "inbound", Channel: "tox", SHA256: strings.Repeat("12", 32), At: aware, Summary: "demand"})
	must(nil, err)
	must(e.desk.LinkScreening(ctx, marta, inc.ID, logScreening(t, e.log, inc.ID, "clear", aware)))
	return noteIdx
}

// dump returns every row of every projection table, in a stable order.
func dump(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprintf("%v", vals))
		}
		rows.Close()
		slices.Sort(out[table])
	}
	return out
}

func TestRebuildEqualsLive(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	scenario(t, e)
	live := dump(t, e.desk.db)
	for _, table := range tables {
		if len(live[table]) == 0 {
			t.Fatalf("table %s is empty after the scenario: the test would prove nothing", table)
		}
	}
	if err := Rebuild(ctx, e.db, e.log); err != nil {
		t.Fatal(err)
	}
	rebuilt := dump(t, e.desk.db)
	for _, table := range tables {
		if !slices.Equal(live[table], rebuilt[table]) {
			t.Errorf("table %s:\n got (rebuilt) %v\nwant (live)    %v", table, rebuilt[table], live[table])
		}
	}
}

// TestOpenCatchesUp: entries appended but not projected (a crash between
// append and apply) are applied when the desk opens.
func TestOpenCatchesUp(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	scenario(t, e)
	live := dump(t, e.desk.db)
	if _, err := e.desk.db.Exec(`DELETE FROM inc_timeline WHERE idx > 20; UPDATE inc_head SET applied = 20`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, e.db, e.log, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, e.desk.db); !slices.Equal(got["inc_timeline"], live["inc_timeline"]) {
		t.Fatalf("got %d timeline rows after reopening, want %d", len(got["inc_timeline"]), len(live["inc_timeline"]))
	}
}

// TestRebuildErased: an erased payload keeps its row, marked.
func TestRebuildErased(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	noteIdx := scenario(t, e)
	inc := mustIncident(t, e.desk)
	if _, err := e.log.Erase(ctx, noteIdx, "gdpr art. 17", "dpo"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Erase(ctx, inc.CreatedIndex, "gdpr art. 17", "dpo"); err != nil {
		t.Fatal(err)
	}
	if err := Rebuild(ctx, e.db, e.log); err != nil {
		t.Fatal(err)
	}
	got, err := e.desk.GetIncident(ctx, inc.ID)
	if err != nil || !got.Erased || got.Title != "" || got.CreatedBy != "paola" {
		t.Fatalf("got %+v, %v, want the incident kept, erased, created by paola", got, err)
	}
	var erased bool
	var summary string
	if err := e.desk.db.QueryRow(`SELECT erased, summary FROM inc_timeline WHERE idx = ?`, noteIdx).Scan(&erased, &summary); err != nil || !erased {
		t.Fatalf("got erased %v (%q), %v, want the note's timeline row marked erased", erased, summary, err)
	}
	var text string
	if err := e.desk.db.QueryRow(`SELECT text, erased FROM inc_notes WHERE idx = ?`, noteIdx).Scan(&text, &erased); err != nil || text != "" || !erased {
		t.Fatalf("got the erased note as %q erased %v (%v), want an empty row marked erased", text, erased, err)
	}
}
