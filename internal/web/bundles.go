package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"

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

// exportBundle builds, logs and sends incident {id}'s court bundle with
// the API's api.Server.ExportBundle; the form's lang is "it", "en" or
// empty (both reports).
func (c *Console) exportBundle(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	if _, err := c.desk.GetIncident(r.Context(), id); err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	if c.srv.Bundles == nil {
		c.fail(w, r, rq, http.StatusNotImplemented, "part.unavailable.export")
		return
	}
	opts := bundle.Options{PDF: r.PostForm.Get("pdf") != "0"}
	switch l := r.PostForm.Get("lang"); l {
	case "":
	case "it", "en":
		opts.Langs = []string{l}
	default:
		c.fail(w, r, rq, http.StatusBadRequest, "err.param", "lang")
		return
	}
	var buf bytes.Buffer
	rcpt, err := c.srv.ExportBundle(r.Context(), rq.p.Name, id, opts, &buf)
	if errors.Is(err, incident.ErrNotFound) {
		c.deskError(w, r, rq, err)
		return
	}
	if err != nil {
		c.internal(w, r, rq, fmt.Errorf("bundle of %s: %w", id, err))
		return
	}
	c.log.Info("court bundle exported from the console", "incident", id, "by", rq.p.Name, "entry", rcpt.Index)
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+bundle.FileName(id)+`"`)
	w.Header().Set("X-Vallum-Export-Entry", strconv.FormatInt(rcpt.Index, 10))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}
