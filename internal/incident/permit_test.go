package incident

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
)

// recorder is an executor that keeps the permit it was handed.
type recorder struct {
	log    EntryReader
	permit Permit
}

func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Execute(ctx context.Context, a Action, p Permit) (Result, error) {
	r.permit = p
	return Result{Summary: "recorded"}, CheckPermit(r.log, a, p)
}

// receiptOfKind returns the receipt of the first entry of kind about the
// action, from the timeline and the log.
func receiptOfKind(t *testing.T, e *env, a Action, kind string) Receipt {
	t.Helper()
	items, err := e.desk.Timeline(context.Background(), a.Incident)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Kind == kind && it.Subject == a.ID {
			ent, err := e.log.Entry(it.Index)
			if err != nil {
				t.Fatal(err)
			}
			return Receipt{Index: it.Index, LeafHash: evidence.LeafHash(ent.Header).String()}
		}
	}
	t.Fatalf("no %s entry of %s", kind, a.ID)
	return Receipt{}
}

// TestLogBeforeAct: an executor handed anything but the logged allow
// decision and approvals of exactly its action refuses.
func TestLogBeforeAct(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)

	allow := decided(t, e.desk, inc.ID, firewallBlock("192.0.2.7"))
	rec := &recorder{log: e.log}
	if _, err := e.desk.Execute(ctx, luca, allow.ID, rec); err != nil {
		t.Fatal(err)
	}
	allowPermit := rec.permit

	cond := decided(t, e.desk, inc.ID, isolation("pacs1"))
	if _, err := e.desk.Approve(ctx, marta, cond.ID, "business_owner"); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{log: e.log}
	if _, err := e.desk.Execute(ctx, luca, cond.ID, rec); err != nil {
		t.Fatal(err)
	}
	condPermit := rec.permit
	if len(condPermit.Approvals) != 1 {
		t.Fatalf("got %d approvals in the permit, want 1", len(condPermit.Approvals))
	}

	denied := decided(t, e.desk, inc.ID, guard.Request{Action: guard.Action{Kind: "remote_access", Target: "198.51.100.9"}})

	// An approval appended by the proposer behind the desk's back.
	b, _ := json.Marshal(approvedPayload{Action: cond.ID, Role: "business_owner"})
	r, err := e.log.Append(ctx, evidence.Record{Kind: KindApproved, Actor: cond.Proposer, Incident: inc.ID, Payload: b})
	if err != nil {
		t.Fatal(err)
	}
	selfApproval := Receipt{Index: r.Index, LeafHash: r.LeafHash.String()}

	allow, _ = e.desk.GetAction(ctx, allow.ID)
	cond, _ = e.desk.GetAction(ctx, cond.ID)
	badLeaf := allowPermit
	badLeaf.Decision.LeafHash = condPermit.Decision.LeafHash

	tests := []struct {
		name   string
		action Action
		permit Permit
		ok     bool
	}{
		{"allow with its permit", allow, allowPermit, true},
		{"conditional with its permit", cond, condPermit, true},
		{"no receipt", allow, Permit{}, false},
		{"another action's decision", allow, Permit{Decision: condPermit.Decision}, false},
		{"the guardrail's entry instead of the action's", allow, Permit{Decision: *allow.Decision}, false},
		{"a deny decision", denied, Permit{Decision: receiptOfKind(t, e, denied, KindDecided)}, false},
		{"a wrong leaf hash", allow, badLeaf, false},
		{"a missing approval", cond, Permit{Decision: condPermit.Decision}, false},
		{"another action's approval", allow, Permit{Decision: allowPermit.Decision, Approvals: condPermit.Approvals}, false},
		{"the proposer's own approval", cond, Permit{Decision: condPermit.Decision, Approvals: []Receipt{selfApproval}}, false},
		{"an index past the log", allow, Permit{Decision: Receipt{Index: 1 << 40, LeafHash: allowPermit.Decision.LeafHash}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPermit(e.log, tc.action, tc.permit)
			if tc.ok && err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrNoPermit) {
				t.Fatalf("got %v, want ErrNoPermit", err)
			}
			// The manual executor runs the same check.
			_, err = manual(e.log).Execute(ctx, tc.action, tc.permit)
			if got := err == nil; got != tc.ok {
				t.Fatalf("manual executor: got %v, want ok %v", err, tc.ok)
			}
		})
	}
}
