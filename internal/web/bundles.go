package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/bundle"
	"github.com/vallum/vallum/internal/incident"
)

// The court bundle part (issue 8): when the server serves bundles
// (api.Server.Bundles), the Incident page's export button builds the
// incident's bundle, logs the export and downloads the .tar.gz, exactly
// as GET /api/v1/incidents/{id}/bundle does; the Now and Log pages show
// the latest RFC 3161 anchor.

// exportRoles may export a court bundle: the API's roles for the bundle
// endpoint (it carries payloads, personal data, and leaves the
// organisation).
var exportRoles = []string{api.RoleIncidentCommander, api.RoleLegalCounsel, api.RoleDPO, api.RoleAuditor, api.RoleAdmin}

// bundlesAvailable reports whether the bundle part is in this build.
func (c *Console) bundlesAvailable() bool { return c.srv.Bundles != nil }

// exportBundle builds, logs and sends incident {id}'s court bundle; the
// form's lang is "it", "en" or empty (both reports).
func (c *Console) exportBundle(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	if _, err := c.desk.GetIncident(r.Context(), id); err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	b := c.srv.Bundles
	if b == nil {
		c.fail(w, r, rq, http.StatusNotImplemented, "part.unavailable.export")
		return
	}
	opts := bundle.Options{PDF: b.PDF && r.PostForm.Get("pdf") != "0", Chromium: b.Chromium}
	switch l := r.PostForm.Get("lang"); l {
	case "":
	case "it", "en":
		opts.Langs = []string{l}
	default:
		c.fail(w, r, rq, http.StatusBadRequest, "err.param", "lang")
		return
	}
	deps := bundle.Deps{Log: c.srv.Log, DB: c.srv.DB, Desk: c.desk, Anchors: b.Anchors, VKey: c.srv.VKey, Packs: b.Packs,
		Files: b.Files, Version: b.Version, Clock: c.srv.Clock, Logger: c.log}
	files, _, err := bundle.Build(r.Context(), deps, id, opts)
	if errors.Is(err, incident.ErrNotFound) {
		c.deskError(w, r, rq, err)
		return
	}
	if err != nil {
		c.internal(w, r, rq, fmt.Errorf("bundle of %s: %w", id, err))
		return
	}
	rcpt, err := bundle.LogExport(r.Context(), c.srv.Log, rq.p.Name, id, files, opts)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	var buf bytes.Buffer
	m, _ := bundle.ParseManifest(files[bundle.ManifestFile])
	created, _ := time.Parse(time.RFC3339, m.Created)
	if err := bundle.WriteTarGz(&buf, files, created); err != nil {
		c.internal(w, r, rq, err)
		return
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, id)
	c.log.Info("court bundle exported from the console", "incident", id, "by", rq.p.Name, "entry", rcpt.Index)
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="vallum-bundle-`+name+`.tar.gz"`)
	w.Header().Set("X-Vallum-Export-Entry", strconv.FormatInt(rcpt.Index, 10))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}
