package api

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/vallum/vallum/internal/drafts"
)

// draftRoutes are the notification drafts' endpoint (docs/drafts.md): the
// people who file notifications generate them. Generating a draft reads
// the case and changes nothing, so it is not logged; filing it is a
// submission on the clocks.
func (s *Server) draftRoutes() []route {
	if s.Desk == nil {
		return nil
	}
	filers := []string{RoleAnalyst, RoleIncidentCommander, RoleLegalCounsel, RoleDPO}
	return []route{
		{pattern: "GET /api/v1/incidents/{id}/drafts/{kind}", h: s.getDraft, roles: filers},
	}
}

// draftTypes are the Content-Types of the drafts' formats.
var draftTypes = map[string]string{
	"md":   "text/markdown; charset=utf-8",
	"html": "text/html; charset=utf-8",
}

func (s *Server) getDraft(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	if !slices.Contains(drafts.Kinds(), kind) {
		writeError(w, http.StatusNotFound, "unknown draft kind "+kind+" (known: "+strings.Join(drafts.Kinds(), ", ")+")")
		return
	}
	q := r.URL.Query()
	lang, format := cmp.Or(q.Get("lang"), "it"), cmp.Or(q.Get("format"), "md")
	c, err := s.readCase(r.Context(), r.PathValue("id"))
	if err != nil {
		s.deskError(w, r, err)
		return
	}
	d, err := drafts.Render(kind, lang, format, c, s.now())
	if errors.Is(err, drafts.ErrUnknown) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", draftTypes[format])
	w.Header().Set("X-Vallum-Missing", strings.Join(d.Missing, ","))
	w.WriteHeader(http.StatusOK)
	w.Write(d.Body)
}

// readCase reads everything a draft is generated from.
func (s *Server) readCase(ctx context.Context, id string) (drafts.Case, error) {
	var c drafts.Case
	var err error
	if c.Incident, err = s.Desk.GetIncident(ctx, id); err != nil {
		return c, err
	}
	if c.Observables, err = s.Desk.Observables(ctx, id); err != nil {
		return c, err
	}
	if c.Notes, err = s.Desk.Notes(ctx, id); err != nil {
		return c, err
	}
	ids, err := s.Desk.ListEvidence(ctx, id)
	if err != nil {
		return c, err
	}
	for _, eid := range ids {
		e, err := s.Desk.GetEvidence(ctx, eid)
		if err != nil {
			return c, err
		}
		c.Evidence = append(c.Evidence, e)
	}
	if c.Actions, err = s.Desk.ListActions(ctx, id); err != nil {
		return c, err
	}
	if c.Clocks, err = s.Desk.Clocks(ctx, id); err != nil {
		return c, err
	}
	c.Timeline, err = s.Desk.Timeline(ctx, id)
	return c, err
}
