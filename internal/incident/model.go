package incident

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vallum/vallum/internal/guard"
)

// Actor is the authenticated user on whose behalf the desk acts. The
// caller (the API) authenticates; the desk trusts Name and Roles.
type Actor struct {
	Name  string
	Roles []string
}

// Has reports whether the actor holds role.
func (a Actor) Has(role string) bool { return slices.Contains(a.Roles, role) }

// Severity of an incident.
type Severity string

// Severities.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

func (s Severity) valid() bool { return slices.Contains([]Severity{Low, Medium, High, Critical}, s) }

// Status of an incident.
type Status string

// Statuses.
const (
	StatusOpen      Status = "open"
	StatusContained Status = "contained"
	StatusClosed    Status = "closed"
)

// StatusTransitions are the allowed status changes: containment and
// closure, a contained incident that flares up again, and reopening.
var StatusTransitions = map[Status][]Status{
	StatusOpen:      {StatusContained, StatusClosed},
	StatusContained: {StatusOpen, StatusClosed},
	StatusClosed:    {StatusOpen},
}

// Incident is a case, as projected from the log.
type Incident struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Severity    Severity  `json:"severity"`
	Status      Status    `json:"status"`
	Categories  []string  `json:"categories"`
	Assignees   []string  `json:"assignees"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// CreatedIndex and UpdatedIndex are the log indexes of the entries that
	// created and last changed the incident.
	CreatedIndex int64 `json:"created_index"`
	UpdatedIndex int64 `json:"updated_index"`
	// Erased is true when the creating entry's payload was erased: only the
	// ID, the creator and the time survive.
	Erased bool `json:"erased,omitempty"`
}

// Observable types.
const (
	ObsIP      = "ip"
	ObsDomain  = "domain"
	ObsURL     = "url"
	ObsHash    = "hash"
	ObsWallet  = "wallet"
	ObsEmail   = "email"
	ObsAccount = "account"
)

// Observable is an indicator seen in an incident. Adding the same (type,
// normalised value) again merges tags and widens first/last seen.
type Observable struct {
	Type       string    `json:"type"`
	Value      string    `json:"value"`
	Tags       []string  `json:"tags"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	FirstIndex int64     `json:"first_index"`
	LastIndex  int64     `json:"last_index"`
}

// Note is an analyst note.
type Note struct {
	Index  int64     `json:"index"`
	Author string    `json:"author"`
	At     time.Time `json:"at"`
	Text   string    `json:"text"`
	Erased bool      `json:"erased,omitempty"`
}

// LinkedEvent is an event entry of the log linked to an incident.
type LinkedEvent struct {
	// Index is the event's own log index; Kind and Time are its header's.
	Index int64     `json:"index"`
	Kind  string    `json:"kind"`
	Time  time.Time `json:"time"`
	// LinkedBy is the index of the incident.event_linked entry.
	LinkedBy int64 `json:"linked_by"`
}

// Custody steps. Acquired is recorded by AcquireEvidence; the others by
// AddCustody. Destroyed is terminal.
const (
	StepAcquired     = "acquired"
	StepHashVerified = "hash_verified"
	StepTransferred  = "transferred"
	StepStored       = "stored"
	StepExamined     = "examined"
	StepCopied       = "copied"
	StepReturned     = "returned"
	StepDestroyed    = "destroyed"
)

// EvidenceItem is an item of evidence with its chain of custody.
type EvidenceItem struct {
	ID       string `json:"id"`
	Incident string `json:"incident"`
	// SHA256 is the lowercase hex SHA-256 of the item's content.
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	MediaType  string `json:"media_type"`
	Source     string `json:"source"`
	Tool       string `json:"tool"`
	Method     string `json:"method"`
	AcquiredBy string `json:"acquired_by"`
	// Parent is the item this one is a copy of, if any.
	Parent        string    `json:"parent,omitempty"`
	AcquiredAt    time.Time `json:"acquired_at"`
	AcquiredIndex int64     `json:"acquired_index"`
	// Holder, Location and Seal are the latest known custodian and storage.
	Holder    string        `json:"holder"`
	Location  string        `json:"location"`
	Seal      string        `json:"seal"`
	Destroyed bool          `json:"destroyed"`
	Custody   []CustodyStep `json:"custody"`
	Erased    bool          `json:"erased,omitempty"`
}

// CustodyStep is one link of the chain of custody (one log entry).
type CustodyStep struct {
	Index int64     `json:"index"`
	Step  string    `json:"step"`
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
	// Detail holds the step's fields (from, to, medium, reference, sha256,
	// location, seal, tool, purpose, copy, note).
	Detail Custody `json:"detail"`
}

// ActionState is a state of the action lifecycle.
type ActionState string

// Action states.
const (
	Proposed  ActionState = "proposed"
	Decided   ActionState = "decided"
	Approved  ActionState = "approved"
	Executing ActionState = "executing"
	Executed  ActionState = "executed"
	Failed    ActionState = "failed"
	Verified  ActionState = "verified"
	Expired   ActionState = "expired"
	Reverted  ActionState = "reverted"
)

// Lifecycle is the action state machine: exactly these transitions are
// allowed. decided → approved only when the decision was conditional and
// the approvals cover every role it required; decided → executing only
// when it was allow (approved → executing otherwise). Failed, expired and
// reverted are terminal.
var Lifecycle = map[ActionState][]ActionState{
	Proposed:  {Decided},
	Decided:   {Approved, Executing},
	Approved:  {Executing},
	Executing: {Executed, Failed},
	// Executed → expired/reverted: a connector's containment that was
	// applied but not (or not successfully) verified can still lapse or be
	// undone (internal/contain, issue 7).
	Executed: {Verified, Expired, Reverted},
	Verified: {Expired, Reverted},
}

// ApproverRoles are the roles an approval can be given in.
var ApproverRoles = []string{"analyst", "incident_commander", "business_owner", "legal_counsel", "dpo", "executive", "board"}

// Receipt locates a log entry: its index and RFC 6962 leaf hash (hex).
type Receipt struct {
	Index    int64  `json:"index"`
	LeafHash string `json:"leaf_hash"`
}

// Approval is one logged approval of an action.
type Approval struct {
	Role    string    `json:"role"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Receipt Receipt   `json:"receipt"`
}

// Action is a response action and where it stands in its lifecycle.
type Action struct {
	ID       string        `json:"id"`
	Incident string        `json:"incident"`
	Request  guard.Request `json:"request"`
	Proposer string        `json:"proposer"`
	State    ActionState   `json:"state"`
	// Verdict, Missing and Decision are of the latest decision (the first
	// one, or the re-check before execution).
	Verdict  guard.Verdict `json:"verdict,omitempty"`
	Missing  []string      `json:"missing"`
	Decision *Receipt      `json:"decision,omitempty"`
	// Requires are the approver roles the first decision required.
	Requires  []string   `json:"requires"`
	Approvals []Approval `json:"approvals"`
	Executor  string     `json:"executor,omitempty"`
	Result    *Result    `json:"result,omitempty"`
	// Error is why execution failed.
	Error         string    `json:"error,omitempty"`
	ProposedAt    time.Time `json:"proposed_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	ProposedIndex int64     `json:"proposed_index"`
	UpdatedIndex  int64     `json:"updated_index"`
	Erased        bool      `json:"erased,omitempty"`
}

// TimelineItem is one thing that happened in an incident.
type TimelineItem struct {
	// Index is the log index of the entry (for a linked event, the event's
	// own entry).
	Index int64     `json:"index"`
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`
	Actor string    `json:"actor"`
	// Subject is the action, evidence item or observable concerned.
	Subject string `json:"subject,omitempty"`
	Summary string `json:"summary"`
	// Erased marks an entry whose payload was erased (or is unreadable).
	Erased bool `json:"erased,omitempty"`
}

// Filter narrows ListIncidents; empty fields match everything.
type Filter struct {
	Status   Status
	Severity Severity
}

// Page is a page request: items after the cursor After (0 for the first
// page; use the returned cursor for the next), at most Limit (default 50,
// at most 500).
type Page struct {
	After int64
	Limit int
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > 500:
		return 500
	}
	return p.Limit
}

// Errors. Errors caused by the caller's input wrap ErrInvalid; the API
// maps ErrNotFound to 404, ErrInvalid, *TransitionError and *RefusedError
// to 409/422, ErrForbidden to 403.
var (
	ErrNotFound  = errors.New("not found")
	ErrInvalid   = errors.New("invalid")
	ErrForbidden = errors.New("forbidden")
	// ErrHashMismatch is wrapped when a re-verified hash differs from the
	// item's.
	ErrHashMismatch = errors.New("hash mismatch")
)

// TransitionError is a lifecycle change that is not allowed from the
// current state.
type TransitionError struct {
	Action string
	From   ActionState
	To     ActionState
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("action %s is %s: it cannot become %s (allowed: %v)", e.Action, e.From, e.To, Lifecycle[e.From])
}

// StatusError is an incident status change that is not allowed.
type StatusError struct {
	Incident string
	From, To Status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("incident %s is %s: it cannot become %s (allowed: %v)", e.Incident, e.From, e.To, StatusTransitions[e.From])
}

// RefusedError is an execution the guardrail refused when re-run just
// before it; the refusal is in the log at Receipt.
type RefusedError struct {
	Action  string
	Verdict guard.Verdict
	Missing []string
	Receipt Receipt
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the guardrail refused to execute action %s: verdict %s, missing %v (logged at %d)", e.Action, e.Verdict, e.Missing, e.Receipt.Index)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// idAlphabet is Crockford's base32: no I, L, O, U.
const idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID returns prefix, '-' and 10 random base32 characters (50 bits).
// IDs are random rather than sequential so that they can be chosen before
// the entry is appended (the entry's header names the incident) and do not
// depend on the order concurrent desks append in.
func newID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	out := make([]byte, 0, len(prefix)+11)
	out = append(out, prefix...)
	out = append(out, '-')
	for _, c := range b {
		out = append(out, idAlphabet[c&31])
	}
	return string(out)
}

// jsonList encodes a string list for a TEXT column ("[]" for nil).
func jsonList(l []string) string {
	if l == nil {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}
