package guard

import (
	"maps"
	"slices"
	"strings"
)

// KindInfo is what the rule pack says about an action kind, for people.
type KindInfo struct {
	Kind        string     `json:"kind"`
	Summary     string     `json:"summary"`
	Obligations []string   `json:"obligations"`
	Rules       []RuleInfo `json:"rules"`
}

// RuleInfo is a rule as the pack writes it.
type RuleInfo struct {
	Rule
	Missing      []string `json:"missing,omitempty"`
	Alternatives []string `json:"alternatives,omitempty"`
}

// Kinds returns the kinds in the pack's catalogue, sorted.
func (e *Engine) Kinds() []string {
	return slices.Sorted(maps.Keys(e.kinds))
}

// Citation returns the citation with that id.
func (e *Engine) Citation(id string) (Citation, bool) {
	c, ok := e.citations[id]
	return Citation{ID: id, Title: c.Title}, ok
}

// Explain returns what the pack says about kind: its summary, obligations
// and the rules that can decide it, in pack order. ok is false for a kind
// the pack does not classify.
func (e *Engine) Explain(kind string) (info KindInfo, ok bool) {
	k, ok := e.kinds[kind]
	if !ok {
		return KindInfo{}, false
	}
	info = KindInfo{Kind: kind, Summary: k.Summary, Obligations: k.Obligations, Rules: []RuleInfo{}}
	if info.Obligations == nil {
		info.Obligations = []string{}
	}
	for _, r := range e.sortedRules() {
		if r.kind == kindPermit || !r.mentions(kind) {
			continue
		}
		info.Rules = append(info.Rules, RuleInfo{Rule: r.public(), Missing: r.missing, Alternatives: r.alternatives})
	}
	return info, true
}

// mentions reports whether the rule can fire for kind: it names the kind,
// or it names no kind at all (a rule about every kind). The unclassified
// rule never fires for a catalogue kind.
func (r *rule) mentions(kind string) bool {
	if strings.Contains(r.text, `Action::"`+kind+`"`) {
		return true
	}
	return !strings.Contains(r.text, `Action::"`) && !strings.Contains(r.text, "kind_known")
}

func (e *Engine) sortedRules() []*rule {
	rules := slices.Collect(maps.Values(e.rules))
	slices.SortFunc(rules, func(a, b *rule) int { return a.order - b.order })
	return rules
}

// RuleCount returns the number of rules in the pack.
func (e *Engine) RuleCount() int { return len(e.rules) }
