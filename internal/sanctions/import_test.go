package sanctions

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testMax = 1 << 20

func open(t testing.TB, name string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func digest(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// importers parse each valid test file.
var importers = map[string]func(t testing.TB) (*List, error){
	"csv": func(t testing.TB) (*List, error) {
		return ParseOFACCSV(open(t, "sdn.csv"), open(t, "alt.csv"), testMax)
	},
	"xml":      func(t testing.TB) (*List, error) { return ParseOFACXML(open(t, "SDN.XML"), testMax) },
	"advanced": func(t testing.TB) (*List, error) { return ParseOFACAdvanced(open(t, "SDN_ADVANCED.XML"), testMax) },
	"eu":       func(t testing.TB) (*List, error) { return ParseEUXML(open(t, "eu.xml"), testMax) },
}

func entry(t *testing.T, l *List, id string) Entry {
	t.Helper()
	for _, e := range l.Entries {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no entry %s in %s", id, l.Provenance.Format)
	return Entry{}
}

func TestImportValid(t *testing.T) {
	tests := []struct {
		name, file, published, format string
		entries                       int
		id, wantName                  string
		aliases                       []string
		typ                           string
		programs                      []string
		wallets                       []Wallet
	}{
		{"csv", "sdn.csv", "", FormatOFACCSV, 3, "9001", "KRASNOV, Ivan Petrovich", []string{"KRASNOFF, Ivan", "BLACKFROST"}, "individual",
			[]string{"CYBER2", "RUSSIA-EO14024"},
			[]Wallet{{"XBT", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12"}, {"XBT", "bc1qfakeaddr0000000000000000000000000xyz"}, {"ETH", "0xAbC1230000000000000000000000000000DeF456"}}},
		{"xml", "SDN.XML", "11/24/2026", FormatOFACXML, 2, "9001", "Ivan Petrovich KRASNOV", []string{"BLACKFROST"}, "individual",
			[]string{"CYBER2", "RUSSIA-EO14024"},
			[]Wallet{{"XBT", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12"}, {"ETH", "0xAbC1230000000000000000000000000000DeF456"}}},
		{"advanced", "SDN_ADVANCED.XML", "2026-11-24", FormatOFACAdvanced, 2, "9001", "Ivan Petrovich KRASNOV", []string{"BLACKFROST"}, "individual",
			[]string{"CYBER2", "RUSSIA-EO14024"},
			[]Wallet{{"XBT", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12"}, {"ETH", "0xAbC1230000000000000000000000000000DeF456"}}},
		{"eu", "eu.xml", "2026-11-24T18:02:11.305+01:00", FormatEUXML, 2, "190001", "Ivan Petrovich KRASNOV", []string{"Иван Петрович КРАСНОВ"}, "individual",
			[]string{"CYB"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := importers[tt.name](t)
			if err != nil {
				t.Fatal(err)
			}
			p := l.Provenance
			if p.Published != tt.published || p.Format != tt.format || p.Entries != tt.entries || len(l.Entries) != tt.entries || p.Parser != ParserVersion {
				t.Errorf("got provenance %+v with %d entries, want published %q format %q entries %d", p, len(l.Entries), tt.published, tt.format, tt.entries)
			}
			if want := digest(t, tt.file); p.SHA256 != want || p.Files[0].SHA256 != want {
				t.Errorf("got sha256 %s, want %s", p.SHA256, want)
			}
			e := entry(t, l, tt.id)
			if e.Name != tt.wantName || !slices.Equal(e.Aliases, tt.aliases) || e.Type != tt.typ || !slices.Equal(e.Programs, tt.programs) || !slices.Equal(e.Wallets, tt.wallets) {
				t.Errorf("got %+v\nwant name %q aliases %q type %q programs %q wallets %v", e, tt.wantName, tt.aliases, tt.typ, tt.programs, tt.wallets)
			}
		})
	}
}

func TestImportCSVDetails(t *testing.T) {
	l, err := importers["csv"](t)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Provenance.Files) != 2 || l.Provenance.Files[1].SHA256 != digest(t, "alt.csv") {
		t.Errorf("got files %+v, want sdn.csv and alt.csv with their digests", l.Provenance.Files)
	}
	if e := entry(t, l, "36"); e.Type != "entity" || len(e.Wallets) != 0 {
		t.Errorf("got %+v, want an entity without wallets", e)
	}
	e := entry(t, l, "9002")
	want := []Wallet{{"XMR", "4FakeMoneroAddrCaseSensitiveAbCdEf"}, {"USDT", "TFakeTronAddrCaseSensitive99"}}
	if !slices.Equal(e.Wallets, want) {
		t.Errorf("got wallets %v, want %v", e.Wallets, want)
	}
}

// TestAdvancedRenamedFeature: wallets come only from feature types named as
// wallets; ids are never guessed.
func TestAdvancedRenamedFeature(t *testing.T) {
	l, err := ParseOFACAdvanced(open(t, "SDN_ADVANCED_eth_renamed.XML"), testMax)
	if err != nil {
		t.Fatal(err)
	}
	want := []Wallet{{"XBT", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12"}}
	if got := entry(t, l, "9001").Wallets; !slices.Equal(got, want) {
		t.Errorf("got wallets %v, want %v (the renamed ETH feature is not a wallet)", got, want)
	}
}

func TestImportMalformed(t *testing.T) {
	huge := `1,"` + strings.Repeat("A", MaxField+1) + `","-0-","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"` + "\n"
	tests := []struct {
		name  string
		parse func(t testing.TB) (*List, error)
		want  []string // substrings of the error
		is    error
	}{
		{"csv wrong columns", func(t testing.TB) (*List, error) {
			return ParseOFACCSV(open(t, "sdn_wrong_columns.csv"), open(t, "alt.csv"), testMax)
		}, []string{"sdn.csv:2", "record 2", "11 fields, want 12"}, ErrFormat},
		{"csv invalid utf-8", func(t testing.TB) (*List, error) {
			return ParseOFACCSV(open(t, "sdn_invalid_utf8.csv"), open(t, "alt.csv"), testMax)
		}, []string{"sdn.csv:2", "ent_num \"9001\"", "not valid UTF-8"}, ErrFormat},
		{"csv bad quote", func(t testing.TB) (*List, error) {
			return ParseOFACCSV(open(t, "sdn_bad_quote.csv"), open(t, "alt.csv"), testMax)
		}, []string{"sdn.csv:", "record 2"}, ErrFormat},
		{"csv huge field", func(t testing.TB) (*List, error) {
			return ParseOFACCSV(strings.NewReader(huge), strings.NewReader(""), testMax)
		}, []string{"sdn.csv:1", "field 2", "more than the 65536 allowed"}, ErrFormat},
		{"csv orphan alias", func(t testing.TB) (*List, error) {
			return ParseOFACCSV(open(t, "sdn.csv"), open(t, "alt_orphan.csv"), testMax)
		}, []string{"alt.csv:2", `ent_num "777" is not in sdn.csv`}, ErrFormat},
		{"csv too large", func(t testing.TB) (*List, error) {
			return ParseOFACCSV(open(t, "sdn.csv"), open(t, "alt.csv"), 100)
		}, []string{"sdn.csv", "more than 100 bytes"}, ErrTooLarge},
		{"xml truncated", func(t testing.TB) (*List, error) { return ParseOFACXML(open(t, "SDN_truncated.XML"), testMax) },
			[]string{"SDN.XML:", "sdnEntry", "unexpected EOF"}, ErrFormat},
		{"xml wrong root", func(t testing.TB) (*List, error) { return ParseOFACXML(open(t, "SDN_wrong_root.XML"), testMax) },
			[]string{"SDN.XML:2", "root element is <consolidatedList>, want <sdnList>"}, ErrFormat},
		{"xml count mismatch", func(t testing.TB) (*List, error) { return ParseOFACXML(open(t, "SDN_count_mismatch.XML"), testMax) },
			[]string{"Record_Count says 3 entries, the file holds 2"}, ErrFormat},
		{"xml too large", func(t testing.TB) (*List, error) { return ParseOFACXML(open(t, "SDN.XML"), 500) },
			[]string{"SDN.XML", "more than 500 bytes"}, ErrTooLarge},
		{"xml empty", func(t testing.TB) (*List, error) { return ParseOFACXML(strings.NewReader(""), testMax) },
			[]string{"no <sdnList> root element"}, ErrFormat},
		{"xml huge field", func(t testing.TB) (*List, error) {
			return ParseOFACXML(strings.NewReader("<sdnList><sdnEntry><uid>1</uid><lastName>"+strings.Repeat("A", MaxField+1)+"</lastName></sdnEntry></sdnList>"), testMax)
		}, []string{"sdnEntry uid \"1\"", "more than the 65536 allowed"}, ErrFormat},
		{"advanced renamed", func(t testing.TB) (*List, error) {
			return ParseOFACAdvanced(open(t, "SDN_ADVANCED_renamed.XML"), testMax)
		}, []string{"SDN_ADVANCED.XML", "ReferenceValueSets", `no FeatureType named "Digital Currency Address - …"`}, ErrFormat},
		{"advanced unknown feature", func(t testing.TB) (*List, error) {
			return ParseOFACAdvanced(open(t, "SDN_ADVANCED_unknown_feature.XML"), testMax)
		}, []string{"SDN_ADVANCED.XML:", `DistinctParty FixedRef "9002"`, `FeatureTypeID "999"`}, ErrFormat},
		{"advanced truncated", func(t testing.TB) (*List, error) {
			return ParseOFACAdvanced(open(t, "SDN_ADVANCED_truncated.XML"), testMax)
		}, []string{"SDN_ADVANCED.XML:", "unexpected EOF"}, ErrFormat},
		{"advanced wrong root", func(t testing.TB) (*List, error) { return ParseOFACAdvanced(open(t, "SDN.XML"), testMax) },
			[]string{"root element is <sdnList>, want <Sanctions>"}, ErrFormat},
		{"eu truncated", func(t testing.TB) (*List, error) { return ParseEUXML(open(t, "eu_truncated.xml"), testMax) },
			[]string{"EU FSF XML:", "unexpected EOF"}, ErrFormat},
		{"eu wrong root", func(t testing.TB) (*List, error) { return ParseEUXML(open(t, "eu_wrong_root.xml"), testMax) },
			[]string{"EU FSF XML:2", "root element is <exportList>, want <export>"}, ErrFormat},
		{"eu invalid utf-8", func(t testing.TB) (*List, error) { return ParseEUXML(open(t, "eu_invalid_utf8.xml"), testMax) },
			[]string{"EU FSF XML:3", "invalid UTF-8"}, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.parse(t)
			if err == nil {
				t.Fatalf("got a list of %d entries, want an error", len(l.Entries))
			}
			t.Log(err)
			if l != nil {
				t.Errorf("got a partial list with an error")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("got %v, want it to wrap %v", err, tt.is)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File == "" {
				t.Errorf("got %T %v, want a *ParseError naming the file", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
