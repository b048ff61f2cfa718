package sanctions

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
)

// euEntity is the part of an EU FSF sanctionEntity the importer reads.
type euEntity struct {
	LogicalID   string `xml:"logicalId,attr"`
	Reference   string `xml:"euReferenceNumber,attr"`
	SubjectType struct {
		Code string `xml:"code,attr"`
	} `xml:"subjectType"`
	Regulations []struct {
		Programme string `xml:"programme,attr"`
	} `xml:"regulation"`
	Names []struct {
		WholeName string `xml:"wholeName,attr"`
	} `xml:"nameAlias"`
}

// ParseEUXML imports the EU consolidated financial sanctions list (the FSF
// XML export: root export with generationDate, sanctionEntity with
// subjectType, regulation and nameAlias). The EU schema carries no wallet
// attribute, so entries have no Wallets. The file may be at most max bytes.
func ParseEUXML(r io.Reader, max int64) (*List, error) {
	in := newInput("EU FSF XML", r, max)
	var (
		entries   []Entry
		published string
		seen      = map[string]bool{}
	)
	onRoot := func(se xml.StartElement) error {
		published = strings.TrimSpace(attr(se, "generationDate"))
		return checkField("generationDate", published)
	}
	err := readXML(in, "export", onRoot, func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "sanctionEntity" {
			return d.Skip()
		}
		var x euEntity
		line, err := decodeEntry(d, se, &x)
		if err != nil {
			return err
		}
		e, err := x.entry()
		if err != nil {
			return &ParseError{Line: line, Record: fmt.Sprintf("sanctionEntity logicalId %.40q", x.LogicalID), Err: err}
		}
		if seen[e.ID] {
			return &ParseError{Line: line, Record: "sanctionEntity logicalId " + e.ID, Err: formatErr("logicalId appears twice")}
		}
		seen[e.ID] = true
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	f, err := in.finish()
	if err != nil {
		return nil, err
	}
	return &List{
		Provenance: Provenance{
			Source: SourceEUFSF, Format: FormatEUXML, Published: published,
			SHA256: f.SHA256, Files: []File{f}, Entries: len(entries), Parser: ParserVersion,
		},
		Entries: entries,
	}, nil
}

func (x *euEntity) entry() (Entry, error) {
	fields := []string{x.LogicalID, x.Reference, x.SubjectType.Code}
	for _, r := range x.Regulations {
		fields = append(fields, r.Programme)
	}
	for _, n := range x.Names {
		fields = append(fields, n.WholeName)
	}
	for _, f := range fields {
		if err := checkField("an attribute", f); err != nil {
			return Entry{}, err
		}
	}
	e := Entry{ID: strings.TrimSpace(x.LogicalID), Reference: strings.TrimSpace(x.Reference)}
	if e.ID == "" {
		return Entry{}, formatErr("logicalId is empty")
	}
	switch strings.ToLower(strings.TrimSpace(x.SubjectType.Code)) {
	case "person":
		e.Type = "individual"
	case "enterprise":
		e.Type = "entity"
	}
	for _, r := range x.Regulations {
		if p := strings.TrimSpace(r.Programme); p != "" && !slices.Contains(e.Programs, p) {
			e.Programs = append(e.Programs, p)
		}
	}
	for _, n := range x.Names {
		e.addName(n.WholeName)
	}
	if e.Name == "" {
		return Entry{}, formatErr("no nameAlias with a wholeName")
	}
	return e, nil
}
