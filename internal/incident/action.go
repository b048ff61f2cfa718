package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vallum/vallum/internal/guard"
)

// Propose records a proposed response action of an incident. The
// proposer is always the actor (whatever req.Proposer says), so that the
// guardrail's four-eyes rule and the desk's agree. IDs are "ACT-" and 10
// random base32 characters.
func (d *Desk) Propose(ctx context.Context, actor Actor, incident string, req guard.Request) (Action, error) {
	if err := checkText("action kind", req.Action.Kind, 1, maxShort); err != nil {
		return Action{}, err
	}
	req.Proposer = actor.Name
	req.Approvals = nil // approvals are the desk's logged records, added at each decision
	if isRansomAction(req) {
		// Ransom track (ransom.go): the notifications and the screening
		// are the track's logged records, filled in at each decision.
		req.Notifications, req.Sanctions = nil, nil
	}
	req.Now = req.Now.UTC()
	if err := d.lock(ctx, actor); err != nil {
		return Action{}, err
	}
	defer d.unlock()
	if !d.exists(ctx, `SELECT 1 FROM inc_incidents WHERE id = ?`, incident) {
		return Action{}, fmt.Errorf("incident %s: %w", incident, ErrNotFound)
	}
	id := newID("ACT")
	for d.exists(ctx, `SELECT 1 FROM inc_actions WHERE id = ?`, id) {
		id = newID("ACT")
	}
	if _, err := d.write(ctx, actor, KindProposed, incident, proposedPayload{Action: id, Request: req}); err != nil {
		return Action{}, err
	}
	return d.GetAction(ctx, id)
}

// Decide asks the guardrail (the Decider, which logs the decision) about a
// proposed action and records the decision against it: proposed → decided.
// A conditional decision's "approval:<role>" items become the roles the
// action requires.
func (d *Desk) Decide(ctx context.Context, actor Actor, id string) (Action, error) {
	if err := d.lock(ctx, actor); err != nil {
		return Action{}, err
	}
	defer d.unlock()
	a, err := d.transition(ctx, id, Decided)
	if err != nil {
		return Action{}, err
	}
	dec, err := d.decide(ctx, a)
	if err != nil {
		return Action{}, err
	}
	var requires []string
	for _, m := range dec.Missing {
		if role, ok := strings.CutPrefix(m, "approval:"); ok {
			requires = append(requires, role)
		}
	}
	p := decidedPayload{Action: id, Decision: receiptOf(dec), Verdict: dec.Verdict, Missing: dec.Missing, Requires: cleanList(requires)}
	if _, err := d.write(ctx, actor, KindDecided, a.Incident, p); err != nil {
		return Action{}, err
	}
	return d.GetAction(ctx, id)
}

// decide runs the guardrail on the action's request with its recorded
// approvals and, for a ransom action, the facts of the incident's ransom
// track (FillFromTrack in ransom.go). Decide and the re-check before
// execution both come through here.
func (d *Desk) decide(ctx context.Context, a Action) (guard.Decision, error) {
	req := a.Request
	req.Approvals = nil
	for _, ap := range a.Approvals {
		req.Approvals = append(req.Approvals, guard.Approval{Role: ap.Role, By: ap.By, At: ap.At})
	}
	// Ransom track: notifications and sanctions from the log, never from
	// the client.
	if err := d.FillFromTrack(ctx, a.Incident, &req); err != nil {
		return guard.Decision{}, err
	}
	dec, err := d.decider.Decide(ctx, req, a.Incident)
	if err != nil {
		return guard.Decision{}, fmt.Errorf("couldn't decide action %s: %w", a.ID, err)
	}
	if dec.Receipt == nil {
		return guard.Decision{}, fmt.Errorf("couldn't decide action %s: the decision was not logged (no receipt)", a.ID)
	}
	return dec, nil
}

func receiptOf(dec guard.Decision) Receipt {
	return Receipt{Index: dec.Receipt.Index, LeafHash: dec.Receipt.LeafHash}
}

// transition loads an action and checks that it may move to state to.
func (d *Desk) transition(ctx context.Context, id string, to ActionState) (Action, error) {
	a, err := d.GetAction(ctx, id)
	if err != nil {
		return Action{}, err
	}
	if !slices.Contains(Lifecycle[a.State], to) {
		return Action{}, &TransitionError{Action: id, From: a.State, To: to}
	}
	return a, nil
}

// Approve records the actor's approval of an action in role. The action
// must be decided conditional (or already approved), the actor must hold
// the role, must not be the proposer (four-eyes) and must not have
// approved in that role already. The action becomes approved when the
// approvals cover every role its decision required.
func (d *Desk) Approve(ctx context.Context, actor Actor, id, role string) (Action, error) {
	if !slices.Contains(ApproverRoles, role) {
		return Action{}, invalidf("role %q is not one of %v", role, ApproverRoles)
	}
	if !actor.Has(role) {
		return Action{}, fmt.Errorf("%w: %s does not hold the role %s", ErrForbidden, actor.Name, role)
	}
	if err := d.lock(ctx, actor); err != nil {
		return Action{}, err
	}
	defer d.unlock()
	a, err := d.GetAction(ctx, id)
	if err != nil {
		return Action{}, err
	}
	if a.State != Decided && a.State != Approved {
		return Action{}, &TransitionError{Action: id, From: a.State, To: Approved}
	}
	if a.Verdict != guard.Conditional {
		return Action{}, invalidf("action %s was decided %s: approvals apply only to a conditional decision", id, a.Verdict)
	}
	if actor.Name == a.Proposer {
		return Action{}, fmt.Errorf("%w: %s proposed action %s and cannot approve it (four-eyes)", ErrForbidden, actor.Name, id)
	}
	for _, ap := range a.Approvals {
		if ap.By == actor.Name && ap.Role == role {
			return Action{}, invalidf("%s already approved action %s as %s (index %d)", actor.Name, id, role, ap.Receipt.Index)
		}
	}
	if _, err := d.write(ctx, actor, KindApproved, a.Incident, approvedPayload{Action: id, Role: role}); err != nil {
		return Action{}, err
	}
	return d.GetAction(ctx, id)
}

// Execute runs an action with ex. Log before act: it re-runs the
// guardrail with the action's request and its recorded approvals and logs
// the result (action.rechecked); unless the verdict is allow it stops with
// a *RefusedError. Then it logs action.executing with the permit (the
// re-check's receipt and the approvals' receipts), calls ex.Execute
// (which must check the permit with CheckPermit first) and logs
// action.executed or action.failed. The action must be decided allow or
// approved. The executor runs without the desk's lock; the executing
// state keeps other changes out meanwhile.
func (d *Desk) Execute(ctx context.Context, actor Actor, id string, ex Executor) (Action, error) {
	if err := d.lock(ctx, actor); err != nil {
		return Action{}, err
	}
	a, permit, err := d.authorise(ctx, actor, id, ex)
	d.unlock()
	if err != nil {
		return a, err
	}
	res, runErr := ex.Execute(ctx, a, permit)
	// The outcome is logged even if ctx was cancelled meanwhile.
	ctx = context.WithoutCancel(ctx)
	if err := d.lock(ctx, actor); err != nil {
		return Action{}, err
	}
	defer d.unlock()
	p := outcomePayload{Action: id}
	kind := KindExecuted
	if runErr != nil {
		kind, p.Error = KindFailed, runErr.Error()
	} else {
		res.Executor = ex.Name()
		p.Result = &res
	}
	if _, err := d.write(ctx, actor, kind, a.Incident, p); err != nil {
		return Action{}, errors.Join(runErr, err)
	}
	a, err = d.GetAction(ctx, id)
	if runErr != nil {
		return a, fmt.Errorf("action %s failed: %w", id, runErr)
	}
	return a, err
}

// authorise is Execute's part under the lock: the checks, the re-check
// and the executing entry.
func (d *Desk) authorise(ctx context.Context, actor Actor, id string, ex Executor) (Action, Permit, error) {
	a, err := d.transition(ctx, id, Executing)
	if err != nil {
		return Action{}, Permit{}, err
	}
	if a.Verdict == guard.Deny {
		return a, Permit{}, fmt.Errorf("action %s was denied by the guardrail: %w", id, &TransitionError{Action: id, From: a.State, To: Executing})
	}
	dec, err := d.decide(ctx, a)
	if err != nil {
		return a, Permit{}, err
	}
	p := decidedPayload{Action: id, Decision: receiptOf(dec), Verdict: dec.Verdict, Missing: dec.Missing, Requires: a.Requires}
	rcpt, err := d.write(ctx, actor, KindRechecked, a.Incident, p)
	if err != nil {
		return a, Permit{}, err
	}
	if dec.Verdict != guard.Allow {
		a, _ = d.GetAction(ctx, id)
		return a, Permit{}, &RefusedError{Action: id, Verdict: dec.Verdict, Missing: dec.Missing, Receipt: Receipt{rcpt.Index, rcpt.LeafHash.String()}}
	}
	permit := Permit{Decision: Receipt{Index: rcpt.Index, LeafHash: rcpt.LeafHash.String()}, Approvals: []Receipt{}}
	for _, ap := range a.Approvals {
		permit.Approvals = append(permit.Approvals, ap.Receipt)
	}
	if _, err := d.write(ctx, actor, KindExecuting, a.Incident, executingPayload{Action: id, Executor: ex.Name(), Permit: permit}); err != nil {
		return a, Permit{}, err
	}
	a, err = d.GetAction(ctx, id)
	return a, permit, err
}

// Verify records that an executed action's effect was checked: executed →
// verified.
func (d *Desk) Verify(ctx context.Context, actor Actor, id, note string) (Action, error) {
	return d.close(ctx, actor, id, note, Verified, KindVerified)
}

// Expire records that a verified action's effect lapsed (a block reached
// its expiry): verified → expired.
func (d *Desk) Expire(ctx context.Context, actor Actor, id, note string) (Action, error) {
	return d.close(ctx, actor, id, note, Expired, KindExpired)
}

// Revert records that a verified action's effect was undone: verified →
// reverted.
func (d *Desk) Revert(ctx context.Context, actor Actor, id, note string) (Action, error) {
	return d.close(ctx, actor, id, note, Reverted, KindReverted)
}

func (d *Desk) close(ctx context.Context, actor Actor, id, note string, to ActionState, kind string) (Action, error) {
	if err := checkText("note", note, 0, maxLong); err != nil {
		return Action{}, err
	}
	if err := d.lock(ctx, actor); err != nil {
		return Action{}, err
	}
	defer d.unlock()
	a, err := d.transition(ctx, id, to)
	if err != nil {
		return Action{}, err
	}
	if _, err := d.write(ctx, actor, kind, a.Incident, outcomePayload{Action: id, Note: note}); err != nil {
		return Action{}, err
	}
	return d.GetAction(ctx, id)
}
