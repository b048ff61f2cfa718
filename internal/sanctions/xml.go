package sanctions

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// readXML streams the XML document in: it checks that the root element's
// local name is root, passes the root to onRoot (may be nil), and calls
// child for every element directly under the root. child must consume the
// whole element (DecodeElement or Skip). Nothing but comments, processing
// instructions and white space may follow the root.
func readXML(in *input, root string, onRoot func(xml.StartElement) error, child func(d *xml.Decoder, se xml.StartElement) error) error {
	d := xml.NewDecoder(in)
	d.Strict = true
	seenRoot, inRoot := false, false
	for {
		line, _ := d.InputPos()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if in.tooLarge {
				return in.wrap(line, "", err)
			}
			if !seenRoot {
				return in.wrap(line, "", formatErr("no <%s> root element", root))
			}
			if inRoot {
				return in.wrap(line, "", formatErr("truncated: <%s> is never closed", root))
			}
			return nil
		}
		if err != nil {
			return in.wrap(xmlLine(err, line), "", fmt.Errorf("%w: %v", ErrFormat, err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case !seenRoot:
				if t.Name.Local != root {
					return in.wrap(line, "", formatErr("root element is <%s>, want <%s>", t.Name.Local, root))
				}
				seenRoot, inRoot = true, true
				if onRoot != nil {
					if err := onRoot(t); err != nil {
						return in.wrap(line, "<"+root+">", err)
					}
				}
			case inRoot:
				if err := child(d, t); err != nil {
					l, _ := d.InputPos()
					return in.wrap(xmlLine(err, l), "", err)
				}
			default:
				return in.wrap(line, "", formatErr("element <%s> after the root element", t.Name.Local))
			}
		case xml.EndElement:
			inRoot = false
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 && !inRoot {
				return in.wrap(line, "", formatErr("text outside the root element"))
			}
		}
	}
}

// xmlLine returns the line of an XML syntax error, or def.
func xmlLine(err error, def int) int {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return se.Line
	}
	return def
}

// decodeEntry decodes one element into v, reporting syntax errors as
// format errors that name the element and the line it starts on.
func decodeEntry(d *xml.Decoder, se xml.StartElement, v any) (line int, err error) {
	line, _ = d.InputPos()
	if err := d.DecodeElement(v, &se); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return line, err
		}
		return line, &ParseError{Line: xmlLine(err, line), Record: "<" + se.Name.Local + ">", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
	}
	return line, nil
}

// attr returns the value of the attribute with the given local name.
func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
