package guard

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vallum/vallum/internal/perimeter"
	"github.com/vallum/vallum/policies"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func mustDefault(t testing.TB) *Engine {
	t.Helper()
	e, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return e
}

// packWith returns the default pack with files replaced or added.
func packWith(t testing.TB, replace map[string]string) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	for _, name := range []string{packFile, schemaFile, "rules.cedar"} {
		b, err := fs.ReadFile(policies.FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		m[name] = &fstest.MapFile{Data: b}
	}
	for name, data := range replace {
		if data == "" {
			delete(m, name)
			continue
		}
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

func defaultRules(t testing.TB) string {
	t.Helper()
	b, err := fs.ReadFile(policies.FS(), "rules.cedar")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadRejectsBadPacks(t *testing.T) {
	rules := defaultRules(t)
	pack, err := fs.ReadFile(policies.FS(), packFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		replace map[string]string
		want    string
	}{
		{"no pack.yaml", map[string]string{packFile: ""}, "pack.yaml is missing"},
		{"no schema", map[string]string{schemaFile: ""}, "schema.cedarschema is missing"},
		{"unknown pack key", map[string]string{packFile: string(pack) + "\nowner: me\n"}, "field owner not found"},
		{"bad window", map[string]string{packFile: strings.Replace(string(pack), "present_danger_window: 24h", "present_danger_window: soon", 1)}, "present_danger_window"},
		{"unknown citation", map[string]string{"rules.cedar": strings.Replace(rules, `@citations("cp-615-ter, cp-615-quater")`, `@citations("cp-615-ter, cp-999")`, 1)}, `citation "cp-999"`},
		{"unknown alternative", map[string]string{"rules.cedar": strings.Replace(rules, `@alternatives("beacon_passive, authority_report")`, `@alternatives("hack_back")`, 1)}, `alternative "hack_back"`},
		{"schema typo", map[string]string{"rules.cedar": strings.Replace(rules, "context.egress ==", "context.egres ==", 1)}, "does not match the schema"},
		{"unknown action", map[string]string{"rules.cedar": strings.Replace(rules, `Action::"honeypot"`, `Action::"honeypott"`, 1)}, "does not match the schema"},
		{"requirement without missing", map[string]string{"rules.cedar": strings.Replace(rules, `@missing("params.device")`, ``, 1)}, "needs @missing"},
		{"unknown annotation", map[string]string{"rules.cedar": strings.Replace(rules, `@id("remote-access")`, `@id("remote-access") @severity("high")`, 1)}, "unknown annotation @severity"},
		{"duplicate id", map[string]string{"rules.cedar": strings.Replace(rules, `@id("remote-data-recovery")`, `@id("remote-access")`, 1)}, "duplicate rule id"},
		{"kind does not match effect", map[string]string{"rules.cedar": strings.Replace(rules, "@kind(\"deny\")\n@title(\"Access to a system", "@kind(\"permit\")\n@title(\"Access to a system", 1)}, "does not match its effect"},
		{"syntax error", map[string]string{"rules.cedar": rules + "\nforbid (principal, action, resource) when {"}, "rules.cedar"},
		{"remote kind no longer denied", map[string]string{"rules.cedar": strings.Replace(rules, `forbid (principal, action == Action::"remote_access", resource);`, `forbid (principal, action == Action::"remote_access", resource) when { context.present_danger && false };`, 1)}, "remote_access must be denied"},
		{"kind not in the schema", map[string]string{packFile: strings.Replace(string(pack), "\nkinds:\n", "\nkinds:\n  hack_back:\n    summary: x\n", 1)}, "hack_back is not an action of schema.cedarschema"},
		{"remote kind dropped from catalogue", map[string]string{packFile: strings.Replace(string(pack), "  remote_access:\n", "  remote_accesss:\n", 1)}, "remote_access must be in the catalogue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(packWith(t, tt.replace))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestEvaluationErrorIsDeny: Cedar skips a rule whose evaluation fails; if
// that rule was a forbid, the request would be allowed. The engine must
// turn any evaluation error into a deny.
func TestEvaluationErrorIsDeny(t *testing.T) {
	// The overflow passes the schema check and fails at evaluation.
	extra := `
@id("overflowing-rule")
@kind("deny")
@title("A rule that cannot be evaluated")
@citations("")
@explanation("Overflows a long.")
forbid (principal, action == Action::"abuse_request", resource)
when { 9223372036854775807 + (if context.in_perimeter then 0 else 1) > 0 };
`
	e, err := Load(packWith(t, map[string]string{"extra.cedar": extra}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	req := Request{Action: Action{Kind: "abuse_request", Target: "abuse@hosting.example"}, Proposer: "paola"}
	d := e.Decide(req, nil, testNow)
	if d.Verdict != Deny {
		t.Fatalf("verdict: got %q, want deny", d.Verdict)
	}
	if len(d.Rules) != 1 || d.Rules[0].ID != ruleEvalError {
		t.Errorf("rules: got %+v, want only %s", d.Rules, ruleEvalError)
	}
	if len(d.Errors) != 1 || !strings.HasPrefix(d.Errors[0], "overflowing-rule: ") {
		t.Errorf("errors: got %q, want one naming overflowing-rule", d.Errors)
	}
	// Without the error (target in perimeter makes the sum 0+max, no
	// overflow) the rule is evaluated and fires.
	p, err := perimeter.Parse([]byte("networks: [{cidr: 10.0.0.0/8}]"))
	if err != nil {
		t.Fatal(err)
	}
	req.Action.Target = "10.1.1.1"
	if d := e.Decide(req, p, testNow); d.Verdict != Deny || d.Rules[0].ID != "overflowing-rule" {
		t.Errorf("without overflow: got %s %+v, want deny by overflowing-rule", d.Verdict, d.Rules)
	}
}

func TestDigestAndReload(t *testing.T) {
	a := mustDefault(t)
	b, err := Load(packWith(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if a.Policy() != b.Policy() {
		t.Errorf("same files: got policies %+v and %+v, want equal", a.Policy(), b.Policy())
	}
	if !strings.HasPrefix(a.Policy().Digest, "sha256:") || len(a.Policy().Digest) != len("sha256:")+64 {
		t.Errorf("digest: got %q, want sha256: and 64 hex digits", a.Policy().Digest)
	}
	// A reload is a new Engine; the old one keeps deciding with its pack.
	rules := strings.Replace(defaultRules(t), "unless { context.legal_review };\n\n@id(\"osint-authority-informed\")", "unless { context.legal_review && context.present_danger };\n\n@id(\"osint-authority-informed\")", 1)
	c, err := Load(packWith(t, map[string]string{"rules.cedar": rules}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy().Digest == a.Policy().Digest {
		t.Errorf("changed rules: digest unchanged %s", c.Policy().Digest)
	}
	req := Request{Action: Action{Kind: "osint_public_read", Target: "leaks.example"}, Proposer: "p",
		LegalReview:   &LegalReview{By: "l", Ref: "r", At: testNow},
		Notifications: []Notification{{Authority: "police", Ref: "r", At: testNow}}}
	if got := a.Decide(req, nil, testNow).Verdict; got != Allow {
		t.Errorf("old engine: got %q, want allow", got)
	}
	if got := c.Decide(req, nil, testNow).Verdict; got != Conditional {
		t.Errorf("reloaded engine: got %q, want conditional", got)
	}
}

func TestDecideTime(t *testing.T) {
	e := mustDefault(t)
	req := Request{
		Action:   Action{Kind: "host_isolation", Target: "10.1.1.1"},
		Proposer: "p",
		Incident: Incident{LastMaliciousAt: testNow.Add(-time.Hour)},
		Now:      testNow.Add(-48 * time.Hour),
	}
	p, err := perimeter.Parse([]byte("networks: [{cidr: 10.0.0.0/8}]"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"clock wins over request", testNow, true},
		{"request now when no clock", time.Time{}, false}, // activity after req.Now
		{"window edge", testNow.Add(23 * time.Hour), true},
		{"past window", testNow.Add(25 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.Decide(req, p, tt.now).Facts.PresentDanger; got != tt.want {
				t.Errorf("present_danger: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	e := mustDefault(t)
	info, ok := e.Explain("ransom_payment")
	if !ok {
		t.Fatal("Explain(ransom_payment): not found")
	}
	var ids []string
	for _, r := range info.Rules {
		ids = append(ids, r.ID)
	}
	for _, want := range []string{"ransom-sanctions-hit", "payment-approval-board", "payment-screening-fresh", "ransom-approval-dpo"} {
		if !slices.Contains(ids, want) {
			t.Errorf("Explain(ransom_payment) rules: got %v, want %s among them", ids, want)
		}
	}
	if slices.Contains(ids, "classified-kind") || slices.Contains(ids, "unclassified-kind") || slices.Contains(ids, "remote-access") {
		t.Errorf("Explain(ransom_payment) rules: got %v, want no permit, unclassified or remote rules", ids)
	}
	if _, ok := e.Explain("hack_back"); ok {
		t.Errorf("Explain(hack_back): got ok, want not found")
	}
	if got := len(e.Kinds()); got != 21 {
		t.Errorf("Kinds: got %d, want 21", got)
	}
	if c, ok := e.Citation("cp-615-ter"); !ok || !strings.Contains(c.Title, "615-ter") {
		t.Errorf("Citation(cp-615-ter): got %+v, %v", c, ok)
	}
}

// TestRemoteAlwaysDenied is the property: no request with a remote_* or
// beacon_active kind, whatever else it holds, yields anything but deny,
// and the deny cites cp-615-ter and offers abuse_request or
// authority_report.
func TestRemoteAlwaysDenied(t *testing.T) {
	e := mustDefault(t)
	p, err := perimeter.Parse([]byte(`
networks: [{cidr: 10.0.0.0/8}, {cidr: "2001:db8::/32"}]
domains: [acme.example]
assets: [{name: pacs1, addresses: [10.2.0.20], flags: [health]}]
devices: [{name: fw, kind: firewall}, {name: dns, kind: resolver}]
identity_providers: [corp]
external: [{cidr: 198.51.100.0/24, flags: [critical_infra, tor_exit]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	targets := []string{"", "10.1.1.1", "::ffff:10.1.1.1", "10.0.0.0/8", "0.0.0.0/0", "198.51.100.7", "pacs1", "x.acme.example", "acme.example.evil.test", "corp:jdoe", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "2001:db8::1", "not a target"}
	people := []string{"p", "q", "r", ""}
	boolp := func() *bool {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			b := true
			return &b
		}
		b := false
		return &b
	}
	at := func() time.Time { return testNow.Add(time.Duration(rng.IntN(96)-72) * time.Hour) }
	for i := range 20000 {
		req := Request{
			Action: Action{Kind: pick(alwaysDenied), Target: pick(targets), Params: Params{
				Device: pick([]string{"", "fw", "dns", "other"}), Resolver: pick([]string{"", "dns", "fw"}),
				EgressContained: boolp(), CodeExecution: boolp(), ValidOn: pick([]string{"", "own", "third_party"}),
			}},
			Incident: Incident{LastMaliciousAt: at(), ExfiltrationComplete: rng.IntN(2) == 0, Extortion: rng.IntN(2) == 0,
				Threatened: []string{pick(threatened)}},
			Proposer: pick(people),
		}
		for range rng.IntN(10) {
			req.Approvals = append(req.Approvals, Approval{Role: pick(roles), By: pick(people), At: at()})
		}
		for range rng.IntN(5) {
			req.Notifications = append(req.Notifications, Notification{Authority: pick(authorities), Ref: "r", At: at()})
		}
		if rng.IntN(2) == 0 {
			req.Sanctions = &Sanctions{Result: pick(results), ScreenedAt: at(), ListVersion: "v"}
		}
		if rng.IntN(2) == 0 {
			req.LegalReview = &LegalReview{By: pick(people), Ref: "r", At: at()}
		}
		var per *perimeter.Perimeter
		if rng.IntN(4) > 0 {
			per = p
		}
		d := e.Decide(req, per, testNow)
		if d.Verdict != Deny {
			t.Fatalf("request %d %+v: got %q, want deny", i, req, d.Verdict)
		}
		cites := make([]string, 0, len(d.Citations))
		for _, c := range d.Citations {
			cites = append(cites, c.ID)
		}
		if !slices.Contains(cites, "cp-615-ter") {
			t.Fatalf("request %d (%s): citations %v, want cp-615-ter", i, req.Action.Kind, cites)
		}
		if !slices.Contains(d.Alternatives, "authority_report") {
			t.Fatalf("request %d (%s): alternatives %v, want authority_report", i, req.Action.Kind, d.Alternatives)
		}
		if len(d.Missing) != 0 {
			t.Fatalf("request %d: a deny lists missing items %v", i, d.Missing)
		}
	}
}

func TestDecodeRequestLimits(t *testing.T) {
	body := `{"action":{"kind":"abuse_request","target":"x"},"proposer":"p"}`
	tests := []struct {
		name   string
		body   string
		limit  int64
		field  string
		tooBig bool
	}{
		{"at limit", body, int64(len(body)), "", false},
		{"one byte over", body, int64(len(body)) - 1, "", true},
		{"huge body", `{"action":{"kind":"abuse_request","target":"` + strings.Repeat("a", 2<<20) + `"},"proposer":"p"}`, 1 << 20, "", true},
		{"huge target under limit", `{"action":{"kind":"abuse_request","target":"` + strings.Repeat("a", 2000) + `"},"proposer":"p"}`, 1 << 20, "action.target", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest(strings.NewReader(tt.body), tt.limit)
			if tt.name == "at limit" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RequestError", err)
			}
			if re.Field != tt.field {
				t.Errorf("field: got %q, want %q", re.Field, tt.field)
			}
			if got := errors.Is(err, ErrTooLarge); got != tt.tooBig {
				t.Errorf("errors.Is(ErrTooLarge): got %v, want %v", got, tt.tooBig)
			}
		})
	}
}

// TestDecideConcurrent shares one Engine and one Perimeter between
// goroutines (run with -race): decisions agree with the sequential ones.
func TestDecideConcurrent(t *testing.T) {
	e := mustDefault(t)
	p := bigPerimeter(t, 1000)
	reqs := benchRequests()
	want := make([]Verdict, len(reqs))
	for i, r := range reqs {
		want[i] = e.Decide(r, p, testNow).Verdict
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 500 {
				j := (i + g) % len(reqs)
				if got := e.Decide(reqs[j], p, testNow).Verdict; got != want[j] {
					errs <- fmt.Errorf("request %d: got %q, want %q", j, got, want[j])
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
