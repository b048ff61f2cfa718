// Package drafts renders notification drafts from an incident's case: the
// NIS2 pre-notification, notification and final report (D.Lgs. 138/2024
// art. 25, which also fulfil Law 90/2024 art. 1), the GDPR art. 33
// notification to the Garante, and a crime report with the content c.p.p.
// art. 332 asks for, in Italian or English, as Markdown or HTML.
//
// A draft is never filed by Vallum: a person reviews it, completes the
// fields marked "[to complete]" (Draft.Missing lists them) and files it
// through the named channel. Render is pure: the caller reads the case
// from the incident desk and passes the time.
//
// Layout: each kind is data (kinds.go: its channel, legal basis, deadline
// and the fields the law asks for, each filled by a function over the
// Case); the language strings are data too (lang.go). Two templates, one
// per format (templates/draft.md.tmpl with text/template and
// templates/draft.html.tmpl with html/template, which escapes the case's
// text), lay out any kind in any language, so that a change of layout is
// made once.
package drafts

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

// Case is everything the drafts are generated from, as read from the
// incident desk by the caller.
type Case struct {
	Incident    incident.Incident
	Observables []incident.Observable
	Notes       []incident.Note
	Evidence    []incident.EvidenceItem
	Actions     []incident.Action
	Clocks      []incident.Clock
	Timeline    []incident.TimelineItem
}

// Draft is a rendered notification draft.
type Draft struct {
	Kind   string
	Lang   string
	Format string
	Title  string
	Body   []byte
	// Missing are the keys of the fields that a person must still
	// complete (see docs/drafts.md), in the order they appear.
	Missing []string
}

// Formats and languages.
var (
	Formats = []string{"md", "html"}
	Langs   = []string{"it", "en"}
)

// ErrUnknown is wrapped by Render's errors for an unknown kind, language
// or format.
var ErrUnknown = errors.New("unknown")

//go:embed templates
var templateFS embed.FS

var (
	mdTemplate   = texttemplate.Must(texttemplate.New("draft.md.tmpl").Funcs(texttemplate.FuncMap{"md": mdText}).ParseFS(templateFS, "templates/draft.md.tmpl"))
	htmlTemplate = htmltemplate.Must(htmltemplate.New("draft.html.tmpl").ParseFS(templateFS, "templates/draft.html.tmpl"))
)

// mdEscaper backslash-escapes what could turn case text into active
// Markdown: raw HTML and autolinks (<, >), entities (&), inline links
// ("](") and the backslash itself, and folds line breaks so a note cannot
// open a heading, a list or an HTML block. Emphasis and brackets stay as
// typed: they change no more than the look, and "[to complete]" must stay
// searchable in the raw file.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "<", `\<`, ">", `\>`, "&", `\&`, "](", `\](`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

// mdText is case text made safe to place inside a Markdown line.
func mdText(s string) string { return mdEscaper.Replace(s) }

// item is one fact of a field, with the log index of the entry it comes
// from (0 when it has none).
type item struct {
	Text  string
	Index int64
}

// field is one piece of content the law asks for.
type field struct {
	Key     string
	Label   string
	Items   []item
	Missing bool
}

// document is what the templates lay out.
type document struct {
	Title, Draft, Channel, BasisLabel, Basis, DeadlineLabel, Deadline  string
	GeneratedLabel, Generated, IndexLabel, MissingLabel, IncidentLabel string
	Incident                                                           string
	Fields                                                             []field
	Missing                                                            []string
}

// Render renders the draft of kind in lang and format from c, as of now.
func Render(kind, lang, format string, c Case, now time.Time) (Draft, error) {
	k, ok := lookupKind(kind)
	if !ok {
		return Draft{}, fmt.Errorf("%w kind %q (known: %s)", ErrUnknown, kind, strings.Join(Kinds(), ", "))
	}
	if !slices.Contains(Langs, lang) {
		return Draft{}, fmt.Errorf("%w language %q (known: %s)", ErrUnknown, lang, strings.Join(Langs, ", "))
	}
	if !slices.Contains(Formats, format) {
		return Draft{}, fmt.Errorf("%w format %q (known: %s)", ErrUnknown, format, strings.Join(Formats, ", "))
	}
	t := tr(lang)
	in := input{c: c, now: now, t: t}
	doc := document{
		Title:          t(k.ID+".title") + ": " + c.Incident.ID + " " + c.Incident.Title,
		Draft:          t("draft") + " " + t(k.ID+".channel") + ".",
		Channel:        t(k.ID + ".channel"),
		BasisLabel:     t("basis"),
		Basis:          t(k.ID + ".basis"),
		DeadlineLabel:  t("deadline"),
		GeneratedLabel: t("generated"),
		Generated:      romeTime(now),
		IndexLabel:     t("index"),
		MissingLabel:   t("missing"),
		IncidentLabel:  t("incident"),
		Incident:       fmt.Sprintf("%s (%s)", c.Incident.ID, c.Incident.Title),
	}
	var noClock bool
	if doc.Deadline, noClock = k.deadline(in); noClock {
		doc.Missing = append(doc.Missing, "deadline")
	}
	for _, f := range k.Fields {
		items := f.Fill(in)
		fl := field{Key: f.Key, Label: t(k.ID+"."+f.Key, f.Key), Items: items}
		if len(items) == 0 {
			fl.Missing = true
			fl.Items = []item{{Text: t("to_complete")}}
			doc.Missing = append(doc.Missing, f.Key)
		}
		doc.Fields = append(doc.Fields, fl)
	}
	var b bytes.Buffer
	var err error
	if format == "md" {
		err = mdTemplate.Execute(&b, doc)
	} else {
		err = htmlTemplate.Execute(&b, doc)
	}
	if err != nil {
		return Draft{}, fmt.Errorf("couldn't render the %s draft: %w", kind, err)
	}
	return Draft{Kind: kind, Lang: lang, Format: format, Title: doc.Title, Body: b.Bytes(), Missing: doc.Missing}, nil
}

func romeTime(t time.Time) string { return t.In(incident.Rome).Format("2006-01-02 15:04 MST") }
