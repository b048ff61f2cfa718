// Package sanctions imports sanctions lists (OFAC SDN in its CSV, XML and
// advanced XML forms, the EU consolidated list XML) and screens the
// counterpart of a ransom case against them: wallet addresses by exact match
// after per-chain normalisation, names and aliases by a documented fuzzy
// match. The result is a [Screening], the record LEGAL.md §4.3 asks for.
//
// A screening without hits never means permission to pay or negotiate: the
// lists are incomplete, lag behind designations and say nothing about
// unlisted affiliates, mixers or exchanges. Every Screening says so.
//
// The package is pure: importers read an io.Reader under a size limit and
// return values or errors; the screener takes the instant and the screener's
// identity as inputs. Storage, network and clocks belong to the caller.
package sanctions

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"unicode/utf8"
)

// ParserVersion names this package's importers in every provenance record,
// so a court expert can tell which parser read a list.
const ParserVersion = "vallum-sanctions/1"

// MaxField is the longest single field (a CSV cell, an XML text or
// attribute) an importer accepts, in bytes. Real OFAC remarks stop at 1,000
// characters; anything far larger is a malformed or hostile file.
const MaxField = 64 << 10

// Sources, as recorded in [Provenance.Source].
const (
	SourceOFACSDN = "OFAC SDN"
	SourceEUFSF   = "EU FSF"
)

// Formats, as recorded in [Provenance.Format].
const (
	FormatOFACCSV      = "ofac-sdn-csv"
	FormatOFACXML      = "ofac-sdn-xml"
	FormatOFACAdvanced = "ofac-sdn-advanced-xml"
	FormatEUXML        = "eu-fsf-xml"
)

var (
	// ErrTooLarge is returned (wrapped) when an input exceeds its size limit.
	ErrTooLarge = errors.New("input exceeds the size limit")
	// ErrFormat is returned (wrapped in a *ParseError) when an input is not
	// in the format its importer reads.
	ErrFormat = errors.New("malformed list")
)

// List is one imported sanctions list. Importers return a complete List or
// an error, never a partial list.
type List struct {
	Provenance Provenance `json:"provenance"`
	Entries    []Entry    `json:"entries"`
}

// Entry is one listed party.
type Entry struct {
	// ID is the list-native identifier: OFAC ent_num/uid, the advanced
	// file's DistinctParty FixedRef, the EU logicalId.
	ID string `json:"id"`
	// Reference is a second list-native reference where the list has one
	// (the EU euReferenceNumber); empty otherwise.
	Reference string `json:"reference,omitempty"`
	// Name is the primary name as listed.
	Name string `json:"name"`
	// Aliases are the other names as listed (a.k.a., f.k.a., n.k.a.,
	// other scripts), without the primary name.
	Aliases []string `json:"aliases,omitempty"`
	// Type is individual, entity, vessel or aircraft, or "" when the list
	// does not say.
	Type string `json:"type,omitempty"`
	// Programs are the sanctions programmes (OFAC program codes, EU
	// regulation programmes).
	Programs []string `json:"programs,omitempty"`
	// Wallets are the digital currency addresses listed for the party.
	Wallets []Wallet `json:"wallets,omitempty"`
}

// Wallet is a listed digital currency address.
type Wallet struct {
	// Chain is the asset code as the list states it (XBT, ETH, USDT, …).
	Chain string `json:"chain"`
	// Address is the address exactly as listed.
	Address string `json:"address"`
}

// Provenance says where a list came from, as LEGAL.md §4.3 item 1 asks.
type Provenance struct {
	// Source is SourceOFACSDN or SourceEUFSF.
	Source string `json:"source"`
	// Format is one of the Format constants.
	Format string `json:"format"`
	// Published is the publication date or version exactly as the file
	// states it (Publish_Date, DateOfIssue, generationDate); empty for the
	// OFAC CSV files, which state none.
	Published string `json:"published,omitempty"`
	// SHA256 is the hex SHA-256 of the bytes read from the main file.
	SHA256 string `json:"sha256"`
	// Files lists every file read with its digest and size (the CSV import
	// reads two).
	Files []File `json:"files"`
	// Entries is the number of entries imported.
	Entries int `json:"entries"`
	// Parser is ParserVersion.
	Parser string `json:"parser"`
	// URL and RetrievedAt are filled by the caller that downloaded the
	// file; importers leave them empty.
	URL         string `json:"url,omitempty"`
	RetrievedAt string `json:"retrieved_at,omitempty"`
}

// File is one file read by an importer.
type File struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// ParseError locates a problem in an imported file.
type ParseError struct {
	// File is the file's conventional name (sdn.csv, SDN.XML, …).
	File string
	// Line is the 1-based line, 0 when unknown.
	Line int
	// Record names the record (an entry id or an element), "" when unknown.
	Record string
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Record != "" {
		fmt.Fprintf(&b, " (%s)", e.Record)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// input reads at most max bytes from r, hashing everything it reads.
// tooLarge is set once more than max bytes were offered.
type input struct {
	name     string
	r        io.Reader
	h        hash.Hash
	n, max   int64
	tooLarge bool
}

func newInput(name string, r io.Reader, max int64) *input {
	return &input{name: name, r: io.LimitReader(r, max+1), h: sha256.New(), max: max}
}

func (in *input) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	in.h.Write(p[:n])
	in.n += int64(n)
	if in.n > in.max {
		in.tooLarge = true
		return n, fmt.Errorf("%s: %w (%d bytes)", in.name, ErrTooLarge, in.max)
	}
	return n, err
}

// finish drains what is left (so the digest covers the whole file) and
// returns the file record.
func (in *input) finish() (File, error) {
	if _, err := io.Copy(io.Discard, in); err != nil {
		return File{}, in.wrap(0, "", err)
	}
	return File{Name: in.name, SHA256: hex.EncodeToString(in.h.Sum(nil)), Bytes: in.n}, nil
}

// wrap turns err into a *ParseError, reporting ErrTooLarge whenever the
// limit was hit, whatever the parser made of the cut-off input.
func (in *input) wrap(line int, record string, err error) error {
	if in.tooLarge {
		return &ParseError{File: in.name, Line: line, Record: record, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, in.max)}
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		if pe.File == "" {
			pe.File = in.name
		}
		return err
	}
	return &ParseError{File: in.name, Line: line, Record: record, Err: err}
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// checkField rejects fields that are too long or not UTF-8.
func checkField(what, s string) error {
	if len(s) > MaxField {
		return formatErr("%s is %d bytes, more than the %d allowed", what, len(s), MaxField)
	}
	if !utf8.ValidString(s) {
		return formatErr("%s is not valid UTF-8", what)
	}
	return nil
}

// addName appends name to e (as the primary name when e has none) unless it
// is empty or already there.
func (e *Entry) addName(name string) {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" || name == e.Name {
		return
	}
	if e.Name == "" {
		e.Name = name
		return
	}
	for _, a := range e.Aliases {
		if a == name {
			return
		}
	}
	e.Aliases = append(e.Aliases, name)
}

// addWallet appends a wallet unless it is empty or already there.
func (e *Entry) addWallet(chain, addr string) {
	chain, addr = strings.TrimSpace(chain), strings.TrimSpace(addr)
	if chain == "" || addr == "" {
		return
	}
	for _, w := range e.Wallets {
		if w.Chain == chain && w.Address == addr {
			return
		}
	}
	e.Wallets = append(e.Wallets, Wallet{Chain: chain, Address: addr})
}

// walletPrefix starts the name of every digital currency address feature
// or id type on the OFAC lists; the asset code follows it.
const walletPrefix = "Digital Currency Address - "

// walletChain returns the asset code of an OFAC feature or id type, and
// whether it names a digital currency address at all.
func walletChain(typ string) (string, bool) {
	code, ok := strings.CutPrefix(strings.TrimSpace(typ), walletPrefix)
	code = strings.TrimSpace(code)
	return code, ok && code != ""
}
