package web

import (
	"context"
	"net/http"
	"slices"

	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

// severityGroup is the open incidents of one severity.
type severityGroup struct {
	Severity  incident.Severity
	Incidents []incident.Incident
}

// pendingApproval is an action waiting for an approval the signed-in
// user may give.
type pendingApproval struct {
	Action   incident.Action
	Incident incident.Incident
	Roles    []string
}

// nowData is the Now page's data.
type nowData struct {
	Groups    []severityGroup
	Open      int
	Approvals []pendingApproval
	Clocks    []incident.Clock
	Events    []feedEvent
	LastEvent int64
	Stats     eventStats
	HoursSVG  string
	TopSVG    string
	Log       logState
}

func (c *Console) nowPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	d := nowData{LastEvent: -1, Log: c.logState(r)}
	open, err := c.allIncidents(ctx, incident.StatusOpen)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	d.Open = len(open)
	for _, sev := range severityOrder {
		g := severityGroup{Severity: sev}
		for _, inc := range open {
			if inc.Severity == sev {
				g.Incidents = append(g.Incidents, inc)
			}
		}
		if len(g.Incidents) > 0 {
			d.Groups = append(d.Groups, g)
		}
	}
	contained, err := c.allIncidents(ctx, incident.StatusContained)
	if err == nil {
		d.Approvals, err = c.pendingApprovals(ctx, rq, append(open, contained...))
	}
	if err == nil {
		d.Clocks, err = c.desk.DueSoon(ctx, incident.DueSoonWithin, rq.now)
	}
	if err == nil {
		d.Events, err = c.recentEvents(ctx, -1, 15, rq.lang)
	}
	if err == nil {
		d.Stats, err = c.eventStats(ctx, rq.now)
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if len(d.Events) > 0 {
		d.LastEvent = d.Events[0].Index
	}
	d.HoursSVG = hoursSVG(d.Stats, rq.lang)
	d.TopSVG = sourcesSVG(d.Stats.Sources, rq.lang)
	c.render(w, r, rq, http.StatusOK, "now", "now.title", d)
}

// pendingApprovals lists the actions of incs decided conditional whose
// still-missing approvals include a role the user holds, unless the user
// proposed them (four-eyes) or already approved in that role.
func (c *Console) pendingApprovals(ctx context.Context, rq *request, incs []incident.Incident) ([]pendingApproval, error) {
	var out []pendingApproval
	for _, inc := range incs {
		as, err := c.desk.ListActions(ctx, inc.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			if a.State != incident.Decided || a.Verdict != guard.Conditional || a.Proposer == rq.p.Name {
				continue
			}
			if !slices.ContainsFunc(a.Requires, rq.p.Has) {
				continue
			}
			full, err := c.desk.GetAction(ctx, a.ID)
			if err != nil {
				return nil, err
			}
			var mine []string
			for _, role := range full.Requires {
				done := slices.ContainsFunc(full.Approvals, func(ap incident.Approval) bool { return ap.Role == role })
				if !done && rq.p.Has(role) {
					mine = append(mine, role)
				}
			}
			if len(mine) > 0 {
				out = append(out, pendingApproval{Action: full, Incident: inc, Roles: mine})
			}
		}
	}
	return out, nil
}
