package incident

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
)

// Log entry kinds of the ransom track (DOMAIN.md, ransom rows of the
// guardrail table). The header's incident field is the incident's ID.
const (
	// KindRansomOpened marks an incident as extortion: it opens the track.
	KindRansomOpened = "ransom.opened"
	// KindRansomReport is a report to the judicial authority or police.
	KindRansomReport = "ransom.authority_report"
	// KindRansomMessage is a message with the counterpart, archived as an
	// item of evidence (its acquisition is this entry).
	KindRansomMessage = "ransom.message"
	// KindRansomScreening links a sanctions.screening entry of the log.
	KindRansomScreening = "ransom.screening"
)

// SanctionsScreeningKind is the kind of the screening entries the API
// logs (internal/api KindSanctionsScreening); LinkScreening reads them.
const SanctionsScreeningKind = "sanctions.screening"

// Ransom action kinds: deciding them takes the notifications and the
// sanctions screening from the incident's ransom track, never from the
// client.
var RansomActionKinds = []string{"ransom_negotiation", "ransom_payment"}

// Vocabularies of the track.
var (
	RansomAuthorities = []string{"police", "prosecutor"}
	RansomDirections  = []string{"inbound", "outbound"}
	ScreeningResults  = []string{"clear", "hit", "possible_match"}
)

type ransomOpenedPayload struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
}

type ransomReportPayload struct {
	ID        string `json:"id"`
	Authority string `json:"authority"`
	Reference string `json:"reference"`
	At        string `json:"at"`
}

type ransomMessagePayload struct {
	ID        string `json:"id"`
	Evidence  string `json:"evidence"`
	Direction string `json:"direction"`
	Channel   string `json:"channel"`
	SHA256    string `json:"sha256"`
	At        string `json:"at"`
	Summary   string `json:"summary"`
}

type ransomScreeningPayload struct {
	ID string `json:"id"`
	// Screening is the log index of the sanctions.screening entry.
	Screening  int64  `json:"screening"`
	Result     string `json:"result"`
	ScreenedAt string `json:"screened_at"`
	// ListVersion is the SHA-256 of the lists screened against, comma
	// separated in the record's order.
	ListVersion string `json:"list_version"`
}

// ransomMigration is migration 3 of component "incident".
const ransomMigration = `
CREATE TABLE inc_ransom (
	incident  TEXT PRIMARY KEY,
	reason    TEXT NOT NULL,
	opened_by TEXT NOT NULL,
	opened_at TEXT NOT NULL,
	idx       INTEGER NOT NULL
);
CREATE TABLE inc_ransom_reports (
	idx       INTEGER PRIMARY KEY,
	incident  TEXT NOT NULL,
	authority TEXT NOT NULL,
	reference TEXT NOT NULL,
	at        TEXT NOT NULL,
	by        TEXT NOT NULL
);
CREATE INDEX inc_ransom_reports_incident ON inc_ransom_reports(incident, idx);
CREATE TABLE inc_ransom_messages (
	idx       INTEGER PRIMARY KEY,
	incident  TEXT NOT NULL,
	evidence  TEXT NOT NULL,
	direction TEXT NOT NULL,
	channel   TEXT NOT NULL,
	sha256    TEXT NOT NULL,
	at        TEXT NOT NULL,
	summary   TEXT NOT NULL,
	by        TEXT NOT NULL
);
CREATE INDEX inc_ransom_messages_incident ON inc_ransom_messages(incident, idx);
CREATE TABLE inc_ransom_screenings (
	idx          INTEGER PRIMARY KEY,
	incident     TEXT NOT NULL,
	screening    INTEGER NOT NULL,
	result       TEXT NOT NULL,
	screened_at  TEXT NOT NULL,
	list_version TEXT NOT NULL,
	by           TEXT NOT NULL
);
CREATE INDEX inc_ransom_screenings_incident ON inc_ransom_screenings(incident, idx);`

// ransomPayload returns a new payload value for a ransom kind, nil for
// any other kind.
func ransomPayload(kind string) any {
	switch kind {
	case KindRansomOpened:
		return new(ransomOpenedPayload)
	case KindRansomReport:
		return new(ransomReportPayload)
	case KindRansomMessage:
		return new(ransomMessagePayload)
	case KindRansomScreening:
		return new(ransomScreeningPayload)
	}
	return nil
}

// applyRansom projects a ransom entry; handled is false for other payloads.
func applyRansom(ctx context.Context, tx execer, index int64, h evidence.Header, v any, tl *timelineRow) (handled bool, err error) {
	switch p := v.(type) {
	case *ransomOpenedPayload:
		tl.subject, tl.summary = p.ID, "marked as extortion: ransom track opened"
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_ransom VALUES (?, ?, ?, ?, ?)`, h.Incident, p.Reason, h.Actor, h.Time, index)
	case *ransomReportPayload:
		tl.subject, tl.summary = p.Authority+"/"+p.Reference, "reported to "+p.Authority+" ref "+p.Reference
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_ransom_reports VALUES (?, ?, ?, ?, ?, ?)`, index, h.Incident, p.Authority, p.Reference, p.At, h.Actor)
	case *ransomMessagePayload:
		tl.subject, tl.summary = p.Evidence, p.Direction+" ransom message via "+p.Channel+" sha256:"+p.SHA256
		if _, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_ransom_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			index, h.Incident, p.Evidence, p.Direction, p.Channel, p.SHA256, p.At, p.Summary, h.Actor); err != nil {
			return true, err
		}
		err = insertEvidence(ctx, tx, index, h, p.Evidence, "", messageEvidence(p))
	case *ransomScreeningPayload:
		tl.subject, tl.summary = fmt.Sprint(p.Screening), fmt.Sprintf("sanctions screening %d linked: %s", p.Screening, p.Result)
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_ransom_screenings VALUES (?, ?, ?, ?, ?, ?, ?)`,
			index, h.Incident, p.Screening, p.Result, p.ScreenedAt, p.ListVersion, h.Actor)
	default:
		return false, nil
	}
	return true, err
}

// messageEvidence is the evidence item an archived message becomes.
func messageEvidence(p *ransomMessagePayload) EvidenceInput {
	return EvidenceInput{SHA256: p.SHA256, MediaType: "application/octet-stream", Source: "ransom " + p.Direction + " message via " + p.Channel,
		Tool: "vallum", Method: "ransom message archived"}
}

// MarkExtortion marks an incident as extortion (a ransom is demanded),
// which opens its ransom track. Once only.
func (d *Desk) MarkExtortion(ctx context.Context, actor Actor, incident, reason string) (int64, error) {
	if err := checkText("reason", reason, 0, maxLong); err != nil {
		return 0, err
	}
	return d.writeChecked(ctx, actor, incident, KindRansomOpened, func() (any, error) {
		if d.exists(ctx, `SELECT 1 FROM inc_ransom WHERE incident = ?`, incident) {
			return nil, invalidf("incident %s is already marked as extortion", incident)
		}
		return ransomOpenedPayload{ID: incident, Reason: reason}, nil
	})
}

// checkOpen is the check of the track's entries: the incident must be
// marked as extortion.
func (d *Desk) checkOpen(ctx context.Context, incident string) error {
	if !d.exists(ctx, `SELECT 1 FROM inc_ransom WHERE incident = ?`, incident) {
		return invalidf("incident %s is not marked as extortion: mark it first", incident)
	}
	return nil
}

// RecordAuthorityReport records the report of the extortion to the
// police or the prosecutor, with its reference and when it was made (not
// in the future).
func (d *Desk) RecordAuthorityReport(ctx context.Context, actor Actor, incident, authority, reference string, at time.Time) (int64, error) {
	if !slices.Contains(RansomAuthorities, authority) {
		return 0, invalidf("authority %q is not one of %v", authority, RansomAuthorities)
	}
	if err := checkText("reference", reference, 1, maxShort); err != nil {
		return 0, err
	}
	if err := d.checkAt(at); err != nil {
		return 0, err
	}
	return d.writeChecked(ctx, actor, incident, KindRansomReport, func() (any, error) {
		if err := d.checkOpen(ctx, incident); err != nil {
			return nil, err
		}
		if d.exists(ctx, `SELECT 1 FROM inc_ransom_reports WHERE incident = ? AND authority = ? AND reference = ?`, incident, authority, reference) {
			return nil, invalidf("report %s %s is already recorded on %s", authority, reference, incident)
		}
		return ransomReportPayload{ID: incident, Authority: authority, Reference: reference, At: at.UTC().Format(evidence.TimeFormat)}, nil
	})
}

func (d *Desk) checkAt(at time.Time) error {
	if at.IsZero() {
		return invalidf("at is required")
	}
	if at.After(d.clock().Add(5 * time.Minute)) {
		return invalidf("at %s is in the future", at.UTC().Format(time.RFC3339))
	}
	return nil
}

// RansomMessage is a message with the counterpart to archive.
type RansomMessage struct {
	Direction string    `json:"direction"`
	Channel   string    `json:"channel"`
	SHA256    string    `json:"sha256"`
	At        time.Time `json:"at"`
	Summary   string    `json:"summary"`
}

// ArchiveMessage archives a message with the counterpart: one log entry
// that records it on the track and as an item of evidence (acquired by
// the actor, so it has custody). Returns the entry's index and the item's
// ID.
func (d *Desk) ArchiveMessage(ctx context.Context, actor Actor, incident string, m RansomMessage) (int64, string, error) {
	if !slices.Contains(RansomDirections, m.Direction) {
		return 0, "", invalidf("direction %q is not one of %v", m.Direction, RansomDirections)
	}
	if err := errors.Join(checkText("channel", m.Channel, 1, maxShort), checkText("summary", m.Summary, 0, maxLong)); err != nil {
		return 0, "", err
	}
	sum, err := checkSHA256("sha256", m.SHA256)
	if err != nil {
		return 0, "", err
	}
	if err := d.checkAt(m.At); err != nil {
		return 0, "", err
	}
	var id string
	idx, err := d.writeChecked(ctx, actor, incident, KindRansomMessage, func() (any, error) {
		if err := d.checkOpen(ctx, incident); err != nil {
			return nil, err
		}
		id = d.newEvidenceID(ctx)
		return ransomMessagePayload{ID: incident, Evidence: id, Direction: m.Direction, Channel: m.Channel, SHA256: sum,
			At: m.At.UTC().Format(evidence.TimeFormat), Summary: m.Summary}, nil
	})
	return idx, id, err
}

// screeningRecord is what LinkScreening reads of a sanctions.screening
// entry (internal/sanctions Screening).
type screeningRecord struct {
	ScreenedAt time.Time `json:"screened_at"`
	Result     string    `json:"result"`
	Lists      []struct {
		SHA256 string `json:"sha256"`
	} `json:"lists"`
}

// LinkScreening links the sanctions.screening entry at index of the log
// to the track: its result (clear, hit or possible_match), when it was
// screened and the lists' SHA-256 are read from the entry, never taken
// from the caller. The entry must be of this incident or of none.
func (d *Desk) LinkScreening(ctx context.Context, actor Actor, incident string, index int64) (int64, error) {
	e, err := d.log.Entry(index)
	if err != nil {
		return 0, invalidf("entry %d: %v", index, err)
	}
	h, err := evidence.DecodeHeader(e.Header)
	if err != nil {
		return 0, fmt.Errorf("entry %d: %w", index, err)
	}
	if h.Kind != SanctionsScreeningKind {
		return 0, invalidf("entry %d is a %s entry, not a %s", index, h.Kind, SanctionsScreeningKind)
	}
	if h.Incident != "" && h.Incident != incident {
		return 0, invalidf("screening %d belongs to incident %s", index, h.Incident)
	}
	if e.Erased {
		return 0, invalidf("screening %d was erased", index)
	}
	var sc screeningRecord
	if err := json.Unmarshal(e.Payload, &sc); err != nil {
		return 0, invalidf("screening %d is unreadable: %v", index, err)
	}
	if !slices.Contains(ScreeningResults, sc.Result) || sc.ScreenedAt.IsZero() {
		return 0, invalidf("screening %d has result %q at %v: not a screening record", index, sc.Result, sc.ScreenedAt)
	}
	var lists []string
	for _, l := range sc.Lists {
		lists = append(lists, l.SHA256)
	}
	return d.writeChecked(ctx, actor, incident, KindRansomScreening, func() (any, error) {
		if err := d.checkOpen(ctx, incident); err != nil {
			return nil, err
		}
		if d.exists(ctx, `SELECT 1 FROM inc_ransom_screenings WHERE incident = ? AND screening = ?`, incident, index) {
			return nil, invalidf("screening %d is already linked to %s", index, incident)
		}
		return ransomScreeningPayload{ID: incident, Screening: index, Result: sc.Result,
			ScreenedAt: sc.ScreenedAt.UTC().Format(evidence.TimeFormat), ListVersion: strings.Join(lists, ",")}, nil
	})
}

// AuthorityReport is a report on the track.
type AuthorityReport struct {
	Index     int64     `json:"index"`
	Authority string    `json:"authority"`
	Reference string    `json:"reference"`
	At        time.Time `json:"at"`
	By        string    `json:"by"`
}

// ArchivedMessage is a message on the track; Evidence is its item.
type ArchivedMessage struct {
	Index     int64     `json:"index"`
	Evidence  string    `json:"evidence"`
	Direction string    `json:"direction"`
	Channel   string    `json:"channel"`
	SHA256    string    `json:"sha256"`
	At        time.Time `json:"at"`
	Summary   string    `json:"summary"`
	By        string    `json:"by"`
}

// LinkedScreening is a screening on the track; Screening is the log index
// of the sanctions.screening entry.
type LinkedScreening struct {
	Index       int64     `json:"index"`
	Screening   int64     `json:"screening"`
	Result      string    `json:"result"`
	ScreenedAt  time.Time `json:"screened_at"`
	ListVersion string    `json:"list_version"`
	By          string    `json:"by"`
}

// RansomTrack is the ransom track of an incident.
type RansomTrack struct {
	Incident  string            `json:"incident"`
	Extortion bool              `json:"extortion"`
	OpenedBy  string            `json:"opened_by,omitempty"`
	OpenedAt  time.Time         `json:"opened_at,omitzero"`
	Reason    string            `json:"reason,omitempty"`
	Reports   []AuthorityReport `json:"authority_reports"`
	Messages  []ArchivedMessage `json:"messages"`
	// Screenings are in log order; the last is the one the guardrail sees.
	Screenings []LinkedScreening `json:"screenings"`
}

// RansomTrack returns an incident's ransom track (Extortion false and
// empty lists when it is not marked).
func (d *Desk) RansomTrack(ctx context.Context, incident string) (RansomTrack, error) {
	if _, err := d.GetIncident(ctx, incident); err != nil {
		return RansomTrack{}, err
	}
	t := RansomTrack{Incident: incident, Reports: []AuthorityReport{}, Messages: []ArchivedMessage{}, Screenings: []LinkedScreening{}}
	var at string
	err := d.db.QueryRowContext(ctx, `SELECT reason, opened_by, opened_at FROM inc_ransom WHERE incident = ?`, incident).Scan(&t.Reason, &t.OpenedBy, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return t, nil
	case err != nil:
		return RansomTrack{}, err
	}
	t.Extortion, t.OpenedAt = true, parseTime(at)
	rows, err := d.db.QueryContext(ctx, `SELECT idx, authority, reference, at, by FROM inc_ransom_reports WHERE incident = ? ORDER BY idx`, incident)
	if err != nil {
		return RansomTrack{}, err
	}
	for rows.Next() {
		var r AuthorityReport
		if err := rows.Scan(&r.Index, &r.Authority, &r.Reference, &at, &r.By); err != nil {
			rows.Close()
			return RansomTrack{}, err
		}
		r.At = parseTime(at)
		t.Reports = append(t.Reports, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return RansomTrack{}, err
	}
	rows, err = d.db.QueryContext(ctx, `SELECT idx, evidence, direction, channel, sha256, at, summary, by FROM inc_ransom_messages WHERE incident = ? ORDER BY idx`, incident)
	if err != nil {
		return RansomTrack{}, err
	}
	for rows.Next() {
		var m ArchivedMessage
		if err := rows.Scan(&m.Index, &m.Evidence, &m.Direction, &m.Channel, &m.SHA256, &at, &m.Summary, &m.By); err != nil {
			rows.Close()
			return RansomTrack{}, err
		}
		m.At = parseTime(at)
		t.Messages = append(t.Messages, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return RansomTrack{}, err
	}
	rows, err = d.db.QueryContext(ctx, `SELECT idx, screening, result, screened_at, list_version, by FROM inc_ransom_screenings WHERE incident = ? ORDER BY idx`, incident)
	if err != nil {
		return RansomTrack{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var s LinkedScreening
		if err := rows.Scan(&s.Index, &s.Screening, &s.Result, &at, &s.ListVersion, &s.By); err != nil {
			return RansomTrack{}, err
		}
		s.ScreenedAt = parseTime(at)
		t.Screenings = append(t.Screenings, s)
	}
	return t, rows.Err()
}

// isRansomAction reports whether a request's kind is gated by the track.
func isRansomAction(req guard.Request) bool {
	return slices.Contains(RansomActionKinds, req.Action.Kind)
}

// FillFromTrack sets the guard request's facts that incident's ransom
// track holds, replacing whatever the client sent: Incident.Extortion, the
// Notifications (the authority reports) and Sanctions (the latest linked
// screening: clear → clear, hit → hit, possible_match → none, so that the
// action stays conditional until a clear screening is linked;
// ListVersion is the lists' SHA-256). No screening linked: Sanctions nil.
// Other kinds are left as they are. The desk does this before every
// decision of a ransom action; the console's preview does it too, so that
// the preview answers as the decision will.
func (d *Desk) FillFromTrack(ctx context.Context, incident string, req *guard.Request) error {
	if !isRansomAction(*req) {
		return nil
	}
	t, err := d.RansomTrack(ctx, incident)
	if err != nil {
		return fmt.Errorf("couldn't read the ransom track of %s: %w", incident, err)
	}
	req.Incident.Extortion = t.Extortion
	req.Notifications = []guard.Notification{}
	for _, r := range t.Reports {
		req.Notifications = append(req.Notifications, guard.Notification{Authority: r.Authority, Ref: r.Reference, At: r.At})
	}
	req.Sanctions = nil
	if n := len(t.Screenings); n > 0 {
		s := t.Screenings[n-1]
		result := s.Result
		if result == "possible_match" {
			result = "none"
		}
		req.Sanctions = &guard.Sanctions{Result: result, ScreenedAt: s.ScreenedAt, ListVersion: s.ListVersion}
	}
	return nil
}
