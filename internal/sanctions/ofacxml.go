package sanctions

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// sdnEntry is the part of an SDN.XML sdnEntry the importer reads.
type sdnEntry struct {
	UID       string   `xml:"uid"`
	FirstName string   `xml:"firstName"`
	LastName  string   `xml:"lastName"`
	Type      string   `xml:"sdnType"`
	Programs  []string `xml:"programList>program"`
	AKAs      []struct {
		FirstName string `xml:"firstName"`
		LastName  string `xml:"lastName"`
	} `xml:"akaList>aka"`
	IDs []struct {
		Type   string `xml:"idType"`
		Number string `xml:"idNumber"`
	} `xml:"idList>id"`
}

// ParseOFACXML imports the OFAC SDN list in its classic XML form (SDN.XML:
// sdnList, publshInformation, sdnEntry with akaList and idList). Wallets are
// the idList ids whose idType starts with "Digital Currency Address - ". The
// file may be at most max bytes. A Record_Count that disagrees with the
// number of entries read is an error.
func ParseOFACXML(r io.Reader, max int64) (*List, error) {
	in := newInput("SDN.XML", r, max)
	var (
		entries   []Entry
		published string
		declared  = -1
		seen      = map[string]bool{}
	)
	err := readXML(in, "sdnList", nil, func(d *xml.Decoder, se xml.StartElement) error {
		switch se.Name.Local {
		case "publshInformation":
			var p struct {
				Date  string `xml:"Publish_Date"`
				Count string `xml:"Record_Count"`
			}
			if _, err := decodeEntry(d, se, &p); err != nil {
				return err
			}
			published = strings.TrimSpace(p.Date)
			if c := strings.TrimSpace(p.Count); c != "" {
				n, err := strconv.Atoi(c)
				if err != nil || n < 0 {
					return formatErr("Record_Count %.40q is not a count", c)
				}
				declared = n
			}
			return checkField("Publish_Date", published)
		case "sdnEntry":
			var x sdnEntry
			line, err := decodeEntry(d, se, &x)
			if err != nil {
				return err
			}
			e, err := x.entry()
			if err != nil {
				return &ParseError{Line: line, Record: fmt.Sprintf("sdnEntry uid %.40q", x.UID), Err: err}
			}
			if seen[e.ID] {
				return &ParseError{Line: line, Record: "sdnEntry uid " + e.ID, Err: formatErr("uid appears twice")}
			}
			seen[e.ID] = true
			entries = append(entries, e)
			return nil
		default:
			return d.Skip()
		}
	})
	if err != nil {
		return nil, err
	}
	if declared >= 0 && declared != len(entries) {
		return nil, in.wrap(0, "publshInformation", formatErr("Record_Count says %d entries, the file holds %d (truncated or edited?)", declared, len(entries)))
	}
	f, err := in.finish()
	if err != nil {
		return nil, err
	}
	return &List{
		Provenance: Provenance{
			Source: SourceOFACSDN, Format: FormatOFACXML, Published: published,
			SHA256: f.SHA256, Files: []File{f}, Entries: len(entries), Parser: ParserVersion,
		},
		Entries: entries,
	}, nil
}

func (x *sdnEntry) entry() (Entry, error) {
	fields := []string{x.UID, x.FirstName, x.LastName, x.Type}
	fields = append(fields, x.Programs...)
	for _, a := range x.AKAs {
		fields = append(fields, a.FirstName, a.LastName)
	}
	for _, id := range x.IDs {
		fields = append(fields, id.Type, id.Number)
	}
	for _, f := range fields {
		if err := checkField("a field", f); err != nil {
			return Entry{}, err
		}
	}
	e := Entry{ID: strings.TrimSpace(x.UID), Type: strings.ToLower(strings.TrimSpace(x.Type))}
	if e.ID == "" {
		return Entry{}, formatErr("uid is empty")
	}
	e.addName(x.FirstName + " " + x.LastName)
	if e.Name == "" {
		return Entry{}, formatErr("no lastName")
	}
	for _, a := range x.AKAs {
		e.addName(a.FirstName + " " + a.LastName)
	}
	for _, p := range x.Programs {
		if p = strings.TrimSpace(p); p != "" {
			e.Programs = append(e.Programs, p)
		}
	}
	for _, id := range x.IDs {
		if chain, ok := walletChain(id.Type); ok {
			e.addWallet(chain, id.Number)
		}
	}
	return e, nil
}
