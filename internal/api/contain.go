package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/vallum/vallum/internal/contain"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/perimeter"
)

// ContainService serves the endpoints of containment connectors. A zero
// ContainService (no Manager) answers 503.
type ContainService struct {
	// Manager runs the connectors (internal/contain).
	Manager *contain.Manager
}

// containRoutes lists the endpoints of containment connectors; none while
// s.Contain is nil. The action lifecycle endpoints (execute, verify,
// expire, revert) stay in incidents.go and call the connector when the
// action has one.
func (s *Server) containRoutes() []route {
	if s.Contain == nil {
		return nil
	}
	return []route{
		{pattern: "GET /api/v1/actions/{id}/plan", h: s.getPlan},
		{pattern: "GET /api/v1/containment", h: s.listContainment},
		{pattern: "POST /api/v1/containment/reconcile", h: s.reconcile, roles: []string{RoleAdmin}},
	}
}

// Perimeter returns the perimeter in force (nil before the first Reload).
func (g *Guard) Perimeter() *perimeter.Perimeter {
	if st := g.state.Load(); st != nil {
		return st.perimeter
	}
	return nil
}

// connected reports whether containment is configured, answering 503 if
// not.
func (s *Server) connected(w http.ResponseWriter) bool {
	if s.Contain == nil || s.Contain.Manager == nil {
		writeError(w, http.StatusServiceUnavailable, "containment is not configured (contain: in the configuration)")
		return false
	}
	return true
}

// PlanView is what GET /api/v1/actions/{id}/plan answers: the connector's
// dry-run plan for the action, and whether the safety rules would refuse
// it (and whether force could override that).
type PlanView struct {
	Action string        `json:"action"`
	Plan   *contain.Plan `json:"plan,omitempty"`
	// Refused is the safety refusal, if any; Forceable says whether an
	// incident commander may override it with a reason.
	Refused   string `json:"refused,omitempty"`
	Forceable bool   `json:"forceable,omitempty"`
	// Active is the containment in force for this action, if any.
	Active *contain.Active `json:"active,omitempty"`
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request) {
	if !s.connected(w) {
		return
	}
	if s.Desk == nil {
		writeError(w, http.StatusServiceUnavailable, "the incident desk is not running")
		return
	}
	a, err := s.Desk.GetAction(r.Context(), r.PathValue("id"))
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	m := s.Contain.Manager
	v := PlanView{Action: a.ID}
	for _, act := range m.Active() {
		if act.Plan.Action == a.ID {
			v.Active = &act
		}
	}
	p, err := m.PlanAction(r.Context(), a)
	var ref *contain.Refusal
	switch {
	case errors.As(err, &ref):
		v.Plan, v.Refused, v.Forceable = &p, ref.Reason, ref.Forceable
	case errors.Is(err, contain.ErrNoConnector), errors.Is(err, contain.ErrUnsupported):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	default:
		v.Plan = &p
	}
	writeJSON(w, http.StatusOK, v)
}

// ConnectorView describes one configured connector.
type ConnectorView struct {
	Device string   `json:"device"`
	Type   string   `json:"type"`
	Kinds  []string `json:"kinds"`
}

func (s *Server) listContainment(w http.ResponseWriter, r *http.Request) {
	if !s.connected(w) {
		return
	}
	m := s.Contain.Manager
	cs := []ConnectorView{}
	for _, c := range m.Connectors() {
		cs = append(cs, ConnectorView{Device: c.Name(), Type: c.Type(), Kinds: c.Kinds()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": m.Active(), "connectors": cs})
}

func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) {
	if !s.connected(w) {
		return
	}
	in := struct {
		// Repair re-applies what is missing and removes what no action
		// accounts for; false only reports (and logs) the drift.
		Repair *bool `json:"repair"`
	}{}
	if r.ContentLength != 0 && !s.decodeBody(w, r, &in) {
		return
	}
	repair := in.Repair == nil || *in.Repair
	p, _ := PrincipalFrom(r.Context())
	drifts, err := s.Contain.Manager.Reconcile(r.Context(), incident.Actor{Name: p.Name, Roles: p.Roles}, repair)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if drifts == nil {
		drifts = []contain.Drift{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"drift": drifts, "repair": repair})
}

// containError answers an error from a connector step.
func (s *Server) containError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *contain.VerifyError
	switch {
	case errors.As(err, &ve):
		writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "observation": ve.Observation})
	case errors.Is(err, contain.ErrRefused):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, contain.ErrNotActive), errors.Is(err, contain.ErrNoConnector):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.deskError(w, r, err)
	}
}

// active reports whether a containment of the action is in force.
func (s *Server) active(id string) bool {
	if s.Contain == nil || s.Contain.Manager == nil {
		return false
	}
	_, ok := s.Contain.Manager.Lookup(id)
	return ok
}

// containVerify reads an active containment back; the desk records
// verified only when the observation agrees (the note is kept in the
// desk's entry after what was observed).
func (s *Server) containVerify(ctx context.Context, actor incident.Actor, id, note string) (incident.Action, error) {
	a, _, err := s.Contain.Manager.Verify(ctx, actor, id)
	return a, err
}

// containExpire lifts an active containment as expired, on a person's
// request.
func (s *Server) containExpire(ctx context.Context, actor incident.Actor, id, note string) (incident.Action, error) {
	return s.Contain.Manager.Expire(ctx, actor, id, note)
}

// containRevert lifts an active containment as reverted.
func (s *Server) containRevert(ctx context.Context, actor incident.Actor, id, note string) (incident.Action, error) {
	return s.Contain.Manager.Revert(ctx, actor, id, note)
}
