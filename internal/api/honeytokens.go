package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/vallum/vallum/internal/honeytoken"
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

// visible returns tok as the caller may see it.
func visible(r *http.Request, tok honeytoken.Token) honeytoken.Token {
	p, _ := PrincipalFrom(r.Context())
	if slices.ContainsFunc(honeytokenReaders, p.Has) {
		return tok
	}
	return tok.Mask()
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
