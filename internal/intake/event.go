package intake

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vallum/vallum/internal/sensor"
)

// Bounds of one event, so that an event always fits a log payload and a
// hostile source cannot make one huge.
const (
	MaxID      = 128 // bytes of an event ID
	maxShort   = 256 // sensor, protocol, session, username, …
	maxCommand = 8192
	maxValue   = 4096 // one detail or fingerprint value
	maxFields  = 64   // details, fingerprints
	maxPayRefs = 64
)

// Kinds lists the event kinds, in sensor's order.
var Kinds = []string{
	sensor.KindConnect, sensor.KindAuth, sensor.KindCommand, sensor.KindRequest, sensor.KindUpload,
	sensor.KindForward, sensor.KindDisconnect, sensor.KindHoneytoken, sensor.KindAlert, sensor.KindLog,
}

// Severities lists the severities, lowest first.
var Severities = []string{sensor.SeverityInfo, sensor.SeverityLow, sensor.SeverityMedium, sensor.SeverityHigh, sensor.SeverityCritical}

// Rank orders severities: info 0 … critical 4; unknown is -1.
func Rank(severity string) int { return slices.Index(Severities, severity) }

// defaultSeverity is the severity of an event that states none: what a
// decoy sees is hostile by construction (no one has a reason to touch it),
// but a connection or a request alone is usually a scanner.
func defaultSeverity(kind string) string {
	switch kind {
	case sensor.KindHoneytoken:
		return sensor.SeverityHigh
	case sensor.KindCommand, sensor.KindUpload:
		return sensor.SeverityHigh
	case sensor.KindAuth, sensor.KindForward:
		return sensor.SeverityMedium
	case sensor.KindConnect, sensor.KindRequest, sensor.KindDisconnect:
		return sensor.SeverityLow
	default:
		return sensor.SeverityInfo
	}
}

// ErrInvalidEvent is wrapped by every error of Normalize.
var ErrInvalidEvent = errors.New("invalid event")

// Normalize checks e and returns it in canonical form: time in UTC (now
// if zero), severity set (from the kind if empty), IPs in canonical form,
// over-long free text cut (and flagged in Details["truncated"]). Fields
// that identify the event (ID, kind, sensor) are checked, never cut.
func Normalize(e sensor.Event, now time.Time) (sensor.Event, error) {
	bad := func(format string, args ...any) (sensor.Event, error) {
		return sensor.Event{}, fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	if err := checkToken("id", e.ID, MaxID); err != nil {
		return bad("%v", err)
	}
	if err := checkToken("sensor", e.Sensor, maxShort); err != nil {
		return bad("%v", err)
	}
	if !slices.Contains(Kinds, e.Kind) {
		return bad("kind %q is not one of %s", e.Kind, strings.Join(Kinds, ", "))
	}
	if e.Severity == "" {
		e.Severity = defaultSeverity(e.Kind)
	}
	if Rank(e.Severity) < 0 {
		return bad("severity %q is not one of %s", e.Severity, strings.Join(Severities, ", "))
	}
	switch {
	case e.Time.IsZero():
		e.Time, e.TimeSource = now, TimeArrival
	case e.TimeSource != "" && e.TimeSource != TimeArrival:
		return bad("time_source %q is not empty or %q", clean(e.TimeSource, 64), TimeArrival)
	}
	e.Time = e.Time.UTC()
	if e.Time.Year() < 1970 || e.Time.Year() > 9999 {
		return bad("time %s is out of range (years 1970 to 9999 UTC)", e.Time)
	}
	for _, ep := range []*sensor.Endpoint{&e.Src, &e.Dst} {
		if ep.Port < 0 || ep.Port > 65535 {
			return bad("port %d is out of range", ep.Port)
		}
		if ep.IP == "" {
			continue
		}
		a, err := netip.ParseAddr(ep.IP)
		if err != nil {
			return bad("address %q: %v", ep.IP, err)
		}
		ep.IP = a.Unmap().WithZone("").String()
	}
	var cut bool
	clip := func(s *string, n int) {
		if c := clean(*s, n); c != *s {
			*s, cut = c, true
		}
	}
	clip(&e.Protocol, maxShort)
	clip(&e.Session, maxShort)
	clip(&e.Command, maxCommand)
	clip(&e.Honeytoken, maxShort)
	if c := e.Credentials; c != nil {
		cc := *c
		for _, f := range []*string{&cc.Method, &cc.Username, &cc.Password, &cc.KeyFingerprint, &cc.KeyType} {
			clip(f, maxShort)
		}
		e.Credentials = &cc
	}
	if len(e.Payloads) > maxPayRefs {
		e.Payloads, cut = e.Payloads[:maxPayRefs], true
	}
	for i := range e.Payloads {
		clip(&e.Payloads[i].SHA256, 64)
		clip(&e.Payloads[i].Name, maxShort)
	}
	var c1, c2 bool
	e.Fingerprints, c1 = clipMap(e.Fingerprints)
	e.Details, c2 = clipMap(e.Details)
	if cut || c1 || c2 {
		setDetail(&e, "truncated", "true")
	}
	return e, nil
}

// TimeArrival is Event.TimeSource of an event sent without a time, which
// got the time it arrived: the evidence shows which times a sensor
// observed and which the server assigned. Callers cannot set it (the API
// clears it; Normalize keeps it only on events it has normalised before,
// coming back from the spool).
const TimeArrival = "arrival"

// arrivalTimed reports whether e's time was assigned on arrival.
func arrivalTimed(e sensor.Event) bool { return e.TimeSource == TimeArrival }

// setDetail sets a detail on a copy of e's Details: the map may be the
// sender's.
func setDetail(e *sensor.Event, k, v string) {
	d := make(map[string]string, len(e.Details)+1)
	maps.Copy(d, e.Details)
	d[k] = v
	e.Details = d
}

// checkToken checks an identifying field: 1 to max bytes of printable
// UTF-8.
func checkToken(field, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s must be 1 to %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%s holds a control character", field)
	}
	return nil
}

// clean makes s valid UTF-8 (invalid bytes become U+FFFD) of at most n
// bytes, cut at a rune boundary.
func clean(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// isClean reports whether clean(s, n) == s.
func isClean(s string, n int) bool { return len(s) <= n && utf8.ValidString(s) }

// clipMap returns m with at most maxFields entries (the first keys in
// order), each key and value cleaned, and whether anything was cut.
func clipMap(m map[string]string) (map[string]string, bool) {
	if len(m) == 0 {
		return m, false
	}
	if len(m) <= maxFields {
		ok := true
		for k, v := range m {
			if !isClean(k, maxShort) || !isClean(v, maxValue) {
				ok = false
				break
			}
		}
		if ok {
			return m, false // the common case: nothing to copy
		}
	}
	cut := len(m) > maxFields
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, min(len(m), maxFields))
	for _, k := range keys[:min(len(keys), maxFields)] {
		ck, cv := clean(k, maxShort), clean(m[k], maxValue)
		if ck != k || cv != m[k] {
			cut = true
		}
		out[ck] = cv
	}
	return out, cut
}
