package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vallum/vallum/internal/evidence"
	"golang.org/x/mod/sumdb/tlog"
)

// appendEntry appends the request body (a JSON document) as a payload.
// Query parameters: kind (required), incident, actor (recorded as
// "<principal>/<actor>": the authenticated principal is always in the
// leaf).
func (s *Server) appendEntry(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	actor := p.Name
	if a := q.Get("actor"); a != "" {
		actor = p.Name + "/" + a
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	rec := evidence.Record{Kind: q.Get("kind"), Actor: actor, Incident: q.Get("incident"), Payload: body}
	if rec.Kind == "" {
		writeError(w, http.StatusBadRequest, "the kind query parameter is required")
		return
	}
	rcpt, err := s.Log.Append(r.Context(), rec)
	if errors.Is(err, evidence.ErrInvalid) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rcpt)
}

// readBody reads a JSON body within MaxBody and checks it is valid UTF-8
// JSON; on failure it has written the response.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: the body must be application/json", ct))
		return nil, false
	}
	body, ok := s.readLimited(w, r, "")
	if !ok {
		return nil, false
	}
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "body is not a valid JSON document")
		return nil, false
	}
	return body, true
}

// readLimited reads the body within MaxBody and checks it is valid UTF-8;
// on failure it has written the response (413 names the limit and adds
// hint, 400 otherwise).
func (s *Server) readLimited(w http.ResponseWriter, r *http.Request, hint string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than the limit of %d bytes%s", s.MaxBody, hint))
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "couldn't read the request body")
		return nil, false
	}
	if !utf8.Valid(body) {
		writeError(w, http.StatusBadRequest, "body is not valid UTF-8")
		return nil, false
	}
	return body, true
}

// EntryView is the JSON form of an entry. JSON encoders reformat
// embedded JSON, so the exact committed bytes are given separately: the
// header as a string (its leaf hash is SHA-256(0x00 ‖ header)) and the
// payload in base64 (the commitment is SHA-256(salt ‖ payload)).
type EntryView struct {
	Index    int64     `json:"index"`
	LeafHash tlog.Hash `json:"leaf_hash"`
	// Header is the exact header text.
	Header string `json:"header"`
	// Fields is the header decoded, for reading.
	Fields evidence.Header `json:"fields"`
	// Payload is the payload for reading (absent when erased).
	Payload json.RawMessage `json:"payload,omitempty"`
	// PayloadBytes and Salt are the exact committed bytes (base64),
	// absent when erased.
	PayloadBytes []byte `json:"payload_bytes,omitempty"`
	Salt         []byte `json:"salt,omitempty"`
	Erased       bool   `json:"erased"`
}

// NewEntryView returns the JSON form of e.
func NewEntryView(e evidence.Entry) EntryView {
	h, _ := evidence.DecodeHeader(e.Header)
	return EntryView{
		Index: e.Index, LeafHash: evidence.LeafHash(e.Header), Header: string(e.Header), Fields: h,
		Payload: e.Payload, PayloadBytes: e.Payload, Salt: e.Salt, Erased: e.Erased,
	}
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) {
	i, ok := pathIndex(w, r, "index")
	if !ok {
		return
	}
	e, err := s.Log.Entry(i)
	if errors.Is(err, evidence.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("entry %d doesn't exist (the log has %d entries)", i, s.Log.Size()))
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, NewEntryView(e))
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, limit := int64(-1), 100
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "after must be an entry index")
			return
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be between 1 and 1000")
			return
		}
		limit = n
	}
	es, err := s.DB.Entries(r.Context(), q.Get("incident"), after, limit)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}

type eraseRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) eraseEntry(w http.ResponseWriter, r *http.Request) {
	i, ok := pathIndex(w, r, "index")
	if !ok {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req eraseRequest
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, _ := PrincipalFrom(r.Context())
	rcpt, err := s.Log.Erase(r.Context(), i, req.Reason, p.Name)
	switch {
	case errors.Is(err, evidence.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("entry %d doesn't exist", i))
	case errors.Is(err, evidence.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		s.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, rcpt)
	}
}

func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, _ := s.Log.Latest()
	if cp == nil {
		writeError(w, http.StatusNotFound, "the log is empty: no checkpoint yet")
		return
	}
	writeText(w, cp)
}

func (s *Server) getCheckpointAt(w http.ResponseWriter, r *http.Request) {
	n, ok := pathIndex(w, r, "size")
	if !ok {
		return
	}
	cp, err := s.Log.Checkpoint(n)
	if errors.Is(err, evidence.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no checkpoint was signed at size %d", n))
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeText(w, cp)
}

func (s *Server) listCheckpoints(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"sizes": s.Log.Storage().CheckpointSizes()})
}

func (s *Server) getVKey(w http.ResponseWriter, r *http.Request) {
	writeText(w, []byte(s.VKey+"\n"))
}

func (s *Server) getTile(w http.ResponseWriter, r *http.Request) {
	t, err := evidence.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/log/"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	data, err := s.Log.ReadTile(t)
	if errors.Is(err, evidence.ErrNotFound) || errors.Is(err, evidence.ErrInvalid) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("tile %s is not (yet) in the log", evidence.TilePath(t)))
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if t.W == 1<<evidence.TileHeight {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	w.Write(data)
}

// InclusionView is the JSON form of an inclusion proof.
type InclusionView struct {
	Index      int64       `json:"index"`
	TreeSize   int64       `json:"tree_size"`
	Proof      []tlog.Hash `json:"proof"`
	Checkpoint string      `json:"checkpoint,omitempty"`
}

func (s *Server) getInclusion(w http.ResponseWriter, r *http.Request) {
	i, n, p, cp, ok := s.proveInclusion(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, InclusionView{Index: i, TreeSize: n, Proof: p, Checkpoint: string(cp)})
}

// getTlogProof returns a C2SP tlog-proof of entry index in the latest
// checkpoint, or in the checkpoint of the given size.
func (s *Server) getTlogProof(w http.ResponseWriter, r *http.Request) {
	i, n, p, cp, ok := s.proveInclusion(w, r)
	if !ok {
		return
	}
	if cp == nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("no checkpoint was signed at size %d; omit size for the latest", n))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(evidence.FormatTlogProof(evidence.TlogProof{Index: i, Proof: p, Checkpoint: cp}))
}

// proveInclusion answers the index and size query parameters with the
// inclusion proof and the checkpoint of that size (nil if none was signed
// at it); on failure it has written the response.
func (s *Server) proveInclusion(w http.ResponseWriter, r *http.Request) (i, n int64, p tlog.RecordProof, cp []byte, ok bool) {
	if i, n, ok = s.indexAndSize(w, r); !ok {
		return
	}
	p, cp, err := s.Log.InclusionProof(i, n)
	if errors.Is(err, evidence.ErrInvalid) {
		writeError(w, http.StatusBadRequest, err.Error())
		return i, n, nil, nil, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return i, n, nil, nil, false
	}
	return i, n, p, cp, true
}

// indexAndSize reads the index and size query parameters; size defaults
// to the latest checkpoint's.
func (s *Server) indexAndSize(w http.ResponseWriter, r *http.Request) (int64, int64, bool) {
	q := r.URL.Query()
	i, err := strconv.ParseInt(q.Get("index"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "index must be an entry index")
		return 0, 0, false
	}
	_, n := s.Log.Latest()
	if v := q.Get("size"); v != "" {
		if n, err = strconv.ParseInt(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "size must be a tree size")
			return 0, 0, false
		}
	}
	return i, n, true
}

// ConsistencyView is the JSON form of a consistency proof.
type ConsistencyView struct {
	Old           int64       `json:"old"`
	New           int64       `json:"new"`
	Proof         []tlog.Hash `json:"proof"`
	OldCheckpoint string      `json:"old_checkpoint,omitempty"`
	NewCheckpoint string      `json:"new_checkpoint,omitempty"`
}

func (s *Server) getConsistency(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o, err1 := strconv.ParseInt(q.Get("old"), 10, 64)
	n, err2 := strconv.ParseInt(q.Get("new"), 10, 64)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "old and new must be tree sizes")
		return
	}
	p, err := s.Log.ConsistencyProof(o, n)
	if errors.Is(err, evidence.ErrInvalid) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	oc, _ := s.Log.Checkpoint(o)
	nc, _ := s.Log.Checkpoint(n)
	writeJSON(w, http.StatusOK, ConsistencyView{Old: o, New: n, Proof: p, OldCheckpoint: string(oc), NewCheckpoint: string(nc)})
}

func pathIndex(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	v := r.PathValue(name)
	i, err := strconv.ParseInt(v, 10, 64)
	if err != nil || i < 0 || strconv.FormatInt(i, 10) != v {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s %q is not a non-negative integer", name, v))
		return 0, false
	}
	return i, true
}

func writeText(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

// decodeBody reads a strict JSON body into v; on failure it has answered.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := s.readBody(w, r)
	if !ok {
		return false
	}
	if err := decodeStrict(body, v); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// decodeStrict decodes one JSON object into v, rejecting unknown fields
// and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed request body: %v", err)
	}
	if dec.More() {
		return errors.New("malformed request body: trailing data after the JSON object")
	}
	return nil
}
