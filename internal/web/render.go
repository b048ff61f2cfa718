package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageSet holds each page's template, per language.
type pageSet map[string]map[string]*template.Template

// pageNames are the templates/<name>.html files that are pages (the
// others, layout and partials, are shared).
var pageNames = []string{"signin", "error", "now", "incidents", "incident", "propose", "action", "sensors", "session", "log", "entry", "draft"}

func loadPages() (pageSet, error) {
	ps := pageSet{}
	for _, lang := range languages {
		base, err := template.New("").Funcs(funcs(lang)).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
		if err != nil {
			return nil, fmt.Errorf("web: couldn't parse the layout: %w", err)
		}
		ps[lang] = map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("web: couldn't parse page %s: %w", name, err)
			}
			ps[lang][name] = t
		}
	}
	return ps, nil
}

// assetVersion changes with the embedded assets, so that a new build's
// pages ask for its own script and stylesheet (?v=), not a cached one.
var assetVersion = func() string {
	h := sha256.New()
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// staticHandler serves the embedded assets, cacheable for a day.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// pageData is what every page's template gets; D is the page's own.
type pageData struct {
	Title    string
	Lang     string
	Other    string // the other language, for the switch
	Path     string
	Section  string
	User     string
	Roles    []string
	CSRF     string
	Work     bool // may do case work (analyst, incident_commander)
	Approver bool // holds an approval role
	Now      time.Time
	Asset    string // assetVersion
	D        any
}

// render renders page with the layout, or only the named fragment when
// page contains a colon ("propose:decision").
func (c *Console) render(w http.ResponseWriter, r *http.Request, rq *request, code int, page, titleKey string, d any, titleArgs ...any) {
	name, fragment, _ := strings.Cut(page, ":")
	t := c.pages[rq.lang][name]
	pd := pageData{
		Title: translate(rq.lang, titleKey, titleArgs...), Lang: rq.lang, Other: other(rq.lang),
		Path: r.URL.Path, Section: section(r.URL.Path), Now: rq.now, Asset: assetVersion, D: d,
	}
	if rq.sess != nil {
		pd.User, pd.Roles, pd.CSRF = rq.p.Name, rq.p.Roles, rq.sess.csrf
		pd.Work = rq.can(roleWork...)
		pd.Approver = rq.can(roleApprovers...)
	}
	var buf bytes.Buffer
	exec := "layout"
	if fragment != "" {
		exec = fragment
	}
	if err := t.ExecuteTemplate(&buf, exec, pd); err != nil {
		c.log.Error("couldn't render a console page", "page", page, "err", err)
		http.Error(w, "internal error; the server log has the detail", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func other(lang string) string {
	if lang == "it" {
		return "en"
	}
	return "it"
}

// section names the navigation entry a path belongs to.
func section(p string) string {
	switch {
	case p == "/":
		return "now"
	case strings.HasPrefix(p, "/incidents"), strings.HasPrefix(p, "/actions"):
		return "incidents"
	case strings.HasPrefix(p, "/sensors"):
		return "sensors"
	case strings.HasPrefix(p, "/evidence-log"):
		return "log"
	}
	return ""
}

// funcs are the template functions, with T bound to lang.
func funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"T": func(key string, args ...any) string { return translate(lang, key, args...) },
		// rome shows an instant in Europe/Rome time.
		"rome": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(incident.Rome).Format("2006-01-02 15:04:05 MST")
		},
		"romeShort": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(incident.Rome).Format("02/01 15:04")
		},
		"romeTime": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(incident.Rome).Format("02/01/06 15:04:05")
		},
		// logTime shows a log header time (evidence.TimeFormat, UTC) in
		// Rome time.
		"logTime": func(s string) string {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return s
			}
			return t.In(incident.Rome).Format("02/01/06 15:04:05.000")
		},
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"join":    strings.Join,
		"has":     slices.Contains[[]string],
		"missing": func(m string) string { return missingText(lang, m) },
		"label":   func(prefix, v string) string { return label(lang, prefix, v) },
		"short": func(s string, n int) string {
			if len(s) <= n {
				return s
			}
			return s[:n] + "…"
		},
		"svg": func(s string) template.HTML { return template.HTML(s) }, // only for SVG built by svg.go, every value escaped there
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
		"severities": func() []string { return []string{"critical", "high", "medium", "low"} },
		"list":       func(s ...string) []string { return s },
		"kindclass":  kindClass,
	}
}

// label translates a value of a closed vocabulary (a verdict, a state, a
// severity, a kind), falling back to the value itself.
func label(lang, prefix, v string) string {
	key := prefix + "." + v
	if _, ok := messages[lang][key]; ok {
		return translate(lang, key)
	}
	return strings.ReplaceAll(v, "_", " ")
}

// missingText says in words what a conditional decision still needs
// ("approval:legal_counsel" → "the approval of legal counsel").
func missingText(lang, m string) string {
	kind, arg, _ := strings.Cut(m, ":")
	switch kind {
	case "approval":
		return translate(lang, "missing.approval", label(lang, "role", arg))
	case "notification":
		return translate(lang, "missing.notification."+arg)
	case "sanctions_screening":
		return translate(lang, "missing.screening."+arg)
	case "legal_review":
		return translate(lang, "missing.legal_review")
	}
	if p, ok := strings.CutPrefix(m, "params."); ok {
		return translate(lang, "missing.param", label(lang, "param", p))
	}
	return m
}
