package incident

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Rome without the system's zoneinfo

	"github.com/vallum/vallum/internal/evidence"
)

// Log entry kinds of the regulatory clocks.
const (
	KindClockDeclared  = "clock.declared"
	KindClockSubmitted = "clock.submitted"
)

// Rome is the time zone deadlines are shown in, and in which calendar
// months are counted.
var Rome = mustLoadRome()

func mustLoadRome() *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic(err) // time/tzdata is embedded: cannot happen
	}
	return loc
}

// Offset is a span of time counted from an anchor: the regime's trigger
// (From ""), another trigger event of the regime (From an Event ID), or the
// submission of another deadline (From "submitted:" + its label).
//
// Hours and Days are exact durations. Months are calendar months counted
// on the Europe/Rome calendar: the same day number and wall-clock time
// that many months later; when that day does not exist the deadline is
// the last day of that month at the same time (31 January + 1 month =
// 28 or 29 February, 31 March + 1 month = 30 April), as art. 2963 c.c.
// counts months, never spilling into the month after as time.AddDate
// alone would (31 January + 1 month = 3 March).
type Offset struct {
	From   string `json:"from,omitempty"`
	Months int    `json:"months,omitempty"`
	Days   int    `json:"days,omitempty"`
	Hours  int    `json:"hours,omitempty"`
}

// addTo returns t plus the offset.
func (o Offset) addTo(t time.Time) time.Time {
	if o.Months != 0 {
		t = AddMonths(t, o.Months)
	}
	return t.Add(time.Duration(o.Days)*24*time.Hour + time.Duration(o.Hours)*time.Hour).UTC()
}

func (o Offset) String() string {
	var parts []string
	if o.Months != 0 {
		parts = append(parts, fmt.Sprintf("%d month(s)", o.Months))
	}
	if o.Days != 0 {
		parts = append(parts, fmt.Sprintf("%d day(s)", o.Days))
	}
	if o.Hours != 0 {
		parts = append(parts, fmt.Sprintf("%d h", o.Hours))
	}
	from := "trigger"
	if o.From != "" {
		from = o.From
	}
	return strings.Join(parts, " ") + " after " + from
}

// AddMonths adds n calendar months to t on the Europe/Rome calendar,
// clamping to the last day of the target month (see Offset). The result
// is in UTC.
func AddMonths(t time.Time, n int) time.Time {
	l := t.In(Rome)
	y, m, d := l.Date()
	first := time.Date(y, m+time.Month(n), 1, l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), Rome)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), Rome).UTC()
}

// Ref names a deadline of a regime.
type Ref struct {
	Regime   string `json:"regime"`
	Deadline string `json:"deadline"`
}

// Deadline is one duty of a regime.
type Deadline struct {
	Label string `json:"label"`
	// Within are the limits; the deadline is the earliest of those whose
	// anchor is known (DORA's initial notification: 4 h after
	// classification and at most 24 h after awareness).
	Within []Offset `json:"within"`
	// WithoutUndueDelay marks a duty the law gives no fixed term (GDPR
	// art. 34): it has no due time, is "without_undue_delay" from its
	// trigger until it is met, and Within is empty.
	WithoutUndueDelay bool `json:"without_undue_delay,omitempty"`
	// SatisfiedBy are deadlines of other regimes whose submission also
	// fulfils this one (a NIS notification fulfils Law 90/2024 art. 1).
	SatisfiedBy []Ref  `json:"satisfied_by,omitempty"`
	Notes       string `json:"notes,omitempty"`
}

// Event is a further trigger instant a regime's deadlines count from.
type Event struct {
	ID          string `json:"id"`
	Description string `json:"description"`
}

// Regime is a notification or reporting duty (LEGAL.md §2).
type Regime struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Sources []string `json:"sources"`
	// Trigger describes the instant the clock starts from.
	Trigger   string     `json:"trigger"`
	Events    []Event    `json:"events,omitempty"`
	Deadlines []Deadline `json:"deadlines"`
	Notes     string     `json:"notes,omitempty"`
}

func (r Regime) deadline(label string) (Deadline, bool) {
	i := slices.IndexFunc(r.Deadlines, func(d Deadline) bool { return d.Label == label })
	if i < 0 {
		return Deadline{}, false
	}
	return r.Deadlines[i], true
}

func hours(h int) []Offset { return []Offset{{Hours: h}} }

// Regimes is the table of regimes (LEGAL.md §2.1), by ID.
var Regimes = []Regime{
	{
		ID: "nis2-it", Name: "NIS2: D.Lgs. 138/2024 art. 25 (Directive 2022/2555 art. 23)",
		Sources: []string{"D.Lgs. 138/2024 art. 25", "Directive (EU) 2022/2555 art. 23"},
		Trigger: "becoming aware of a significant incident",
		Deadlines: []Deadline{
			{Label: "pre_notification", Within: hours(24), Notes: "pre-notifica to CSIRT Italia (ACN portal): suspected malicious cause, possible cross-border impact"},
			{Label: "notification", Within: hours(72), Notes: "update, initial severity and impact assessment, IoCs where available"},
			{Label: "final_report", Within: []Offset{{From: "submitted:notification", Months: 1}},
				Notes: "one month after the notification; a progress report instead if the incident is still ongoing, then the final report within one month of finishing handling; intermediate reports on request"},
		},
	},
	{
		ID: "law90", Name: "Law 90/2024 art. 1",
		Sources: []string{"L. 90/2024 art. 1", "ACN determination of 9 Feb 2026 (GU no. 39 of 17 Feb 2026)"},
		Trigger: "becoming aware of an incident in the ACN taxonomy",
		Deadlines: []Deadline{
			{Label: "alert", Within: hours(24), SatisfiedBy: []Ref{{"nis2-it", "pre_notification"}}, Notes: "segnalazione to ACN without delay and within 24 h"},
			{Label: "full_notice", Within: hours(72), SatisfiedBy: []Ref{{"nis2-it", "notification"}}, Notes: "notifica completa: all information available at 72 h"},
		},
		Notes: "a pre-notification and notification under D.Lgs. 138/2024 art. 25 also fulfil art. 1 (ACN)",
	},
	{
		ID: "psnc-table1", Name: "PSNC, Table 1 incidents (DPCM 81/2021 art. 3)",
		Sources:   []string{"DL 105/2019", "DPCM 81/2021 art. 3"},
		Trigger:   "awareness from evidence, including monitoring",
		Deadlines: []Deadline{{Label: "notification", Within: hours(6), Notes: "to CSIRT Italia"}},
	},
	{
		ID: "psnc-table2", Name: "PSNC, Table 2 incidents (DPCM 81/2021 art. 3)",
		Sources:   []string{"DL 105/2019", "DPCM 81/2021 art. 3"},
		Trigger:   "awareness from evidence, including monitoring",
		Deadlines: []Deadline{{Label: "notification", Within: hours(1), Notes: "to CSIRT Italia"}},
	},
	{
		ID: "gdpr-33", Name: "GDPR art. 33",
		Sources: []string{"Regulation (EU) 2016/679 art. 33", "EDPB Guidelines 9/2022"},
		Trigger: "becoming aware: a reasonable degree of certainty that personal data were compromised",
		Deadlines: []Deadline{{Label: "notification", Within: hours(72),
			Notes: "to the Garante; a later notification must give the reasons for the delay; not required if unlikely to result in a risk"}},
		Notes: "every breach is documented internally (art. 33(5)), notified or not",
	},
	{
		ID: "gdpr-34", Name: "GDPR art. 34",
		Sources: []string{"Regulation (EU) 2016/679 art. 34"},
		Trigger: "assessing that the breach is likely to result in a high risk to the rights and freedoms of natural persons",
		Deadlines: []Deadline{{Label: "communication", WithoutUndueDelay: true,
			Notes: "to the data subjects in plain language (or a public notice if individual notice needs disproportionate effort); not required if the data are unintelligible, later measures removed the high risk, or the Garante decides otherwise"}},
		Notes: "no fixed term: the law says without undue delay",
	},
	{
		ID: "dora", Name: "DORA art. 19 (Reg. 2022/2554; RTS 2025/301, ITS 2025/302)",
		Sources: []string{"Regulation (EU) 2022/2554 art. 19", "Delegated Regulation (EU) 2025/301", "Implementing Regulation (EU) 2025/302"},
		Trigger: "becoming aware of the incident",
		Events:  []Event{{ID: "classified_major", Description: "classification of the incident as major"}},
		Deadlines: []Deadline{
			{Label: "initial", Within: []Offset{{From: "classified_major", Hours: 4}, {Hours: 24}},
				Notes: "4 h after classification as major and at most 24 h after awareness, whichever is earlier"},
			{Label: "intermediate", Within: []Offset{{From: "submitted:initial", Hours: 72}}, Notes: "72 h from the initial notification"},
			{Label: "final", Within: []Offset{{From: "submitted:intermediate", Months: 1}}, Notes: "one month from the latest intermediate report"},
		},
		Notes: "weekend and holiday relief (noon of the next working day) for non-systemic entities is not computed",
	},
	{
		ID: "querela", Name: "Victim's complaint (querela), c.p. art. 124",
		Sources:   []string{"c.p. art. 124", "c.p.p. arts 336-337"},
		Trigger:   "complete and certain knowledge of the fact that constitutes the offence",
		Deadlines: []Deadline{{Label: "complaint", Within: []Offset{{Months: 3}}, Notes: "three calendar months; afterwards the case cannot go ahead"}},
	},
}

// LookupRegime returns the regime with the given ID.
func LookupRegime(id string) (Regime, bool) {
	i := slices.IndexFunc(Regimes, func(r Regime) bool { return r.ID == id })
	if i < 0 {
		return Regime{}, false
	}
	return Regimes[i], true
}

// Submission is what was sent to meet a deadline.
type Submission struct {
	Channel    string    `json:"channel"`
	Reference  string    `json:"reference"`
	SentSHA256 string    `json:"sent_sha256"`
	At         time.Time `json:"at"`
	// LateReason gives the reasons for the delay; required when At is
	// after the deadline.
	LateReason string `json:"late_reason,omitempty"`
}

// ClockState is a deadline's state.
type ClockState string

// Clock states. Waiting: the deadline counts from something that has not
// happened yet (the submission it follows, DORA's classification).
const (
	ClockWaiting ClockState = "waiting"
	ClockPending ClockState = "pending"
	ClockDueSoon ClockState = "due_soon"
	ClockOverdue ClockState = "overdue"
	ClockMet     ClockState = "met"
	ClockMetLate ClockState = "met_late"
	// ClockUndelayed: a duty with no fixed term is owed now, "without
	// undue delay" (GDPR art. 34), and not yet met.
	ClockUndelayed ClockState = "without_undue_delay"
)

// DueSoonWithin is how close a deadline is "due soon" in Clocks.
const DueSoonWithin = 24 * time.Hour

// Clock is one deadline of one regime on one incident.
type Clock struct {
	Incident string     `json:"incident"`
	Regime   string     `json:"regime"`
	Deadline string     `json:"deadline"`
	Trigger  time.Time  `json:"trigger"`
	Due      time.Time  `json:"due,omitzero"`
	DueRome  string     `json:"due_rome,omitempty"`
	Basis    string     `json:"basis,omitempty"`
	State    ClockState `json:"state"`
	// Submission met the deadline; SatisfiedBy names the other regime's
	// deadline whose submission did, if not this one's own.
	Submission  *Submission `json:"submission,omitempty"`
	SatisfiedBy *Ref        `json:"satisfied_by,omitempty"`
	// WithoutUndueDelay is the deadline's flag (no fixed due time).
	WithoutUndueDelay bool `json:"without_undue_delay,omitempty"`
}

// Declared are the trigger instants recorded for one regime on one
// incident: "" is the regime's trigger, others its Events.
type Declared map[string]time.Time

// ComputeClocks computes a regime's deadlines from its triggers and the
// submissions made (by regime and deadline label, across the incident's
// regimes), as of now. It is pure: the desk and the tests call it alike.
func ComputeClocks(r Regime, triggers Declared, subs map[Ref]Submission, now time.Time, within time.Duration) []Clock {
	out := make([]Clock, 0, len(r.Deadlines))
	for _, d := range r.Deadlines {
		c := Clock{Regime: r.ID, Deadline: d.Label, Trigger: triggers[""], State: ClockWaiting, WithoutUndueDelay: d.WithoutUndueDelay}
		for _, o := range d.Within {
			var anchor time.Time
			var ok bool
			if label, sub := strings.CutPrefix(o.From, "submitted:"); sub {
				var s Submission
				s, ok = subs[Ref{r.ID, label}]
				anchor = s.At
			} else {
				anchor, ok = triggers[o.From]
			}
			if !ok {
				continue
			}
			if due := o.addTo(anchor); c.Due.IsZero() || due.Before(c.Due) {
				c.Due, c.Basis = due, o.String()
			}
		}
		if s, ok := subs[Ref{r.ID, d.Label}]; ok {
			c.Submission = &s
		} else {
			for _, ref := range d.SatisfiedBy {
				if s, ok := subs[ref]; ok {
					c.Submission, c.SatisfiedBy = &s, &ref
					break
				}
			}
		}
		if !c.Due.IsZero() {
			c.DueRome = c.Due.In(Rome).Format("2006-01-02 15:04 MST")
			switch {
			case c.Submission != nil && !c.Submission.At.After(c.Due):
				c.State = ClockMet
			case c.Submission != nil:
				c.State = ClockMetLate
			case now.After(c.Due):
				c.State = ClockOverdue
			case c.Due.Sub(now) <= within:
				c.State = ClockDueSoon
			default:
				c.State = ClockPending
			}
		} else if c.Submission != nil {
			c.State = ClockMet
		} else if _, declared := triggers[""]; d.WithoutUndueDelay && declared {
			c.State, c.Basis = ClockUndelayed, "without undue delay after the trigger"
		}
		out = append(out, c)
	}
	return out
}

// MaxClockSkew is how far in the future a trigger or submission time may
// be (clocks of different machines disagree a little).
const MaxClockSkew = 5 * time.Minute

type clockDeclaredPayload struct {
	ID     string `json:"id"`
	Regime string `json:"regime"`
	// Event is the regime's event this instant is of; "" is its trigger.
	Event     string `json:"event,omitempty"`
	At        string `json:"at"`
	Rationale string `json:"rationale"`
}

type clockSubmittedPayload struct {
	ID         string `json:"id"`
	Regime     string `json:"regime"`
	Deadline   string `json:"deadline"`
	Channel    string `json:"channel"`
	Reference  string `json:"reference"`
	SentSHA256 string `json:"sent_sha256"`
	At         string `json:"at"`
	LateReason string `json:"late_reason,omitempty"`
}

// DeclareRegime declares that regime applies to an incident, with the
// instant its clock starts and why; a regime is declared once.
func (d *Desk) DeclareRegime(ctx context.Context, actor Actor, incident, regime string, trigger time.Time, rationale string) (int64, error) {
	return d.DeclareEvent(ctx, actor, incident, regime, "", trigger, rationale)
}

// DeclareEvent records the instant of one of a declared regime's events
// (DORA's classification as major); event "" declares the regime itself
// (DeclareRegime). Each instant is recorded once.
func (d *Desk) DeclareEvent(ctx context.Context, actor Actor, incident, regime, event string, at time.Time, rationale string) (int64, error) {
	r, ok := LookupRegime(regime)
	if !ok {
		return 0, invalidf("regime %q is unknown", regime)
	}
	if event != "" && !slices.ContainsFunc(r.Events, func(e Event) bool { return e.ID == event }) {
		return 0, invalidf("regime %s has no event %q", regime, event)
	}
	if err := checkText("rationale", rationale, 1, maxLong); err != nil {
		return 0, err
	}
	if at.IsZero() || at.After(d.clock().Add(MaxClockSkew)) {
		return 0, invalidf("the trigger time must be given and not in the future")
	}
	return d.writeChecked(ctx, actor, incident, KindClockDeclared, func() (any, error) {
		declared, err := d.declared(ctx, incident, regime)
		if err != nil {
			return nil, err
		}
		if _, dup := declared[event]; dup {
			return nil, invalidf("regime %s %s is already declared on %s", regime, cmp.Or(event, "trigger"), incident)
		}
		if _, ok := declared[""]; event != "" && !ok {
			return nil, invalidf("declare regime %s on %s first", regime, incident)
		}
		return clockDeclaredPayload{ID: incident, Regime: regime, Event: event, At: at.UTC().Format(evidence.TimeFormat), Rationale: rationale}, nil
	})
}

// writeChecked appends an entry of kind for incident id under the desk's
// lock, after check, which sees the state the entry is applied to (so two
// identical requests cannot both pass it) and returns the payload.
func (d *Desk) writeChecked(ctx context.Context, actor Actor, id, kind string, check func() (any, error)) (int64, error) {
	if err := d.lock(ctx, actor); err != nil {
		return 0, err
	}
	defer d.unlock()
	if !d.exists(ctx, `SELECT 1 FROM inc_incidents WHERE id = ?`, id) {
		return 0, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	p, err := check()
	if err != nil {
		return 0, err
	}
	rcpt, err := d.write(ctx, actor, kind, id, p)
	return rcpt.Index, err
}

// RecordSubmission records what was sent to meet a deadline. A submission
// after the deadline must give LateReason; each deadline is met once.
func (d *Desk) RecordSubmission(ctx context.Context, actor Actor, incident, regime, deadline string, s Submission) (int64, error) {
	r, ok := LookupRegime(regime)
	if !ok {
		return 0, invalidf("regime %q is unknown", regime)
	}
	if _, ok := r.deadline(deadline); !ok {
		return 0, invalidf("regime %s has no deadline %q", regime, deadline)
	}
	if err := errors.Join(checkText("channel", s.Channel, 1, maxShort), checkText("reference", s.Reference, 1, maxShort), checkText("late_reason", s.LateReason, 0, maxLong)); err != nil {
		return 0, err
	}
	sum, err := checkSHA256("sent_sha256", s.SentSHA256)
	if err != nil {
		return 0, err
	}
	now := d.clock()
	if s.At.IsZero() {
		s.At = now
	}
	if s.At.After(now.Add(MaxClockSkew)) {
		return 0, invalidf("the submission time must not be in the future")
	}
	return d.writeChecked(ctx, actor, incident, KindClockSubmitted, func() (any, error) {
		clocks, err := d.Clocks(ctx, incident)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(clocks, func(c Clock) bool { return c.Regime == regime && c.Deadline == deadline })
		switch {
		case i < 0:
			return nil, invalidf("regime %s is not declared on %s", regime, incident)
		case clocks[i].Submission != nil && clocks[i].SatisfiedBy == nil:
			return nil, invalidf("%s %s is already met on %s", regime, deadline, incident)
		case clocks[i].Due.IsZero() && !(clocks[i].WithoutUndueDelay && !clocks[i].Trigger.IsZero()):
			return nil, invalidf("%s %s has not started: what it counts from is not recorded yet", regime, deadline)
		case !clocks[i].Due.IsZero() && s.At.After(clocks[i].Due) && strings.TrimSpace(s.LateReason) == "":
			return nil, invalidf("%s %s was due at %s: a late submission must give the reasons for the delay (late_reason)", regime, deadline, clocks[i].DueRome)
		}
		return clockSubmittedPayload{ID: incident, Regime: regime, Deadline: deadline, Channel: s.Channel, Reference: s.Reference,
			SentSHA256: sum, At: s.At.UTC().Format(evidence.TimeFormat), LateReason: s.LateReason}, nil
	})
}

// declared returns the instants declared for a regime on an incident.
func (d *Desk) declared(ctx context.Context, incident, regime string) (Declared, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT event, at FROM inc_clocks WHERE incident = ? AND regime = ?`, incident, regime)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := Declared{}
	for rows.Next() {
		var ev, at string
		if err := rows.Scan(&ev, &at); err != nil {
			return nil, err
		}
		out[ev] = parseTime(at)
	}
	return out, rows.Err()
}

// Clocks computes every deadline of the regimes declared on an incident,
// as of the desk's clock, in the regime table's order.
func (d *Desk) Clocks(ctx context.Context, incident string) ([]Clock, error) {
	if _, err := d.GetIncident(ctx, incident); err != nil {
		return nil, err
	}
	return d.clocks(ctx, incident, DueSoonWithin, d.clock())
}

func (d *Desk) clocks(ctx context.Context, incident string, within time.Duration, now time.Time) ([]Clock, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT incident, regime, event, at FROM inc_clocks WHERE ? = '' OR incident = ?`, incident, incident)
	if err != nil {
		return nil, err
	}
	triggers := map[string]map[string]Declared{} // incident → regime → instants
	for rows.Next() {
		var inc, reg, ev, at string
		if err := rows.Scan(&inc, &reg, &ev, &at); err != nil {
			rows.Close()
			return nil, err
		}
		if triggers[inc] == nil {
			triggers[inc] = map[string]Declared{}
		}
		if triggers[inc][reg] == nil {
			triggers[inc][reg] = Declared{}
		}
		triggers[inc][reg][ev] = parseTime(at)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = d.db.QueryContext(ctx, `SELECT incident, regime, deadline, channel, reference, sent_sha256, at, late_reason FROM inc_submissions WHERE ? = '' OR incident = ? ORDER BY idx`, incident, incident)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	subs := map[string]map[Ref]Submission{}
	for rows.Next() {
		var inc, at string
		var ref Ref
		var s Submission
		if err := rows.Scan(&inc, &ref.Regime, &ref.Deadline, &s.Channel, &s.Reference, &s.SentSHA256, &at, &s.LateReason); err != nil {
			return nil, err
		}
		s.At = parseTime(at)
		if subs[inc] == nil {
			subs[inc] = map[Ref]Submission{}
		}
		if _, seen := subs[inc][ref]; !seen {
			subs[inc][ref] = s
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	incs := make([]string, 0, len(triggers))
	for inc := range triggers {
		incs = append(incs, inc)
	}
	slices.Sort(incs)
	out := []Clock{}
	for _, inc := range incs {
		for _, r := range Regimes {
			t, ok := triggers[inc][r.ID]
			if !ok {
				continue
			}
			for _, c := range ComputeClocks(r, t, subs[inc], now, within) {
				c.Incident = inc
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// DueSoon lists the deadlines of every incident that are overdue or due
// within the given time of now, the earliest first.
func (d *Desk) DueSoon(ctx context.Context, within time.Duration, now time.Time) ([]Clock, error) {
	all, err := d.clocks(ctx, "", within, now)
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(all, func(c Clock) bool {
		return c.State != ClockDueSoon && c.State != ClockOverdue && c.State != ClockUndelayed
	})
	slices.SortStableFunc(out, func(a, b Clock) int { return a.Due.Compare(b.Due) })
	return out, nil
}

func applyClockDeclared(ctx context.Context, tx execer, index int64, h evidence.Header, p *clockDeclaredPayload) error {
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_clocks VALUES (?, ?, ?, ?, ?, ?, ?)`, h.Incident, p.Regime, p.Event, p.At, p.Rationale, h.Actor, index)
	return err
}

func applyClockSubmitted(ctx context.Context, tx execer, index int64, h evidence.Header, p *clockSubmittedPayload) error {
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO inc_submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		index, h.Incident, p.Regime, p.Deadline, p.Channel, p.Reference, p.SentSHA256, p.At, p.LateReason, h.Actor)
	return err
}
