// Package contain carries out containment on enforcement points we
// operate: an nftables table owned by Vallum (blocks and host isolation),
// an RPZ zone for our resolvers (DNS sinkhole), and signed webhooks to
// EDRs, cloud firewalls and identity providers.
//
// Every connector offers Plan (a dry run that says exactly what will
// change), Apply, Verify (it reads the real state back and reports what it
// observed, never what was intended) and Revert. The Executor runs a
// connector for an action of the incident desk only with the log receipts
// of its permit (incident.CheckPermit), refuses protected and own
// addresses, and logs every step before and after it acts. The Manager
// keeps the active containments (rebuilt from the log at start), expires
// them on time and reconciles the enforcement points with the log.
package contain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Spec is what a connector is asked to contain: the action's kind, its
// target and parameters, as the incident desk recorded them.
type Spec struct {
	// Action is the incident desk's action ID (ACT-…).
	Action string `json:"action"`
	// Kind is the action kind (firewall_block, host_isolation, dns_sinkhole…).
	Kind string `json:"kind"`
	// Target is the action's target: an address or prefix, an asset name,
	// a hostname.
	Target string `json:"target"`
	// Device is the enforcement point named by the action (params.device,
	// or params.resolver for a sinkhole).
	Device string `json:"device"`
	// Expires is when the containment lapses; zero means never.
	Expires time.Time `json:"expires,omitzero"`
}

// Change is one change a plan makes on an enforcement point.
type Change struct {
	// Op is "add" or "delete".
	Op string `json:"op"`
	// Element is what changes: a prefix (10.0.0.0/24), a rule
	// ("isolate: drop all but management"), an RPZ record, a webhook call.
	Element string `json:"element"`
	// Where names the place: "inet vallum set block4", the zone file, the URL.
	Where string `json:"where"`
	// Detail adds what a reader needs: the timeout, the record data.
	Detail string `json:"detail,omitempty"`
}

// Plan is the dry-run description of exactly what a connector will change
// for one action. It is logged before anything is applied, and the console
// shows it when an action is approved.
type Plan struct {
	Action    string    `json:"action"`
	Connector string    `json:"connector"`
	Device    string    `json:"device"`
	Kind      string    `json:"kind"`
	Target    string    `json:"target"`
	Changes   []Change  `json:"changes"`
	Expires   time.Time `json:"expires,omitzero"`
	// Notes are what the connector wants a person to know (a default expiry
	// applied, a reload command that will run).
	Notes []string `json:"notes,omitempty"`
	// Shared are elements that other active actions also hold, with the
	// latest expiry among all holders (zero: none): Apply keeps them in
	// force until then (nftables refreshes the kernel timeout), and a
	// revert or expiry of one holder leaves them in place. Set by the
	// Manager.
	Shared map[string]time.Time `json:"shared,omitempty"`
}

// Outcome is what happened to one element.
type Outcome struct {
	Element string `json:"element"`
	OK      bool   `json:"ok"`
	// Error says why it failed (kernel errno, HTTP status, I/O error).
	Error string `json:"error,omitempty"`
}

// Report is what Apply or Revert did, element by element.
type Report struct {
	Outcomes []Outcome `json:"outcomes"`
	// Detail is connector-specific: the zone serial written, the reload
	// command's output, the webhook's status and attempts.
	Detail string `json:"detail,omitempty"`
}

// Failed returns the outcomes that failed.
func (r Report) Failed() []Outcome {
	var f []Outcome
	for _, o := range r.Outcomes {
		if !o.OK {
			f = append(f, o)
		}
	}
	return f
}

// Err is nil when every element succeeded, else a *PartialError.
func (r Report) Err() error {
	f := r.Failed()
	if len(f) == 0 {
		return nil
	}
	return &PartialError{Failed: f, Total: len(r.Outcomes)}
}

// PartialError names each element that failed and why.
type PartialError struct {
	Failed []Outcome
	Total  int
}

func (e *PartialError) Error() string {
	s := fmt.Sprintf("%d of %d elements failed:", len(e.Failed), e.Total)
	for _, o := range e.Failed {
		s += fmt.Sprintf(" %s (%s);", o.Element, o.Error)
	}
	return s[:len(s)-1]
}

// Observed is the state of one element as read back from the enforcement
// point.
type Observed struct {
	Element string `json:"element"`
	// Present is whether the element is in force.
	Present bool `json:"present"`
	// Detail is what was read: the kernel's remaining timeout, the DNS
	// answer, the read-back body.
	Detail string `json:"detail,omitempty"`
}

// Observation is what Verify read back. OK is true only when what was
// observed is what the plan wants (every element present after Apply,
// absent after Revert).
type Observation struct {
	At       time.Time  `json:"at"`
	Want     string     `json:"want"` // "present" or "absent"
	OK       bool       `json:"ok"`
	Elements []Observed `json:"elements"`
	// Detail says why the observation disagrees, or what else was seen.
	Detail string `json:"detail,omitempty"`
}

// Connector changes one enforcement point.
//
// Plan must not change anything. Apply and Revert must be idempotent (a
// second Apply of the same plan changes nothing and succeeds) and report
// each element's outcome; the error is for failures that concern the
// whole plan. Verify reads the real state back: present says whether the
// plan's elements are expected to be in force. All methods must be safe
// for concurrent use and honour ctx.
type Connector interface {
	// Name is the enforcement point's device name in the perimeter file.
	Name() string
	// Type is "nftables", "rpz" or "webhook".
	Type() string
	// Kinds are the action kinds it carries out.
	Kinds() []string
	Plan(ctx context.Context, s Spec) (Plan, error)
	Apply(ctx context.Context, p Plan) (Report, error)
	Verify(ctx context.Context, p Plan, present bool) (Observation, error)
	Revert(ctx context.Context, p Plan) (Report, error)
}

// Sentinel errors.
var (
	// ErrRefused is wrapped by every safety refusal (protected, own
	// address, outside the perimeter, too many elements).
	ErrRefused = errors.New("containment refused")
	// ErrUnsupported is wrapped when a connector cannot do what is asked
	// (a kind or target it does not handle).
	ErrUnsupported = errors.New("not supported by this connector")
	// ErrNoConnector is returned when no connector serves an action.
	ErrNoConnector = errors.New("no connector for this action")
)

// judge sets OK and Detail from the elements observed: OK when each is
// present as wanted, otherwise Detail names those that are not.
func (obs *Observation) judge(present bool) {
	var wrong []string
	for _, o := range obs.Elements {
		if o.Present != present {
			wrong = append(wrong, o.Element)
		}
	}
	if len(wrong) > 0 {
		obs.OK = false
		obs.Detail = fmt.Sprintf("want %s, observed otherwise: %s", want(present), strings.Join(wrong, ", "))
	}
}

func want(present bool) string {
	if present {
		return "present"
	}
	return "absent"
}
