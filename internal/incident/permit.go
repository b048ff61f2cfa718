package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
)

// Permit is what an executor is handed: receipts of log entries, never
// names to look up.
type Permit struct {
	// Decision is the receipt of the action's action.rechecked (or
	// action.decided) entry, which binds a logged guardrail decision to
	// the action by ID.
	Decision Receipt `json:"decision"`
	// Approvals are the receipts of the action's action.approved entries.
	Approvals []Receipt `json:"approvals"`
}

// Result is what an executor reports.
type Result struct {
	// Executor is the executor's name (set by the desk).
	Executor string `json:"executor"`
	// Summary says what was done.
	Summary string `json:"summary"`
	// Reference points at the evidence of it: a ticket, an evidence item
	// ID, a change record.
	Reference string `json:"reference,omitempty"`
}

// Executor carries out actions.
//
// Execute must call CheckPermit (with the log) before any effect and
// refuse when it fails; it returns what was done or why it failed. It is
// called without the desk's lock and must honour ctx.
type Executor interface {
	Name() string
	Execute(ctx context.Context, a Action, p Permit) (Result, error)
}

// ErrNoPermit is wrapped by every CheckPermit refusal.
var ErrNoPermit = errors.New("no permit")

// CheckPermit is the log-before-act check every executor runs first. It
// reads the entries at the permit's indexes from the log, checks that each
// leaf hash is the entry's, and requires:
//   - at p.Decision an action.rechecked or action.decided entry for exactly
//     a.ID with verdict allow, whose embedded receipt names a "decision"
//     entry of the log (leaf hash checked too) that allowed a request with
//     a's action kind and target, in a's incident;
//   - at p.Approvals action.approved entries for exactly a.ID, none by the
//     proposer, covering every role the binding entry says is required.
//
// Any failure is an error wrapping ErrNoPermit.
func CheckPermit(log EntryReader, a Action, p Permit) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w to execute action %s: %s", ErrNoPermit, a.ID, fmt.Sprintf(format, args...))
	}
	if p.Decision.LeafHash == "" {
		return refuse("no decision receipt")
	}
	h, payload, err := readReceipt(log, p.Decision)
	if err != nil {
		return refuse("decision: %v", err)
	}
	if h.Kind != KindRechecked && h.Kind != KindDecided {
		return refuse("entry %d is a %s entry, not an action decision", p.Decision.Index, h.Kind)
	}
	v, err := decodePayload(h.Kind, payload)
	if err != nil {
		return refuse("entry %d: %v", p.Decision.Index, err)
	}
	bind := v.(*decidedPayload)
	if bind.Action != a.ID {
		return refuse("entry %d is the decision of action %s", p.Decision.Index, bind.Action)
	}
	if bind.Verdict != guard.Allow {
		return refuse("entry %d records verdict %s", p.Decision.Index, bind.Verdict)
	}
	// The guardrail's own entry.
	gh, gp, err := readReceipt(log, bind.Decision)
	if err != nil {
		return refuse("guardrail decision: %v", err)
	}
	var rec struct {
		Request  guard.Request `json:"request"`
		Decision struct {
			Verdict guard.Verdict `json:"verdict"`
		} `json:"decision"`
	}
	if gh.Kind != DecisionKind || gh.Incident != a.Incident {
		return refuse("entry %d is not a decision of incident %s", bind.Decision.Index, a.Incident)
	}
	if err := json.Unmarshal(gp, &rec); err != nil {
		return refuse("decision entry %d: %v", bind.Decision.Index, err)
	}
	if rec.Decision.Verdict != guard.Allow {
		return refuse("decision entry %d is %s", bind.Decision.Index, rec.Decision.Verdict)
	}
	if rec.Request.Action.Kind != a.Request.Action.Kind || rec.Request.Action.Target != a.Request.Action.Target {
		return refuse("decision entry %d is about %s on %s", bind.Decision.Index, rec.Request.Action.Kind, rec.Request.Action.Target)
	}
	var roles []string
	for _, r := range p.Approvals {
		h, payload, err := readReceipt(log, r)
		if err != nil {
			return refuse("approval: %v", err)
		}
		if h.Kind != KindApproved {
			return refuse("entry %d is a %s entry, not an approval", r.Index, h.Kind)
		}
		v, err := decodePayload(h.Kind, payload)
		if err != nil {
			return refuse("approval %d: %v", r.Index, err)
		}
		ap := v.(*approvedPayload)
		if ap.Action != a.ID {
			return refuse("approval %d is for action %s", r.Index, ap.Action)
		}
		if h.Actor == a.Proposer {
			return refuse("approval %d is by the proposer %s", r.Index, h.Actor)
		}
		roles = append(roles, ap.Role)
	}
	for _, need := range bind.Requires {
		if !slices.Contains(roles, need) {
			return refuse("no approval as %s", need)
		}
	}
	return nil
}

// readReceipt reads the entry r names and checks its leaf hash.
func readReceipt(log EntryReader, r Receipt) (evidence.Header, []byte, error) {
	e, err := log.Entry(r.Index)
	if err != nil {
		return evidence.Header{}, nil, fmt.Errorf("entry %d: %w", r.Index, err)
	}
	if got := evidence.LeafHash(e.Header).String(); got != r.LeafHash {
		return evidence.Header{}, nil, fmt.Errorf("entry %d has leaf hash %s, the receipt says %s", r.Index, got, r.LeafHash)
	}
	h, err := evidence.DecodeHeader(e.Header)
	if err != nil {
		return evidence.Header{}, nil, fmt.Errorf("entry %d: %w", r.Index, err)
	}
	if e.Erased {
		return evidence.Header{}, nil, fmt.Errorf("entry %d: payload erased", r.Index)
	}
	return h, e.Payload, nil
}

// ManualExecutor records that a person carried out the action by hand:
// Summary says what they did and Reference points at the evidence (a
// ticket, an evidence item, a photo). It still checks the permit first.
type ManualExecutor struct {
	Log       EntryReader
	Summary   string
	Reference string
}

var _ Executor = (*ManualExecutor)(nil)

// Name returns "manual".
func (m *ManualExecutor) Name() string { return "manual" }

// Execute checks the permit and returns the person's account.
func (m *ManualExecutor) Execute(ctx context.Context, a Action, p Permit) (Result, error) {
	if err := CheckPermit(m.Log, a, p); err != nil {
		return Result{}, err
	}
	if err := checkText("summary", m.Summary, 1, maxLong); err != nil {
		return Result{}, err
	}
	if err := checkText("reference", m.Reference, 1, maxShort); err != nil {
		return Result{}, err
	}
	return Result{Summary: m.Summary, Reference: m.Reference}, nil
}
