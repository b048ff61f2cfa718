package drafts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

// input is what a field is filled from.
type input struct {
	c   Case
	now time.Time
	t   func(keys ...string) string
}

// fieldSpec is a field the law asks for; Fill returns its facts, none when
// a person must complete it.
type fieldSpec struct {
	Key  string
	Fill func(in input) []item
}

// kind is a notification a draft can be made for.
type kind struct {
	ID string
	// Regime and Deadline name the clock the draft answers (see
	// incident.Regimes).
	Regime, Deadline string
	// ClockOptional is true when the draft has a deadline without a
	// declared clock (a crime report is due without delay).
	ClockOptional bool
	Fields        []fieldSpec
}

func lookupKind(id string) (kind, bool) {
	i := slices.IndexFunc(kinds, func(k kind) bool { return k.ID == id })
	if i < 0 {
		return kind{}, false
	}
	return kinds[i], true
}

// Kinds returns the IDs of the kinds of draft.
func Kinds() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.ID
	}
	return out
}

// toComplete is a field no fact of the case fills.
func toComplete(input) []item { return nil }

var (
	fIncident    = fieldSpec{"incident_field", incidentRef}
	fDescription = fieldSpec{"description", description}
	fSeverity    = fieldSpec{"severity", severity}
	fCategories  = fieldSpec{"categories", categories}
)

func awareness(regime string) fieldSpec {
	return fieldSpec{"aware_at", func(in input) []item {
		for _, c := range in.c.Clocks {
			if c.Regime == regime && !c.Trigger.IsZero() {
				return []item{{Text: romeTime(c.Trigger)}}
			}
		}
		return nil
	}}
}

// kinds are the drafts Vallum generates (LEGAL.md §2.1).
var kinds = []kind{
	{ID: "nis2-prenotification", Regime: "nis2-it", Deadline: "pre_notification", Fields: []fieldSpec{
		fIncident, awareness("nis2-it"), fDescription, fCategories,
		{"malicious_cause", toComplete},
		{"cross_border", toComplete},
	}},
	{ID: "nis2-notification", Regime: "nis2-it", Deadline: "notification", Fields: []fieldSpec{
		fIncident, awareness("nis2-it"), fDescription, fCategories,
		{"update", timeline},
		fSeverity,
		{"impact", toComplete},
		{"iocs", iocs},
	}},
	{ID: "nis2-final-report", Regime: "nis2-it", Deadline: "final_report", Fields: []fieldSpec{
		fIncident, awareness("nis2-it"), fDescription,
		{"findings", notes},
		fSeverity,
		{"impact", toComplete},
		{"root_cause", toComplete},
		{"mitigations", mitigations},
		{"cross_border", toComplete},
	}},
	{ID: "gdpr-33", Regime: "gdpr-33", Deadline: "notification", Fields: []fieldSpec{
		fIncident, awareness("gdpr-33"), fDescription,
		{"subjects", toComplete},
		{"records", toComplete},
		{"dpo_contact", toComplete},
		{"consequences", toComplete},
		{"measures", mitigations},
		{"late_reason", lateReason},
	}},
	{ID: "crime-report", Regime: "querela", Deadline: "complaint", ClockOptional: true, Fields: []fieldSpec{
		fIncident,
		{"facts", facts},
		{"acquired_at", acquiredAt},
		{"proof", proof},
		{"suspect", toComplete},
		{"leads", iocs},
		{"victim", toComplete},
		{"witnesses", toComplete},
	}},
}

// deadline is the draft's deadline in Europe/Rome time from the case's
// clocks, and whether it is still to complete.
func (k kind) deadline(in input) (string, bool) {
	for _, c := range in.c.Clocks {
		if c.Regime != k.Regime || c.Deadline != k.Deadline {
			continue
		}
		if c.Due.IsZero() {
			return in.t("deadline_waiting"), false
		}
		return fmt.Sprintf("%s (%s; %s)", c.DueRome, c.Basis, c.State), false
	}
	return in.t(k.ID + ".no_clock"), !k.ClockOptional
}

func incidentRef(in input) []item {
	i := in.c.Incident
	return []item{{Text: fmt.Sprintf("%s, %q, %s, %s", i.ID, i.Title, i.Status, romeTime(i.CreatedAt)), Index: i.CreatedIndex}}
}

func description(in input) []item {
	if in.c.Incident.Erased || strings.TrimSpace(in.c.Incident.Description) == "" {
		return nil
	}
	return []item{{Text: in.c.Incident.Description, Index: in.c.Incident.CreatedIndex}}
}

func severity(in input) []item {
	if in.c.Incident.Severity == "" {
		return nil
	}
	return []item{{Text: string(in.c.Incident.Severity), Index: in.c.Incident.UpdatedIndex}}
}

func categories(in input) []item {
	if len(in.c.Incident.Categories) == 0 {
		return nil
	}
	return []item{{Text: strings.Join(in.c.Incident.Categories, ", "), Index: in.c.Incident.UpdatedIndex}}
}

func timeline(in input) []item {
	var out []item
	for _, it := range in.c.Timeline {
		out = append(out, item{Text: fmt.Sprintf("%s %s: %s", romeTime(it.Time), it.Kind, it.Summary), Index: it.Index})
	}
	return out
}

// facts are the description and the timeline: the essential facts of a
// crime report.
func facts(in input) []item { return append(description(in), timeline(in)...) }

func iocs(in input) []item {
	var out []item
	for _, o := range in.c.Observables {
		out = append(out, item{Text: fmt.Sprintf("%s %s (%s – %s)", o.Type, o.Value, romeTime(o.FirstSeen), romeTime(o.LastSeen)), Index: o.FirstIndex})
	}
	return out
}

func notes(in input) []item {
	var out []item
	for _, n := range in.c.Notes {
		if !n.Erased {
			out = append(out, item{Text: fmt.Sprintf("%s (%s, %s)", n.Text, n.Author, romeTime(n.At)), Index: n.Index})
		}
	}
	return out
}

// mitigations are the actions taken or under way (not refused, failed or
// expired).
func mitigations(in input) []item {
	var out []item
	for _, a := range in.c.Actions {
		if a.Erased || slices.Contains([]incident.ActionState{incident.Proposed, incident.Decided, incident.Failed, incident.Expired}, a.State) {
			continue
		}
		out = append(out, item{Text: fmt.Sprintf("%s %s: %s (%s)", a.Request.Action.Kind, a.Request.Action.Target, a.State, romeTime(a.UpdatedAt)), Index: a.UpdatedIndex})
	}
	return out
}

func proof(in input) []item {
	var out []item
	for _, e := range in.c.Evidence {
		if e.Erased {
			continue
		}
		out = append(out, item{Text: fmt.Sprintf("%s: %s, SHA-256 %s, %d bytes, %s, %s (%s, %s)", e.ID, e.Source, e.SHA256, e.Size, e.MediaType, e.Method, e.AcquiredBy, romeTime(e.AcquiredAt)), Index: e.AcquiredIndex})
	}
	return out
}

// acquiredAt is when the notice of the crime was acquired: the trigger of
// the complaint's clock when declared, otherwise the incident's opening.
func acquiredAt(in input) []item {
	for _, c := range in.c.Clocks {
		if c.Regime == "querela" && !c.Trigger.IsZero() {
			return []item{{Text: romeTime(c.Trigger)}}
		}
	}
	if i := in.c.Incident; !i.CreatedAt.IsZero() {
		return []item{{Text: romeTime(i.CreatedAt), Index: i.CreatedIndex}}
	}
	return nil
}

// lateReason is missing only when the GDPR deadline has passed with no
// submission: a late notification must give the reasons for the delay.
func lateReason(in input) []item {
	for _, c := range in.c.Clocks {
		if c.Regime == "gdpr-33" && c.Deadline == "notification" && !c.Due.IsZero() && in.now.After(c.Due) && c.Submission == nil {
			return nil
		}
	}
	return []item{{Text: in.t("not_late")}}
}
