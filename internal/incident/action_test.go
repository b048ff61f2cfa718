package incident

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/vallum/vallum/internal/guard"
)

func TestLifecycleAllow(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	a := decided(t, e.desk, inc.ID, firewallBlock("192.0.2.7"))
	if a.State != Decided || a.Verdict != guard.Allow {
		t.Fatalf("got %s/%s, want decided/allow", a.State, a.Verdict)
	}
	a, err := e.desk.Execute(ctx, luca, a.ID, manual(e.log))
	if err != nil {
		t.Fatal(err)
	}
	if a.State != Executed || a.Result == nil || a.Result.Executor != "manual" || a.Result.Reference != "CHG-1" {
		t.Fatalf("got %+v, want executed by manual with reference CHG-1", a)
	}
	steps := []struct {
		do   func(context.Context, Actor, string, string) (Action, error)
		want ActionState
	}{{e.desk.Verify, Verified}, {e.desk.Revert, Reverted}}
	for _, s := range steps {
		if a, err = s.do(ctx, luca, a.ID, "checked"); err != nil || a.State != s.want {
			t.Fatalf("got %s, %v, want %s", a.State, err, s.want)
		}
	}
	// Terminal: nothing follows reverted.
	_, err = e.desk.Expire(ctx, luca, a.ID, "")
	var te *TransitionError
	if !errors.As(err, &te) || te.From != Reverted || te.To != Expired {
		t.Fatalf("expire after revert: got %v, want a TransitionError reverted → expired", err)
	}
}

// TestTransitions tries every wrong move from each reachable state.
func TestTransitions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	a, err := e.desk.Propose(ctx, paola, inc.ID, firewallBlock("192.0.2.8"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() (Action, error)
		from ActionState
		to   ActionState
	}{
		{"execute before decision", func() (Action, error) { return e.desk.Execute(ctx, luca, a.ID, manual(e.log)) }, Proposed, Executing},
		{"verify a proposal", func() (Action, error) { return e.desk.Verify(ctx, luca, a.ID, "") }, Proposed, Verified},
		{"revert a proposal", func() (Action, error) { return e.desk.Revert(ctx, luca, a.ID, "") }, Proposed, Reverted},
		{"decide twice", func() (Action, error) {
			if _, err := e.desk.Decide(ctx, paola, a.ID); err != nil {
				return Action{}, err
			}
			return e.desk.Decide(ctx, paola, a.ID)
		}, Decided, Decided},
		{"expire before execution", func() (Action, error) { return e.desk.Expire(ctx, luca, a.ID, "") }, Decided, Expired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.do()
			var te *TransitionError
			if !errors.As(err, &te) || te.From != tc.from || te.To != tc.to {
				t.Fatalf("got %v, want TransitionError %s → %s", err, tc.from, tc.to)
			}
		})
	}
}

func TestApprovals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	a := decided(t, e.desk, inc.ID, isolation("pacs1"))
	if a.Verdict != guard.Conditional || !slices.Equal(a.Requires, []string{"business_owner"}) {
		t.Fatalf("got %s requiring %v, want conditional requiring [business_owner]", a.Verdict, a.Requires)
	}
	// Executing without the approval: the re-check refuses, and logs it.
	size := e.log.Size()
	_, err := e.desk.Execute(ctx, luca, a.ID, manual(e.log))
	var re *RefusedError
	if !errors.As(err, &re) || re.Verdict != guard.Conditional {
		t.Fatalf("execute unapproved: got %v, want RefusedError conditional", err)
	}
	if got := e.log.Size(); got != size+2 { // the decision and action.rechecked
		t.Fatalf("got log size %d, want %d: the refusal must be logged", got, size+2)
	}
	tests := []struct {
		name  string
		actor Actor
		role  string
		want  error
	}{
		{"proposer approves own action", Actor{Name: "paola", Roles: []string{"business_owner"}}, "business_owner", ErrForbidden},
		{"role not held", luca, "business_owner", ErrForbidden},
		{"unknown role", marta, "ciso", ErrInvalid},
		{"approval in an unneeded role", marta, "incident_commander", nil},
		{"the owner approves", marta, "business_owner", nil},
		{"the same approval twice", marta, "business_owner", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.desk.Approve(ctx, tc.actor, a.ID, tc.role)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	a, err = e.desk.GetAction(ctx, a.ID)
	if err != nil || a.State != Approved || len(a.Approvals) != 2 {
		t.Fatalf("got %s with %d approvals (%v), want approved with 2", a.State, len(a.Approvals), err)
	}
	a, err = e.desk.Execute(ctx, luca, a.ID, manual(e.log))
	if err != nil || a.State != Executed {
		t.Fatalf("got %s, %v, want executed", a.State, err)
	}
}

func TestDeniedNeverExecutes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	a := decided(t, e.desk, inc.ID, guard.Request{Action: guard.Action{Kind: "remote_access", Target: "198.51.100.9"}})
	if a.Verdict != guard.Deny {
		t.Fatalf("got %s, want deny", a.Verdict)
	}
	if _, err := e.desk.Approve(ctx, marta, a.ID, "business_owner"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("approve a denied action: got %v, want ErrInvalid", err)
	}
	var te *TransitionError
	if _, err := e.desk.Execute(ctx, luca, a.ID, manual(e.log)); !errors.As(err, &te) {
		t.Fatalf("execute a denied action: got %v, want a TransitionError", err)
	}
}

// failing is an executor that checks its permit and then fails.
type failing struct{ log EntryReader }

func (f failing) Name() string { return "failing" }
func (f failing) Execute(ctx context.Context, a Action, p Permit) (Result, error) {
	if err := CheckPermit(f.log, a, p); err != nil {
		return Result{}, err
	}
	return Result{}, errors.New("device unreachable")
}

func TestExecutionFailure(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	a := decided(t, e.desk, inc.ID, firewallBlock("192.0.2.9"))
	a, err := e.desk.Execute(ctx, luca, a.ID, failing{e.log})
	if err == nil || a.State != Failed || a.Error != "device unreachable" {
		t.Fatalf("got %s %q, %v, want failed with the executor's error", a.State, a.Error, err)
	}
}
