package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Request is a proposed response action with what the proposer supplies to
// justify it. It never says whether the target is ours: the perimeter does.
type Request struct {
	Action        Action         `json:"action"`
	Incident      Incident       `json:"incident"`
	Approvals     []Approval     `json:"approvals"`
	Notifications []Notification `json:"notifications"`
	// Sanctions is the latest sanctions screening; nil when none was done.
	Sanctions *Sanctions `json:"sanctions,omitempty"`
	// LegalReview is the legal review or opinion; nil when none is on file.
	LegalReview *LegalReview `json:"legal_review,omitempty"`
	// Proposer identifies who proposes the action (four-eyes: their own
	// approvals and reviews never count).
	Proposer string `json:"proposer"`
	// Now is the decision instant claimed by the caller. Decide uses it only
	// when it is given no clock reading (offline checks and replays).
	Now time.Time `json:"now,omitzero"`
}

// Action is what would be done.
type Action struct {
	// Kind is one of the kinds in the rule pack's catalogue; any other kind
	// is denied.
	Kind string `json:"kind"`
	// Target is an IPv4/IPv6 address, a CIDR prefix, an asset name, a
	// hostname, idp:account or a wallet address.
	Target string `json:"target"`
	Params Params `json:"params"`
}

// Params are the kind-specific parameters of an action.
type Params struct {
	// Device is the enforcement point (a firewall for firewall_block).
	Device string `json:"device,omitempty"`
	// Resolver is the DNS resolver for dns_sinkhole.
	Resolver string `json:"resolver,omitempty"`
	// EgressContained states whether a honeypot's egress is contained.
	EgressContained *bool `json:"egress_contained,omitempty"`
	// CodeExecution states whether a beacon runs code where it is opened.
	CodeExecution *bool `json:"code_execution,omitempty"`
	// ValidOn says where a honey credential or record is valid: own or
	// third_party.
	ValidOn string `json:"valid_on,omitempty"`
	// ExpiresAt is when a block or containment expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Incident is what is known of the incident the action answers.
type Incident struct {
	// LastMaliciousAt is the last malicious activity observed.
	LastMaliciousAt time.Time `json:"last_malicious_at,omitzero"`
	// ExfiltrationComplete is true once the data are gone.
	ExfiltrationComplete bool `json:"exfiltration_complete"`
	// Threatened lists what is at risk: data, availability, money,
	// person_safety.
	Threatened []string `json:"threatened"`
	// Extortion is true when a ransom is demanded.
	Extortion bool `json:"extortion"`
}

// Approval is one person's approval in a role.
type Approval struct {
	Role string    `json:"role"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// Notification is a report to an authority.
type Notification struct {
	Authority string    `json:"authority"`
	Ref       string    `json:"ref"`
	At        time.Time `json:"at"`
}

// Sanctions is a sanctions screening of the counterpart.
type Sanctions struct {
	// Result is clear, hit or none (not screened).
	Result      string    `json:"result"`
	ScreenedAt  time.Time `json:"screened_at,omitzero"`
	ListVersion string    `json:"list_version,omitempty"`
}

// LegalReview is a legal review or opinion on file.
type LegalReview struct {
	By  string    `json:"by"`
	Ref string    `json:"ref"`
	At  time.Time `json:"at"`
}

// Closed vocabularies of the request.
var (
	// roles that can approve.
	roles = []string{"analyst", "incident_commander", "business_owner", "legal_counsel", "dpo", "ciso", "executive", "board"}
	// authorities that can be notified.
	authorities = []string{"acn", "csirt", "police", "prosecutor", "garante", "bankit", "consob", "agid", "europol"}
	threatened  = []string{"data", "availability", "money", "person_safety"}
	results     = []string{"clear", "hit", "none"}
	validOn     = []string{"own", "third_party"}
)

// ErrTooLarge is returned (wrapped) by DecodeRequest for a body over its
// limit.
var ErrTooLarge = errors.New("request body too large")

// RequestError is a request that cannot be decided, with the field at fault.
type RequestError struct {
	// Field is the JSON path of the offending field ("approvals[1].role"),
	// or "" when the body as a whole is at fault.
	Field string
	Err   error
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("invalid request: %v", e.Err)
	}
	return fmt.Sprintf("invalid request: field %s: %v", e.Field, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &RequestError{Field: field, Err: fmt.Errorf(format, args...)}
}

// DecodeRequest strictly decodes a JSON request: at most limit bytes, valid
// UTF-8, a single object, no unknown or duplicate fields, values of the
// right type and in the closed vocabularies. Errors are *RequestError
// naming the offending field.
func DecodeRequest(r io.Reader, limit int64) (Request, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return Request{}, &RequestError{Err: fmt.Errorf("couldn't read body: %w", err)}
	}
	if int64(len(b)) > limit {
		return Request{}, &RequestError{Err: fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, limit)}
	}
	if !utf8.Valid(b) {
		return Request{}, &RequestError{Err: errors.New("body is not valid UTF-8")}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return Request{}, &RequestError{Err: errors.New("empty body: want a JSON object")}
	}
	if err := checkShape(b); err != nil {
		return Request{}, err
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, &RequestError{Err: errors.New("data after the JSON object")}
	}
	if err := req.validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

// jsonError turns an encoding/json error into a RequestError naming the
// field where it can.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fieldErr(te.Field, "got JSON %s, want %s", te.Value, jsonType(te.Type.String()))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(strings.Trim(name, `"`), "unknown field")
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return &RequestError{Err: fmt.Errorf("a time is not in RFC 3339 format (%q)", pe.Value)}
	}
	return &RequestError{Err: fmt.Errorf("couldn't decode JSON: %w", err)}
}

func jsonType(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool" || goType == "*bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case goType == "time.Time":
		return "an RFC 3339 time string"
	default:
		return "an object"
	}
}

// maxDepth bounds the nesting of a request; the deepest valid request is
// three levels deep.
const maxDepth = 16

// errSyntax stops checkShape on malformed JSON, which the decoder then
// reports with its position.
var errSyntax = errors.New("syntax")

var timeType = reflect.TypeFor[time.Time]()

// checkShape walks the body's tokens along the Request type and rejects,
// with the full path of the field: unknown fields, repeated fields (a
// decoder keeps the last value, a person reading the log may see the
// first), times that are not RFC 3339, and nesting deeper than maxDepth.
// Type mismatches and syntax errors are left to the decoder.
func checkShape(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := walk(dec, "", 0, reflect.TypeFor[Request]()); err != nil && !errors.Is(err, errSyntax) {
		return err
	}
	return nil
}

// walk checks the next JSON value, expected to be of type typ (nil when
// unknown).
func walk(dec *json.Decoder, path string, depth int, typ reflect.Type) error {
	for typ != nil && typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return errSyntax
	}
	d, ok := tok.(json.Delim)
	if !ok {
		if s, isStr := tok.(string); isStr && typ == timeType {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return fieldErr(path, "%q is not an RFC 3339 time such as 2026-11-28T12:00:00Z", s)
			}
		}
		return nil
	}
	if depth >= maxDepth {
		return fieldErr(path, "nested too deeply")
	}
	var fields map[string]reflect.Type
	if d == '{' && typ != nil && typ.Kind() == reflect.Struct && typ != timeType {
		fields = jsonFields(typ)
	}
	var elem reflect.Type
	if d == '[' && typ != nil && typ.Kind() == reflect.Slice {
		elem = typ.Elem()
	}
	seen := map[string]bool{}
	for i := 0; dec.More(); i++ {
		child, childType := fmt.Sprintf("%s[%d]", path, i), elem
		if d == '{' {
			kt, err := dec.Token()
			if err != nil {
				return errSyntax
			}
			k, _ := kt.(string)
			child = join(path, k)
			if seen[k] {
				return fieldErr(child, "duplicate field")
			}
			seen[k] = true
			if fields != nil {
				ft, known := fields[k]
				if !known {
					return fieldErr(child, "unknown field")
				}
				childType = ft
			}
		}
		if err := walk(dec, child, depth+1, childType); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return errSyntax
	}
	return nil
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// validate checks required fields and closed vocabularies.
func (r *Request) validate() error {
	if r.Action.Kind == "" {
		return fieldErr("action.kind", "missing")
	}
	if len(r.Action.Kind) > 64 {
		return fieldErr("action.kind", "longer than 64 bytes")
	}
	if r.Action.Target == "" {
		return fieldErr("action.target", "missing")
	}
	if len(r.Action.Target) > 1024 {
		return fieldErr("action.target", "longer than 1024 bytes")
	}
	if r.Proposer == "" {
		return fieldErr("proposer", "missing")
	}
	if v := r.Action.Params.ValidOn; v != "" && !slices.Contains(validOn, v) {
		return fieldErr("action.params.valid_on", "%q is not one of %s", v, strings.Join(validOn, ", "))
	}
	for i, t := range r.Incident.Threatened {
		if !slices.Contains(threatened, t) {
			return fieldErr(fmt.Sprintf("incident.threatened[%d]", i), "%q is not one of %s", t, strings.Join(threatened, ", "))
		}
	}
	for i, a := range r.Approvals {
		f := fmt.Sprintf("approvals[%d]", i)
		switch {
		case !slices.Contains(roles, a.Role):
			return fieldErr(f+".role", "%q is not one of %s", a.Role, strings.Join(roles, ", "))
		case a.By == "":
			return fieldErr(f+".by", "missing")
		case a.At.IsZero():
			return fieldErr(f+".at", "missing")
		}
	}
	for i, n := range r.Notifications {
		f := fmt.Sprintf("notifications[%d]", i)
		switch {
		case !slices.Contains(authorities, n.Authority):
			return fieldErr(f+".authority", "%q is not one of %s", n.Authority, strings.Join(authorities, ", "))
		case n.Ref == "":
			return fieldErr(f+".ref", "missing")
		case n.At.IsZero():
			return fieldErr(f+".at", "missing")
		}
	}
	if s := r.Sanctions; s != nil {
		switch {
		case !slices.Contains(results, s.Result):
			return fieldErr("sanctions.result", "%q is not one of %s", s.Result, strings.Join(results, ", "))
		case s.Result != "none" && s.ScreenedAt.IsZero():
			return fieldErr("sanctions.screened_at", "missing")
		case s.Result != "none" && s.ListVersion == "":
			return fieldErr("sanctions.list_version", "missing")
		}
	}
	if l := r.LegalReview; l != nil {
		switch {
		case l.By == "":
			return fieldErr("legal_review.by", "missing")
		case l.Ref == "":
			return fieldErr("legal_review.ref", "missing")
		case l.At.IsZero():
			return fieldErr("legal_review.at", "missing")
		}
	}
	return nil
}
