package sanctions

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// refValue is one value of a ReferenceValueSets table.
type refValue struct {
	ID       string `xml:"ID,attr"`
	ParentID string `xml:"PartyTypeID,attr"`
	Name     string `xml:",chardata"`
}

// refSets is the part of ReferenceValueSets the importer needs.
type refSets struct {
	FeatureTypes   []refValue `xml:"FeatureTypeValues>FeatureType"`
	PartyTypes     []refValue `xml:"PartyTypeValues>PartyType"`
	PartySubTypes  []refValue `xml:"PartySubTypeValues>PartySubType"`
	SanctionsTypes []refValue `xml:"SanctionsTypeValues>SanctionsType"`
}

// distinctParty is the part of a DistinctParty the importer reads.
type distinctParty struct {
	FixedRef string `xml:"FixedRef,attr"`
	Profiles []struct {
		ID         string `xml:"ID,attr"`
		SubTypeID  string `xml:"PartySubTypeID,attr"`
		Identities []struct {
			Aliases []struct {
				Primary string `xml:"Primary,attr"`
				Names   []struct {
					Parts []string `xml:"DocumentedNamePart>NamePartValue"`
				} `xml:"DocumentedName"`
			} `xml:"Alias"`
		} `xml:"Identity"`
		Features []struct {
			TypeID   string `xml:"FeatureTypeID,attr"`
			Versions []struct {
				Details []string `xml:"VersionDetail"`
			} `xml:"FeatureVersion"`
		} `xml:"Feature"`
	} `xml:"Profile"`
}

// sanctionsEntry is the part of a SanctionsEntry the importer reads.
type sanctionsEntry struct {
	ProfileID string `xml:"ProfileID,attr"`
	Measures  []struct {
		TypeID  string `xml:"SanctionsTypeID,attr"`
		Comment string `xml:"Comment"`
	} `xml:"SanctionsMeasure"`
}

// advanced holds what ReferenceValueSets resolved, by name.
type advanced struct {
	// wallet maps a FeatureType ID to its asset code, for the feature
	// types named "Digital Currency Address - CODE".
	wallet map[string]string
	// features holds every FeatureType ID.
	features map[string]bool
	// partyType maps a PartySubType ID to individual, entity, vessel, ….
	partyType map[string]string
	// program is the SanctionsType ID named "Program".
	program string
}

func resolve(r *refSets) (*advanced, error) {
	a := &advanced{wallet: map[string]string{}, features: map[string]bool{}, partyType: map[string]string{}}
	for _, f := range r.FeatureTypes {
		a.features[f.ID] = true
		if code, ok := walletChain(f.Name); ok {
			a.wallet[f.ID] = code
		}
	}
	if len(a.wallet) == 0 {
		return nil, formatErr("no FeatureType named %q in ReferenceValueSets, so wallet features cannot be recognised (has OFAC renamed them?)", walletPrefix+"…")
	}
	types := map[string]string{}
	for _, t := range r.PartyTypes {
		types[t.ID] = strings.ToLower(strings.TrimSpace(t.Name))
	}
	for _, s := range r.PartySubTypes {
		name := strings.ToLower(strings.TrimSpace(s.Name))
		if name == "unknown" || name == "" {
			name = types[s.ParentID]
		}
		a.partyType[s.ID] = name
	}
	for _, s := range r.SanctionsTypes {
		if strings.EqualFold(strings.TrimSpace(s.Name), "Program") {
			a.program = s.ID
		}
	}
	return a, nil
}

// ParseOFACAdvanced imports the OFAC SDN list in its advanced XML form
// (SDN_ADVANCED.XML). Feature, party and sanctions types are resolved by
// name from ReferenceValueSets, never by hard-coded IDs: a wallet is a
// Feature whose FeatureType is named "Digital Currency Address - CODE". A
// file that defines no such feature type is an error rather than a list
// without wallets. Names come from Profile → Identity → Alias →
// DocumentedName → DocumentedNamePart → NamePartValue, programs from
// SanctionsEntry → SanctionsMeasure of type "Program". The file may be at
// most max bytes.
func ParseOFACAdvanced(r io.Reader, max int64) (*List, error) {
	in := newInput("SDN_ADVANCED.XML", r, max)
	var (
		ref       *advanced
		entries   []Entry
		published string
		byProfile = map[string]int{}
		seen      = map[string]bool{}
	)
	err := readXML(in, "Sanctions", nil, func(d *xml.Decoder, se xml.StartElement) error {
		switch se.Name.Local {
		case "DateOfIssue":
			var di struct{ Year, Month, Day string }
			if _, err := decodeEntry(d, se, &di); err != nil {
				return err
			}
			y, e1 := strconv.Atoi(strings.TrimSpace(di.Year))
			m, e2 := strconv.Atoi(strings.TrimSpace(di.Month))
			dd, e3 := strconv.Atoi(strings.TrimSpace(di.Day))
			if e1 != nil || e2 != nil || e3 != nil || m < 1 || m > 12 || dd < 1 || dd > 31 {
				return formatErr("DateOfIssue is not a date")
			}
			published = fmt.Sprintf("%04d-%02d-%02d", y, m, dd)
			return nil
		case "ReferenceValueSets":
			var rs refSets
			if _, err := decodeEntry(d, se, &rs); err != nil {
				return err
			}
			var err error
			if ref, err = resolve(&rs); err != nil {
				return &ParseError{Record: "ReferenceValueSets", Err: err}
			}
			return nil
		case "DistinctParties":
			if ref == nil {
				return formatErr("DistinctParties before ReferenceValueSets")
			}
			return eachChild(d, "DistinctParty", func(se xml.StartElement) error {
				var p distinctParty
				line, err := decodeEntry(d, se, &p)
				if err != nil {
					return err
				}
				e, profiles, err := ref.entry(&p)
				if err != nil {
					return &ParseError{Line: line, Record: fmt.Sprintf("DistinctParty FixedRef %.40q", p.FixedRef), Err: err}
				}
				if seen[e.ID] {
					return &ParseError{Line: line, Record: "DistinctParty FixedRef " + e.ID, Err: formatErr("FixedRef appears twice")}
				}
				seen[e.ID] = true
				for _, id := range profiles {
					byProfile[id] = len(entries)
				}
				entries = append(entries, e)
				return nil
			})
		case "SanctionsEntries":
			if ref == nil {
				return formatErr("SanctionsEntries before ReferenceValueSets")
			}
			return eachChild(d, "SanctionsEntry", func(se xml.StartElement) error {
				var s sanctionsEntry
				line, err := decodeEntry(d, se, &s)
				if err != nil {
					return err
				}
				i, ok := byProfile[s.ProfileID]
				if !ok {
					return &ParseError{Line: line, Record: fmt.Sprintf("SanctionsEntry ProfileID %.40q", s.ProfileID), Err: formatErr("no DistinctParty has this profile")}
				}
				for _, m := range s.Measures {
					p := strings.TrimSpace(m.Comment)
					if m.TypeID == ref.program && p != "" && len(p) <= MaxField && !slices.Contains(entries[i].Programs, p) {
						entries[i].Programs = append(entries[i].Programs, p)
					}
				}
				return nil
			})
		default:
			return d.Skip()
		}
	})
	if err != nil {
		return nil, err
	}
	if ref == nil {
		return nil, in.wrap(0, "", formatErr("no ReferenceValueSets"))
	}
	f, err := in.finish()
	if err != nil {
		return nil, err
	}
	return &List{
		Provenance: Provenance{
			Source: SourceOFACSDN, Format: FormatOFACAdvanced, Published: published,
			SHA256: f.SHA256, Files: []File{f}, Entries: len(entries), Parser: ParserVersion,
		},
		Entries: entries,
	}, nil
}

// entry builds an Entry from a DistinctParty and returns its profile IDs.
func (a *advanced) entry(p *distinctParty) (Entry, []string, error) {
	e := Entry{ID: strings.TrimSpace(p.FixedRef)}
	if e.ID == "" {
		return Entry{}, nil, formatErr("FixedRef is empty")
	}
	if err := checkField("FixedRef", e.ID); err != nil {
		return Entry{}, nil, err
	}
	var profiles []string
	var aliases []string
	for _, pr := range p.Profiles {
		profiles = append(profiles, pr.ID)
		if e.Type == "" {
			e.Type = a.partyType[pr.SubTypeID]
		}
		for _, id := range pr.Identities {
			for _, al := range id.Aliases {
				for _, dn := range al.Names {
					for _, part := range dn.Parts {
						if err := checkField("NamePartValue", part); err != nil {
							return Entry{}, nil, err
						}
					}
					name := strings.Join(dn.Parts, " ")
					if al.Primary == "true" {
						e.addName(name)
					} else {
						aliases = append(aliases, name)
					}
				}
			}
		}
		for _, f := range pr.Features {
			if !a.features[f.TypeID] {
				return Entry{}, nil, formatErr("Feature refers to FeatureTypeID %.40q, which ReferenceValueSets does not define", f.TypeID)
			}
			chain, ok := a.wallet[f.TypeID]
			if !ok {
				continue
			}
			for _, v := range f.Versions {
				for _, addr := range v.Details {
					if err := checkField("VersionDetail", addr); err != nil {
						return Entry{}, nil, err
					}
					e.addWallet(chain, addr)
				}
			}
		}
	}
	for _, al := range aliases {
		e.addName(al)
	}
	if e.Name == "" {
		return Entry{}, nil, formatErr("no name")
	}
	return e, profiles, nil
}

// eachChild calls fn for every child element named name of the element
// whose start d has just returned, skipping other children, up to its end.
func eachChild(d *xml.Decoder, name string, fn func(xml.StartElement) error) error {
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return formatErr("truncated inside a list of <%s>", name)
			}
			return fmt.Errorf("%w: %v", ErrFormat, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != name {
				if err := d.Skip(); err != nil {
					return fmt.Errorf("%w: %v", ErrFormat, err)
				}
				continue
			}
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}
