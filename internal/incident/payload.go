package incident

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/perimeter"
)

// Log entry kinds written by the desk. The header's incident field is the
// incident's ID; the payload is one of the *Payload structs below, as JSON.
const (
	KindCreated    = "incident.created"
	KindUpdated    = "incident.updated"
	KindNote       = "incident.note"
	KindObservable = "incident.observable"
	KindEventLink  = "incident.event_linked"
	KindAcquired   = "evidence.acquired"
	KindCustody    = "evidence.custody"
	KindProposed   = "action.proposed"
	KindDecided    = "action.decided"
	// KindRechecked is the guardrail re-run just before execution (allow
	// or not); it changes no state. A refusal to execute is this entry
	// with a verdict other than allow.
	KindRechecked = "action.rechecked"
	KindApproved  = "action.approved"
	KindExecuting = "action.executing"
	KindExecuted  = "action.executed"
	KindFailed    = "action.failed"
	KindVerified  = "action.verified"
	KindExpired   = "action.expired"
	KindReverted  = "action.reverted"
)

// DecisionKind is the kind of the guardrail's decision entries (written
// by the Decider, not by the desk).
const DecisionKind = "decision"

type createdPayload struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Severity    Severity `json:"severity"`
	Categories  []string `json:"categories"`
	Assignees   []string `json:"assignees"`
}

// Update is a change to an incident: nil fields stay as they are.
type Update struct {
	Title       *string   `json:"title,omitempty"`
	Description *string   `json:"description,omitempty"`
	Severity    *Severity `json:"severity,omitempty"`
	Status      *Status   `json:"status,omitempty"`
	Categories  *[]string `json:"categories,omitempty"`
	Assignees   *[]string `json:"assignees,omitempty"`
}

type updatedPayload struct {
	ID string `json:"id"`
	Update
}

type notePayload struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

type observablePayload struct {
	ID    string   `json:"id"`
	Type  string   `json:"type"`
	Value string   `json:"value"`
	Tags  []string `json:"tags"`
	// Seen is when it was observed (TimeFormat); the entry time if empty.
	Seen string `json:"seen,omitempty"`
}

type linkedEvent struct {
	Index int64  `json:"index"`
	Kind  string `json:"kind"`
	Time  string `json:"time"`
}

type eventsPayload struct {
	ID     string        `json:"id"`
	Events []linkedEvent `json:"events"`
}

// EvidenceInput describes an acquired item.
type EvidenceInput struct {
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	Source    string `json:"source"`
	Tool      string `json:"tool"`
	Method    string `json:"method"`
}

type acquiredPayload struct {
	Evidence string `json:"evidence"`
	EvidenceInput
}

// Custody is a custody step's data. Which fields a step needs:
// hash_verified: SHA256; transferred: From, To, Medium, Reference and the
// re-verified SHA256; stored: Location, Seal; examined: Tool, Purpose;
// copied: SHA256 (and Size, MediaType) of the copy; returned: To;
// destroyed: Note (how).
type Custody struct {
	Step      string `json:"step"`
	SHA256    string `json:"sha256,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Medium    string `json:"medium,omitempty"`
	Reference string `json:"reference,omitempty"`
	Location  string `json:"location,omitempty"`
	Seal      string `json:"seal,omitempty"`
	Tool      string `json:"tool,omitempty"`
	Purpose   string `json:"purpose,omitempty"`
	Size      int64  `json:"size,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Note      string `json:"note,omitempty"`
	// Copy is the ID of the new item a copied step creates (set by the
	// desk).
	Copy string `json:"copy,omitempty"`
}

type custodyPayload struct {
	Evidence string `json:"evidence"`
	Custody
}

type proposedPayload struct {
	Action  string        `json:"action"`
	Request guard.Request `json:"request"`
}

// decidedPayload binds a guardrail decision entry to one action (kinds
// action.decided and action.rechecked).
type decidedPayload struct {
	Action   string        `json:"action"`
	Decision Receipt       `json:"decision"`
	Verdict  guard.Verdict `json:"verdict"`
	Missing  []string      `json:"missing"`
	// Requires are the approver roles the action's first decision required.
	Requires []string `json:"requires"`
}

type approvedPayload struct {
	Action string `json:"action"`
	Role   string `json:"role"`
}

type executingPayload struct {
	Action   string `json:"action"`
	Executor string `json:"executor"`
	Permit   Permit `json:"permit"`
}

type outcomePayload struct {
	Action string  `json:"action"`
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// decodePayload decodes the payload of an entry of one of the desk's
// kinds, strictly (unknown fields are an error). It sees bytes read back
// from the log, which an older or foreign writer may have produced.
func decodePayload(kind string, b []byte) (any, error) {
	var v any
	switch kind {
	case KindCreated:
		v = new(createdPayload)
	case KindUpdated:
		v = new(updatedPayload)
	case KindNote:
		v = new(notePayload)
	case KindObservable:
		v = new(observablePayload)
	case KindEventLink:
		v = new(eventsPayload)
	case KindAcquired:
		v = new(acquiredPayload)
	case KindCustody:
		v = new(custodyPayload)
	case KindProposed:
		v = new(proposedPayload)
	case KindDecided, KindRechecked:
		v = new(decidedPayload)
	case KindApproved:
		v = new(approvedPayload)
	case KindExecuting:
		v = new(executingPayload)
	case KindExecuted, KindFailed, KindVerified, KindExpired, KindReverted:
		v = new(outcomePayload)
	case KindClockDeclared:
		v = new(clockDeclaredPayload)
	case KindClockSubmitted:
		v = new(clockSubmittedPayload)
	default:
		if v = ransomPayload(kind); v == nil { // ransom.go
			return nil, fmt.Errorf("%q is not an incident kind", kind)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("couldn't decode %s payload: %w", kind, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("couldn't decode %s payload: data after the JSON value", kind)
	}
	return v, nil
}

// ours reports whether kind is written by the desk.
func ours(kind string) bool {
	return strings.HasPrefix(kind, "incident.") || strings.HasPrefix(kind, "evidence.") || strings.HasPrefix(kind, "action.") || strings.HasPrefix(kind, "clock.") || strings.HasPrefix(kind, "ransom.")
}

// Text limits.
const (
	maxShort = 256
	maxLong  = 64 << 10
	maxList  = 64
)

func checkText(field, s string, min, max int) error {
	if len(s) < min || len(s) > max {
		return invalidf("%s must be %d to %d bytes", field, min, max)
	}
	for _, r := range s {
		if r == unicode.ReplacementChar || (unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r') {
			return invalidf("%s has a control or invalid character", field)
		}
	}
	return nil
}

func checkList(field string, l []string) error {
	if len(l) > maxList {
		return invalidf("%s has more than %d items", field, maxList)
	}
	for _, s := range l {
		if err := checkText(field, s, 1, maxShort); err != nil {
			return err
		}
	}
	return nil
}

// cleanList returns l sorted, without duplicates, never nil.
func cleanList(l []string) []string {
	out := slices.Clone(l)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

var (
	hexPattern    = regexp.MustCompile(`^[0-9a-f]+$`)
	walletPattern = regexp.MustCompile(`^[A-Za-z0-9]{25,100}$`)
	ethPattern    = regexp.MustCompile(`^0x[0-9a-f]{40}$`)
)

// NormalizeObservable validates an observable's value for its type and
// returns its canonical form: IPs unmapped and compressed, domains in
// lowercase ASCII without a trailing dot, URLs with a lowercase scheme and
// host, hashes (MD5, SHA-1, SHA-256, SHA-512) in lowercase hex, e-mail
// addresses with a lowercase domain, Ethereum wallets in lowercase.
func NormalizeObservable(typ, value string) (string, error) {
	v := strings.TrimSpace(value)
	if err := checkText("value", v, 1, 2048); err != nil {
		return "", err
	}
	switch typ {
	case ObsIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", invalidf("%q is not an IP address", value)
		}
		return a.Unmap().String(), nil
	case ObsDomain:
		h, err := perimeter.NormalizeHost(v)
		if err != nil || !strings.Contains(h, ".") {
			return "", invalidf("%q is not a domain name", value)
		}
		return h, nil
	case ObsURL:
		u, err := url.Parse(v)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
			return "", invalidf("%q is not an absolute URL", value)
		}
		u.Scheme = strings.ToLower(u.Scheme)
		u.Host = strings.ToLower(u.Host)
		return u.String(), nil
	case ObsHash:
		h := strings.ToLower(v)
		if !hexPattern.MatchString(h) || !slices.Contains([]int{32, 40, 64, 128}, len(h)) {
			return "", invalidf("%q is not an MD5, SHA-1, SHA-256 or SHA-512 hex digest", value)
		}
		return h, nil
	case ObsWallet:
		if l := strings.ToLower(v); ethPattern.MatchString(l) {
			return l, nil
		}
		if !walletPattern.MatchString(v) {
			return "", invalidf("%q is not a wallet address", value)
		}
		return v, nil
	case ObsEmail:
		a, err := mail.ParseAddress(v)
		if err != nil || a.Name != "" || a.Address != v {
			return "", invalidf("%q is not a bare e-mail address", value)
		}
		at := strings.LastIndexByte(v, '@')
		return v[:at] + "@" + strings.ToLower(v[at+1:]), nil
	case ObsAccount:
		if strings.ContainsAny(v, " \t\r\n") || len(v) > maxShort {
			return "", invalidf("%q is not an account name", value)
		}
		return v, nil
	}
	return "", invalidf("observable type %q is not one of ip, domain, url, hash, wallet, email, account", typ)
}

// checkSHA256 validates a hex SHA-256 and returns it in lowercase.
func checkSHA256(field, s string) (string, error) {
	h := strings.ToLower(s)
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		return "", invalidf("%s %q is not a hex SHA-256", field, s)
	}
	return h, nil
}
