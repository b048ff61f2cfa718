package api

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/intake"
	"github.com/vallum/vallum/internal/sensor"
)

// EventService serves the endpoints of sensor events (intake from remote sensors, webhooks and Suricata).
type EventService struct {
	// Pipeline logs, indexes and correlates events.
	Pipeline *intake.Pipeline
	// Sensor names this server's intake sources ("local" gives
	// "local/suricata", "local/webhook").
	Sensor string
	// SuricataTypes are the EVE event types taken (intake.EVETypes if
	// nil).
	SuricataTypes []string
	// WebhookFields maps event fields to paths in webhook documents.
	WebhookFields intake.WebhookFields
	// WebhookSecret, when set, makes the webhook require an
	// X-Vallum-Signature HMAC of the body besides the bearer token.
	WebhookSecret []byte
}

// eventRoutes lists the endpoints of sensor events (intake from remote sensors, webhooks and Suricata); none while s.Events is nil.
//
// Who may call them: shipping events in (Suricata, the webhook) takes
// the analyst or admin role, since an event can open an incident; remote
// sensors post events with the sensor role, which may do nothing else
// (docs/access.md); reading events takes any authenticated caller but a
// sensor, like reading the log's entries.
func (s *Server) eventRoutes() []route {
	if s.Events == nil {
		return nil
	}
	ship := []string{RoleAnalyst, RoleAdmin}
	return []route{
		{pattern: "POST /api/v1/events", h: s.postEvents, roles: []string{RoleAnalyst, RoleAdmin, RoleSensor}},
		{pattern: "GET /api/v1/events", h: s.listEvents},
		{pattern: "GET /api/v1/events/stats", h: s.eventStats},
		{pattern: "POST /api/v1/intake/suricata", h: s.postSuricata, roles: ship},
		{pattern: "POST /api/v1/intake/webhook", h: s.postWebhook, roles: ship},
	}
}

// LineResult is the outcome of one line (or array element) of a batch.
type LineResult struct {
	Line int `json:"line"`
	intake.Result
}

// BatchResponse answers a batch of events: one result per line that held
// something, in line order. A sender may forget every event whose status
// is accepted, duplicate, rejected, limited or skipped, and sends the
// retry ones again later.
type BatchResponse struct {
	Results    []LineResult `json:"results"`
	Accepted   int          `json:"accepted"`
	Duplicates int          `json:"duplicates"`
	Rejected   int          `json:"rejected"`
	Limited    int          `json:"limited,omitempty"`
	Retry      int          `json:"retry"`
	Skipped    int          `json:"skipped,omitempty"`
}

// Skipped is the status of a well-formed line of a type that is not
// taken (a Suricata stats record).
const Skipped = "skipped"

func (b *BatchResponse) add(line int, r intake.Result) {
	b.Results = append(b.Results, LineResult{Line: line, Result: r})
	switch r.Status {
	case intake.Accepted:
		b.Accepted++
	case intake.Duplicate:
		b.Duplicates++
	case intake.Rejected:
		b.Rejected++
	case intake.Limited:
		b.Limited++
	case intake.Retry:
		b.Retry++
	case Skipped:
		b.Skipped++
	}
}

// finish sorts the results by line and answers.
func (b *BatchResponse) finish(w http.ResponseWriter) {
	slices.SortStableFunc(b.Results, func(x, y LineResult) int { return cmp.Compare(x.Line, y.Line) })
	if b.Results == nil {
		b.Results = []LineResult{}
	}
	writeJSON(w, http.StatusOK, b)
}

// readBatch reads a body of JSON or NDJSON of at most MaxBody bytes.
func (s *Server) readBatch(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		switch mt {
		case "application/json", "application/x-ndjson", "application/jsonl", "application/jsonlines", "application/x-jsonlines":
		default:
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: send application/json or application/x-ndjson", ct))
			return nil, false
		}
	}
	return s.readLimited(w, r, "; send smaller batches")
}

// ingest logs events (each from lines[i]) and adds their results.
func (s *Server) ingest(ctx context.Context, resp *BatchResponse, events []sensor.Event, lines []int) {
	for i, r := range s.Events.Pipeline.Ingest(ctx, events) {
		resp.add(lines[i], r)
	}
}

// postEvents takes events from a remote sensor: a JSON array or NDJSON
// of sensor.Event. Each is logged once (by ID) and answered in the
// results; malformed lines are reported by number and the rest kept.
// The caller's word is not taken for what only the server may say
// (bindEvent).
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	var resp BatchResponse
	events, lines, bad := intake.DecodeEvents(body)
	for _, b := range bad {
		resp.add(b.Line, intake.Result{Status: intake.Rejected, Error: b.Error})
	}
	p, _ := PrincipalFrom(r.Context())
	for i := range events {
		bindEvent(p, &events[i])
	}
	if isSensor(p) {
		// A remote sensor's honeypots face attackers: their events get
		// the per-source limit local honeypots get.
		for i, r := range s.Events.Pipeline.IngestLimited(r.Context(), events) {
			resp.add(lines[i], r)
		}
	} else {
		s.ingest(r.Context(), &resp, events, lines)
	}
	resp.finish(w)
}

// bindEvent makes e, posted by p, say only what p may say. Honeytoken is
// cleared for every caller: the pipeline sets it when it recognises a
// token, and a caller-supplied one would both forge a match and skip the
// real one. So is TimeSource: only the server says a time is its own. A caller with the sensor role (and not admin) names only
// itself: a Sensor that does not start with p's name and "/" gets that
// prefix ("edge-2/http" from edge-1 is logged as "edge-1/edge-2/http"),
// so every event it ships is tied to its user and none is lost. Its
// event IDs are namespaced the same way ("edge-1:ev-…"): a sensor cannot
// make another sensor's event a "duplicate" by sending its ID first.
func bindEvent(p Principal, e *sensor.Event) {
	e.Honeytoken, e.TimeSource = "", ""
	if isSensor(p) {
		if !strings.HasPrefix(e.Sensor, p.Name+"/") {
			e.Sensor = p.Name + "/" + e.Sensor
		}
		if e.ID != "" && !strings.HasPrefix(e.ID, p.Name+":") {
			e.ID = namespacedID(p.Name, e.ID)
		}
	}
}

// namespacedID is a sensor's event ID under its name: "name:id", or, when
// that would be longer than an ID may be, "name:h-" and the hex SHA-256
// of id (cut to fit), the same for every copy.
func namespacedID(name, id string) string {
	if len(name)+1+len(id) <= intake.MaxID {
		return name + ":" + id
	}
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:])
	return name + ":h-" + h[:min(len(h), max(intake.MaxID-len(name)-3, 0))]
}

// isSensor reports whether p posts as a remote sensor (the sensor role,
// not admin).
func isSensor(p Principal) bool { return p.Has(RoleSensor) && !p.Has(RoleAdmin) }

// postSuricata takes Suricata EVE JSON records, one per line. A record
// posted twice is logged once (its ID derives from its bytes).
func (s *Server) postSuricata(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	var resp BatchResponse
	var events []sensor.Event
	var lines []int
	name := s.Events.sensorName() + "/suricata"
	intake.Lines(body, func(n int, line []byte) {
		e, err := intake.ParseEVE(line, s.Events.SuricataTypes, name)
		switch {
		case errors.Is(err, intake.ErrSkipped):
			resp.add(n, intake.Result{Status: Skipped, Error: err.Error()})
		case err != nil:
			resp.add(n, intake.Result{Status: intake.Rejected, Error: err.Error()})
		default:
			e.ID = intake.EVEID("http", line)
			events, lines = append(events, e), append(lines, n)
		}
	})
	s.ingest(r.Context(), &resp, events, lines)
	resp.finish(w)
}

// postWebhook takes a JSON document or an array of documents, mapped to
// events by intake.webhook.fields. With a shared secret configured the
// body must also carry a valid X-Vallum-Signature.
func (s *Server) postWebhook(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	if len(s.Events.WebhookSecret) > 0 && !intake.CheckSignature(s.Events.WebhookSecret, body, r.Header.Get(intake.SignatureHeader)) {
		s.Logger.Warn("rejected a webhook with a missing or wrong signature", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "this webhook needs "+intake.SignatureHeader+": sha256=<hex HMAC-SHA256 of the body with the shared secret>")
		return
	}
	docs, err := intake.ParseWebhook(body, s.Events.WebhookFields, s.Events.sensorName()+"/webhook", s.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var resp BatchResponse
	var events []sensor.Event
	var lines []int
	for i, d := range docs {
		if d.Err != nil {
			resp.add(i+1, intake.Result{ID: d.Event.ID, Status: intake.Rejected, Error: d.Err.Error()})
			continue
		}
		events, lines = append(events, d.Event), append(lines, i+1)
	}
	s.ingest(r.Context(), &resp, events, lines)
	resp.finish(w)
}

func (e *EventService) sensorName() string {
	if e.Sensor == "" {
		return "local"
	}
	return e.Sensor
}

// listEvents lists indexed events, oldest log index first; events that
// carried a honeytoken are redacted for callers who may not see token
// values (visibleEvents). Query
// parameters: since, until (RFC 3339), source, sensor, session, kind,
// from (the next value of the previous page), limit (at most 1000).
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var query intake.Query
	var err error
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &query.Since}, {"until", &query.Until}} {
		if v := q.Get(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s %q is not an RFC 3339 time", p.name, v))
				return
			}
		}
	}
	for _, p := range []struct {
		name string
		n    *int64
	}{{"from", &query.From}} {
		if v := q.Get(p.name); v != "" {
			if *p.n, err = strconv.ParseInt(v, 10, 64); err != nil || *p.n < 0 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s %q is not a log index", p.name, v))
				return
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		if query.Limit, err = strconv.Atoi(v); err != nil || query.Limit < 1 || query.Limit > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be 1 to 1000")
			return
		}
	}
	query.Source, query.Sensor, query.Session, query.Kind = q.Get("source"), q.Get("sensor"), q.Get("session"), q.Get("kind")
	list, next, err := s.Events.Pipeline.List(r.Context(), query)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if list == nil {
		list = []intake.Listed{}
	}
	if err := s.visibleEvents(r, list); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": list, "next": next})
}

// eventStats answers the console's charts: events per hour, top sources
// and counts per kind since since (default 24 hours ago), with the
// pipeline's counters. top bounds the sources (default 10, at most 100).
func (s *Server) eventStats(w http.ResponseWriter, r *http.Request) {
	since := s.now().Add(-24 * time.Hour)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("since %q is not an RFC 3339 time", v))
			return
		}
		since = t
	}
	top := 10
	if v := r.URL.Query().Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "top must be 1 to 100")
			return
		}
		top = n
	}
	st, err := s.Events.Pipeline.EventStats(r.Context(), since, top)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": st, "pipeline": s.Events.Pipeline.Stats()})
}

// fillIncident is the decision path's hook for present_danger: the
// latest malicious activity the event pipeline linked to the incident
// becomes the request's LastMaliciousAt when it is later than what the
// request states. A nil service or pipeline leaves the request alone.
func (e *EventService) fillIncident(ctx context.Context, inc string, req *guard.Request) {
	if e == nil || e.Pipeline == nil || inc == "" {
		return
	}
	t, err := e.Pipeline.LastMalicious(ctx, inc)
	if err == nil && t.After(req.Incident.LastMaliciousAt) {
		req.Incident.LastMaliciousAt = t
	}
}
