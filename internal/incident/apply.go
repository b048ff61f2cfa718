package incident

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vallum/vallum/internal/evidence"
)

// migrations of component "incident". A released migration is never
// edited, only followed.
var migrations = []string{
	1: `
CREATE TABLE inc_incidents (
	id           TEXT PRIMARY KEY,
	title        TEXT NOT NULL,
	description  TEXT NOT NULL,
	severity     TEXT NOT NULL,
	status       TEXT NOT NULL,
	categories   TEXT NOT NULL,
	assignees    TEXT NOT NULL,
	created_by   TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	created_idx  INTEGER NOT NULL,
	updated_at   TEXT NOT NULL,
	updated_idx  INTEGER NOT NULL,
	erased       INTEGER NOT NULL
);
CREATE INDEX inc_incidents_created ON inc_incidents(created_idx);
CREATE TABLE inc_notes (
	idx      INTEGER PRIMARY KEY,
	incident TEXT NOT NULL,
	author   TEXT NOT NULL,
	at       TEXT NOT NULL,
	text     TEXT NOT NULL,
	erased   INTEGER NOT NULL
);
CREATE INDEX inc_notes_incident ON inc_notes(incident, idx);
CREATE TABLE inc_observables (
	incident   TEXT NOT NULL,
	type       TEXT NOT NULL,
	value      TEXT NOT NULL,
	tags       TEXT NOT NULL,
	first_seen TEXT NOT NULL,
	last_seen  TEXT NOT NULL,
	first_idx  INTEGER NOT NULL,
	last_idx   INTEGER NOT NULL,
	PRIMARY KEY (incident, type, value)
);
CREATE TABLE inc_events (
	incident  TEXT NOT NULL,
	idx       INTEGER NOT NULL,
	kind      TEXT NOT NULL,
	time      TEXT NOT NULL,
	linked_by INTEGER NOT NULL,
	PRIMARY KEY (incident, idx)
);
CREATE TABLE inc_evidence (
	id           TEXT PRIMARY KEY,
	incident     TEXT NOT NULL,
	sha256       TEXT NOT NULL,
	size         INTEGER NOT NULL,
	media_type   TEXT NOT NULL,
	source       TEXT NOT NULL,
	tool         TEXT NOT NULL,
	method       TEXT NOT NULL,
	acquired_by  TEXT NOT NULL,
	parent       TEXT NOT NULL,
	acquired_at  TEXT NOT NULL,
	acquired_idx INTEGER NOT NULL,
	holder       TEXT NOT NULL,
	location     TEXT NOT NULL,
	seal         TEXT NOT NULL,
	destroyed    INTEGER NOT NULL,
	erased       INTEGER NOT NULL
);
CREATE INDEX inc_evidence_incident ON inc_evidence(incident, acquired_idx);
CREATE TABLE inc_custody (
	idx      INTEGER NOT NULL,
	evidence TEXT NOT NULL,
	step     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	at       TEXT NOT NULL,
	detail   TEXT NOT NULL,
	PRIMARY KEY (evidence, idx)
);
CREATE TABLE inc_actions (
	id             TEXT PRIMARY KEY,
	incident       TEXT NOT NULL,
	request        TEXT NOT NULL,
	proposer       TEXT NOT NULL,
	state          TEXT NOT NULL,
	verdict        TEXT NOT NULL,
	missing        TEXT NOT NULL,
	decision_idx   INTEGER,
	decision_leaf  TEXT NOT NULL,
	requires       TEXT NOT NULL,
	executor       TEXT NOT NULL,
	result         TEXT NOT NULL,
	error          TEXT NOT NULL,
	proposed_at    TEXT NOT NULL,
	proposed_idx   INTEGER NOT NULL,
	updated_at     TEXT NOT NULL,
	updated_idx    INTEGER NOT NULL,
	erased         INTEGER NOT NULL
);
CREATE INDEX inc_actions_incident ON inc_actions(incident, proposed_idx);
CREATE TABLE inc_approvals (
	idx      INTEGER PRIMARY KEY,
	action   TEXT NOT NULL,
	role     TEXT NOT NULL,
	by       TEXT NOT NULL,
	at       TEXT NOT NULL,
	leaf     TEXT NOT NULL
);
CREATE INDEX inc_approvals_action ON inc_approvals(action, idx);
CREATE TABLE inc_timeline (
	incident TEXT NOT NULL,
	idx      INTEGER NOT NULL,
	time     TEXT NOT NULL,
	kind     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	subject  TEXT NOT NULL,
	summary  TEXT NOT NULL,
	erased   INTEGER NOT NULL,
	PRIMARY KEY (incident, idx)
);
CREATE INDEX inc_timeline_time ON inc_timeline(incident, time, idx);
CREATE TABLE inc_head (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	applied INTEGER NOT NULL
);`,
	2: `
CREATE TABLE inc_clocks (
	incident    TEXT NOT NULL,
	regime      TEXT NOT NULL,
	event       TEXT NOT NULL,
	at          TEXT NOT NULL,
	rationale   TEXT NOT NULL,
	declared_by TEXT NOT NULL,
	idx         INTEGER NOT NULL,
	PRIMARY KEY (incident, regime, event)
);
CREATE TABLE inc_submissions (
	idx         INTEGER PRIMARY KEY,
	incident    TEXT NOT NULL,
	regime      TEXT NOT NULL,
	deadline    TEXT NOT NULL,
	channel     TEXT NOT NULL,
	reference   TEXT NOT NULL,
	sent_sha256 TEXT NOT NULL,
	at          TEXT NOT NULL,
	late_reason TEXT NOT NULL,
	submitted_by TEXT NOT NULL
);
CREATE INDEX inc_submissions_incident ON inc_submissions(incident, idx);`,
	3: ransomMigration, // ransom.go
}

// tables are the projection's tables, compared by the rebuild test;
// Rebuild empties them and inc_head (the last log index seen).
var tables = []string{"inc_incidents", "inc_notes", "inc_observables", "inc_events", "inc_evidence", "inc_custody", "inc_actions", "inc_approvals", "inc_timeline", "inc_clocks", "inc_submissions", "inc_ransom", "inc_ransom_reports", "inc_ransom_messages", "inc_ransom_screenings"}

// execer is what apply needs of a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// apply projects one log entry of the desk's kinds into the tables. It is
// the only code that writes them: live writes call it right after the
// append, Rebuild calls it for every entry in log order, so both produce
// the same rows. It depends on nothing but its arguments and the rows
// earlier entries wrote; it never checks business rules (the log is the
// record: they were checked before the append). A nil payload is an
// erased one: the timeline keeps the entry with a marker, and an erased
// incident.created still creates the incident (marked erased). An
// unreadable payload is treated the same way; apply only fails on a
// database error.
func apply(ctx context.Context, tx execer, index int64, leaf string, h evidence.Header, payload []byte) error {
	tl := timelineRow{incident: h.Incident, idx: index, time: h.Time, kind: h.Kind, actor: h.Actor}
	var v any
	if payload != nil {
		var err error
		if v, err = decodePayload(h.Kind, payload); err != nil {
			tl.summary = "unreadable payload"
		}
	}
	if v == nil {
		tl.erased = true
		if tl.summary == "" {
			tl.summary = "payload erased"
		}
		var err error
		switch h.Kind {
		case KindCreated:
			_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_incidents VALUES (?, '', '', '', ?, '[]', '[]', ?, ?, ?, ?, ?, 1)`,
				h.Incident, StatusOpen, h.Actor, h.Time, index, h.Time, index)
		case KindNote:
			_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_notes VALUES (?, ?, ?, ?, '', 1)`, index, h.Incident, h.Actor, h.Time)
		}
		if err != nil {
			return err
		}
		return finish(ctx, tx, index, tl)
	}
	var err error
	switch p := v.(type) {
	case *createdPayload:
		tl.subject, tl.summary = p.ID, fmt.Sprintf("opened %q (%s)", p.Title, p.Severity)
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
			p.ID, p.Title, p.Description, p.Severity, StatusOpen, jsonList(cleanList(p.Categories)), jsonList(cleanList(p.Assignees)),
			h.Actor, h.Time, index, h.Time, index)
	case *updatedPayload:
		tl.subject, tl.summary = p.ID, describeUpdate(p.Update)
		err = applyUpdate(ctx, tx, index, h, p)
	case *notePayload:
		tl.subject, tl.summary = p.ID, "note"
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_notes VALUES (?, ?, ?, ?, ?, 0)`, index, h.Incident, h.Actor, h.Time, p.Text)
	case *observablePayload:
		tl.subject, tl.summary = p.Type+":"+p.Value, "observable "+p.Type+" "+p.Value
		seen := p.Seen
		if seen == "" {
			seen = h.Time
		}
		err = applyObservable(ctx, tx, index, h.Incident, p, seen)
	case *eventsPayload:
		tl.subject, tl.summary = p.ID, fmt.Sprintf("linked %d events", len(p.Events))
		for _, e := range p.Events {
			if _, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_events VALUES (?, ?, ?, ?, ?)`, h.Incident, e.Index, e.Kind, e.Time, index); err != nil {
				return err
			}
			if err = insertTimeline(ctx, tx, timelineRow{incident: h.Incident, idx: e.Index, time: e.Time, kind: e.Kind,
				summary: fmt.Sprintf("event linked by entry %d", index)}); err != nil {
				return err
			}
		}
	case *acquiredPayload:
		tl.subject, tl.summary = p.Evidence, "acquired sha256:"+p.SHA256
		err = insertEvidence(ctx, tx, index, h, p.Evidence, "", p.EvidenceInput)
	case *custodyPayload:
		tl.subject, tl.summary = p.Evidence, "custody: "+p.Step
		err = applyCustody(ctx, tx, index, h, p)
	case *proposedPayload:
		tl.subject, tl.summary = p.Action, "proposed "+p.Request.Action.Kind+" on "+p.Request.Action.Target
		req, _ := json.Marshal(p.Request)
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_actions VALUES (?, ?, ?, ?, ?, '', '[]', NULL, '', '[]', '', '', '', ?, ?, ?, ?, 0)`,
			p.Action, h.Incident, string(req), p.Request.Proposer, Proposed, h.Time, index, h.Time, index)
	case *decidedPayload:
		tl.subject, tl.summary = p.Action, fmt.Sprintf("guardrail: %s (decision %d)", p.Verdict, p.Decision.Index)
		set := "verdict = ?, missing = ?, decision_idx = ?, decision_leaf = ?, requires = ?"
		args := []any{p.Verdict, jsonList(p.Missing), p.Decision.Index, p.Decision.LeafHash, jsonList(p.Requires)}
		if h.Kind == KindDecided {
			set += ", state = ?"
			args = append(args, Decided)
		}
		err = updateAction(ctx, tx, index, h, p.Action, set, args...)
	case *approvedPayload:
		tl.subject, tl.summary = p.Action, "approved as "+p.Role
		err = applyApproval(ctx, tx, index, leaf, h, p)
	case *executingPayload:
		tl.subject, tl.summary = p.Action, "executing with "+p.Executor
		err = updateAction(ctx, tx, index, h, p.Action, "state = ?, executor = ?", Executing, p.Executor)
	case *outcomePayload:
		state := ActionState(strings.TrimPrefix(h.Kind, "action."))
		tl.subject, tl.summary = p.Action, string(state)
		set, args := "state = ?", []any{state}
		if p.Result != nil {
			r, _ := json.Marshal(p.Result)
			set, args = set+", result = ?", append(args, string(r))
		}
		if p.Error != "" {
			tl.summary += ": " + p.Error
			set, args = set+", error = ?", append(args, p.Error)
		}
		err = updateAction(ctx, tx, index, h, p.Action, set, args...)
	case *clockDeclaredPayload:
		tl.subject, tl.summary = p.Regime, "clock "+p.Regime+" "+cmp.Or(p.Event, "trigger")+" at "+p.At
		err = applyClockDeclared(ctx, tx, index, h, p)
	case *clockSubmittedPayload:
		tl.subject, tl.summary = p.Regime+"/"+p.Deadline, "submitted "+p.Regime+" "+p.Deadline+" via "+p.Channel+" ref "+p.Reference
		err = applyClockSubmitted(ctx, tx, index, h, p)
	default:
		_, err = applyRansom(ctx, tx, index, h, v, &tl) // ransom.go
	}
	if err != nil {
		return err
	}
	return finish(ctx, tx, index, tl)
}

func finish(ctx context.Context, tx execer, index int64, tl timelineRow) error {
	if err := insertTimeline(ctx, tx, tl); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO inc_head(id, applied) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET applied = MAX(applied, excluded.applied)`, index)
	return err
}

type timelineRow struct {
	incident          string
	idx               int64
	time, kind, actor string
	subject, summary  string
	erased            bool
}

func insertTimeline(ctx context.Context, tx execer, r timelineRow) error {
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_timeline VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.incident, r.idx, r.time, r.kind, r.actor, r.subject, r.summary, r.erased)
	return err
}

func describeUpdate(u Update) string {
	var parts []string
	if u.Status != nil {
		parts = append(parts, "status "+string(*u.Status))
	}
	if u.Severity != nil {
		parts = append(parts, "severity "+string(*u.Severity))
	}
	for name, set := range map[string]bool{"title": u.Title != nil, "description": u.Description != nil, "categories": u.Categories != nil, "assignees": u.Assignees != nil} {
		if set {
			parts = append(parts, name)
		}
	}
	slices.Sort(parts)
	return "updated " + strings.Join(parts, ", ")
}

func applyUpdate(ctx context.Context, tx execer, index int64, h evidence.Header, p *updatedPayload) error {
	set, args := "updated_at = ?, updated_idx = ?", []any{h.Time, index}
	add := func(col string, v any) { set += ", " + col + " = ?"; args = append(args, v) }
	if p.Title != nil {
		add("title", *p.Title)
	}
	if p.Description != nil {
		add("description", *p.Description)
	}
	if p.Severity != nil {
		add("severity", *p.Severity)
	}
	if p.Status != nil {
		add("status", *p.Status)
	}
	if p.Categories != nil {
		add("categories", jsonList(cleanList(*p.Categories)))
	}
	if p.Assignees != nil {
		add("assignees", jsonList(cleanList(*p.Assignees)))
	}
	_, err := tx.ExecContext(ctx, `UPDATE inc_incidents SET `+set+` WHERE id = ?`, append(args, p.ID)...)
	return err
}

func applyObservable(ctx context.Context, tx execer, index int64, incident string, p *observablePayload, seen string) error {
	var tags, first, last string
	var firstIdx int64
	err := tx.QueryRowContext(ctx, `SELECT tags, first_seen, last_seen, first_idx FROM inc_observables WHERE incident = ? AND type = ? AND value = ?`,
		incident, p.Type, p.Value).Scan(&tags, &first, &last, &firstIdx)
	if err == sql.ErrNoRows {
		_, err = tx.ExecContext(ctx, `INSERT INTO inc_observables VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			incident, p.Type, p.Value, jsonList(cleanList(p.Tags)), seen, seen, index, index)
		return err
	}
	if err != nil {
		return err
	}
	var old []string
	json.Unmarshal([]byte(tags), &old)
	// Times are TimeFormat: fixed width, so they compare as strings.
	first, last = min(first, seen), max(last, seen)
	_, err = tx.ExecContext(ctx, `UPDATE inc_observables SET tags = ?, first_seen = ?, last_seen = ?, last_idx = ? WHERE incident = ? AND type = ? AND value = ?`,
		jsonList(cleanList(append(old, p.Tags...))), first, last, index, incident, p.Type, p.Value)
	return err
}

func insertEvidence(ctx context.Context, tx execer, index int64, h evidence.Header, id, parent string, in EvidenceInput) error {
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_evidence VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', 0, 0)`,
		id, h.Incident, in.SHA256, in.Size, in.MediaType, in.Source, in.Tool, in.Method, h.Actor, parent, h.Time, index, h.Actor); err != nil {
		return err
	}
	detail, _ := json.Marshal(Custody{Step: StepAcquired, SHA256: in.SHA256, Tool: in.Tool, Note: in.Method})
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_custody VALUES (?, ?, ?, ?, ?, ?)`, index, id, StepAcquired, h.Actor, h.Time, string(detail))
	return err
}

func applyCustody(ctx context.Context, tx execer, index int64, h evidence.Header, p *custodyPayload) error {
	detail, _ := json.Marshal(p.Custody)
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_custody VALUES (?, ?, ?, ?, ?, ?)`, index, p.Evidence, p.Step, h.Actor, h.Time, string(detail)); err != nil {
		return err
	}
	var err error
	switch p.Step {
	case StepTransferred, StepReturned:
		_, err = tx.ExecContext(ctx, `UPDATE inc_evidence SET holder = ? WHERE id = ?`, p.To, p.Evidence)
	case StepStored:
		_, err = tx.ExecContext(ctx, `UPDATE inc_evidence SET location = ?, seal = ? WHERE id = ?`, p.Location, p.Seal, p.Evidence)
	case StepDestroyed:
		_, err = tx.ExecContext(ctx, `UPDATE inc_evidence SET destroyed = 1 WHERE id = ?`, p.Evidence)
	case StepCopied:
		var src EvidenceInput
		err = tx.QueryRowContext(ctx, `SELECT source, tool, method FROM inc_evidence WHERE id = ?`, p.Evidence).Scan(&src.Source, &src.Tool, &src.Method)
		if err == sql.ErrNoRows {
			err = nil
		}
		if err == nil {
			in := EvidenceInput{SHA256: p.SHA256, Size: p.Size, MediaType: p.MediaType, Source: "copy of " + p.Evidence, Tool: p.Tool, Method: "copy"}
			err = insertEvidence(ctx, tx, index, h, p.Copy, p.Evidence, in)
		}
	}
	return err
}

func updateAction(ctx context.Context, tx execer, index int64, h evidence.Header, id, set string, args ...any) error {
	args = append(args, h.Time, index, id)
	_, err := tx.ExecContext(ctx, `UPDATE inc_actions SET `+set+`, updated_at = ?, updated_idx = ? WHERE id = ?`, args...)
	return err
}

func applyApproval(ctx context.Context, tx execer, index int64, leaf string, h evidence.Header, p *approvedPayload) error {
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_approvals VALUES (?, ?, ?, ?, ?, ?)`, index, p.Action, p.Role, h.Actor, h.Time, leaf); err != nil {
		return err
	}
	// The action becomes approved once the approvals cover every role its
	// decision required.
	var requires, state string
	if err := tx.QueryRowContext(ctx, `SELECT requires, state FROM inc_actions WHERE id = ?`, p.Action).Scan(&requires, &state); err != nil {
		if err == sql.ErrNoRows {
			return nil
		}
		return err
	}
	var req []string
	json.Unmarshal([]byte(requires), &req)
	have, err := approvalRoles(ctx, tx, p.Action)
	if err != nil {
		return err
	}
	set, args := "state = state", []any{}
	if ActionState(state) == Decided && len(req) > 0 && covers(have, req) {
		set, args = "state = ?", []any{Approved}
	}
	return updateAction(ctx, tx, index, h, p.Action, set, args...)
}

func approvalRoles(ctx context.Context, tx execer, action string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT role FROM inc_approvals WHERE action = ? ORDER BY idx`, action)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// covers reports whether have includes every role in need.
func covers(have, need []string) bool {
	for _, r := range need {
		if !slices.Contains(have, r) {
			return false
		}
	}
	return true
}
