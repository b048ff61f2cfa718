package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/vallum/vallum/internal/honeytoken"
	"github.com/vallum/vallum/internal/intake"
)

// HoneytokenService serves the endpoints of honeytokens: issuing class A
// tokens (each logged before it is stored, by the registry) and listing
// them. The same registry recognises tokens in sensor events.
type HoneytokenService struct {
	Registry *honeytoken.Registry
}

// honeytokenReaders see token values; other callers see them masked.
var honeytokenReaders = []string{RoleAnalyst, RoleIncidentCommander, RoleAdmin}

// honeytokenRoutes lists the endpoints of honeytokens; none while s.Honeytokens is nil.
func (s *Server) honeytokenRoutes() []route {
	if s.Honeytokens == nil {
		return nil
	}
	return []route{
		{pattern: "POST /api/v1/honeytokens", h: s.createHoneytoken, roles: honeytokenReaders},
		{pattern: "GET /api/v1/honeytokens", h: s.listHoneytokens},
		{pattern: "GET /api/v1/honeytokens/{id}", h: s.getHoneytoken},
	}
}

// honeytokenRefusal is the answer to a token Vallum never issues.
type honeytokenRefusal struct {
	Error       string `json:"error"`
	LegalReason string `json:"legal_reason"`
}

func (s *Server) createHoneytoken(w http.ResponseWriter, r *http.Request) {
	var req honeytoken.Request
	if !s.decodeRequest(w, r, &req, false) {
		return
	}
	p, _ := PrincipalFrom(r.Context())
	tok, err := s.Honeytokens.Registry.Create(r.Context(), p.Name, req)
	var refused *honeytoken.RefusedError
	switch {
	case errors.As(err, &refused):
		writeJSON(w, http.StatusUnprocessableEntity, honeytokenRefusal{
			Error:       refused.Error(),
			LegalReason: refused.Reason,
		})
		return
	case errors.Is(err, honeytoken.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"honeytoken": tok})
}

// readsHoneytokens reports whether the caller may see token values.
func readsHoneytokens(r *http.Request) bool {
	p, _ := PrincipalFrom(r.Context())
	return slices.ContainsFunc(honeytokenReaders, p.Has)
}

// visible returns tok as the caller may see it.
func visible(r *http.Request, tok honeytoken.Token) honeytoken.Token {
	if readsHoneytokens(r) {
		return tok
	}
	return tok.Mask()
}

// visibleEvents redacts, in place, the listed events that carried a
// honeytoken for a caller who may not see token values: their password
// and every occurrence of the token's value and fields are masked
// (honeytoken.Token.RedactEvent). The events themselves are copied, not
// changed.
func (s *Server) visibleEvents(r *http.Request, list []intake.Listed) error {
	if readsHoneytokens(r) {
		return nil
	}
	toks := map[string]honeytoken.Token{}
	for i, l := range list {
		if l.Event == nil || l.Event.Honeytoken == "" {
			continue
		}
		id := l.Event.Honeytoken
		tok, ok := toks[id]
		if !ok && s.Honeytokens != nil {
			var err error
			tok, err = s.Honeytokens.Registry.Get(r.Context(), id)
			if err != nil && !errors.Is(err, honeytoken.ErrNotFound) {
				return err
			}
			toks[id] = tok
		}
		e := tok.RedactEvent(*l.Event)
		list[i].Event = &e
	}
	return nil
}

func (s *Server) listHoneytokens(w http.ResponseWriter, r *http.Request) {
	toks, err := s.Honeytokens.Registry.List(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	for i := range toks {
		toks[i] = visible(r, toks[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"honeytokens": toks})
}

func (s *Server) getHoneytoken(w http.ResponseWriter, r *http.Request) {
	tok, err := s.Honeytokens.Registry.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, honeytoken.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"honeytoken": visible(r, tok)})
}
