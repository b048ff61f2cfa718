package guard

import (
	"slices"
	"time"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/vallum/vallum/internal/perimeter"
)

// Verdict is the outcome of a decision.
type Verdict string

// Verdicts.
const (
	// Allow: the action may run now.
	Allow Verdict = "allow"
	// Conditional: the action may run once every item in Missing is
	// supplied.
	Conditional Verdict = "conditional"
	// Deny: no approval can unlock the action; Alternatives names the
	// lawful route.
	Deny Verdict = "deny"
)

// Synthetic rule ids, for decisions no pack rule explains.
const (
	ruleEvalError  = "evaluation-error"
	ruleNoPermit   = "no-permit"
	ruleRemoteHard = "remote-effect-hard-deny"
)

// Decision is the guardrail's answer, in the JSON contract of the API and
// the CLI.
type Decision struct {
	Verdict Verdict `json:"verdict"`
	// Rules are the rules that decided: deny rules for a deny, requirement
	// rules for a conditional, permit rules for an allow.
	Rules []Rule `json:"rules"`
	// Citations are the legal bases of Rules, with their titles.
	Citations []Citation `json:"citations"`
	// Missing names what must be supplied for a conditional decision.
	Missing []string `json:"missing"`
	// Obligations must be met when the action runs (not for a deny).
	Obligations []string `json:"obligations"`
	// Alternatives are the lawful action kinds to propose instead (deny).
	Alternatives []string `json:"alternatives"`
	// Facts are what the guardrail computed from the perimeter and the
	// request.
	Facts Facts `json:"facts"`
	// Policy identifies the rule pack that decided.
	Policy Policy `json:"policy"`
	// Errors are the rule evaluation errors that forced a deny, if any.
	Errors []string `json:"errors,omitempty"`
	// Receipt is the evidence log receipt, filled by the server after the
	// decision is logged; empty offline.
	Receipt *Receipt `json:"receipt,omitempty"`
}

// Rule is a rule that decided.
type Rule struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Title       string   `json:"title"`
	Citations   []string `json:"citations"`
	Explanation string   `json:"explanation"`
}

// Citation is a legal basis with its human title.
type Citation struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// Facts are computed by the guardrail, never taken from the request.
type Facts struct {
	// TargetType is address, prefix, asset, account, wallet, hostname, none
	// or invalid.
	TargetType string `json:"target_type"`
	// InPerimeter is true when the whole target is ours.
	InPerimeter bool `json:"in_perimeter"`
	// Owner is self, contract, third_party or unknown.
	Owner string `json:"owner"`
	// Asset is the asset the target resolves to, if any.
	Asset string `json:"asset"`
	// Collateral are the target's collateral flags.
	Collateral []string `json:"collateral"`
	// Protected is true when the target overlaps a protected range.
	Protected bool `json:"protected"`
	// PresentDanger: malicious activity within the pack's window and
	// exfiltration not complete. Recorded only.
	PresentDanger bool `json:"present_danger"`
}

// Policy identifies a rule pack.
type Policy struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Digest is "sha256:" and the hex SHA-256 of the pack's files.
	Digest string `json:"digest"`
}

// Receipt is the evidence log's receipt for a logged decision.
type Receipt struct {
	Index    int64  `json:"index"`
	LeafHash string `json:"leaf_hash"`
}

// Policy returns the identity of the engine's rule pack.
func (e *Engine) Policy() Policy { return e.policy }

// Decide decides req against the perimeter p at the instant now. A nil p
// is an empty perimeter (everything is outside). When now is zero, req.Now
// is used; the server must pass its own clock so that a client cannot
// choose the instant. Decide is pure and safe for concurrent use.
func (e *Engine) Decide(req Request, p *perimeter.Perimeter, now time.Time) Decision {
	if now.IsZero() {
		now = req.Now
	}
	d := e.decide(req, p, now)
	if slices.Contains(alwaysDenied, req.Action.Kind) && d.Verdict != Deny {
		// Unreachable with a pack that passed Load's self-check; kept so
		// that no code path can allow a remote effect.
		d = e.denyWith(d, Rule{ID: ruleRemoteHard, Kind: kindDeny, Title: "The effect lands outside the perimeter",
			Citations: []string{}, Explanation: "No approval can unlock an effect on a system outside the perimeter."})
	}
	return d
}

func (e *Engine) decide(req Request, p *perimeter.Perimeter, now time.Time) Decision {
	facts, ctx := e.facts(req, p, now)
	creq := cedar.Request{
		Principal: cedar.NewEntityUID("User", cedar.String(req.Proposer)),
		Action:    cedar.NewEntityUID("Action", cedar.String(req.Action.Kind)),
		Resource:  cedar.NewEntityUID("Target", cedar.String(req.Action.Target)),
		Context:   ctx,
	}
	policies, known := e.byKind[req.Action.Kind]
	if !known {
		policies = e.otherKinds
	}
	ok, diag := cedar.Authorize(policies, types.EntityMap{}, creq)

	d := Decision{
		Rules:        []Rule{},
		Citations:    []Citation{},
		Missing:      []string{},
		Obligations:  []string{},
		Alternatives: []string{},
		Facts:        facts,
		Policy:       e.policy,
	}
	if len(diag.Errors) > 0 {
		// A rule that errors is skipped by Cedar, which could turn a deny
		// into an allow: any error is a deny.
		for _, de := range diag.Errors {
			d.Errors = append(d.Errors, string(de.PolicyID)+": "+de.Message)
		}
		return e.denyWith(d, Rule{ID: ruleEvalError, Kind: kindDeny, Title: "A rule could not be evaluated",
			Citations: []string{}, Explanation: "The rule pack could not decide this request; it is denied until the pack is fixed."})
	}
	fired := make([]*rule, 0, len(diag.Reasons))
	for _, r := range diag.Reasons {
		fired = append(fired, e.rules[string(r.PolicyID)])
	}
	slices.SortFunc(fired, func(a, b *rule) int { return a.order - b.order })

	switch {
	case ok == cedar.Allow:
		d.Verdict = Allow
	case len(fired) == 0:
		return e.denyWith(d, Rule{ID: ruleNoPermit, Kind: kindDeny, Title: "No rule permits this action",
			Citations: []string{}, Explanation: "Deny is the default: no rule of the pack permits this action."})
	case slices.ContainsFunc(fired, func(r *rule) bool { return r.kind == kindDeny }):
		d.Verdict = Deny
		fired = slices.DeleteFunc(fired, func(r *rule) bool { return r.kind != kindDeny })
	default:
		d.Verdict = Conditional
	}
	for _, r := range fired {
		d.Rules = append(d.Rules, r.public())
		for _, c := range r.citations {
			d.addCitation(c, e.citations[c].Title)
		}
		switch d.Verdict {
		case Deny:
			d.Alternatives = appendNew(d.Alternatives, r.alternatives...)
		case Conditional:
			d.Missing = appendNew(d.Missing, r.missing...)
		}
	}
	if d.Verdict != Deny {
		d.Obligations = appendNew(d.Obligations, e.kinds[req.Action.Kind].Obligations...)
		for _, f := range facts.Collateral {
			if o := e.collateral[f]; o != "" {
				d.Obligations = appendNew(d.Obligations, o)
			}
		}
	}
	return d
}

// denyWith makes d a deny decided by the synthetic rule r.
func (e *Engine) denyWith(d Decision, r Rule) Decision {
	d.Verdict = Deny
	d.Rules = []Rule{r}
	d.Citations = []Citation{}
	d.Missing = []string{}
	d.Obligations = []string{}
	d.Alternatives = []string{"authority_report"}
	return d
}

func (r *rule) public() Rule {
	c := r.citations
	if c == nil {
		c = []string{}
	}
	return Rule{ID: r.id, Kind: r.kind, Title: r.title, Citations: c, Explanation: r.explanation}
}

func (d *Decision) addCitation(id, title string) {
	if !slices.ContainsFunc(d.Citations, func(c Citation) bool { return c.ID == id }) {
		d.Citations = append(d.Citations, Citation{ID: id, Title: title})
	}
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// facts computes the decision's facts and the Cedar context the rules read
// (its shape is schema.cedarschema's Facts).
func (e *Engine) facts(req Request, p *perimeter.Perimeter, now time.Time) (Facts, cedar.Record) {
	if p == nil {
		p = emptyPerimeter
	}
	m := p.Lookup(req.Action.Target)
	f := Facts{
		TargetType:  string(m.Type),
		InPerimeter: m.InPerimeter,
		Owner:       m.Owner,
		Asset:       m.Asset,
		Collateral:  m.Collateral,
		Protected:   m.Protected,
	}
	if f.Collateral == nil {
		f.Collateral = []string{}
	}
	inc := req.Incident
	f.PresentDanger = !now.IsZero() && !inc.LastMaliciousAt.IsZero() && !inc.ExfiltrationComplete &&
		!inc.LastMaliciousAt.After(now) && now.Sub(inc.LastMaliciousAt) <= e.presentWindow

	// Four-eyes: the proposer's own approvals and reviews never count, nor
	// do records dated after the decision.
	counts := func(by string, at time.Time) bool {
		return by != req.Proposer && (now.IsZero() || !at.After(now))
	}
	params := req.Action.Params
	_, known := e.kinds[req.Action.Kind]
	c := context{
		kindKnown:     known,
		targetType:    string(m.Type),
		inPerimeter:   m.InPerimeter,
		owner:         m.Owner,
		collateral:    f.Collateral,
		protected:     m.Protected,
		presentDanger: f.PresentDanger,
		deviceKind:    deviceKind(p, params.Device),
		resolverKind:  deviceKind(p, params.Resolver),
		egress:        triState(params.EgressContained, "contained", "open"),
		codeExecution: triState(params.CodeExecution, "yes", "no"),
		validOn:       orUnstated(params.ValidOn),
		sanctions:     "missing",
		legalReview:   req.LegalReview != nil && counts(req.LegalReview.By, req.LegalReview.At),
	}
	for _, a := range req.Approvals {
		if counts(a.By, a.At) && !slices.Contains(c.approvals, a.Role) {
			c.approvals = append(c.approvals, a.Role)
		}
	}
	for _, n := range req.Notifications {
		if (now.IsZero() || !n.At.After(now)) && !slices.Contains(c.notified, n.Authority) {
			c.notified = append(c.notified, n.Authority)
		}
	}
	if s := req.Sanctions; s != nil {
		c.sanctions = s.Result
		c.sanctionsFresh = !now.IsZero() && !s.ScreenedAt.After(now) && now.Sub(s.ScreenedAt) <= e.screeningMaxAge
	}
	return f, e.records.get(c)
}

var emptyPerimeter, _ = perimeter.New(perimeter.File{})

// deviceKind is the kind of our device called name, "none" when no name is
// given and "unknown" when it is not one of ours.
func deviceKind(p *perimeter.Perimeter, name string) string {
	if name == "" {
		return "none"
	}
	d, ok := p.Device(name)
	if !ok {
		return "unknown"
	}
	return d.Kind
}

func triState(b *bool, yes, no string) string {
	switch {
	case b == nil:
		return "unstated"
	case *b:
		return yes
	default:
		return no
	}
}

func orUnstated(s string) string {
	if s == "" {
		return "unstated"
	}
	return s
}
