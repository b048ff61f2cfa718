package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/perimeter"
)

// Log entry kinds written by containment. The header's incident is the
// action's incident ("" for reconciliation); the payload is the struct
// named beside each.
const (
	KindRefused    = "contain.refused"    // Step: a safety refusal (nothing changed)
	KindForced     = "contain.forced"     // Step: an override, logged before acting
	KindPlanned    = "contain.planned"    // Step: the plan and permit, before Apply
	KindApplied    = "contain.applied"    // Step: the Apply report (every element OK)
	KindFailed     = "contain.failed"     // Step: the Apply report with failures, and the rollback
	KindVerified   = "contain.verified"   // Step: what Verify observed
	KindReverting  = "contain.reverting"  // Step: intent to revert (by a person), before acting
	KindReverted   = "contain.reverted"   // Step: the Revert report and the observation
	KindExpiring   = "contain.expiring"   // Step: intent to expire (by the scheduler), before acting
	KindExpired    = "contain.expired"    // Step: the Revert report and the observation
	KindDrift      = "contain.drift"      // Drift: what the enforcement point and the log disagree on
	KindReconciled = "contain.reconciled" // Drift: what reconciliation changed
)

// Step is the payload of the per-action entries.
type Step struct {
	Action      string           `json:"action"`
	Plan        *Plan            `json:"plan,omitempty"`
	Permit      *incident.Permit `json:"permit,omitempty"`
	Report      *Report          `json:"report,omitempty"`
	Rollback    *Report          `json:"rollback,omitempty"`
	Observation *Observation     `json:"observation,omitempty"`
	Reason      string           `json:"reason,omitempty"`
	Force       *Force           `json:"force,omitempty"`
	Error       string           `json:"error,omitempty"`
}

// Drift is the payload of contain.drift and contain.reconciled.
type Drift struct {
	Device string `json:"device"`
	// Missing are elements the log says are in force but the enforcement
	// point lacks, by action.
	Missing map[string][]string `json:"missing,omitempty"`
	// Extra are elements the enforcement point has that no active action
	// of the log accounts for.
	Extra []string `json:"extra,omitempty"`
	// Repaired is true when reconciliation re-applied the missing and
	// removed the extra elements.
	Repaired bool     `json:"repaired"`
	Errors   []string `json:"errors,omitempty"`
}

// Lister is implemented by connectors that can list every element in
// force on their enforcement point, for reconciliation.
type Lister interface {
	Elements(ctx context.Context) ([]string, error)
}

// Active is a containment in force according to the log.
type Active struct {
	Plan Plan `json:"plan"`
	// Incident is the action's incident.
	Incident string `json:"incident"`
	// Applied is the index of the contain.applied entry.
	Applied   int64     `json:"applied_index"`
	AppliedAt time.Time `json:"applied_at"`
	// Lifting is the intent (contain.reverting or contain.expiring) of a
	// lift that was logged but whose result was not, because Vallum
	// stopped in between: the scheduler completes it first thing, and
	// reconciliation does not re-apply its elements.
	Lifting string `json:"lifting,omitempty"`
}

// Log is what the manager needs of the evidence log.
type Log interface {
	incident.Log
}

// Desk is what the manager needs of the incident desk: the action and
// its lifecycle steps. *incident.Desk implements it.
type Desk interface {
	GetAction(ctx context.Context, id string) (incident.Action, error)
	Verify(ctx context.Context, actor incident.Actor, id, note string) (incident.Action, error)
	Expire(ctx context.Context, actor incident.Actor, id, note string) (incident.Action, error)
	Revert(ctx context.Context, actor incident.Actor, id, note string) (incident.Action, error)
}

var _ Desk = (*incident.Desk)(nil)

// System is the actor of the scheduler's and reconciliation's entries.
var System = incident.Actor{Name: "vallum"}

// Manager runs the connectors for the incident desk: it executes actions
// with their permit, verifies, reverts and expires them, keeps the active
// containments (rebuilt from the log by Open) and reconciles the
// enforcement points with the log. It is safe for concurrent use.
type Manager struct {
	log        Log
	desk       Desk
	perim      func() *perimeter.Perimeter
	safety     Safety
	connectors []Connector
	logger     *slog.Logger
	clock      func() time.Time
	// DefaultExpiry is applied to actions without params.expires_at;
	// zero means none.
	defaultExpiry time.Duration

	mu     sync.Mutex
	active map[string]*Active // by action ID; guarded by mu
	wake   chan struct{}      // nudges the scheduler
}

// Options configure a Manager.
type Options struct {
	Log        Log
	Desk       Desk
	Perimeter  func() *perimeter.Perimeter
	Safety     Safety
	Connectors []Connector
	Logger     *slog.Logger
	Clock      func() time.Time
	// DefaultExpiry is the expiry of actions that set none; zero: none.
	DefaultExpiry time.Duration
}

// Open builds the manager and rebuilds the active containments from the
// log: an action is active from its contain.applied entry until a
// contain.reverted or contain.expired entry whose observation was OK.
func Open(ctx context.Context, o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	seen := map[string]bool{}
	for _, c := range o.Connectors {
		if seen[c.Name()] {
			return nil, fmt.Errorf("two connectors for device %q", c.Name())
		}
		seen[c.Name()] = true
	}
	m := &Manager{log: o.Log, desk: o.Desk, perim: o.Perimeter, safety: o.Safety, connectors: o.Connectors,
		logger: o.Logger, clock: o.Clock, defaultExpiry: o.DefaultExpiry, active: map[string]*Active{}, wake: make(chan struct{}, 1)}
	if err := m.rebuild(ctx); err != nil {
		return nil, err
	}
	// An entry whose payload was erased (it may hold addresses, which are
	// personal data) cannot say which action it lifted: the desk's record
	// of the action settles it, so that a lifted containment is never
	// re-applied by reconciliation.
	if m.desk != nil {
		for id := range m.active {
			if a, err := m.desk.GetAction(ctx, id); err == nil && (a.State == incident.Reverted || a.State == incident.Expired) {
				delete(m.active, id)
			}
		}
	}
	return m, nil
}

func (m *Manager) rebuild(ctx context.Context) error {
	size := m.log.Size()
	for i := int64(0); i < size; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		e, err := m.log.Entry(i)
		if err != nil {
			return fmt.Errorf("couldn't read log entry %d: %w", i, err)
		}
		h, err := evidence.DecodeHeader(e.Header)
		if err != nil {
			return fmt.Errorf("log entry %d: %w", i, err)
		}
		if !strings.HasPrefix(h.Kind, "contain.") || e.Erased {
			continue
		}
		var s Step
		if json.Unmarshal(e.Payload, &s) != nil {
			continue
		}
		switch h.Kind {
		case KindApplied:
			if s.Plan != nil {
				t, _ := time.Parse(time.RFC3339Nano, h.Time)
				m.active[s.Action] = &Active{Plan: *s.Plan, Incident: h.Incident, Applied: i, AppliedAt: t}
			}
		case KindReverting, KindExpiring:
			if a := m.active[s.Action]; a != nil {
				a.Lifting = h.Kind
			}
		case KindReverted, KindExpired:
			if a := m.active[s.Action]; a != nil {
				a.Lifting = ""
			}
			if s.Observation != nil && s.Observation.OK {
				delete(m.active, s.Action)
			}
		}
	}
	return nil
}

// Connectors returns the configured connectors.
func (m *Manager) Connectors() []Connector { return m.connectors }

// Active lists the containments in force, soonest expiry first (those
// without expiry last).
func (m *Manager) Active() []Active {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Active, 0, len(m.active))
	for _, a := range m.active {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		ei, ej := out[i].Plan.Expires, out[j].Plan.Expires
		switch {
		case ei.IsZero() != ej.IsZero():
			return ej.IsZero()
		case !ei.Equal(ej):
			return ei.Before(ej)
		}
		return out[i].Plan.Action < out[j].Plan.Action
	})
	return out
}

// spec builds the connector spec of an action.
func (m *Manager) spec(a incident.Action) Spec {
	p := a.Request.Action.Params
	s := Spec{Action: a.ID, Kind: a.Request.Action.Kind, Target: a.Request.Action.Target, Device: p.Device, Expires: p.ExpiresAt.UTC()}
	if s.Kind == "dns_sinkhole" {
		s.Device = p.Resolver
	}
	if s.Expires.IsZero() && m.defaultExpiry > 0 {
		s.Expires = m.clock().Add(m.defaultExpiry).UTC().Truncate(time.Second)
	}
	return s
}

// route finds the connector for a spec.
func (m *Manager) route(s Spec) (Connector, error) {
	for _, c := range m.connectors {
		if c.Name() == s.Device && slices.Contains(c.Kinds(), s.Kind) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: no connector on device %q carries out %s", ErrNoConnector, s.Device, s.Kind)
}

// Serves reports whether a connector carries out the action (the API
// then executes it with Executor rather than by hand).
func (m *Manager) Serves(a incident.Action) bool {
	_, err := m.route(m.spec(a))
	return err == nil
}

// deviceKinds are the perimeter device kinds a connector type may act on.
func deviceKinds(c Connector) []string {
	switch c.Type() {
	case "rpz":
		return []string{"resolver"}
	case "webhook":
		return []string{"firewall", "edr"}
	}
	return []string{"firewall"}
}

// PlanAction returns the plan a connector would carry out for an action,
// without changing or logging anything: what the console shows before an
// approval. Safety refusals are returned as *Refusal.
func (m *Manager) PlanAction(ctx context.Context, a incident.Action) (Plan, error) {
	s := m.spec(a)
	c, err := m.route(s)
	if err != nil {
		return Plan{}, err
	}
	p, err := c.Plan(ctx, s)
	if err != nil {
		return Plan{}, err
	}
	if err := m.safety.Check(s, m.perimeter(), deviceKinds(c)); err != nil {
		return p, err
	}
	return p, m.safety.CheckPlan(p)
}

func (m *Manager) perimeter() *perimeter.Perimeter {
	if m.perim == nil {
		return nil
	}
	return m.perim()
}

// write appends one containment entry.
func (m *Manager) write(ctx context.Context, actor, kind, inc string, v any) (evidence.Receipt, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return evidence.Receipt{}, err
	}
	r, err := m.log.Append(context.WithoutCancel(ctx), evidence.Record{Kind: kind, Actor: actor, Incident: inc, Payload: b})
	if err != nil {
		return r, fmt.Errorf("couldn't log %s: %w", kind, err)
	}
	return r, nil
}

// Executor returns the incident executor that runs an action's connector
// for actor; force (may be nil) overrides a forceable refusal.
func (m *Manager) Executor(actor incident.Actor, force *Force) incident.Executor {
	return &executor{m: m, actor: actor, force: force}
}

type executor struct {
	m     *Manager
	actor incident.Actor
	force *Force
}

var _ incident.Executor = (*executor)(nil)

func (e *executor) Name() string { return "contain" }

// Execute checks the permit, the safety rules and the cap, logs the plan,
// applies it, and logs the report. On a partial failure it rolls back the
// elements that were applied and reports every element that failed.
func (e *executor) Execute(ctx context.Context, a incident.Action, permit incident.Permit) (incident.Result, error) {
	m := e.m
	if err := incident.CheckPermit(m.log, a, permit); err != nil {
		m.write(ctx, e.actor.Name, KindRefused, a.Incident, Step{Action: a.ID, Reason: "permit", Error: err.Error()})
		return incident.Result{}, err
	}
	s := m.spec(a)
	c, err := m.route(s)
	if err != nil {
		return incident.Result{}, err
	}
	plan, err := c.Plan(ctx, s)
	if err == nil {
		err = m.safety.CheckPlan(plan)
	}
	if err == nil {
		err = m.safety.Check(s, m.perimeter(), deviceKinds(c))
	}
	var ref *Refusal
	if errors.As(err, &ref) && ref.Forceable && e.force != nil && strings.TrimSpace(e.force.Reason) != "" {
		f := *e.force
		f.By = e.actor.Name
		if _, werr := m.write(ctx, e.actor.Name, KindForced, a.Incident, Step{Action: a.ID, Plan: &plan, Force: &f, Reason: ref.Reason}); werr != nil {
			return incident.Result{}, werr
		}
		err = nil
	}
	if err != nil {
		reason := "plan" // the connector cannot do it
		if errors.Is(err, ErrRefused) {
			reason = "safety"
		}
		if _, werr := m.write(ctx, e.actor.Name, KindRefused, a.Incident, Step{Action: a.ID, Reason: reason, Error: err.Error()}); werr != nil {
			return incident.Result{}, errors.Join(err, werr)
		}
		return incident.Result{}, err
	}
	plan.Shared = m.shared(c, plan, a.ID)
	// Log before act.
	if _, err := m.write(ctx, e.actor.Name, KindPlanned, a.Incident, Step{Action: a.ID, Plan: &plan, Permit: &permit}); err != nil {
		return incident.Result{}, err
	}
	rep, err := c.Apply(ctx, plan)
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		// Roll back what was applied, so that a failed action leaves
		// nothing behind.
		var rb *Report
		ok := okElements(plan, rep)
		if _, shared := c.(Lister); !shared {
			// A call that failed on the network may still have reached
			// the receiver: release everything (a release is idempotent
			// and its elements are this action's alone).
			ok = plan
		}
		if len(ok.Changes) > 0 {
			r, rerr := c.Revert(context.WithoutCancel(ctx), ok)
			if rerr != nil {
				r.Detail = "rollback failed: " + rerr.Error()
			}
			rb = &r
		}
		if _, werr := m.write(ctx, e.actor.Name, KindFailed, a.Incident, Step{Action: a.ID, Plan: &plan, Report: &rep, Rollback: rb, Error: err.Error()}); werr != nil {
			return incident.Result{}, errors.Join(err, werr)
		}
		return incident.Result{}, err
	}
	r, err := m.write(ctx, e.actor.Name, KindApplied, a.Incident, Step{Action: a.ID, Plan: &plan, Report: &rep})
	if err != nil {
		// Applied but not recorded: undo it, a containment the log does
		// not know about must not stay.
		c.Revert(context.WithoutCancel(ctx), plan)
		return incident.Result{}, err
	}
	m.mu.Lock()
	m.active[a.ID] = &Active{Plan: plan, Incident: a.Incident, Applied: r.Index, AppliedAt: m.clock().UTC()}
	m.mu.Unlock()
	m.nudge()
	var els []string
	for _, ch := range plan.Changes {
		els = append(els, ch.Element)
	}
	sum := fmt.Sprintf("%s on %s (%s): %s %s", plan.Kind, plan.Device, plan.Connector, "applied", strings.Join(els, ", "))
	if !plan.Expires.IsZero() {
		sum += ", expires " + plan.Expires.UTC().Format(time.RFC3339)
	}
	return incident.Result{Summary: sum, Reference: fmt.Sprintf("log entry %d (%s)", r.Index, KindApplied)}, nil
}

// shared returns the elements of p that other active actions on the
// same enforcement point hold, with the latest expiry among all holders
// (zero: one of them has none). Only connectors whose elements are shared
// state (those that can list them) share elements.
func (m *Manager) shared(c Connector, p Plan, self string) map[string]time.Time {
	if _, ok := c.(Lister); !ok {
		return nil
	}
	mine := map[string]bool{}
	for _, ch := range p.Changes {
		mine[ch.Element] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out map[string]time.Time
	for id, a := range m.active {
		if id == self || a.Plan.Device != p.Device || a.Plan.Connector != p.Connector {
			continue
		}
		for _, ch := range a.Plan.Changes {
			if !mine[ch.Element] {
				continue
			}
			if out == nil {
				out = map[string]time.Time{}
			}
			exp, seen := out[ch.Element]
			if !seen {
				exp = p.Expires
			}
			if !exp.IsZero() && (a.Plan.Expires.IsZero() || a.Plan.Expires.After(exp)) {
				exp = a.Plan.Expires
			}
			out[ch.Element] = exp
		}
	}
	return out
}

// okElements is the part of p whose elements rep says were applied.
func okElements(p Plan, rep Report) Plan {
	ok := map[string]bool{}
	for _, o := range rep.Outcomes {
		if o.OK {
			ok[o.Element] = true
		}
	}
	q := p
	q.Changes = nil
	for _, c := range p.Changes {
		if ok[c.Element] {
			q.Changes = append(q.Changes, c)
		}
	}
	return q
}

// ErrNotActive is returned for an action with no containment in force.
var ErrNotActive = errors.New("no containment in force for this action")

// VerifyError is a verification that observed something else than the
// plan wants.
type VerifyError struct{ Observation Observation }

func (e *VerifyError) Error() string {
	return "verification failed: " + e.Observation.Detail
}

func (m *Manager) get(id string) (*Active, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.active[id]
	return a, ok
}

func (m *Manager) connector(p Plan) (Connector, error) {
	for _, c := range m.connectors {
		if c.Name() == p.Device && c.Type() == p.Connector {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: connector %s on device %q is no longer configured", ErrNoConnector, p.Connector, p.Device)
}

// Observe reads the real state of an active containment back and logs
// what it observed (contain.verified), without touching the desk.
func (m *Manager) Observe(ctx context.Context, actor incident.Actor, id string) (Observation, error) {
	act, ok := m.get(id)
	if !ok {
		return Observation{}, fmt.Errorf("action %s: %w", id, ErrNotActive)
	}
	c, err := m.connector(act.Plan)
	if err != nil {
		return Observation{}, err
	}
	obs, err := c.Verify(ctx, act.Plan, true)
	if err != nil {
		obs = Observation{At: m.clock().UTC(), Want: want(true), Detail: "couldn't read the state back: " + err.Error()}
	}
	if _, werr := m.write(ctx, actor.Name, KindVerified, act.Incident, Step{Action: id, Observation: &obs}); werr != nil {
		return obs, werr
	}
	if !obs.OK {
		return obs, &VerifyError{Observation: obs}
	}
	return obs, nil
}

// Verify observes an active containment and, when the observation agrees
// with the plan, records the desk's verified step with what was observed.
// A disagreeing observation is logged and returned as *VerifyError; the
// desk is not changed.
func (m *Manager) Verify(ctx context.Context, actor incident.Actor, id string) (incident.Action, Observation, error) {
	obs, err := m.Observe(ctx, actor, id)
	if err != nil {
		return incident.Action{}, obs, err
	}
	a, err := m.desk.GetAction(ctx, id)
	if err != nil || a.State != incident.Executed {
		// Already verified: a re-verification is only logged
		// (contain.verified).
		return a, obs, err
	}
	a, err = m.desk.Verify(ctx, actor, id, "observed: "+describe(obs))
	return a, obs, err
}

// describe summarises an observation for a desk note.
func describe(o Observation) string {
	var parts []string
	for _, e := range o.Elements {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", e.Element, map[bool]string{true: "present", false: "absent"}[e.Present], e.Detail))
	}
	s := strings.Join(parts, "; ")
	if o.Detail != "" {
		s += "; " + o.Detail
	}
	return s
}

// Revert lifts an active containment on a person's request: it logs the
// intent (contain.reverting), reverts, reads the state back and logs the
// report and the observation (contain.reverted), then records the desk's
// reverted step. If the observation still shows the containment, the
// action stays active and a *VerifyError is returned.
func (m *Manager) Revert(ctx context.Context, actor incident.Actor, id, note string) (incident.Action, error) {
	return m.lift(ctx, actor, id, note, KindReverting, KindReverted, m.desk.Revert)
}

// Expire lifts a containment as expired: contain.expiring, revert,
// contain.expired, the desk's expired step. The scheduler calls it with
// System when the expiry comes; a person may expire it earlier.
func (m *Manager) Expire(ctx context.Context, actor incident.Actor, id, note string) (incident.Action, error) {
	return m.lift(ctx, actor, id, note, KindExpiring, KindExpired, m.desk.Expire)
}

// Lookup returns the active containment of an action.
func (m *Manager) Lookup(id string) (Active, bool) {
	a, ok := m.get(id)
	if !ok {
		return Active{}, false
	}
	return *a, true
}

func (m *Manager) lift(ctx context.Context, actor incident.Actor, id, note, intent, done string,
	step func(context.Context, incident.Actor, string, string) (incident.Action, error)) (incident.Action, error) {
	act, ok := m.get(id)
	if !ok {
		return incident.Action{}, fmt.Errorf("action %s: %w", id, ErrNotActive)
	}
	c, err := m.connector(act.Plan)
	if err != nil {
		return incident.Action{}, err
	}
	if _, err := m.write(ctx, actor.Name, intent, act.Incident, Step{Action: id, Plan: &act.Plan, Reason: note}); err != nil {
		return incident.Action{}, err
	}
	// Elements another active action still holds stay in force.
	q := act.Plan
	q.Changes = nil
	var kept []string
	shared := m.shared(c, act.Plan, id)
	for _, ch := range act.Plan.Changes {
		if _, held := shared[ch.Element]; held {
			kept = append(kept, ch.Element)
		} else {
			q.Changes = append(q.Changes, ch)
		}
	}
	var rep Report
	var rerr error
	obs := Observation{At: m.clock().UTC(), Want: want(false), OK: true}
	if len(q.Changes) > 0 {
		rep, rerr = c.Revert(ctx, q)
		var verr error
		obs, verr = c.Verify(ctx, q, false)
		if verr != nil {
			obs = Observation{At: m.clock().UTC(), Want: want(false), Detail: "couldn't read the state back: " + verr.Error()}
		}
	}
	if len(kept) > 0 {
		rep.Detail = strings.TrimPrefix(rep.Detail+"; kept in force, held by other active actions: "+strings.Join(kept, ", "), "; ")
	}
	st := Step{Action: id, Report: &rep, Observation: &obs, Reason: note}
	if rerr != nil {
		st.Error = rerr.Error()
	}
	if _, err := m.write(ctx, actor.Name, done, act.Incident, st); err != nil {
		return incident.Action{}, err
	}
	if !obs.OK {
		return incident.Action{}, &VerifyError{Observation: obs}
	}
	m.mu.Lock()
	delete(m.active, id)
	m.mu.Unlock()
	a, err := m.desk.GetAction(ctx, id)
	if err != nil {
		return a, err
	}
	if a.State != incident.Verified && a.State != incident.Executed {
		return a, nil // the desk's lifecycle has nothing to record
	}
	return step(ctx, actor, id, note+"; observed: "+describe(obs))
}

func (m *Manager) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run is the expiry scheduler: it expires every active containment whose
// expiry has passed (at once for those overdue at start), then sleeps
// until the next expiry or a new containment. A failed expiry is logged
// and retried a minute later. It returns when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	retry := map[string]time.Time{}
	// Lifts interrupted by a stop are completed first (reverting again is
	// idempotent).
	for _, a := range m.Active() {
		if a.Lifting == "" {
			continue
		}
		note := "completing a revert interrupted by a restart"
		lift := m.Revert
		if a.Lifting == KindExpiring {
			note, lift = "completing an expiry interrupted by a restart", m.Expire
		}
		if _, err := lift(ctx, System, a.Plan.Action, note); err != nil && ctx.Err() == nil {
			m.logger.Error("couldn't complete an interrupted lift", "action", a.Plan.Action, "err", err)
		}
	}
	for {
		now := m.clock()
		next := time.Time{}
		for _, a := range m.Active() {
			exp := a.Plan.Expires
			if exp.IsZero() {
				continue
			}
			if t, ok := retry[a.Plan.Action]; ok && t.After(exp) {
				exp = t
			}
			if !exp.After(now) {
				if _, err := m.Expire(ctx, System, a.Plan.Action, "expiry reached"); err != nil && ctx.Err() == nil {
					m.logger.Error("containment expiry failed; retrying in a minute", "action", a.Plan.Action, "err", err)
					retry[a.Plan.Action] = now.Add(time.Minute)
					exp = retry[a.Plan.Action]
				} else {
					delete(retry, a.Plan.Action)
					continue
				}
			}
			if next.IsZero() || exp.Before(next) {
				next = exp
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(m.clock()), 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Reconcile compares each enforcement point that can list its elements
// with the containments the log says are in force, logs any drift
// (contain.drift) and, when repair is set, re-applies what is missing and
// removes what no active action accounts for, logging what it did
// (contain.reconciled). It returns the drifts found.
func (m *Manager) Reconcile(ctx context.Context, actor incident.Actor, repair bool) ([]Drift, error) {
	var out []Drift
	active := m.Active()
	for _, c := range m.connectors {
		l, ok := c.(Lister)
		if !ok {
			continue
		}
		have, err := l.Elements(ctx)
		if err != nil {
			return out, fmt.Errorf("couldn't list %s: %w", c.Name(), err)
		}
		in := map[string]bool{}
		for _, h := range have {
			in[h] = true
		}
		d := Drift{Device: c.Name(), Missing: map[string][]string{}}
		wanted := map[string]bool{}
		var missingPlans []Plan
		now := m.clock()
		for _, a := range active {
			if a.Plan.Device != c.Name() || a.Plan.Connector != c.Type() {
				continue
			}
			if (!a.Plan.Expires.IsZero() && !a.Plan.Expires.After(now)) || a.Lifting != "" {
				// The scheduler expires it, or completes its lift: its
				// elements are wanted (not extra) but not re-applied.
				for _, ch := range a.Plan.Changes {
					wanted[ch.Element] = true
				}
				continue
			}
			var miss []Change
			for _, ch := range a.Plan.Changes {
				wanted[ch.Element] = true
				if !in[ch.Element] {
					d.Missing[a.Plan.Action] = append(d.Missing[a.Plan.Action], ch.Element)
					miss = append(miss, ch)
				}
			}
			if len(miss) > 0 {
				p := a.Plan
				p.Changes = miss
				missingPlans = append(missingPlans, p)
			}
		}
		var extra []Change
		for _, h := range have {
			if !wanted[h] {
				d.Extra = append(d.Extra, h)
				extra = append(extra, Change{Op: "delete", Element: h})
			}
		}
		if len(d.Missing) == 0 && len(d.Extra) == 0 {
			continue
		}
		if _, err := m.write(ctx, actor.Name, KindDrift, "", d); err != nil {
			return out, err
		}
		if repair {
			for _, p := range missingPlans {
				rep, err := c.Apply(ctx, p)
				if err == nil {
					err = rep.Err()
				}
				if err != nil {
					d.Errors = append(d.Errors, fmt.Sprintf("%s: %v", p.Action, err))
				}
			}
			for _, group := range splitExtra(c, extra) {
				rep, err := c.Revert(ctx, group)
				if err == nil {
					err = rep.Err()
				}
				if err != nil {
					d.Errors = append(d.Errors, fmt.Sprintf("removing extra elements: %v", err))
				}
			}
			d.Repaired = len(d.Errors) == 0
			if _, err := m.write(ctx, actor.Name, KindReconciled, "", d); err != nil {
				return out, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// splitExtra groups extra elements into plans whose revert removes them:
// an nftables isolation apart from blocked prefixes.
func splitExtra(c Connector, extra []Change) []Plan {
	var iso, rest []Change
	for _, ch := range extra {
		if c.Type() == "nftables" && ch.Element == isolateElement {
			iso = append(iso, ch)
		} else {
			rest = append(rest, ch)
		}
	}
	var out []Plan
	if len(iso) > 0 {
		out = append(out, Plan{Connector: c.Type(), Device: c.Name(), Kind: "host_isolation", Changes: iso})
	}
	if len(rest) > 0 {
		out = append(out, Plan{Connector: c.Type(), Device: c.Name(), Kind: c.Kinds()[0], Changes: rest})
	}
	return out
}
