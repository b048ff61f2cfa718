package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

// Proposal form fields. Single-valued fields may appear once; threatened
// may repeat.
var (
	proposalFields = []string{"csrf", "kind", "target", "device", "resolver", "egress_contained", "code_execution",
		"valid_on", "expires_in", "exfiltration_complete", "last_malicious", "legal_review_by", "legal_review_ref"}
	expiries = map[string]time.Duration{"1h": time.Hour, "4h": 4 * time.Hour, "24h": 24 * time.Hour, "72h": 72 * time.Hour, "7d": 7 * 24 * time.Hour}
	recency  = map[string]time.Duration{"15m": 15 * time.Minute, "1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}
)

// maxProposal bounds a proposal form's body.
const maxProposal = 16 << 10

// formError is a proposal form field that cannot be read.
type formError struct {
	Field string
	Msg   string
}

func (e *formError) Error() string { return "field " + e.Field + ": " + e.Msg }

// decodeProposal reads a proposal form (application/x-www-form-urlencoded,
// untrusted) into a guard request for proposer at now. It accepts only the
// known fields, each once (threatened may repeat), valid UTF-8, each value
// at most 1024 bytes; the result then passes guard.DecodeRequest, the
// API's own strict check.
func decodeProposal(body []byte, proposer string, now time.Time) (guard.Request, error) {
	if len(body) > maxProposal {
		return guard.Request{}, &formError{Field: "", Msg: "the form is too large"}
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return guard.Request{}, &formError{Msg: "malformed form"}
	}
	for k, vs := range vals {
		if k == "threatened" {
			if len(vs) > 4 {
				return guard.Request{}, &formError{Field: k, Msg: "too many values"}
			}
		} else if !slices.Contains(proposalFields, k) {
			return guard.Request{}, &formError{Field: k, Msg: "unknown field"}
		} else if len(vs) != 1 {
			return guard.Request{}, &formError{Field: k, Msg: "given more than once"}
		}
		for _, v := range vs {
			if len(v) > 1024 || !utf8.ValidString(v) {
				return guard.Request{}, &formError{Field: k, Msg: "too long or not valid UTF-8"}
			}
		}
	}
	get := func(k string) string { return strings.TrimSpace(vals.Get(k)) }
	req := guard.Request{Proposer: proposer, Now: now.UTC()}
	req.Action.Kind = get("kind")
	req.Action.Target = get("target")
	req.Action.Params.Device = get("device")
	req.Action.Params.Resolver = get("resolver")
	req.Action.Params.ValidOn = get("valid_on")
	for _, f := range []struct {
		name string
		dst  **bool
	}{{"egress_contained", &req.Action.Params.EgressContained}, {"code_execution", &req.Action.Params.CodeExecution}} {
		switch get(f.name) {
		case "":
		case "yes":
			*f.dst = new(true)
		case "no":
			*f.dst = new(false)
		default:
			return guard.Request{}, &formError{Field: f.name, Msg: "want yes, no or nothing"}
		}
	}
	if v := get("expires_in"); v != "" {
		d, ok := expiries[v]
		if !ok {
			return guard.Request{}, &formError{Field: "expires_in", Msg: "not one of the offered expiries"}
		}
		req.Action.Params.ExpiresAt = now.Add(d).UTC().Truncate(time.Second)
	}
	if v := get("last_malicious"); v != "" {
		d, ok := recency[v]
		if !ok {
			return guard.Request{}, &formError{Field: "last_malicious", Msg: "not one of the offered times"}
		}
		req.Incident.LastMaliciousAt = now.Add(-d).UTC().Truncate(time.Second)
	}
	switch get("exfiltration_complete") {
	case "":
	case "yes":
		req.Incident.ExfiltrationComplete = true
	default:
		return guard.Request{}, &formError{Field: "exfiltration_complete", Msg: "want yes or nothing"}
	}
	req.Incident.Threatened = []string{}
	for _, t := range vals["threatened"] {
		if !slices.Contains(req.Incident.Threatened, t) {
			req.Incident.Threatened = append(req.Incident.Threatened, t)
		}
	}
	if by, ref := get("legal_review_by"), get("legal_review_ref"); by != "" || ref != "" {
		req.LegalReview = &guard.LegalReview{By: by, Ref: ref, At: now.UTC().Truncate(time.Second)}
	}
	// The API's strict decoder is the one authority on what a valid
	// request is.
	b, err := json.Marshal(req)
	if err != nil {
		return guard.Request{}, err
	}
	out, err := guard.DecodeRequest(bytes.NewReader(b), maxProposal*4)
	if err != nil {
		var re *guard.RequestError
		if errors.As(err, &re) {
			return guard.Request{}, &formError{Field: re.Field, Msg: re.Err.Error()}
		}
		return guard.Request{}, err
	}
	return out, nil
}

// proposeData is the Propose page's data.
type proposeData struct {
	Incident incident.Incident
	Kinds    []string
	Devices  []string
	Form     url.Values
	// Decision is the preview (nil before the first one); Error a form
	// field that could not be read.
	Decision *guard.Decision
	Error    string
	Preview  bool
}

func (c *Console) proposePage(w http.ResponseWriter, r *http.Request, rq *request) {
	inc, err := c.desk.GetIncident(r.Context(), r.PathValue("id"))
	if err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	form := url.Values{}
	for _, k := range []string{"kind", "target"} {
		if v := r.URL.Query().Get(k); v != "" && len(v) < 1024 {
			form.Set(k, v)
		}
	}
	c.render(w, r, rq, http.StatusOK, "propose", "propose.title", proposeData{Incident: inc, Kinds: c.srv.Guard.Kinds(), Form: form}, inc.ID)
}

// readForm reads a bounded form body as bytes (for the strict decoder).
func readForm(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.PostForm != nil {
		// Already parsed for the CSRF check: re-encode what was read.
		return []byte(r.PostForm.Encode()), true
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxProposal))
	return buf.Bytes(), err == nil
}

// previewOf decides the form with the guardrail, unlogged
// (api.Guard.Preview), with what the desk would add (the ransom track's
// facts for a ransom action).
func (c *Console) previewOf(r *http.Request, rq *request, incID string, body []byte) (guard.Request, *guard.Decision, error) {
	req, err := decodeProposal(body, rq.p.Name, rq.now)
	if err != nil {
		return req, nil, err
	}
	if err := c.desk.FillFromTrack(r.Context(), incID, &req); err != nil {
		return req, nil, err
	}
	d := c.srv.Guard.Preview(req, rq.now)
	return req, &d, nil
}

// proposalForm reads the proposal form posted for incident {id}; when
// the incident is unknown or the form too large it answers the request
// and returns ok false.
func (c *Console) proposalForm(w http.ResponseWriter, r *http.Request, rq *request) (inc incident.Incident, body []byte, ok bool) {
	inc, err := c.desk.GetIncident(r.Context(), r.PathValue("id"))
	if err != nil {
		c.deskError(w, r, rq, err)
		return inc, nil, false
	}
	if body, ok = readForm(w, r); !ok {
		c.fail(w, r, rq, http.StatusRequestEntityTooLarge, "err.form")
	}
	return inc, body, ok
}

// previewDecision answers the Propose page's fetch with the decision
// fragment. Nothing is logged.
func (c *Console) previewDecision(w http.ResponseWriter, r *http.Request, rq *request) {
	_, body, ok := c.proposalForm(w, r, rq)
	if !ok {
		return
	}
	d := proposeData{Preview: true}
	_, dec, err := c.previewOf(r, rq, r.PathValue("id"), body)
	var fe *formError
	switch {
	case errors.As(err, &fe):
		d.Error = fe.Error()
	case err != nil:
		c.internal(w, r, rq, err)
		return
	}
	d.Decision = dec
	c.render(w, r, rq, http.StatusOK, "propose:decision", "propose.title", d)
}

// proposeAction proposes the action through the desk and has it decided
// (both logged), then shows the action. The form's "preview" button
// (without JavaScript) shows the preview instead.
func (c *Console) proposeAction(w http.ResponseWriter, r *http.Request, rq *request) {
	inc, body, ok := c.proposalForm(w, r, rq)
	if !ok {
		return
	}
	incID := r.PathValue("id")
	vals, _ := url.ParseQuery(string(body))
	preview := vals.Get("op") == "preview"
	vals.Del("op")
	req, dec, err := c.previewOf(r, rq, incID, []byte(vals.Encode()))
	var fe *formError
	if errors.As(err, &fe) || (err == nil && preview) {
		d := proposeData{Incident: inc, Kinds: c.srv.Guard.Kinds(), Form: vals, Decision: dec}
		code := http.StatusOK
		if fe != nil {
			d.Error, code = fe.Error(), http.StatusBadRequest
		}
		c.render(w, r, rq, code, "propose", "propose.title", d, inc.ID)
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	a, err := c.desk.Propose(r.Context(), rq.actor(), incID, req)
	if err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	if _, err := c.desk.Decide(r.Context(), rq.actor(), a.ID); err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	http.Redirect(w, r, "/actions/"+url.PathEscape(a.ID), http.StatusSeeOther)
}

// formInt reads a non-negative integer query parameter within [0, max];
// def when absent; ok false when malformed.
func formInt(q url.Values, name string, def, max int64) (int64, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > max || strconv.FormatInt(n, 10) != v {
		return 0, false
	}
	return n, true
}
