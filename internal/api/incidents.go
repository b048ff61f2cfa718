package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/vallum/vallum/internal/contain"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

// incidentRoutes are the incident desk's endpoints (docs/api.md). Reads
// are open to every signed-in caller; case work needs analyst or
// incident_commander; approving needs one of the approval roles (the desk
// then checks the caller holds the very role approved).
func (s *Server) incidentRoutes() []route {
	if s.Desk == nil {
		return nil
	}
	work := []string{RoleAnalyst, RoleIncidentCommander}
	approvers := []string{RoleAnalyst, RoleIncidentCommander, RoleBusinessOwner, RoleLegalCounsel, RoleDPO, RoleExecutive, RoleBoard}
	return []route{
		{pattern: "POST /api/v1/incidents", h: s.createIncident, roles: work},
		{pattern: "GET /api/v1/incidents", h: s.listIncidents},
		{pattern: "GET /api/v1/incidents/{id}", h: s.getIncident},
		{pattern: "PATCH /api/v1/incidents/{id}", h: s.updateIncident, roles: work},
		{pattern: "POST /api/v1/incidents/{id}/notes", h: s.addNote, roles: work},
		{pattern: "POST /api/v1/incidents/{id}/observables", h: s.addObservable, roles: work},
		{pattern: "POST /api/v1/incidents/{id}/events", h: s.linkEvents, roles: work},
		{pattern: "GET /api/v1/incidents/{id}/timeline", h: s.getTimeline},
		{pattern: "POST /api/v1/incidents/{id}/evidence", h: s.acquireEvidence, roles: work},
		{pattern: "GET /api/v1/evidence/{id}", h: s.getEvidence},
		{pattern: "POST /api/v1/evidence/{id}/custody", h: s.addCustody, roles: work},
		{pattern: "POST /api/v1/incidents/{id}/actions", h: s.proposeAction, roles: work},
		{pattern: "GET /api/v1/incidents/{id}/actions", h: s.listActions},
		{pattern: "GET /api/v1/actions/{id}", h: s.getAction},
		{pattern: "POST /api/v1/actions/{id}/decide", h: s.decideAction, roles: work},
		{pattern: "POST /api/v1/actions/{id}/approve", h: s.approveAction, roles: approvers},
		{pattern: "POST /api/v1/actions/{id}/execute", h: s.executeAction, roles: work},
		// With a containment in force, verify reads the real state back
		// and expire and revert lift it first (contain.go).
		{pattern: "POST /api/v1/actions/{id}/verify", h: s.closeAction(s.Desk.Verify, s.containVerify), roles: work},
		{pattern: "POST /api/v1/actions/{id}/expire", h: s.closeAction(s.Desk.Expire, s.containExpire), roles: work},
		{pattern: "POST /api/v1/actions/{id}/revert", h: s.closeAction(s.Desk.Revert, s.containRevert), roles: work},
	}
}

// LogDecider is the server's guardrail as the incident desk's Decider: it
// decides with the server's perimeter, rule pack and clock and logs the
// decision before returning it.
type LogDecider struct{ S *Server }

var _ incident.Decider = LogDecider{}

// Decide implements incident.Decider.
func (d LogDecider) Decide(ctx context.Context, req guard.Request, inc string) (guard.Decision, error) {
	// Hook (events.go): malicious activity the event pipeline linked to
	// the incident feeds the present_danger fact; a no-op without it.
	d.S.Events.fillIncident(ctx, inc, &req)
	body, err := json.Marshal(req)
	if err != nil {
		return guard.Decision{}, err
	}
	return d.S.decideAndLog(ctx, req, body, "vallum", inc)
}

// decideAndLog decides req and appends the decision to the log; the
// decision returned carries the receipt. body is the request as received.
func (s *Server) decideAndLog(ctx context.Context, req guard.Request, body []byte, actor, inc string) (guard.Decision, error) {
	now := s.now()
	d := s.Guard.Preview(req, now)
	payload, err := json.Marshal(DecisionRecord{Request: body, Decision: d, DecidedAt: now})
	if err != nil {
		return d, err
	}
	rcpt, err := s.Log.Append(ctx, evidence.Record{Kind: "decision", Actor: actor, Incident: inc, Payload: payload})
	if err != nil {
		return d, fmt.Errorf("couldn't log decision: %w", err)
	}
	d.Receipt = &guard.Receipt{Index: rcpt.Index, LeafHash: rcpt.LeafHash.String()}
	return d, nil
}

func actorFrom(r *http.Request) incident.Actor {
	p, _ := PrincipalFrom(r.Context())
	return incident.Actor{Name: p.Name, Roles: p.Roles}
}

// deskError answers an error from the desk with the status it deserves.
func (s *Server) deskError(w http.ResponseWriter, r *http.Request, err error) {
	var te *incident.TransitionError
	var se *incident.StatusError
	var re *incident.RefusedError
	switch {
	case errors.Is(err, incident.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, incident.ErrForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.As(err, &te), errors.As(err, &se), errors.As(err, &re),
		errors.Is(err, incident.ErrNoPermit), errors.Is(err, incident.ErrHashMismatch):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, incident.ErrInvalid), errors.Is(err, evidence.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		s.internalError(w, r, err)
	}
}

func (s *Server) createIncident(w http.ResponseWriter, r *http.Request) {
	var in incident.NewIncident
	if !s.decodeBody(w, r, &in) {
		return
	}
	inc, err := s.Desk.Create(r.Context(), actorFrom(r), in)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, inc)
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, ok := pageFrom(w, r)
	if !ok {
		return
	}
	f := incident.Filter{Status: incident.Status(q.Get("status")), Severity: incident.Severity(q.Get("severity"))}
	list, next, err := s.Desk.ListIncidents(r.Context(), f, page)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": list, "next": next})
}

// pageFrom reads the after and limit query parameters.
func pageFrom(w http.ResponseWriter, r *http.Request) (incident.Page, bool) {
	var p incident.Page
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		set  func(int64)
	}{
		{"after", func(v int64) { p.After = v }},
		{"limit", func(v int64) { p.Limit = int(v) }},
	} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 1<<40 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s must be a non-negative integer", f.name))
				return p, false
			}
			f.set(n)
		}
	}
	return p, true
}

// IncidentView is an incident with what was gathered on it.
type IncidentView struct {
	incident.Incident
	Observables []incident.Observable  `json:"observables"`
	Notes       []incident.Note        `json:"notes"`
	Events      []incident.LinkedEvent `json:"events"`
	Evidence    []string               `json:"evidence"`
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	inc, err := s.Desk.GetIncident(ctx, id)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	v := IncidentView{Incident: inc}
	if v.Observables, err = s.Desk.Observables(ctx, id); err == nil {
		if v.Notes, err = s.Desk.Notes(ctx, id); err == nil {
			if v.Events, err = s.Desk.Events(ctx, id); err == nil {
				v.Evidence, err = s.Desk.ListEvidence(ctx, id)
			}
		}
	}
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) updateIncident(w http.ResponseWriter, r *http.Request) {
	var u incident.Update
	if !s.decodeBody(w, r, &u) {
		return
	}
	inc, err := s.Desk.Update(r.Context(), actorFrom(r), r.PathValue("id"), u)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

func (s *Server) addNote(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Text string `json:"text"`
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	i, err := s.Desk.AddNote(r.Context(), actorFrom(r), r.PathValue("id"), in.Text)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"index": i})
}

func (s *Server) addObservable(w http.ResponseWriter, r *http.Request) {
	var in incident.NewObservable
	if !s.decodeBody(w, r, &in) {
		return
	}
	o, err := s.Desk.AddObservable(r.Context(), actorFrom(r), r.PathValue("id"), in)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

func (s *Server) linkEvents(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Indexes []int64 `json:"indexes"`
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	i, err := s.Desk.LinkEvents(r.Context(), actorFrom(r), r.PathValue("id"), in.Indexes)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"index": i})
}

func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request) {
	items, err := s.Desk.Timeline(r.Context(), r.PathValue("id"))
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) acquireEvidence(w http.ResponseWriter, r *http.Request) {
	var in incident.EvidenceInput
	if !s.decodeBody(w, r, &in) {
		return
	}
	e, err := s.Desk.AcquireEvidence(r.Context(), actorFrom(r), r.PathValue("id"), in)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) getEvidence(w http.ResponseWriter, r *http.Request) {
	e, err := s.Desk.GetEvidence(r.Context(), r.PathValue("id"))
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) addCustody(w http.ResponseWriter, r *http.Request) {
	var in incident.Custody
	if !s.decodeBody(w, r, &in) {
		return
	}
	c, err := s.Desk.AddCustody(r.Context(), actorFrom(r), r.PathValue("id"), in)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) proposeAction(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	// The proposer is the signed-in caller, whatever the body says.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request body: "+err.Error())
		return
	}
	fields["proposer"], _ = json.Marshal(actorFrom(r).Name)
	body, _ = json.Marshal(fields)
	req, err := guard.DecodeRequest(bytesReader(body), maxDecisionBody)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a, err := s.Desk.Propose(r.Context(), actorFrom(r), r.PathValue("id"), req)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	as, err := s.Desk.ListActions(r.Context(), r.PathValue("id"))
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"actions": as})
}

func (s *Server) getAction(w http.ResponseWriter, r *http.Request) {
	a, err := s.Desk.GetAction(r.Context(), r.PathValue("id"))
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) decideAction(w http.ResponseWriter, r *http.Request) {
	a, err := s.Desk.Decide(r.Context(), actorFrom(r), r.PathValue("id"))
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) approveAction(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role string `json:"role"`
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	a, err := s.Desk.Approve(r.Context(), actorFrom(r), r.PathValue("id"), in.Role)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// executeAction runs an action with the manual executor (the caller
// records that a person carried it out, with a summary and a reference to
// the evidence) or, when a containment connector serves the action, with
// the connector (issue 7: "executor": "contain", or empty to let the
// server choose), which is then verified at once by reading the real
// state back. "force": {"reason": …} overrides a forceable safety refusal
// and is reserved to incident commanders.
func (s *Server) executeAction(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Executor  string         `json:"executor"`
		Summary   string         `json:"summary"`
		Reference string         `json:"reference"`
		Force     *contain.Force `json:"force"`
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	// Containment connectors (contain.go).
	if in.Executor == "contain" || in.Executor == "" {
		s.executeContain(w, r, in.Force, in.Executor == "contain")
		return
	}
	if in.Executor != "manual" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("executor %q: want \"manual\" or \"contain\"", in.Executor))
		return
	}
	if in.Summary == "" || in.Reference == "" {
		// Checked before the desk runs it, so a missing account is a bad
		// request, not a failed action.
		writeError(w, http.StatusBadRequest, "a manual execution needs a summary of what was done and a reference to its evidence")
		return
	}
	ex := &incident.ManualExecutor{Log: s.Log, Summary: in.Summary, Reference: in.Reference}
	a, err := s.Desk.Execute(r.Context(), actorFrom(r), r.PathValue("id"), ex)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// ExecutedView is an action executed by a connector with what its
// verification observed.
type ExecutedView struct {
	incident.Action
	// Observation is what the connector read back right after applying;
	// when it disagrees, the action stays executed (not verified).
	Observation *contain.Observation `json:"observation,omitempty"`
	// VerifyError says why the verification failed.
	VerifyError string `json:"verify_error,omitempty"`
}

// executeContain runs the action with its connector and verifies it.
func (s *Server) executeContain(w http.ResponseWriter, r *http.Request, force *contain.Force, asked bool) {
	ctx, id, actor := r.Context(), r.PathValue("id"), actorFrom(r)
	a, err := s.Desk.GetAction(ctx, id)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	if s.Contain == nil || s.Contain.Manager == nil || !s.Contain.Manager.Serves(a) {
		if asked {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("no containment connector carries out %s on device %q; execute it with \"manual\"", a.Request.Action.Kind, a.Request.Action.Params.Device+a.Request.Action.Params.Resolver))
		} else {
			writeError(w, http.StatusBadRequest, "executor: want \"manual\" (with summary and reference) or \"contain\"")
		}
		return
	}
	if force != nil && !actor.Has(RoleIncidentCommander) {
		writeError(w, http.StatusForbidden, "only an incident commander may force a containment")
		return
	}
	m := s.Contain.Manager
	a, err = s.Desk.Execute(ctx, actor, id, m.Executor(actor, force))
	if err != nil {
		s.containError(w, r, err)
		return
	}
	v := ExecutedView{Action: a}
	va, obs, err := m.Verify(ctx, actor, id)
	v.Observation = &obs
	if err != nil {
		v.VerifyError = err.Error()
	} else {
		v.Action = va
	}
	writeJSON(w, http.StatusOK, v)
}

// closeAction answers verify, expire and revert, which take a note.
// An action with a containment in force goes through the connector step
// instead (contain.go).
func (s *Server) closeAction(step, connector func(context.Context, incident.Actor, string, string) (incident.Action, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Note string `json:"note"`
		}
		if !s.decodeBody(w, r, &in) {
			return
		}
		if id := r.PathValue("id"); s.active(id) {
			a, err := connector(r.Context(), actorFrom(r), id, in.Note)
			if err != nil {
				s.containError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, a)
			return
		}
		a, err := step(r.Context(), actorFrom(r), r.PathValue("id"), in.Note)
		if err != nil {
			s.deskError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, a)
	}
}
