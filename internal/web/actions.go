package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

// actionData is the Action page's data.
type actionData struct {
	Action incident.Action
	// Decision is the logged guardrail decision of the action's latest
	// decision receipt (nil before it is decided or when erased).
	Decision *guard.Decision
	// Lifecycle is the path of states to show, with the current one.
	Lifecycle []incident.ActionState
	// Pending are the required roles not yet approved; MyRoles those of
	// them the signed-in user may approve in.
	Pending []string
	MyRoles []string
	// Proposer: the signed-in user proposed it (four-eyes: no approval).
	Proposer bool
	// Plan is what will run: a connector's plan, or nil for manual.
	Plan *planView
	// PlanAvailable: containment connectors are configured.
	PlanAvailable bool
	PlanError     string
	CanExecute    bool
	CanVerify     bool
	CanRevert     bool
	ExecuteManual bool
	// Ran: execution has begun, so the plan is what ran.
	Ran bool
}

// lifecycleFor is the path an action takes, for the lifecycle strip.
func lifecycleFor(a incident.Action) []incident.ActionState {
	path := []incident.ActionState{incident.Proposed, incident.Decided}
	if a.Verdict == guard.Conditional || len(a.Requires) > 0 {
		path = append(path, incident.Approved)
	}
	if a.Verdict == guard.Deny {
		return path
	}
	path = append(path, incident.Executing)
	switch a.State {
	case incident.Failed:
		return append(path, incident.Failed)
	case incident.Expired, incident.Reverted:
		return append(path, incident.Executed, incident.Verified, a.State)
	}
	return append(path, incident.Executed, incident.Verified)
}

func (c *Console) actionPage(w http.ResponseWriter, r *http.Request, rq *request) {
	a, err := c.desk.GetAction(r.Context(), r.PathValue("id"))
	if err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	d := actionData{Action: a, Lifecycle: lifecycleFor(a), Proposer: a.Proposer == rq.p.Name}
	if a.Decision != nil {
		d.Decision = c.loggedDecision(a.Decision.Index)
	}
	for _, role := range a.Requires {
		done := slices.ContainsFunc(a.Approvals, func(ap incident.Approval) bool { return ap.Role == role })
		if !done {
			d.Pending = append(d.Pending, role)
			if rq.p.Has(role) && !d.Proposer && !slices.ContainsFunc(a.Approvals, func(ap incident.Approval) bool { return ap.Role == role && ap.By == rq.p.Name }) {
				d.MyRoles = append(d.MyRoles, role)
			}
		}
	}
	work := rq.can(roleWork...)
	d.CanExecute = work && a.Verdict != guard.Deny &&
		((a.State == incident.Decided && a.Verdict == guard.Allow) || a.State == incident.Approved)
	d.CanVerify = work && a.State == incident.Executed
	d.CanRevert = work && (a.State == incident.Executed || a.State == incident.Verified)
	d.PlanAvailable = c.manager() != nil
	if a.Verdict != guard.Deny {
		p, err := c.planFor(r.Context(), a)
		if err != nil {
			d.PlanError = err.Error()
		}
		d.Plan = p
	}
	d.ExecuteManual = d.Plan == nil
	d.Ran = !slices.Contains([]incident.ActionState{incident.Proposed, incident.Decided, incident.Approved}, a.State)
	c.render(w, r, rq, http.StatusOK, "action", "action.title", d, a.ID)
}

// loggedDecision reads the guardrail's decision from its log entry.
func (c *Console) loggedDecision(index int64) *guard.Decision {
	e, err := c.srv.Log.Entry(index)
	if err != nil || e.Erased {
		return nil
	}
	var rec api.DecisionRecord
	if err := json.Unmarshal(e.Payload, &rec); err != nil || rec.Decision.Verdict == "" {
		return nil
	}
	rec.Decision.Receipt = &guard.Receipt{Index: index, LeafHash: evidence.LeafHash(e.Header).String()}
	return &rec.Decision
}

func (c *Console) approveAction(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	if _, err := c.desk.Approve(r.Context(), rq.actor(), id, r.PostForm.Get("role")); err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	http.Redirect(w, r, "/actions/"+url.PathEscape(id), http.StatusSeeOther)
}

// executeAction runs the action through the desk (which re-checks it with
// the guardrail and logs before acting) with the connector's executor
// when one handles it, else the manual executor with the form's summary
// and reference, as the API's execute endpoint.
func (c *Console) executeAction(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	a, err := c.desk.GetAction(r.Context(), id)
	if err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	if ok, err := c.containExecute(r.Context(), rq.actor(), a); ok {
		if err != nil {
			c.deskError(w, r, rq, err)
			return
		}
		http.Redirect(w, r, "/actions/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	summary, ref := strings.TrimSpace(r.PostForm.Get("summary")), strings.TrimSpace(r.PostForm.Get("reference"))
	if summary == "" || ref == "" {
		c.fail(w, r, rq, http.StatusBadRequest, "action.manual.needs")
		return
	}
	ex := &incident.ManualExecutor{Log: c.srv.Log, Summary: summary, Reference: ref}
	if _, err := c.desk.Execute(r.Context(), rq.actor(), id, ex); err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	http.Redirect(w, r, "/actions/"+url.PathEscape(id), http.StatusSeeOther)
}

// closeAction records verify or revert (with the form's note), through
// the connector when a containment of the action is in force.
func (c *Console) closeAction(step string) pageFunc {
	desk := map[string]func(context.Context, incident.Actor, string, string) (incident.Action, error){
		"verify": c.desk.Verify, "revert": c.desk.Revert,
	}[step]
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		id := r.PathValue("id")
		note := strings.TrimSpace(r.PostForm.Get("note"))
		ok, err := c.containClose(r.Context(), rq.actor(), id, step, note)
		if !ok {
			_, err = desk(r.Context(), rq.actor(), id, note)
		}
		if err != nil {
			c.deskError(w, r, rq, err)
			return
		}
		http.Redirect(w, r, "/actions/"+url.PathEscape(id), http.StatusSeeOther)
	}
}
