package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeProposal feeds the proposal form decoder untrusted bodies:
// it must never panic, and what it accepts must be a request the API's
// own strict decoder accepts, with the signed-in user as proposer.
func FuzzDecodeProposal(f *testing.F) {
	for _, s := range []string{
		"kind=firewall_block&target=192.0.2.7&device=fw-edge&expires_in=24h",
		"kind=honeypot&target=10.2.0.5&egress_contained=yes&threatened=data&threatened=money",
		"kind=ransom_payment&target=bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq&legal_review_by=luca&legal_review_ref=LO-77",
		"kind=beacon_passive&target=x&code_execution=no&last_malicious=15m&exfiltration_complete=yes",
		"kind=a&kind=b&target=c", "kind=%ff&target=x", "threatened=nope&kind=x&target=y", "csrf=abc&kind=x&target=y&op=preview",
		"", "&&&", "kind", "%zz",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeProposal([]byte(body), "paola", now)
		if err != nil {
			return
		}
		if req.Proposer != "paola" || req.Action.Kind == "" || req.Action.Target == "" {
			t.Fatalf("accepted %q as %+v", body, req)
		}
		if !utf8.ValidString(req.Action.Kind + req.Action.Target + req.Action.Params.Device) {
			t.Fatalf("accepted invalid UTF-8 from %q", body)
		}
		if len(req.Approvals) != 0 {
			t.Fatalf("a form made approvals: %q", body)
		}
	})
}

// FuzzPreferredLanguage: any Accept-Language header gives a supported
// language or none, without panicking.
func FuzzPreferredLanguage(f *testing.F) {
	for _, s := range []string{"it-IT,it;q=0.9,en;q=0.8", "en;q=0", "*", "it;q=NaN", "en;q=1e400", strings.Repeat("x,", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if l := preferredLanguage(h); l != "" && !supported(l) {
			t.Fatalf("preferredLanguage(%q) = %q", h, l)
		}
	})
}

// FuzzSafeNext: a redirect target after sign-in never leaves the site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/incidents", "//evil.example", "/\\evil", "https://evil", "/%2F%2Fevil", "/a\r\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q leaves the site", next, got)
		}
	})
}
