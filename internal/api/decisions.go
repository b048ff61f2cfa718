package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/perimeter"
	"github.com/vallum/vallum/policies"
)

// Guard holds the guardrail's rule pack and the perimeter, swapped as a
// whole on reload. It is safe for concurrent use.
type Guard struct {
	// PerimeterFile and PolicyDir are where Reload reads from; an empty
	// PerimeterFile means an empty perimeter (nothing is ours), an empty
	// PolicyDir the rule pack built into the binary.
	PerimeterFile string
	PolicyDir     string

	state atomic.Pointer[guardState]
}

type guardState struct {
	engine    *guard.Engine
	perimeter *perimeter.Perimeter
}

// Reload reads the rule pack and the perimeter again and swaps them in
// only if both load; on error the previous ones stay in force.
func (g *Guard) Reload() error {
	var pfs fs.FS = policies.FS()
	if g.PolicyDir != "" {
		pfs = os.DirFS(g.PolicyDir)
	}
	e, err := guard.Load(pfs)
	if err != nil {
		return fmt.Errorf("couldn't load the rule pack: %w", err)
	}
	p, err := perimeter.New(perimeter.File{})
	if g.PerimeterFile != "" {
		p, err = perimeter.Load(g.PerimeterFile)
	}
	if err != nil {
		return fmt.Errorf("couldn't load the perimeter: %w", err)
	}
	g.state.Store(&guardState{engine: e, perimeter: p})
	return nil
}

// Policy returns the rule pack in force.
func (g *Guard) Policy() guard.Policy { return g.state.Load().engine.Policy() }

// Kinds returns the action kinds of the rule pack in force.
func (g *Guard) Kinds() []string { return g.state.Load().engine.Kinds() }

// Preview decides req at now with the rule pack and perimeter in force,
// and logs nothing: a preview is not a decision and nothing may act on it
// (the console's answer as you type). A decision is Preview's answer
// appended to the evidence log (POST /api/v1/decisions, the desk's
// Decide).
func (g *Guard) Preview(req guard.Request, now time.Time) guard.Decision {
	st := g.state.Load()
	return st.engine.Decide(req, st.perimeter, now)
}

// maxDecisionBody bounds a decision request.
const maxDecisionBody = 64 << 10

// DecisionRecord is the payload of a "decision" log entry: everything the
// decision rested on.
type DecisionRecord struct {
	Request  json.RawMessage `json:"request"`
	Decision guard.Decision  `json:"decision"`
	// DecidedAt is the server's clock reading the decision used.
	DecidedAt time.Time `json:"decided_at"`
}

// postDecision decides a request with the server's perimeter and clock,
// appends the decision to the evidence log, and only then answers, with
// the log receipt. Query parameter: incident (the log entry's incident).
func (s *Server) postDecision(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := guard.DecodeRequest(bytesReader(body), maxDecisionBody)
	if err != nil {
		var re *guard.RequestError
		code := http.StatusBadRequest
		if errors.Is(err, guard.ErrTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		if errors.As(err, &re) && re.Field != "" {
			writeJSON(w, code, map[string]string{"error": err.Error(), "field": re.Field})
			return
		}
		writeError(w, code, err.Error())
		return
	}
	p, _ := PrincipalFrom(r.Context())
	if req.Proposer == "" {
		req.Proposer = p.Name
	}
	incident := r.URL.Query().Get("incident")
	if err := evidence.ValidIncident(incident); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, err := s.decideAndLog(r.Context(), req, body, p.Name, incident)
	if err != nil {
		// No receipt, no decision: an unlogged decision must not be acted on.
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// reloadGuard reloads the rule pack and perimeter.
func (s *Server) reloadGuard(w http.ResponseWriter, r *http.Request) {
	if err := s.Guard.Reload(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"policy": s.Guard.Policy()})
}

func (s *Server) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}
