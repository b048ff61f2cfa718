package evidence

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const testCommitment = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func testHeader() Header {
	return Header{
		V:          HeaderVersion,
		Kind:       "decision",
		Time:       "2026-11-28T17:56:41.123456789Z",
		Actor:      "analyst:rossi",
		Incident:   "INC-2026-0042",
		Commitment: testCommitment,
	}
}

const testHeaderJSON = `{"v":1,"kind":"decision","time":"2026-11-28T17:56:41.123456789Z","actor":"analyst:rossi","incident":"INC-2026-0042","commitment":"` + testCommitment + `"}`

func TestEncodeHeader(t *testing.T) {
	got, err := EncodeHeader(testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != testHeaderJSON {
		t.Errorf("got %s\nwant %s", got, testHeaderJSON)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Header)
	}{
		{"plain", func(h *Header) {}},
		{"no incident", func(h *Header) { h.Incident = "" }},
		{"unicode actor", func(h *Header) { h.Actor = "Zoë Ñúñez — DPO" }},
		{"characters encoding/json escapes", func(h *Header) { h.Actor = `a "quoted" <b> & c\d` }},
		{"line separator", func(h *Header) { h.Actor = "a\u2028b" }},
		{"longest fields", func(h *Header) {
			h.Kind = strings.Repeat("k", maxKind)
			h.Actor = strings.Repeat("a", maxActor)
			h.Incident = strings.Repeat("i", maxIncident)
		}},
		{"zero nanoseconds", func(h *Header) { h.Time = "2026-01-01T00:00:00.000000000Z" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := testHeader()
			tc.edit(&h)
			b, err := EncodeHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeHeader(b)
			if err != nil {
				t.Fatalf("DecodeHeader(%s): %v", b, err)
			}
			if got != h {
				t.Errorf("got %+v, want %+v", got, h)
			}
			again, _ := EncodeHeader(got)
			if !bytes.Equal(again, b) {
				t.Errorf("re-encoded %s, want %s", again, b)
			}
		})
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	good := testHeaderJSON
	rep := func(old, new string) string {
		if !strings.Contains(good, old) {
			panic("test header holds no " + old)
		}
		return strings.Replace(good, old, new, 1)
	}
	tests := []struct {
		name   string
		header string
	}{
		{"empty", ``},
		{"not JSON", `v=1`},
		{"JSON array", `[1]`},
		{"null", `null`},
		{"reordered fields", `{"kind":"decision","v":1` + strings.TrimPrefix(good, `{"v":1,"kind":"decision"`)},
		{"space after colon", rep(`"v":1`, `"v": 1`)},
		{"space after comma", rep(`,"kind"`, `, "kind"`)},
		{"trailing newline", good + "\n"},
		{"leading space", " " + good},
		{"trailing data", good + `{}`},
		{"byte order mark", "\ufeff" + good},
		{"unknown field", strings.TrimSuffix(good, `}`) + `,"extra":"x"}`},
		{"duplicate field", rep(`"actor":"analyst:rossi"`, `"actor":"mallory","actor":"analyst:rossi"`)},
		{"field name in other case", rep(`"actor"`, `"Actor"`)},
		{"missing field", rep(`,"incident":"INC-2026-0042"`, ``)},
		{"version 2", rep(`"v":1`, `"v":2`)},
		{"version 0", rep(`"v":1`, `"v":0`)},
		{"version as string", rep(`"v":1`, `"v":"1"`)},
		{"version 1.0", rep(`"v":1`, `"v":1.0`)},
		{"version with exponent", rep(`"v":1`, `"v":1e0`)},
		{"time without nanoseconds", rep(`17:56:41.123456789Z`, `17:56:41Z`)},
		{"time with milliseconds", rep(`17:56:41.123456789Z`, `17:56:41.123Z`)},
		{"time with offset +00:00", rep(`17:56:41.123456789Z`, `17:56:41.123456789+00:00`)},
		{"time not in UTC", rep(`17:56:41.123456789Z`, `18:56:41.123456789+01:00`)},
		{"time without zone", rep(`17:56:41.123456789Z`, `17:56:41.123456789`)},
		{"time with lowercase z", rep(`17:56:41.123456789Z`, `17:56:41.123456789z`)},
		{"time with space", rep(`2026-11-28T17`, `2026-11-28 17`)},
		{"impossible date", rep(`2026-11-28`, `2026-02-30`)},
		{"time as a number", rep(`"2026-11-28T17:56:41.123456789Z"`, `1796061401`)},
		{"empty time", rep(`"2026-11-28T17:56:41.123456789Z"`, `""`)},
		{"uppercase hex", rep(testCommitment, strings.ToUpper(testCommitment[:7])+strings.ToUpper(testCommitment[7:]))},
		{"uppercase hex digit", rep(`a08"`, `A08"`)},
		{"short commitment", rep(`a08"`, `a0"`)},
		{"long commitment", rep(`a08"`, `a080"`)},
		{"non-hex commitment", rep(`a08"`, `a0g"`)},
		{"other hash name", rep(`sha256:`, `sha512:`)},
		{"uppercase hash name", rep(`sha256:`, `SHA256:`)},
		{"uppercase kind", rep(`"decision"`, `"Decision"`)},
		{"kind with space", rep(`"decision"`, `"a decision"`)},
		{"empty kind", rep(`"decision"`, `""`)},
		{"empty actor", rep(`"analyst:rossi"`, `""`)},
		{"escaped control character", rep(`analyst:rossi`, `analyst:\u0001rossi`)},
		{"escaped tab", rep(`analyst:rossi`, `analyst:\trossi`)},
		{"raw control character", rep(`analyst:rossi`, "analyst:\x01rossi")},
		{"DEL character", rep(`analyst:rossi`, "analyst:\x7frossi")},
		{"C1 control character", rep(`analyst:rossi`, "analyst:\u0085rossi")},
		{"invalid UTF-8", rep(`analyst:rossi`, "analyst:\xffrossi")},
		{"escaped invalid surrogate", rep(`analyst:rossi`, `analyst:\ud800rossi`)},
		{"needless escape", rep(`analyst:rossi`, `\u0061nalyst:rossi`)},
		{"escaped slash", rep(`analyst:rossi`, `analyst\/rossi`)},
		{"unescaped <", rep(`analyst:rossi`, `<analyst>`)},
		{"unescaped line separator", rep(`analyst:rossi`, "a\u2028b")},
		{"actor too long", rep(`analyst:rossi`, strings.Repeat("a", maxActor+1))},
		{"incident too long", rep(`INC-2026-0042`, strings.Repeat("i", maxIncident+1))},
		{"kind too long", rep(`"decision"`, `"`+strings.Repeat("k", maxKind+1)+`"`)},
		{"oversized", rep(`analyst:rossi`, strings.Repeat("a", MaxHeaderSize))},
		{"incident null", rep(`"INC-2026-0042"`, `null`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := DecodeHeader([]byte(tc.header))
			if err == nil {
				t.Fatalf("DecodeHeader(%q) = %+v, want an error", tc.header, h)
			}
			if !errors.Is(err, ErrMalformedHeader) {
				t.Errorf("got error %v, want one wrapping ErrMalformedHeader", err)
			}
		})
	}
}

func TestEncodeHeaderRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Header)
	}{
		{"version 2", func(h *Header) { h.V = 2 }},
		{"empty kind", func(h *Header) { h.Kind = "" }},
		{"kind with uppercase", func(h *Header) { h.Kind = "Decision" }},
		{"local time", func(h *Header) { h.Time = "2026-11-28T18:56:41.123456789+01:00" }},
		{"RFC 3339 without nanoseconds", func(h *Header) { h.Time = "2026-11-28T17:56:41Z" }},
		{"empty actor", func(h *Header) { h.Actor = "" }},
		{"actor with newline", func(h *Header) { h.Actor = "a\nb" }},
		{"actor with invalid UTF-8", func(h *Header) { h.Actor = "a\xc3" }},
		{"incident with NUL", func(h *Header) { h.Incident = "INC\x00" }},
		{"uppercase commitment", func(h *Header) { h.Commitment = strings.ToUpper(h.Commitment) }},
		{"commitment without prefix", func(h *Header) { h.Commitment = strings.TrimPrefix(h.Commitment, "sha256:") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := testHeader()
			tc.edit(&h)
			if b, err := EncodeHeader(h); !errors.Is(err, ErrMalformedHeader) {
				t.Errorf("EncodeHeader(%+v) = %s, %v; want an error wrapping ErrMalformedHeader", h, b, err)
			}
		})
	}
}

func TestCommit(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, SaltSize)
	a := Commit(salt, []byte(`{"a":1}`))
	if !strings.HasPrefix(a, "sha256:") || len(a) != len(testCommitment) {
		t.Fatalf("Commit = %q, want sha256:<64 hex digits>", a)
	}
	if b := Commit(salt, []byte(`{"a":2}`)); b == a {
		t.Error("two payloads have the same commitment")
	}
	if b := Commit(bytes.Repeat([]byte{8}, SaltSize), []byte(`{"a":1}`)); b == a {
		t.Error("two salts give the same commitment")
	}
	h := testHeader()
	h.Commitment = a
	if _, err := EncodeHeader(h); err != nil {
		t.Errorf("a commitment from Commit is not a valid header commitment: %v", err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add([]byte(testHeaderJSON))
	h := testHeader()
	h.Actor = `Zoë "<x>" & \ ` + "\u2028"
	h.Incident = ""
	b, _ := EncodeHeader(h)
	f.Add(b)
	f.Add([]byte(`{"v":1,"kind":"erasure","time":"2026-01-01T00:00:00.000000000Z","actor":"dpo","incident":"","commitment":"` + testCommitment + `"}`))
	f.Add([]byte(`{"kind":"decision","v":1}`))
	f.Add([]byte(`{"v":1,"kind":"a\u0062"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("DecodeHeader(%q): error %v doesn't wrap ErrMalformedHeader", b, err)
			}
			return
		}
		// One header, one encoding: what decodes must be byte for byte
		// the canonical encoding of what it decodes to.
		enc, err := EncodeHeader(h)
		if err != nil {
			t.Fatalf("DecodeHeader(%q) accepted %+v, which EncodeHeader rejects: %v", b, h, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("DecodeHeader accepted %q, whose canonical encoding is %q", b, enc)
		}
		if _, err := h.ParsedTime(); err != nil {
			t.Fatalf("accepted header has time %q: %v", h.Time, err)
		}
	})
}
