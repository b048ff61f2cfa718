package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/bundle"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/tsa"
)

// BundleService serves the endpoints of court bundles and time-stamp
// anchors. A zero BundleService exports bundles (from the server's log,
// database and desk) without rule pack files, evidence files, PDF or
// time-stamps, and answers 503 to "anchor now".
type BundleService struct {
	// Anchors holds the RFC 3161 tokens; nil: none are exported or listed.
	Anchors *tsa.Store
	// Anchorer time-stamps on request (POST /api/v1/anchors); nil when no
	// authority is configured.
	Anchorer *tsa.Anchorer
	// Packs are the rule pack files in force, copied into bundles whose
	// decisions they made.
	Packs fs.FS
	// Files gives evidence files for with_files=1; nil: hashes only.
	Files bundle.FileSource
	// PDF renders the report to PDF when Chromium is installed (Chromium:
	// its path, or looked up in PATH).
	PDF      bool
	Chromium string
	// Version is Vallum's version in the manifest.
	Version string
}

// bundleRoles may export a bundle: it carries payloads (personal data)
// and leaves the organisation, so the roles that answer for the incident
// and for its data, and the auditor, who reads everything; not analysts.
var bundleRoles = []string{RoleIncidentCommander, RoleLegalCounsel, RoleDPO, RoleAuditor, RoleAdmin}

// bundleRoutes lists the endpoints of court bundles and time-stamp
// anchors; none while s.Bundles is nil.
func (s *Server) bundleRoutes() []route {
	if s.Bundles == nil {
		return nil
	}
	return []route{
		{pattern: "GET /api/v1/incidents/{id}/bundle", h: s.getBundle, roles: bundleRoles},
		{pattern: "GET /api/v1/anchors", h: s.listAnchors},
		{pattern: "POST /api/v1/anchors", h: s.postAnchor, roles: []string{RoleAdmin}},
	}
}

// getBundle builds incident {id}'s court bundle, logs the export (who,
// the manifest's SHA-256) and streams the .tar.gz. Query: lang (it, en;
// default both), with_files=1 (evidence files the server holds),
// all_headers=1 (every header of the log, for completeness), pdf=0 (no PDF
// even when Chromium is installed).
func (s *Server) getBundle(w http.ResponseWriter, r *http.Request) {
	if s.Desk == nil {
		writeError(w, http.StatusServiceUnavailable, "the incident desk is not running")
		return
	}
	q := r.URL.Query()
	opts := bundle.Options{PDF: q.Get("pdf") != "0"}
	if l := q.Get("lang"); l != "" {
		opts.Langs = strings.Split(l, ",")
	}
	for name, dst := range map[string]*bool{"with_files": &opts.WithFiles, "all_headers": &opts.AllHeaders} {
		switch q.Get(name) {
		case "", "0", "false":
		case "1", "true":
			*dst = true
		default:
			writeError(w, http.StatusBadRequest, name+" must be 0 or 1")
			return
		}
	}
	id := r.PathValue("id")
	p, _ := PrincipalFrom(r.Context())
	var buf bytes.Buffer
	rcpt, err := s.ExportBundle(r.Context(), p.Name, id, opts, &buf)
	switch {
	case errors.Is(err, incident.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("incident %s not found", id))
		return
	case errors.Is(err, bundle.ErrOptions):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.internalError(w, r, fmt.Errorf("bundle of %s: %w", id, err))
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+bundle.FileName(id)+`"`)
	w.Header().Set("X-Vallum-Export-Entry", strconv.FormatInt(rcpt.Index, 10))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// ExportBundle builds incident id's court bundle, logs the export as
// actor (a bundle.exported entry naming the manifest's SHA-256) and only
// then writes the .tar.gz to w; it returns the export entry's receipt. It
// is what GET /api/v1/incidents/{id}/bundle does, for the console's
// "export bundle" button too. opts.PDF is honoured only if the service
// renders PDFs. Errors: incident.ErrNotFound for an unknown incident,
// bundle.ErrOptions for bad options, ErrNoBundles without a BundleService
// or a desk.
func (s *Server) ExportBundle(ctx context.Context, actor, id string, opts bundle.Options, w io.Writer) (evidence.Receipt, error) {
	if s.Bundles == nil || s.Desk == nil {
		return evidence.Receipt{}, ErrNoBundles
	}
	opts.PDF = opts.PDF && s.Bundles.PDF
	if opts.Chromium == "" {
		opts.Chromium = s.Bundles.Chromium
	}
	files, _, err := bundle.Build(ctx, s.bundleDeps(), id, opts)
	if err != nil {
		return evidence.Receipt{}, err
	}
	rcpt, err := bundle.LogExport(ctx, s.Log, actor, id, files, opts)
	if err != nil {
		return rcpt, err
	}
	m, _ := bundle.ParseManifest(files[bundle.ManifestFile])
	created, _ := time.Parse(time.RFC3339, m.Created)
	return rcpt, bundle.WriteTarGz(w, files, created)
}

// ErrNoBundles means the server exports no bundles (no BundleService or no
// incident desk).
var ErrNoBundles = errors.New("court bundles are not available on this server")

func (s *Server) bundleDeps() bundle.Deps {
	b := s.Bundles
	return bundle.Deps{Log: s.Log, DB: s.DB, Desk: s.Desk, Anchors: b.Anchors, VKey: s.VKey, Packs: b.Packs, Files: b.Files,
		Version: b.Version, Clock: s.Clock, Logger: s.Logger}
}

// listAnchors lists stored time-stamps, newest first. Query: before (an
// anchor ID, for the next page), limit (default 100, at most 1000).
func (s *Server) listAnchors(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	before, err1 := strconv.ParseInt(or(q.Get("before"), "0"), 10, 64)
	limit, err2 := strconv.Atoi(or(q.Get("limit"), "100"))
	if err1 != nil || err2 != nil || before < 0 || limit <= 0 || limit > 1000 {
		writeError(w, http.StatusBadRequest, "before must be an anchor ID and limit between 1 and 1000")
		return
	}
	as := []tsa.Anchor{}
	if s.Bundles.Anchors != nil {
		var err error
		if as, err = s.Bundles.Anchors.List(r.Context(), before, limit); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"anchors": as})
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// anchorRequest is the optional body of POST /api/v1/anchors.
type anchorRequest struct {
	Incident string `json:"incident"`
	Reason   string `json:"reason"`
}

// postAnchor time-stamps the latest checkpoint now with every authority.
func (s *Server) postAnchor(w http.ResponseWriter, r *http.Request) {
	if s.Bundles.Anchorer == nil {
		writeError(w, http.StatusServiceUnavailable, "no time-stamping authority is configured (anchor.authorities in the configuration)")
		return
	}
	var req anchorRequest
	if r.ContentLength != 0 {
		body, ok := s.readBody(w, r)
		if !ok {
			return
		}
		if err := decodeStrict(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if len(req.Reason) > 256 || len(req.Incident) > 128 {
		writeError(w, http.StatusBadRequest, "reason (256) or incident (128) too long")
		return
	}
	if req.Incident != "" {
		if _, err := s.Desk.GetIncident(r.Context(), req.Incident); err != nil {
			s.deskError(w, r, err)
			return
		}
	}
	p, _ := PrincipalFrom(r.Context())
	reason := "manual by " + p.Name
	if req.Reason != "" {
		reason += ": " + req.Reason
	}
	as, err := s.Bundles.Anchorer.Anchor(r.Context(), req.Incident, reason)
	if err != nil {
		s.Logger.Warn("anchor now failed", "err", err)
		writeError(w, http.StatusBadGateway, "no time-stamping authority answered with a valid token; the server log has the detail")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"anchors": as})
}
