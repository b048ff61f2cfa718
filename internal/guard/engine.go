// Package guard is the legal guardrail: it decides, before anything runs,
// whether a proposed response action may run now (allow), may run once the
// missing approvals, notifications, screenings or reviews are supplied
// (conditional), or may not run at all (deny), with the rules that decided,
// their legal citations, the lawful alternatives and the facts it computed.
//
// The core is pure: Decide takes a request, a perimeter and the time and
// returns a Decision. The rules are data, a rule pack (see package policies
// and docs/guardrail.md) evaluated with Cedar: a thin Go layer computes the
// facts (perimeter membership, owner, collateral, present danger, screening
// age, four-eyes approvals) and the Cedar rules decide. Deny overrides;
// an unclassified kind is denied; any evaluation error is a deny.
package guard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
	"go.yaml.in/yaml/v3"

	"github.com/vallum/vallum/policies"
)

// Rule pack file names.
const (
	packFile   = "pack.yaml"
	schemaFile = "schema.cedarschema"
)

// Rule kinds (the @kind annotation).
const (
	kindPermit      = "permit"
	kindDeny        = "deny"
	kindRequirement = "requirement"
)

// alwaysDenied are the kinds whose effect lands outside the perimeter: no
// rule pack may let them through, whatever the request holds.
var alwaysDenied = []string{"remote_access", "remote_data_recovery", "remote_data_deletion", "remote_disruption", "beacon_active"}

// packFileFormat is pack.yaml.
type packFileFormat struct {
	Name         string                  `yaml:"name"`
	Version      string                  `yaml:"version"`
	Jurisdiction string                  `yaml:"jurisdiction"`
	Settings     settingsFormat          `yaml:"settings"`
	Citations    map[string]citationSpec `yaml:"citations"`
	Kinds        map[string]kindSpec     `yaml:"kinds"`
	Collateral   map[string]string       `yaml:"collateral"`
}

type settingsFormat struct {
	PresentDangerWindow    string `yaml:"present_danger_window"`
	PaymentScreeningMaxAge string `yaml:"payment_screening_max_age"`
}

type citationSpec struct {
	Title string `yaml:"title"`
	URL   string `yaml:"url"`
}

type kindSpec struct {
	Summary     string   `yaml:"summary"`
	Obligations []string `yaml:"obligations"`
}

// rule is a loaded Cedar rule with its annotations.
type rule struct {
	order        int // position in the pack, for a stable order
	id           string
	kind         string
	title        string
	citations    []string
	alternatives []string
	missing      []string
	explanation  string
	text         string // the Cedar source, for explain
}

// Engine is a loaded, validated rule pack. It is immutable and safe for
// concurrent use; to reload, build a new Engine and swap the pointer.
type Engine struct {
	policy          Policy
	presentWindow   time.Duration
	screeningMaxAge time.Duration
	citations       map[string]citationSpec
	kinds           map[string]kindSpec
	collateral      map[string]string
	rules           map[string]*rule
	// byKind are, for each kind of the catalogue, the rules whose scope
	// admits it, in pack order, with the action scope already applied;
	// otherKinds are the rules for any other kind.
	byKind     map[string]policyList
	otherKinds policyList
	records    *recordCache
}

// Default returns the engine for the embedded default rule pack.
func Default() (*Engine, error) {
	e, err := Load(policies.FS())
	if err != nil {
		return nil, fmt.Errorf("embedded rule pack: %w", err)
	}
	return e, nil
}

// Load reads, validates and compiles the rule pack in fsys: pack.yaml,
// schema.cedarschema and every *.cedar file at its root. It checks pack.yaml
// strictly, every rule against the schema and the annotation format, every
// citation and alternative against pack.yaml, and that the pack denies
// every remote_* and beacon_active request. All problems found are
// returned together.
func Load(fsys fs.FS) (*Engine, error) {
	files, err := readPack(fsys)
	if err != nil {
		return nil, err
	}
	e := &Engine{rules: make(map[string]*rule), byKind: make(map[string]policyList), records: &recordCache{}}
	var all []scopedPolicy
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	var pf packFileFormat
	dec := yaml.NewDecoder(bytes.NewReader(files[packFile]))
	dec.KnownFields(true)
	if err := dec.Decode(&pf); err != nil {
		return nil, fmt.Errorf("%s: %w", packFile, err)
	}
	if pf.Name == "" {
		bad("%s: name: missing", packFile)
	}
	if pf.Version == "" {
		bad("%s: version: missing", packFile)
	}
	e.presentWindow, err = parseDuration(pf.Settings.PresentDangerWindow)
	if err != nil {
		bad("%s: settings.present_danger_window: %v", packFile, err)
	}
	e.screeningMaxAge, err = parseDuration(pf.Settings.PaymentScreeningMaxAge)
	if err != nil {
		bad("%s: settings.payment_screening_max_age: %v", packFile, err)
	}
	for id, c := range pf.Citations {
		if c.Title == "" {
			bad("%s: citations.%s.title: missing", packFile, id)
		}
	}
	for _, k := range alwaysDenied {
		if _, ok := pf.Kinds[k]; !ok {
			bad("%s: kinds: %s must be in the catalogue (it is always denied)", packFile, k)
		}
	}
	e.citations, e.kinds, e.collateral = pf.Citations, pf.Kinds, pf.Collateral

	var sch schema.Schema
	sch.SetFilename(schemaFile)
	if err := sch.UnmarshalCedar(files[schemaFile]); err != nil {
		return nil, fmt.Errorf("%s: %w", schemaFile, err)
	}
	resolved, err := sch.Resolve()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", schemaFile, err)
	}
	v := validate.New(resolved, validate.WithStrict())

	order := 0
	for _, name := range sortedCedarFiles(files) {
		list, err := cedar.NewPolicyListFromBytes(name, files[name])
		if err != nil {
			bad("%s: %w", name, err)
			continue
		}
		for _, p := range list {
			r, err := e.parseRule(p, order)
			order++
			if err != nil {
				bad("%s:%d: %v", name, p.Position().Line, err)
				continue
			}
			if err := v.Policy(r.id, (*xast.Policy)(p.AST())); err != nil {
				bad("%s:%d: rule %s does not match the schema: %s", name, p.Position().Line, r.id, firstLine(err))
				continue
			}
			if e.rules[r.id] != nil {
				bad("%s:%d: duplicate rule id %q", name, p.Position().Line, r.id)
				continue
			}
			e.rules[r.id] = r
			all = append(all, scope(r.id, p))
		}
	}
	if len(e.rules) == 0 && len(errs) == 0 {
		bad("no rules: the pack needs at least one .cedar file")
	}
	for _, k := range slices.Sorted(maps.Keys(pf.Kinds)) {
		if !validKind(k) {
			bad("%s: kinds: %q is not a valid kind name (lower case, digits, _)", packFile, k)
		}
		if _, ok := resolved.Actions[cedar.NewEntityUID("Action", cedar.String(k))]; !ok {
			bad("%s: kinds: %s is not an action of %s", packFile, k, schemaFile)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for k := range pf.Kinds {
		e.byKind[k] = forKind(all, k)
	}
	e.otherKinds = forKind(all, "")
	e.policy = Policy{Name: pf.Name, Version: pf.Version, Digest: digest(files)}
	if err := e.selfCheck(); err != nil {
		return nil, err
	}
	return e, nil
}

// readPack returns the pack's files by name.
func readPack(fsys fs.FS) (map[string][]byte, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("couldn't read rule pack: %w", err)
	}
	files := make(map[string][]byte)
	for _, de := range entries {
		name := de.Name()
		if de.IsDir() || (name != packFile && name != schemaFile && path.Ext(name) != ".cedar") {
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("couldn't read rule pack: %w", err)
		}
		files[name] = b
	}
	for _, name := range []string{packFile, schemaFile} {
		if files[name] == nil {
			return nil, fmt.Errorf("rule pack: %s is missing", name)
		}
	}
	return files, nil
}

func sortedCedarFiles(files map[string][]byte) []string {
	var names []string
	for name := range files {
		if path.Ext(name) == ".cedar" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// digest is the SHA-256 of the pack: for each file in byte order of its
// name, the name, a newline, the length in decimal, a newline and the
// content.
func digest(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%s\n%d\n", name, len(files[name]))
		h.Write(files[name])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 24h", s)
	}
	return d, nil
}

func validKind(k string) bool {
	return k != "" && strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789_") == ""
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// parseRule reads and checks a rule's annotations.
func (e *Engine) parseRule(p *cedar.Policy, order int) (*rule, error) {
	a := p.Annotations()
	get := func(k string) string { return string(a[types.AnnotationKey(k)]) }
	r := &rule{
		order:        order,
		id:           get("id"),
		kind:         get("kind"),
		title:        get("title"),
		citations:    splitList(get("citations")),
		alternatives: splitList(get("alternatives")),
		missing:      splitList(get("missing")),
		explanation:  get("explanation"),
		text:         string(p.MarshalCedar()),
	}
	if r.id == "" || !validRuleID(r.id) {
		return nil, fmt.Errorf("@id: %q is not a rule id (lower case, digits, -)", r.id)
	}
	for k := range a {
		if !slices.Contains([]string{"id", "kind", "title", "citations", "alternatives", "missing", "explanation"}, string(k)) {
			return nil, fmt.Errorf("rule %s: unknown annotation @%s", r.id, k)
		}
	}
	if r.title == "" || r.explanation == "" {
		return nil, fmt.Errorf("rule %s: @title and @explanation are required", r.id)
	}
	if _, ok := a["citations"]; !ok {
		return nil, fmt.Errorf("rule %s: @citations is required (write @citations(\"\") for none)", r.id)
	}
	switch {
	case r.kind == kindPermit && p.Effect() != cedar.Permit,
		r.kind != kindPermit && p.Effect() == cedar.Permit:
		return nil, fmt.Errorf("rule %s: @kind(%q) does not match its effect", r.id, r.kind)
	case r.kind == kindRequirement && len(r.missing) == 0:
		return nil, fmt.Errorf("rule %s: a requirement rule needs @missing", r.id)
	case r.kind != kindRequirement && len(r.missing) > 0:
		return nil, fmt.Errorf("rule %s: only requirement rules have @missing", r.id)
	case !slices.Contains([]string{kindPermit, kindDeny, kindRequirement}, r.kind):
		return nil, fmt.Errorf("rule %s: @kind must be permit, deny or requirement, not %q", r.id, r.kind)
	}
	for _, c := range r.citations {
		if _, ok := e.citations[c]; !ok {
			return nil, fmt.Errorf("rule %s: citation %q is not in %s", r.id, c, packFile)
		}
	}
	for _, k := range r.alternatives {
		if _, ok := e.kinds[k]; !ok {
			return nil, fmt.Errorf("rule %s: alternative %q is not a kind in %s", r.id, k, packFile)
		}
	}
	return r, nil
}

func validRuleID(s string) bool {
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// splitList splits a comma-separated annotation.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// selfCheck refuses a pack that would let a remote effect through: it
// decides each always-denied kind with every approval, notification,
// screening and review supplied and a present danger.
func (e *Engine) selfCheck() error {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	req := Request{
		Proposer:      "self-check",
		Incident:      Incident{LastMaliciousAt: now, Extortion: true},
		Sanctions:     &Sanctions{Result: "clear", ScreenedAt: now, ListVersion: "self-check"},
		LegalReview:   &LegalReview{By: "counsel", Ref: "self-check", At: now},
		Notifications: []Notification{{Authority: "police", Ref: "x", At: now}, {Authority: "prosecutor", Ref: "x", At: now}},
	}
	for _, role := range roles {
		req.Approvals = append(req.Approvals, Approval{Role: role, By: "approver-" + role, At: now})
	}
	for _, k := range alwaysDenied {
		req.Action = Action{Kind: k, Target: "198.51.100.7"}
		if d := e.decide(req, nil, now); d.Verdict != Deny || slices.ContainsFunc(d.Rules, func(r Rule) bool { return r.ID == ruleEvalError }) {
			return fmt.Errorf("rule pack: %s must be denied by a rule, got %s", k, d.Verdict)
		}
	}
	return nil
}
