package honeytoken

import (
	"strings"
	"testing"
)

// FuzzMatchText scans attacker-controlled text: it must never panic, must
// find a token placed anywhere in it, and must agree with a naive search.
func FuzzMatchText(f *testing.F) {
	x, toks := benchIndex(40)
	r := &Registry{}
	r.idx.Store(x)
	for _, s := range []string{"", "AKIA", "GET / HTTP/1.1", "\x00\xff\xfe", toks[0].Value, "vk_live_" + strings.Repeat("A", 40)} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, which uint8) {
		got, ok := r.MatchText(s)
		naive := -1
		for i, tok := range toks {
			for _, m := range tok.Fields {
				if len(m) >= minMarker && strings.Contains(s, m) {
					naive = i
				}
			}
		}
		if ok != (naive >= 0) {
			t.Fatalf("MatchText(%q) = %v, a naive search says %v", s, ok, naive >= 0)
		}
		if ok && !strings.Contains(s, firstMarker(got)) {
			// got must have some marker inside s.
			found := false
			for _, m := range got.Fields {
				found = found || (len(m) >= minMarker && strings.Contains(s, m))
			}
			if !found {
				t.Fatalf("MatchText(%q) returned %s, none of whose markers is in the text", s, got.ID)
			}
		}
		tok := toks[int(which)%len(toks)]
		cut := len(s) / 2
		if _, ok := r.MatchText(s[:cut] + tok.Value + s[cut:]); !ok {
			t.Fatalf("token %s placed in %q not found", tok.ID, s)
		}
	})
}

func firstMarker(t Token) string {
	for _, m := range t.Fields {
		if len(m) >= minMarker {
			return m
		}
	}
	return ""
}
