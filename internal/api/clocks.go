package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

// clockRoutes are the regulatory clocks' endpoints (docs/api.md): the
// people who file notifications declare regimes and record submissions;
// everyone signed in reads.
func (s *Server) clockRoutes() []route {
	if s.Desk == nil {
		return nil
	}
	filers := []string{RoleAnalyst, RoleIncidentCommander, RoleLegalCounsel, RoleDPO}
	return []route{
		{pattern: "POST /api/v1/incidents/{id}/clocks", h: s.declareClock, roles: filers},
		{pattern: "POST /api/v1/incidents/{id}/clocks/{regime}/submissions", h: s.recordSubmission, roles: filers},
		{pattern: "GET /api/v1/incidents/{id}/clocks", h: s.getClocks},
		{pattern: "GET /api/v1/clocks/due", h: s.dueClocks},
		{pattern: "GET /api/v1/regimes", h: s.listRegimes},
	}
}

// maxDueWithin bounds the within parameter of GET /api/v1/clocks/due.
const maxDueWithin = 366 * 24 * time.Hour

func (s *Server) declareClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Regime    string    `json:"regime"`
		Event     string    `json:"event"`
		Trigger   time.Time `json:"trigger"`
		Rationale string    `json:"rationale"`
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	if _, err := s.Desk.DeclareEvent(r.Context(), actorFrom(r), id, in.Regime, in.Event, in.Trigger, in.Rationale); err != nil {
		s.deskError(w, r, err)
		return
	}
	s.writeClocks(w, r, http.StatusCreated, id)
}

func (s *Server) recordSubmission(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Deadline string `json:"deadline"`
		incident.Submission
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	if _, err := s.Desk.RecordSubmission(r.Context(), actorFrom(r), id, r.PathValue("regime"), in.Deadline, in.Submission); err != nil {
		s.deskError(w, r, err)
		return
	}
	s.writeClocks(w, r, http.StatusCreated, id)
}

func (s *Server) getClocks(w http.ResponseWriter, r *http.Request) {
	s.writeClocks(w, r, http.StatusOK, r.PathValue("id"))
}

func (s *Server) writeClocks(w http.ResponseWriter, r *http.Request, code int, id string) {
	clocks, err := s.Desk.Clocks(r.Context(), id)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, code, map[string]any{"clocks": clocks})
}

func (s *Server) dueClocks(w http.ResponseWriter, r *http.Request) {
	within := incident.DueSoonWithin
	if v := r.URL.Query().Get("within"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxDueWithin {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("within must be a duration such as 24h, from 0 to %s", maxDueWithin))
			return
		}
		within = d
	}
	clocks, err := s.Desk.DueSoon(r.Context(), within, s.now())
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"clocks": clocks})
}

func (s *Server) listRegimes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"regimes": incident.Regimes})
}
