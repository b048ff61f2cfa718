package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/drafts"
)

// draftRoles file notifications and so generate their drafts (the API's
// roles for the drafts endpoint).
var draftRoles = []string{api.RoleAnalyst, api.RoleIncidentCommander, api.RoleLegalCounsel, api.RoleDPO}

// draftData is the notification draft page's data.
type draftData struct {
	IncidentID string
	Kind       string
	Lang       string
	Draft      drafts.Draft
	Text       string
}

// draftPage shows a notification draft generated from the case (in the
// page's language unless ?lang= says otherwise), with the fields still to
// complete; ?download=md or html sends it as a file. Generating a draft
// changes nothing and is not logged, as through the API; filing it is a
// submission on the clocks.
func (c *Console) draftPage(w http.ResponseWriter, r *http.Request, rq *request) {
	kind := r.PathValue("kind")
	if !slices.Contains(drafts.Kinds(), kind) {
		c.fail(w, r, rq, http.StatusNotFound, "err.notfound")
		return
	}
	q := r.URL.Query()
	lang := rq.lang
	if l := q.Get("draft_lang"); l != "" {
		lang = l
	}
	format := "md"
	download := q.Get("download")
	if download == "html" {
		format = "html"
	}
	if download != "" && download != "md" && download != "html" {
		c.fail(w, r, rq, http.StatusBadRequest, "err.param", "download")
		return
	}
	d, err := c.loadIncident(r.Context(), r.PathValue("id"))
	if err != nil {
		c.deskError(w, r, rq, err)
		return
	}
	cs := drafts.Case{Incident: d.Incident, Observables: d.Observables, Notes: d.Notes, Evidence: d.Evidence,
		Actions: d.Actions, Clocks: d.Clocks, Timeline: d.Timeline}
	dr, err := drafts.Render(kind, lang, format, cs, rq.now)
	if errors.Is(err, drafts.ErrUnknown) {
		c.fail(w, r, rq, http.StatusBadRequest, "err.param", "draft_lang")
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if download != "" {
		ct := map[string]string{"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8"}[format]
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", `attachment; filename="`+d.Incident.ID+"-"+kind+"."+lang+"."+format+`"`)
		// A downloaded HTML draft is opened from disk, never rendered in
		// the console's origin.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		w.Write(dr.Body)
		return
	}
	c.render(w, r, rq, http.StatusOK, "draft", "draft.title", draftData{IncidentID: d.Incident.ID, Kind: kind, Lang: lang, Draft: dr, Text: string(dr.Body)}, dr.Title)
}
