package sanctions

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormaliseAddress(t *testing.T) {
	tests := []struct{ name, chain, in, want string }{
		{"eth checksum case", "ETH", " 0xAbC1230000000000000000000000000000DeF456 ", "0xabc1230000000000000000000000000000def456"},
		{"eth without prefix", "eth", "AbC1230000000000000000000000000000DeF456", "0xabc1230000000000000000000000000000def456"},
		{"usdt on an evm chain", "USDT", "0XABC1230000000000000000000000000000DEF456", "0xabc1230000000000000000000000000000def456"},
		{"btc bech32", "BTC", "BC1QFAKEADDR0000000000000000000000000XYZ", "bc1qfakeaddr0000000000000000000000000xyz"},
		{"btc base58 keeps case", "XBT", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12"},
		{"ltc bech32", "LTC", "LTC1QABC", "ltc1qabc"},
		{"bch cashaddr", "BCH", "bitcoincash:QPM2QSZNHKS23Z7629MMS6S4CWEF74VCWVY22GDX6A", "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"},
		{"bch legacy keeps case", "BCH", "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"},
		{"xmr keeps case", "XMR", "4FakeMoneroAddrCaseSensitiveAbCdEf", "4FakeMoneroAddrCaseSensitiveAbCdEf"},
		{"trx keeps case", "TRX", "TFakeTronAddr", "TFakeTronAddr"},
		{"unknown chain trimmed", "NEWCOIN", "\tAbC \n", "AbC"},
		{"sol that looks like bech32 keeps case", "SOL", "bc1AbC", "bc1AbC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormaliseAddress(tt.chain, tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNormaliseName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"KRASNOV, Ivan Petrovich", "ivan krasnov petrovich"},
		{"Müller  Geschäftsgruppe", "geschaftsgruppe muller"},
		{"O'Brien-Łukasz", "lukasz obrien"},
		{"Иван КРАСНОВ", "иван краснов"},
		{"!!!", ""},
	}
	for _, tt := range tests {
		if got := NormaliseName(tt.in); got != tt.want {
			t.Errorf("NormaliseName(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJaroWinkler(t *testing.T) {
	tests := []struct {
		a, b     string
		min, max float64
	}{
		{"martha", "marhta", 0.961, 0.962},
		{"dixon", "dicksonx", 0.813, 0.814},
		{"abc", "abc", 1, 1},
		{"abc", "xyz", 0, 0},
		{"", "", 1, 1},
		{"a", "", 0, 0},
	}
	for _, tt := range tests {
		if got := jaroWinkler([]rune(tt.a), []rune(tt.b)); got < tt.min || got > tt.max {
			t.Errorf("jaroWinkler(%q, %q): got %v, want in [%v, %v]", tt.a, tt.b, got, tt.min, tt.max)
		}
	}
}

func screener(t *testing.T) *Screener {
	t.Helper()
	var lists []*List
	for _, name := range []string{"csv", "eu"} {
		l, err := importers[name](t)
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, l)
	}
	return NewScreener(lists...)
}

var at = time.Date(2026, 11, 28, 10, 0, 0, 0, time.FixedZone("CET", 3600))

func TestScreen(t *testing.T) {
	s := screener(t)
	tests := []struct {
		name     string
		subjects []Subject
		result   Result
		entries  []string // list-native ids of the matches, in order
	}{
		{"eth wallet in another case, named as usdt", []Subject{{Kind: "wallet", Chain: "USDT", Value: "0xabc1230000000000000000000000000000DEF456"}}, Hit, []string{"9001"}},
		{"btc bech32 upper case", []Subject{{Kind: "wallet", Chain: "BTC", Value: "BC1QFAKEADDR0000000000000000000000000XYZ"}}, Hit, []string{"9001"}},
		{"base58 in the wrong case is another address", []Subject{{Kind: "wallet", Chain: "XBT", Value: "1fakexbtaddr7hyq2mnpqrstuvwxyz12"}}, Clear, nil},
		{"unlisted wallet", []Subject{{Kind: "wallet", Chain: "XBT", Value: "1SomethingElse"}}, Clear, nil},
		{"exact name on both lists", []Subject{{Kind: "name", Value: "nordwind ransom group"}}, Hit, []string{"9002", "190002"}},
		{"alias with diacritics, and a near alias", []Subject{{Kind: "name", Value: "Nordwind"}}, Hit, []string{"9002", "190002"}},
		{"misspelt alias", []Subject{{Kind: "name", Value: "Blackfrosst"}}, PossibleMatch, []string{"9001"}},
		{"unrelated name", []Subject{{Kind: "name", Value: "Acme Widgets"}}, Clear, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := s.Screen(Request{Subjects: tt.subjects, By: "alice", At: at})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range sc.Matches {
				got = append(got, m.EntryID)
			}
			if sc.Result != tt.result || strings.Join(got, ",") != strings.Join(tt.entries, ",") {
				t.Errorf("got %s with matches %v, want %s with %v", sc.Result, got, tt.result, tt.entries)
			}
		})
	}
}

func TestScreeningRecord(t *testing.T) {
	sc, err := screener(t).Screen(Request{
		Subjects: []Subject{
			{Kind: "wallet", Chain: "eth", Value: "0xAbC1230000000000000000000000000000DeF456", Source: "msg-17"},
			{Kind: "name", Value: "Acme Widgets", Source: "msg-17"},
		},
		By: "alice", At: at,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	var back Screening
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	m := back.Matches[0]
	switch {
	case back.Result != Hit, len(back.Matches) != 1:
		t.Errorf("got %s with %d matches, want one hit", back.Result, len(back.Matches))
	case m.List != SourceOFACSDN || m.ListSHA256 != digest(t, "sdn.csv") || m.EntryID != "9001" || m.Feature != "wallet" || m.Chain != "ETH" || m.Score != 1:
		t.Errorf("got match %+v", m)
	case !back.ScreenedAt.Equal(at) || back.ScreenedAt.Location() != time.UTC || back.By != "alice":
		t.Errorf("got screened at %v by %q", back.ScreenedAt, back.By)
	case len(back.Lists) != 2 || back.Lists[1].Source != SourceEUFSF:
		t.Errorf("got lists %+v, want OFAC and EU provenance", back.Lists)
	case back.Method.NameAlgorithm != NameAlgorithm || back.Method.NameThreshold != DefaultThreshold:
		t.Errorf("got method %+v", back.Method)
	case back.Subjects[0].Normalised != "0xabc1230000000000000000000000000000def456" || back.Subjects[0].Source != "msg-17" || back.Subjects[0].Chain != "ETH":
		t.Errorf("got subject %+v", back.Subjects[0])
	case back.Notes[0] != NoHitIsNotPermission || !strings.Contains(back.Notes[1], "EU FSF") || len(back.Notes) != 2:
		t.Errorf("got notes %q, want the no-permission rule and the EU wallet gap", back.Notes)
	}
}

// TestClearIsNotPermission: a clear screening still says no hit is not
// permission.
func TestClearIsNotPermission(t *testing.T) {
	sc, err := screener(t).Screen(Request{Subjects: []Subject{{Kind: "name", Value: "Acme Widgets"}}, By: "alice", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Result != Clear || len(sc.Matches) != 0 || !strings.Contains(sc.Notes[0], "not permission") {
		t.Errorf("got %s, %v, notes %q", sc.Result, sc.Matches, sc.Notes)
	}
}

func TestScreenRequestErrors(t *testing.T) {
	s := screener(t)
	ok := []Subject{{Kind: "name", Value: "x"}}
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no actor", Request{Subjects: ok, At: at}, "who screens"},
		{"no time", Request{Subjects: ok, By: "alice"}, "time is missing"},
		{"nothing", Request{By: "alice", At: at}, "nothing to screen"},
		{"bad kind", Request{Subjects: []Subject{{Kind: "email", Value: "a@b"}}, By: "alice", At: at}, "not wallet or name"},
		{"empty wallet", Request{Subjects: []Subject{{Kind: "wallet", Value: " "}}, By: "alice", At: at}, "empty wallet"},
		{"empty name", Request{Subjects: []Subject{{Kind: "name", Value: "--"}}, By: "alice", At: at}, "no letters"},
		{"threshold", Request{Subjects: ok, By: "alice", At: at, Threshold: 1.5}, "threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Screen(tt.req)
			if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrRequest containing %q", err, tt.want)
			}
		})
	}
	if _, err := NewScreener().Screen(Request{Subjects: ok, By: "alice", At: at}); !errors.Is(err, ErrRequest) {
		t.Errorf("got %v with no lists, want ErrRequest", err)
	}
}
