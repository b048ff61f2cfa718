package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/vallum/vallum/internal/drafts"
	"github.com/vallum/vallum/internal/incident"
)

// severityOrder ranks severities, gravest first.
var severityOrder = []incident.Severity{incident.Critical, incident.High, incident.Medium, incident.Low}

func severityRank(s incident.Severity) int {
	if i := slices.Index(severityOrder, s); i >= 0 {
		return i
	}
	return len(severityOrder)
}

// allIncidents lists incidents of a status ("" for all), gravest first,
// then newest first; at most 2,000.
func (c *Console) allIncidents(ctx context.Context, status incident.Status) ([]incident.Incident, error) {
	var out []incident.Incident
	page := incident.Page{Limit: 500}
	for len(out) < 2000 {
		list, next, err := c.desk.ListIncidents(ctx, incident.Filter{Status: status}, page)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
		if next == 0 {
			break
		}
		page.After = next
	}
	slices.SortStableFunc(out, func(a, b incident.Incident) int {
		if d := severityRank(a.Severity) - severityRank(b.Severity); d != 0 {
			return d
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	return out, nil
}

type incidentsData struct {
	Incidents []incident.Incident
	Status    string
	Error     string
	Form      url.Values
}

func (c *Console) incidentsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	status := incident.Status(r.URL.Query().Get("status"))
	if _, ok := incident.StatusTransitions[status]; !ok {
		status = ""
	}
	list, err := c.allIncidents(r.Context(), status)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.render(w, r, rq, http.StatusOK, "incidents", "incidents.title", incidentsData{Incidents: list, Status: string(status), Form: url.Values{}})
}

// createIncident opens an incident from the form (title, description,
// severity, categories as a comma-separated list).
func (c *Console) createIncident(w http.ResponseWriter, r *http.Request, rq *request) {
	f := r.PostForm
	in := incident.NewIncident{
		Title: strings.TrimSpace(f.Get("title")), Description: strings.TrimSpace(f.Get("description")),
		Severity: incident.Severity(f.Get("severity")), Categories: splitList(f.Get("categories")), Assignees: []string{},
	}
	inc, err := c.desk.Create(r.Context(), rq.actor(), in)
	if errors.Is(err, incident.ErrInvalid) {
		list, lerr := c.allIncidents(r.Context(), "")
		if lerr != nil {
			c.internal(w, r, rq, lerr)
			return
		}
		c.render(w, r, rq, http.StatusBadRequest, "incidents", "incidents.title", incidentsData{Incidents: list, Error: err.Error(), Form: f})
		return
	}
	if err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	http.Redirect(w, r, "/incidents/"+url.PathEscape(inc.ID), http.StatusSeeOther)
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// incidentData is the Incident page's data.
type incidentData struct {
	Incident    incident.Incident
	Timeline    []incident.TimelineItem
	TimelineSVG string
	Observables []incident.Observable
	Notes       []incident.Note
	Events      []incident.LinkedEvent
	Evidence    []incident.EvidenceItem
	Actions     []incident.Action
	Clocks      []incident.Clock
	Ransom      incident.RansomTrack
	// ExportAvailable: the court bundle part is in this build.
	ExportAvailable bool
	CanExport       bool
	// Drafts are the notification drafts; CanDraft: the user files them.
	Drafts   []string
	CanDraft bool
}

// loadIncident reads everything the Incident page (and a notification
// draft) shows of an incident.
func (c *Console) loadIncident(ctx context.Context, id string) (incidentData, error) {
	inc, err := c.desk.GetIncident(ctx, id)
	if err != nil {
		return incidentData{}, err
	}
	d := incidentData{Incident: inc}
	var ids []string
	err = errors.Join(
		get(&d.Timeline, func() ([]incident.TimelineItem, error) { return c.desk.Timeline(ctx, id) }),
		get(&d.Observables, func() ([]incident.Observable, error) { return c.desk.Observables(ctx, id) }),
		get(&d.Notes, func() ([]incident.Note, error) { return c.desk.Notes(ctx, id) }),
		get(&d.Events, func() ([]incident.LinkedEvent, error) { return c.desk.Events(ctx, id) }),
		get(&ids, func() ([]string, error) { return c.desk.ListEvidence(ctx, id) }),
		get(&d.Actions, func() ([]incident.Action, error) { return c.desk.ListActions(ctx, id) }),
		get(&d.Clocks, func() ([]incident.Clock, error) { return c.desk.Clocks(ctx, id) }),
		get(&d.Ransom, func() (incident.RansomTrack, error) { return c.desk.RansomTrack(ctx, id) }),
	)
	if err != nil {
		return incidentData{}, err
	}
	for _, e := range ids {
		item, err := c.desk.GetEvidence(ctx, e)
		if err != nil {
			return incidentData{}, err
		}
		d.Evidence = append(d.Evidence, item)
	}
	return d, nil
}

func (c *Console) incidentPage(w http.ResponseWriter, r *http.Request, rq *request) {
	d, err := c.loadIncident(r.Context(), r.PathValue("id"))
	if err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	d.ExportAvailable, d.CanExport, d.CanDraft = c.bundlesAvailable(), rq.can(exportRoles...), rq.can(draftRoles...)
	d.Drafts = drafts.Kinds()
	d.TimelineSVG = timelineSVG(d.Timeline, rq.lang)
	c.render(w, r, rq, http.StatusOK, "incident", "incident.title", d, d.Incident.ID)
}

// get stores f's result in dst.
func get[T any](dst *T, f func() (T, error)) error {
	v, err := f()
	*dst = v
	return err
}

func (c *Console) addNote(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	if _, err := c.desk.AddNote(r.Context(), rq.actor(), id, strings.TrimSpace(r.PostForm.Get("text"))); err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	http.Redirect(w, r, "/incidents/"+url.PathEscape(id)+"#notes", http.StatusSeeOther)
}
