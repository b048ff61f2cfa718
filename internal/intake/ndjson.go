package intake

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/vallum/vallum/internal/sensor"
)

// LineError is a line (or array element) of a batch that was not taken.
type LineError struct {
	// Line is 1-based: the line of an NDJSON body, the element of an
	// array.
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// Lines calls f with each non-blank line of an NDJSON body and its
// 1-based line number.
func Lines(body []byte, f func(n int, line []byte)) {
	n := 0
	for len(body) > 0 {
		n++
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			f(n, line)
		}
	}
}

// DecodeEvents reads a batch of events shipped by a sensor: a JSON array
// of events, or NDJSON (one event per line). It returns the events with
// the line (or element) each came from, and the lines it could not read;
// the good ones are kept.
func DecodeEvents(body []byte) (events []sensor.Event, lines []int, bad []LineError) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(trimmed, &raw); err != nil {
			return nil, nil, []LineError{{Line: 1, Error: fmt.Sprintf("not a JSON array of events: %v", err)}}
		}
		for i, r := range raw {
			var e sensor.Event
			if err := json.Unmarshal(r, &e); err != nil {
				bad = append(bad, LineError{Line: i + 1, Error: fmt.Sprintf("not an event: %v", err)})
				continue
			}
			events, lines = append(events, e), append(lines, i+1)
		}
		return events, lines, bad
	}
	Lines(body, func(n int, line []byte) {
		var e sensor.Event
		if err := json.Unmarshal(line, &e); err != nil {
			bad = append(bad, LineError{Line: n, Error: fmt.Sprintf("not an event: %v", err)})
			return
		}
		events, lines = append(events, e), append(lines, n)
	})
	return events, lines, bad
}
