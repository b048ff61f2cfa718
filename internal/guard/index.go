package guard

import (
	"iter"
	"slices"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/ast"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// scopedPolicy is a rule with the action kinds its scope admits.
type scopedPolicy struct {
	id cedar.PolicyID
	// kinds are the kinds the action scope admits; nil means any kind.
	kinds []string
	// unscoped is the rule with its action scope removed, for evaluation
	// on a list already filtered by kind; it is the rule itself when the
	// scope admits any kind or is not a plain list of actions.
	unscoped *cedar.Policy
}

// scope reads the action scope of p. The pack passes no entities, so
// "action in X" and "action == X" admit the same kinds.
func scope(id string, p *cedar.Policy) scopedPolicy {
	sp := scopedPolicy{id: cedar.PolicyID(id), unscoped: p}
	a := (*xast.Policy)(p.AST())
	switch s := a.Action.(type) {
	case xast.ScopeTypeEq:
		sp.kinds = []string{string(s.Entity.ID)}
	case xast.ScopeTypeIn:
		sp.kinds = []string{string(s.Entity.ID)}
	case xast.ScopeTypeInSet:
		for _, e := range s.Entities {
			sp.kinds = append(sp.kinds, string(e.ID))
		}
	default:
		return sp
	}
	c := *a
	c.Action = xast.Scope{}.All()
	u := cedar.NewPolicyFromAST((*ast.Policy)(&c))
	u.SetFilename(p.Position().Filename)
	sp.unscoped = u
	return sp
}

// forKind returns the rules that can fire for kind, in pack order; kind ""
// stands for any kind outside the catalogue.
func forKind(all []scopedPolicy, kind string) policyList {
	var l policyList
	for _, sp := range all {
		if sp.kinds == nil || slices.Contains(sp.kinds, kind) {
			l = append(l, sp)
		}
	}
	return l
}

// policyList is a cedar.PolicyIterator over an ordered list of rules.
type policyList []scopedPolicy

func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, sp := range l {
			if !yield(sp.id, sp.unscoped) {
				return
			}
		}
	}
}
