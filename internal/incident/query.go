package incident

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vallum/vallum/internal/evidence"
)

// parseTime parses a stored TimeFormat instant (zero if malformed).
func parseTime(s string) time.Time {
	t, _ := time.Parse(evidence.TimeFormat, s)
	return t
}

func decodeList(s string) []string {
	var l []string
	json.Unmarshal([]byte(s), &l)
	if l == nil {
		l = []string{}
	}
	return l
}

const incidentCols = `id, title, description, severity, status, categories, assignees, created_by, created_at, created_idx, updated_at, updated_idx, erased`

func scanIncident(row interface{ Scan(...any) error }) (Incident, error) {
	var i Incident
	var cats, asg, created, updated string
	err := row.Scan(&i.ID, &i.Title, &i.Description, &i.Severity, &i.Status, &cats, &asg, &i.CreatedBy, &created, &i.CreatedIndex, &updated, &i.UpdatedIndex, &i.Erased)
	i.Categories, i.Assignees = decodeList(cats), decodeList(asg)
	i.CreatedAt, i.UpdatedAt = parseTime(created), parseTime(updated)
	return i, err
}

// GetIncident returns an incident, or an error wrapping ErrNotFound.
func (d *Desk) GetIncident(ctx context.Context, id string) (Incident, error) {
	i, err := scanIncident(d.db.QueryRowContext(ctx, `SELECT `+incidentCols+` FROM inc_incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	return i, err
}

// ListIncidents lists incidents in the order they were opened, filtered,
// one page at a time. next is the cursor of the following page (Page.After),
// 0 when this was the last.
func (d *Desk) ListIncidents(ctx context.Context, f Filter, p Page) (list []Incident, next int64, err error) {
	limit := p.limit()
	rows, err := d.db.QueryContext(ctx, `SELECT `+incidentCols+` FROM inc_incidents
		WHERE created_idx > ? AND (? = '' OR status = ?) AND (? = '' OR severity = ?)
		ORDER BY created_idx LIMIT ?`, p.After, f.Status, f.Status, f.Severity, f.Severity, limit+1)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	list = []Incident{}
	for rows.Next() {
		i, err := scanIncident(rows)
		if err != nil {
			return nil, 0, err
		}
		list = append(list, i)
	}
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].CreatedIndex
	}
	return list, next, rows.Err()
}

// Observables returns an incident's observables by type and value.
func (d *Desk) Observables(ctx context.Context, incident string) ([]Observable, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT type, value, tags, first_seen, last_seen, first_idx, last_idx FROM inc_observables WHERE incident = ? ORDER BY type, value`, incident)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Observable{}
	for rows.Next() {
		var o Observable
		var tags, first, last string
		if err := rows.Scan(&o.Type, &o.Value, &tags, &first, &last, &o.FirstIndex, &o.LastIndex); err != nil {
			return nil, err
		}
		o.Tags, o.FirstSeen, o.LastSeen = decodeList(tags), parseTime(first), parseTime(last)
		out = append(out, o)
	}
	return out, rows.Err()
}

// Notes returns an incident's notes in log order.
func (d *Desk) Notes(ctx context.Context, incident string) ([]Note, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT idx, author, at, text, erased FROM inc_notes WHERE incident = ? ORDER BY idx`, incident)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Note{}
	for rows.Next() {
		var n Note
		var at string
		if err := rows.Scan(&n.Index, &n.Author, &at, &n.Text, &n.Erased); err != nil {
			return nil, err
		}
		n.At = parseTime(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Events returns the events linked to an incident, by index.
func (d *Desk) Events(ctx context.Context, incident string) ([]LinkedEvent, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT idx, kind, time, linked_by FROM inc_events WHERE incident = ? ORDER BY idx`, incident)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []LinkedEvent{}
	for rows.Next() {
		var e LinkedEvent
		var t string
		if err := rows.Scan(&e.Index, &e.Kind, &t, &e.LinkedBy); err != nil {
			return nil, err
		}
		e.Time = parseTime(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

const evidenceCols = `id, incident, sha256, size, media_type, source, tool, method, acquired_by, parent, acquired_at, acquired_idx, holder, location, seal, destroyed, erased`

// GetEvidence returns an item of evidence with its chain of custody, or an
// error wrapping ErrNotFound.
func (d *Desk) GetEvidence(ctx context.Context, id string) (EvidenceItem, error) {
	var e EvidenceItem
	var at string
	err := d.db.QueryRowContext(ctx, `SELECT `+evidenceCols+` FROM inc_evidence WHERE id = ?`, id).Scan(
		&e.ID, &e.Incident, &e.SHA256, &e.Size, &e.MediaType, &e.Source, &e.Tool, &e.Method, &e.AcquiredBy, &e.Parent,
		&at, &e.AcquiredIndex, &e.Holder, &e.Location, &e.Seal, &e.Destroyed, &e.Erased)
	if errors.Is(err, sql.ErrNoRows) {
		return EvidenceItem{}, fmt.Errorf("evidence %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return EvidenceItem{}, err
	}
	e.AcquiredAt = parseTime(at)
	rows, err := d.db.QueryContext(ctx, `SELECT idx, step, actor, at, detail FROM inc_custody WHERE evidence = ? ORDER BY idx`, id)
	if err != nil {
		return EvidenceItem{}, err
	}
	defer rows.Close()
	e.Custody = []CustodyStep{}
	for rows.Next() {
		var s CustodyStep
		var at, detail string
		if err := rows.Scan(&s.Index, &s.Step, &s.Actor, &at, &detail); err != nil {
			return EvidenceItem{}, err
		}
		s.At = parseTime(at)
		json.Unmarshal([]byte(detail), &s.Detail)
		e.Custody = append(e.Custody, s)
	}
	return e, rows.Err()
}

// ListEvidence returns the IDs of an incident's evidence items in the
// order they were acquired.
func (d *Desk) ListEvidence(ctx context.Context, incident string) ([]string, error) {
	return d.ids(ctx, `SELECT id FROM inc_evidence WHERE incident = ? ORDER BY acquired_idx`, incident)
}

func (d *Desk) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

const actionCols = `id, incident, request, proposer, state, verdict, missing, decision_idx, decision_leaf, requires, executor, result, error, proposed_at, proposed_idx, updated_at, updated_idx, erased`

func scanAction(row interface{ Scan(...any) error }) (Action, error) {
	var a Action
	var req, missing, requires, result, proposed, updated, leaf string
	var decIdx sql.NullInt64
	err := row.Scan(&a.ID, &a.Incident, &req, &a.Proposer, &a.State, &a.Verdict, &missing, &decIdx, &leaf, &requires,
		&a.Executor, &result, &a.Error, &proposed, &a.ProposedIndex, &updated, &a.UpdatedIndex, &a.Erased)
	if err != nil {
		return a, err
	}
	json.Unmarshal([]byte(req), &a.Request)
	a.Missing, a.Requires = decodeList(missing), decodeList(requires)
	if decIdx.Valid {
		a.Decision = &Receipt{Index: decIdx.Int64, LeafHash: leaf}
	}
	if result != "" {
		a.Result = new(Result)
		json.Unmarshal([]byte(result), a.Result)
	}
	a.ProposedAt, a.UpdatedAt = parseTime(proposed), parseTime(updated)
	a.Approvals = []Approval{}
	return a, nil
}

// GetAction returns an action with its approvals, or an error wrapping
// ErrNotFound.
func (d *Desk) GetAction(ctx context.Context, id string) (Action, error) {
	a, err := scanAction(d.db.QueryRowContext(ctx, `SELECT `+actionCols+` FROM inc_actions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Action{}, fmt.Errorf("action %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Action{}, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT idx, role, by, at, leaf FROM inc_approvals WHERE action = ? ORDER BY idx`, id)
	if err != nil {
		return Action{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var ap Approval
		var at string
		if err := rows.Scan(&ap.Receipt.Index, &ap.Role, &ap.By, &at, &ap.Receipt.LeafHash); err != nil {
			return Action{}, err
		}
		ap.At = parseTime(at)
		a.Approvals = append(a.Approvals, ap)
	}
	return a, rows.Err()
}

// ListActions returns an incident's actions in the order they were
// proposed (without their approvals: GetAction has them).
func (d *Desk) ListActions(ctx context.Context, incident string) ([]Action, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+actionCols+` FROM inc_actions WHERE incident = ? ORDER BY proposed_idx`, incident)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Action{}
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Timeline returns everything of an incident in time order (log order for
// the desk's entries; a linked event at its own time), with the log index
// of each item. It reads the projection only.
func (d *Desk) Timeline(ctx context.Context, incident string) ([]TimelineItem, error) {
	if !d.exists(ctx, `SELECT 1 FROM inc_incidents WHERE id = ?`, incident) {
		return nil, fmt.Errorf("incident %s: %w", incident, ErrNotFound)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT idx, time, kind, actor, subject, summary, erased FROM inc_timeline WHERE incident = ? ORDER BY time, idx`, incident)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []TimelineItem{}
	for rows.Next() {
		var it TimelineItem
		var t string
		if err := rows.Scan(&it.Index, &t, &it.Kind, &it.Actor, &it.Subject, &it.Summary, &it.Erased); err != nil {
			return nil, err
		}
		it.Time = parseTime(t)
		out = append(out, it)
	}
	return out, rows.Err()
}
