package intake

import (
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/vallum/vallum/internal/sensor"
)

// appendEvent appends e as JSON: the same fields, names and omissions as
// encoding/json gives sensor.Event (so json.Unmarshal reads it back the
// same), without reflection, which made encoding the largest cost of the
// pipeline after indexing. Map keys are sorted. Invalid UTF-8 is replaced
// by U+FFFD, as encoding/json does.
func appendEvent(b []byte, e *sensor.Event) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, "2006-01-02T15:04:05.999999999Z07:00")
	b = append(b, '"')
	b = appendOpt(b, "time_source", e.TimeSource)
	b = append(b, `,"sensor":`...)
	b = appendString(b, e.Sensor)
	b = append(b, `,"protocol":`...)
	b = appendString(b, e.Protocol)
	b = append(b, `,"kind":`...)
	b = appendString(b, e.Kind)
	b = appendOpt(b, "severity", e.Severity)
	b = append(b, `,"src":`...)
	b = appendEndpoint(b, e.Src)
	b = append(b, `,"dst":`...)
	b = appendEndpoint(b, e.Dst)
	b = appendOpt(b, "session", e.Session)
	if c := e.Credentials; c != nil {
		b = append(b, `,"credentials":{"method":`...)
		b = appendString(b, c.Method)
		b = appendOpt(b, "username", c.Username)
		b = appendOpt(b, "password", c.Password)
		b = appendOpt(b, "key_fingerprint", c.KeyFingerprint)
		b = appendOpt(b, "key_type", c.KeyType)
		b = append(b, `,"accepted":`...)
		b = strconv.AppendBool(b, c.Accepted)
		b = append(b, '}')
	}
	b = appendOpt(b, "command", e.Command)
	if len(e.Payloads) > 0 {
		b = append(b, `,"payloads":[`...)
		for i, p := range e.Payloads {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"sha256":`...)
			b = appendString(b, p.SHA256)
			b = append(b, `,"size":`...)
			b = strconv.AppendInt(b, p.Size, 10)
			b = appendOpt(b, "name", p.Name)
			if p.Truncated {
				b = append(b, `,"truncated":true`...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendMap(b, "fingerprints", e.Fingerprints)
	b = appendMap(b, "details", e.Details)
	b = appendOpt(b, "honeytoken", e.Honeytoken)
	return append(b, '}')
}

func appendOpt(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendEndpoint(b []byte, ep sensor.Endpoint) []byte {
	b = append(b, '{')
	if ep.IP != "" {
		b = append(b, `"ip":`...)
		b = appendString(b, ep.IP)
	}
	if ep.Port != 0 {
		if ep.IP != "" {
			b = append(b, ',')
		}
		b = append(b, `"port":`...)
		b = strconv.AppendInt(b, int64(ep.Port), 10)
	}
	return append(b, '}')
}

func appendMap(b []byte, key string, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":{`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
