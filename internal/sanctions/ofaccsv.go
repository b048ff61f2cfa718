package sanctions

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ofacNull is how the OFAC CSV files write an empty field.
const ofacNull = "-0-"

// ParseOFACCSV imports the OFAC SDN list in its legacy CSV form: sdn.csv
// (ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, Vess_type,
// Tonnage, GRT, Vess_flag, Vess_owner, Remarks; no header) and alt.csv
// (ent_num, alt_num, alt_type, alt_name, alt_remarks), joined on ent_num.
// Wallets are read from the Remarks field ("Digital Currency Address - XBT
// 1abc…;"). Each file may be at most max bytes.
//
// The CSV files state no publication date, so Provenance.Published is
// empty; remarks that overflow into sdn_comments.csv are not read.
func ParseOFACCSV(sdn, alt io.Reader, max int64) (*List, error) {
	in := newInput("sdn.csv", sdn, max)
	var entries []Entry
	byID := map[string]int{}
	err := readCSV(in, 12, func(line int, rec []string) error {
		id := field(rec[0])
		if id == "" {
			return formatErr("ent_num is empty")
		}
		if _, dup := byID[id]; dup {
			return formatErr("ent_num %s appears twice", id)
		}
		e := Entry{ID: id, Type: ofacType(rec[2]), Programs: ofacPrograms(rec[3])}
		e.addName(field(rec[1]))
		if e.Name == "" {
			return formatErr("ent_num %s has no name", id)
		}
		for _, w := range remarkWallets(field(rec[11])) {
			e.addWallet(w.Chain, w.Address)
		}
		byID[id] = len(entries)
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sdnFile, err := in.finish()
	if err != nil {
		return nil, err
	}

	ain := newInput("alt.csv", alt, max)
	err = readCSV(ain, 5, func(line int, rec []string) error {
		id := field(rec[0])
		i, ok := byID[id]
		if !ok {
			return formatErr("ent_num %q is not in sdn.csv (are both files from the same publication?)", id)
		}
		entries[i].addName(field(rec[3]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	altFile, err := ain.finish()
	if err != nil {
		return nil, err
	}
	return &List{
		Provenance: Provenance{
			Source: SourceOFACSDN, Format: FormatOFACCSV,
			SHA256: sdnFile.SHA256, Files: []File{sdnFile, altFile},
			Entries: len(entries), Parser: ParserVersion,
		},
		Entries: entries,
	}, nil
}

// readCSV calls fn for every record of in, which must have exactly cols
// fields. OFAC ends its files with a lone ^Z (0x1A), which is skipped.
func readCSV(in *input, cols int, fn func(line int, rec []string) error) error {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for n := 1; ; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			if in.tooLarge {
				return in.wrap(0, "", err)
			}
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return in.wrap(pe.Line, fmt.Sprintf("record %d", n), fmt.Errorf("%w: %v", ErrFormat, pe.Err))
			}
			return in.wrap(0, fmt.Sprintf("record %d", n), err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.Trim(rec[0], "\x1a \r\n") == "" {
			continue
		}
		record := fmt.Sprintf("record %d", n)
		if len(rec) != cols {
			return in.wrap(line, record, formatErr("%d fields, want %d", len(rec), cols))
		}
		record = fmt.Sprintf("record %d, ent_num %.40q", n, field(rec[0]))
		for i, f := range rec {
			if err := checkField(fmt.Sprintf("field %d", i+1), f); err != nil {
				return in.wrap(line, record, err)
			}
		}
		if err := fn(line, rec); err != nil {
			return in.wrap(line, record, err)
		}
	}
}

// field trims a CSV field and maps OFAC's null marker to "".
func field(s string) string {
	s = strings.TrimSpace(s)
	if s == ofacNull {
		return ""
	}
	return s
}

// ofacType maps an OFAC SDN type ("individual", "Entity", "-0-") to the
// package's vocabulary; the CSV writes entities as the null marker.
func ofacType(s string) string {
	switch t := strings.ToLower(field(s)); t {
	case "":
		return "entity"
	default:
		return t
	}
}

// ofacPrograms splits the CSV Program field ("CYBER2] [DPRK3").
func ofacPrograms(s string) []string {
	var out []string
	for _, p := range strings.Split(field(s), "]") {
		if p = strings.Trim(p, " ["); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// remarkWallets finds "Digital Currency Address - CODE address" clauses in
// an OFAC remarks field; clauses are separated by ";" and may start with
// "alt.".
func remarkWallets(remarks string) []Wallet {
	var out []Wallet
	for _, clause := range strings.Split(remarks, ";") {
		i := strings.Index(clause, walletPrefix)
		if i < 0 {
			continue
		}
		f := strings.Fields(clause[i+len(walletPrefix):])
		if len(f) < 2 {
			continue
		}
		out = append(out, Wallet{Chain: f[0], Address: strings.TrimRight(f[1], ".,")})
	}
	return out
}
