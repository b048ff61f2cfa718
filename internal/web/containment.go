package web

import (
	"context"
	"errors"

	"github.com/vallum/vallum/internal/contain"
	"github.com/vallum/vallum/internal/incident"
)

// The containment part (issue 7): when the server has containment
// connectors (api.Server.Contain), the Action page shows the connector's
// dry-run Plan, execution goes through the connector's executor and is
// verified at once by reading the real state back, and verify, expire and
// revert of an action in force go through the connector, as the API does.
// Without connectors, an action is executed manually.

// manager returns the containment manager, nil when there is none.
func (c *Console) manager() *contain.Manager {
	if c.srv.Contain == nil {
		return nil
	}
	return c.srv.Contain.Manager
}

// planView is what the Action page shows of a connector's plan.
type planView struct {
	Plan contain.Plan
	// Refused is the safety refusal, if any; Forceable says whether an
	// incident commander could override it (through the API).
	Refused   string
	Forceable bool
	// Active: a containment of this action is in force.
	Active bool
}

// planFor returns the connector's plan for a, or nil when no connector
// serves it (manual execution).
func (c *Console) planFor(ctx context.Context, a incident.Action) (*planView, error) {
	m := c.manager()
	if m == nil || !m.Serves(a) {
		return nil, nil
	}
	v := &planView{}
	if act, ok := m.Lookup(a.ID); ok {
		v.Plan, v.Active = act.Plan, true
		return v, nil
	}
	p, err := m.PlanAction(ctx, a)
	var ref *contain.Refusal
	switch {
	case errors.As(err, &ref):
		v.Plan, v.Refused, v.Forceable = p, ref.Reason, ref.Forceable
	case errors.Is(err, contain.ErrNoConnector), errors.Is(err, contain.ErrUnsupported):
		return nil, nil
	case err != nil:
		return nil, err
	default:
		v.Plan = p
	}
	return v, nil
}

// containExecute runs a through its connector and verifies it; ok false
// when no connector serves it.
func (c *Console) containExecute(ctx context.Context, actor incident.Actor, a incident.Action) (ok bool, err error) {
	m := c.manager()
	if m == nil || !m.Serves(a) {
		return false, nil
	}
	if _, err := c.desk.Execute(ctx, actor, a.ID, m.Executor(actor, nil)); err != nil {
		return true, err
	}
	_, _, err = m.Verify(ctx, actor, a.ID)
	return true, err
}

// containClose verifies, expires or reverts an action whose containment
// is in force through its connector; ok false when none is in force.
func (c *Console) containClose(ctx context.Context, actor incident.Actor, id, step, note string) (ok bool, err error) {
	m := c.manager()
	if m == nil {
		return false, nil
	}
	if _, active := m.Lookup(id); !active {
		return false, nil
	}
	switch step {
	case "verify":
		_, _, err = m.Verify(ctx, actor, id)
	case "expire":
		_, err = m.Expire(ctx, actor, id, note)
	default:
		_, err = m.Revert(ctx, actor, id, note)
	}
	return true, err
}
