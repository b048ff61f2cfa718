package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vallum/vallum/internal/perimeter"
)

var update = flag.Bool("update", false, "rewrite the scenarios' decision.json from the current decisions")

// scenarioLimit is the request size limit of the scenario suite, small
// enough for a huge-body scenario to stay a small file.
const scenarioLimit = 64 << 10

// expected is a scenario's decision.json: a decision, or an error for
// input that cannot be decided.
type expected struct {
	Decision
	Error *expectedError `json:"error,omitempty"`
}

type expectedError struct {
	// Field is the request field at fault ("" for the body as a whole,
	// "perimeter" for a bad perimeter file).
	Field   string `json:"field"`
	Message string `json:"message"`
}

// TestScenarios runs every folder of testdata/scenarios: perimeter.yaml and
// request.json in, decision.json expected. Decisions are compared on what
// matters (verdict, rule ids, citations, missing, alternatives,
// obligations, facts), not on the pack's digest or the rule texts.
func TestScenarios(t *testing.T) {
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios found (err %v)", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runScenario(t, e, dir)
			path := filepath.Join(dir, "decision.json")
			if *update {
				// The digest changes with every edit of the pack and is not
				// compared: leave it out so that a pack change only touches
				// the scenarios whose decisions changed.
				got.Policy.Digest = ""
				b, err := json.MarshalIndent(got, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want expected
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&want); err != nil {
				t.Fatalf("decoding %s: %v", path, err)
			}
			compare(t, got, want)
		})
	}
}

func runScenario(t *testing.T, e *Engine, dir string) expected {
	t.Helper()
	pb, err := os.ReadFile(filepath.Join(dir, "perimeter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := perimeter.Parse(pb)
	if err != nil {
		return expected{Error: &expectedError{Field: "perimeter", Message: err.Error()}}
	}
	f, err := os.Open(filepath.Join(dir, "request.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req, err := DecodeRequest(f, scenarioLimit)
	if err != nil {
		var re *RequestError
		if !errors.As(err, &re) {
			t.Fatalf("DecodeRequest: got %T, want a *RequestError", err)
		}
		return expected{Error: &expectedError{Field: re.Field, Message: err.Error()}}
	}
	// The scenarios carry their instant in the request: no clock is passed.
	return expected{Decision: e.Decide(req, p, req.Now)}
}

func compare(t *testing.T, got, want expected) {
	t.Helper()
	if (got.Error == nil) != (want.Error == nil) {
		t.Fatalf("error: got %+v, want %+v (verdict got %q, want %q)", got.Error, want.Error, got.Verdict, want.Verdict)
	}
	if want.Error != nil {
		if got.Error.Field != want.Error.Field {
			t.Errorf("error field: got %q, want %q", got.Error.Field, want.Error.Field)
		}
		if got.Error.Message != want.Error.Message {
			t.Errorf("error message: got %q, want %q", got.Error.Message, want.Error.Message)
		}
		return
	}
	g, w := got.Decision, want.Decision
	if g.Verdict != w.Verdict {
		t.Errorf("verdict: got %q, want %q", g.Verdict, w.Verdict)
	}
	ids := func(rs []Rule) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	cites := func(cs []Citation) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"rules", ids(g.Rules), ids(w.Rules)},
		{"citations", cites(g.Citations), cites(w.Citations)},
		{"missing", g.Missing, w.Missing},
		{"alternatives", g.Alternatives, w.Alternatives},
		{"obligations", g.Obligations, w.Obligations},
		{"facts.collateral", g.Facts.Collateral, w.Facts.Collateral},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	gf, wf := g.Facts, w.Facts
	gf.Collateral, wf.Collateral = nil, nil
	if gf.TargetType != wf.TargetType || gf.InPerimeter != wf.InPerimeter || gf.Owner != wf.Owner ||
		gf.Asset != wf.Asset || gf.Protected != wf.Protected || gf.PresentDanger != wf.PresentDanger {
		t.Errorf("facts: got %+v, want %+v", gf, wf)
	}
	if g.Policy.Name != w.Policy.Name || g.Policy.Version != w.Policy.Version {
		t.Errorf("policy: got %s %s, want %s %s", g.Policy.Name, g.Policy.Version, w.Policy.Name, w.Policy.Version)
	}
}
