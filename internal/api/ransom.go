package api

import (
	"net/http"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

// ransomRoutes are the ransom track's endpoints (docs/api.md): the
// incident commander, legal counsel and the DPO mark an incident as
// extortion, record the authority reports, archive the messages and link
// the screenings; everyone signed in reads the track. What the guardrail
// sees of a ransom action's notifications and screening comes from here.
func (s *Server) ransomRoutes() []route {
	if s.Desk == nil {
		return nil
	}
	keepers := []string{RoleIncidentCommander, RoleLegalCounsel, RoleDPO}
	return []route{
		{pattern: "POST /api/v1/incidents/{id}/ransom", h: s.markExtortion, roles: keepers},
		{pattern: "POST /api/v1/incidents/{id}/ransom/authority-reports", h: s.recordAuthorityReport, roles: keepers},
		{pattern: "POST /api/v1/incidents/{id}/ransom/messages", h: s.archiveRansomMessage, roles: keepers},
		{pattern: "POST /api/v1/incidents/{id}/ransom/screenings", h: s.linkRansomScreening, roles: keepers},
		{pattern: "GET /api/v1/incidents/{id}/ransom", h: s.getRansomTrack},
	}
}

func (s *Server) markExtortion(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	idx, err := s.Desk.MarkExtortion(r.Context(), actorFrom(r), id, in.Reason)
	s.writeRansom(w, r, id, idx, "", err)
}

func (s *Server) recordAuthorityReport(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Authority string    `json:"authority"`
		Reference string    `json:"reference"`
		At        time.Time `json:"at"`
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	idx, err := s.Desk.RecordAuthorityReport(r.Context(), actorFrom(r), id, in.Authority, in.Reference, in.At)
	s.writeRansom(w, r, id, idx, "", err)
}

func (s *Server) archiveRansomMessage(w http.ResponseWriter, r *http.Request) {
	var in incident.RansomMessage
	if !s.decodeBody(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	idx, ev, err := s.Desk.ArchiveMessage(r.Context(), actorFrom(r), id, in)
	s.writeRansom(w, r, id, idx, ev, err)
}

func (s *Server) linkRansomScreening(w http.ResponseWriter, r *http.Request) {
	var in struct {
		// Screening is the log index of the sanctions.screening entry (the
		// receipt of POST /api/v1/sanctions/screen).
		Screening *int64 `json:"screening"`
	}
	if !s.decodeBody(w, r, &in) {
		return
	}
	if in.Screening == nil {
		writeError(w, http.StatusBadRequest, "screening (the log index of a sanctions.screening entry) is required")
		return
	}
	id := r.PathValue("id")
	idx, err := s.Desk.LinkScreening(r.Context(), actorFrom(r), id, *in.Screening)
	s.writeRansom(w, r, id, idx, "", err)
}

func (s *Server) getRansomTrack(w http.ResponseWriter, r *http.Request) {
	t, err := s.Desk.RansomTrack(r.Context(), r.PathValue("id"))
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// writeRansom answers a track change: 201 with the entry's index, the
// evidence item of an archived message and the track.
func (s *Server) writeRansom(w http.ResponseWriter, r *http.Request, id string, idx int64, ev string, err error) {
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	t, err := s.Desk.RansomTrack(r.Context(), id)
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	out := map[string]any{"index": idx, "track": t}
	if ev != "" {
		out["evidence"] = ev
	}
	writeJSON(w, http.StatusCreated, out)
}
