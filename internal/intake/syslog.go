package intake

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// SyslogMessage is a parsed syslog message (RFC 5424 or RFC 3164).
type SyslogMessage struct {
	// Format is "rfc5424" or "rfc3164".
	Format   string
	Facility int
	// Severity is the syslog severity code, 0 (emergency) to 7 (debug).
	Severity int
	Time     time.Time // zero if the message had none
	Hostname string
	AppName  string
	ProcID   string
	MsgID    string
	// StructuredData is the RFC 5424 structured data, raw ("" for "-").
	StructuredData string
	Message        string
}

// ParseSyslog parses one syslog message. A message that starts with a
// valid PRI and "1 " is RFC 5424; any other message with a valid PRI is
// read as RFC 3164, leniently (what BSD syslog senders really send);
// RFC 3164 timestamps have no year, so now's year is assumed (the
// previous one if that puts the message more than a day ahead of now).
func ParseSyslog(msg []byte, now time.Time) (SyslogMessage, error) {
	msg = bytes.TrimRight(msg, "\r\n\x00")
	if len(msg) < 3 || msg[0] != '<' {
		return SyslogMessage{}, errors.New("syslog message does not start with <PRI>")
	}
	end := bytes.IndexByte(msg[:min(len(msg), 5)], '>')
	if end < 2 {
		return SyslogMessage{}, errors.New("syslog PRI is not 1 to 3 digits in <>")
	}
	pri, err := strconv.Atoi(string(msg[1:end]))
	if err != nil || pri < 0 || pri > 191 || (end > 2 && msg[1] == '0') {
		return SyslogMessage{}, fmt.Errorf("syslog PRI %q is not 0 to 191", msg[1:end])
	}
	m := SyslogMessage{Facility: pri / 8, Severity: pri % 8}
	rest := msg[end+1:]
	if bytes.HasPrefix(rest, []byte("1 ")) {
		m.Format = "rfc5424"
		return m, parse5424(&m, rest[2:])
	}
	m.Format = "rfc3164"
	parse3164(&m, rest, now)
	return m, nil
}

// field takes the next space-separated field of b.
func field(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return string(b), nil
	}
	return string(b[:i]), b[i+1:]
}

func nilvalue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func parse5424(m *SyslogMessage, b []byte) error {
	var ts string
	ts, b = field(b)
	if ts != "-" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return fmt.Errorf("RFC 5424 timestamp %q: %v", clean(ts, 64), err)
		}
		if t.Year() < 1970 {
			return fmt.Errorf("RFC 5424 timestamp %q is before 1970", clean(ts, 64))
		}
		m.Time = t.UTC()
	}
	var h, a, p, id string
	h, b = field(b)
	a, b = field(b)
	p, b = field(b)
	id, b = field(b)
	if b == nil && id == "" {
		return errors.New("RFC 5424 message ends before its MSGID")
	}
	m.Hostname, m.AppName, m.ProcID, m.MsgID = nilvalue(h), nilvalue(a), nilvalue(p), nilvalue(id)
	sd, rest, err := structuredData(b)
	if err != nil {
		return err
	}
	m.StructuredData = sd
	rest = bytes.TrimPrefix(rest, []byte(" "))
	rest = bytes.TrimPrefix(rest, []byte("\xEF\xBB\xBF")) // BOM
	m.Message = string(rest)
	return nil
}

// structuredData splits the RFC 5424 STRUCTURED-DATA ("-" or one or more
// [id param="value" …] elements, with \" \] \\ escapes) off b.
func structuredData(b []byte) (string, []byte, error) {
	if len(b) == 0 {
		return "", nil, errors.New("RFC 5424 message has no STRUCTURED-DATA")
	}
	if b[0] == '-' {
		return "", b[1:], nil
	}
	i := 0
	for i < len(b) && b[i] == '[' {
		inQuote := false
		j := i + 1
		for ; j < len(b); j++ {
			c := b[j]
			if c == '\\' && inQuote {
				j++
				continue
			}
			if c == '"' {
				inQuote = !inQuote
			}
			if c == ']' && !inQuote {
				break
			}
		}
		if j >= len(b) {
			return "", nil, errors.New("RFC 5424 STRUCTURED-DATA element is not closed")
		}
		i = j + 1
	}
	if i == 0 {
		return "", nil, fmt.Errorf("RFC 5424 STRUCTURED-DATA must be - or [...], not %q", clean(string(b[:min(len(b), 16)]), 16))
	}
	return string(b[:i]), b[i:], nil
}

// parse3164 reads "Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG", taking what
// is there.
func parse3164(m *SyslogMessage, b []byte, now time.Time) {
	if len(b) >= 16 && b[15] == ' ' {
		if t, err := time.Parse(time.Stamp, string(b[:15])); err == nil {
			t = time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
			if t.After(now.Add(24 * time.Hour)) {
				t = t.AddDate(-1, 0, 0)
			}
			m.Time = t
			b = b[16:]
			m.Hostname, b = field(b)
		}
	}
	// TAG: up to 32 alphanumerics, then [pid] and ":".
	if i := bytes.IndexByte(b, ':'); i > 0 && i <= 48 && !bytes.ContainsAny(b[:i], " ") {
		tag := string(b[:i])
		if j := strings.IndexByte(tag, '['); j > 0 && strings.HasSuffix(tag, "]") {
			m.ProcID = tag[j+1 : len(tag)-1]
			tag = tag[:j]
		}
		m.AppName = tag
		b = bytes.TrimPrefix(b[i+1:], []byte(" "))
	}
	m.Message = string(b)
}

// sshd lines that name an attacker: the source of a log event is the
// address in the message, not the host that sent it.
var (
	sshdFailed   = regexp.MustCompile(`^(?:Failed|Invalid) (?:password|publickey|keyboard-interactive/pam|none) for (?:invalid user )?(\S*) from (\S+) port (\d+)`)
	sshdInvalid  = regexp.MustCompile(`^Invalid user (\S*) from (\S+) port (\d+)`)
	sshdAccepted = regexp.MustCompile(`^Accepted (password|publickey|keyboard-interactive/pam) for (\S+) from (\S+) port (\d+)`)
)

// syslogSeverity maps a syslog severity code to an event severity.
func syslogSeverity(code int) string {
	switch {
	case code <= 2:
		return sensor.SeverityHigh
	case code == 3:
		return sensor.SeverityMedium
	case code == 4:
		return sensor.SeverityLow
	default:
		return sensor.SeverityInfo
	}
}

// SyslogEvent maps a syslog message received from peer to an event (no
// ID: the caller sets one). sshd authentication failures become auth
// events from the address they name.
func SyslogEvent(m SyslogMessage, peer sensor.Endpoint, sensorName string, now time.Time) sensor.Event {
	e := sensor.Event{
		Time: m.Time, Sensor: sensorName, Protocol: "syslog", Kind: sensor.KindLog,
		Severity: syslogSeverity(m.Severity), Src: peer,
		Details: map[string]string{"format": m.Format, "facility": strconv.Itoa(m.Facility), "syslog_severity": strconv.Itoa(m.Severity)},
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	for k, v := range map[string]string{"hostname": m.Hostname, "app_name": m.AppName, "procid": m.ProcID, "msgid": m.MsgID, "structured_data": m.StructuredData, "message": m.Message} {
		if v != "" {
			e.Details[k] = v
		}
	}
	if m.AppName == "sshd" {
		if g := sshdFailed.FindStringSubmatch(m.Message); g != nil {
			e.Kind, e.Severity = sensor.KindAuth, sensor.SeverityMedium
			e.Credentials = &sensor.Credentials{Method: "password", Username: g[1]}
			e.Src = endpoint(g[2], g[3])
			e.Dst = sensor.Endpoint{IP: peer.IP}
		} else if g := sshdInvalid.FindStringSubmatch(m.Message); g != nil {
			e.Kind, e.Severity = sensor.KindAuth, sensor.SeverityMedium
			e.Credentials = &sensor.Credentials{Method: "none", Username: g[1]}
			e.Src = endpoint(g[2], g[3])
			e.Dst = sensor.Endpoint{IP: peer.IP}
		} else if g := sshdAccepted.FindStringSubmatch(m.Message); g != nil {
			e.Kind = sensor.KindAuth
			e.Credentials = &sensor.Credentials{Method: g[1], Username: g[2], Accepted: true}
			e.Src = endpoint(g[3], g[4])
			e.Dst = sensor.Endpoint{IP: peer.IP}
		}
	}
	if _, err := netip.ParseAddr(e.Src.IP); e.Src.IP != "" && err != nil {
		// sshd printed a host name (UseDNS): keep it, but the source is
		// then only known as the sender.
		e.Details["remote_host"] = e.Src.IP
		e.Src = peer
	}
	return e
}

func endpoint(ip, port string) sensor.Endpoint {
	p, _ := strconv.Atoi(port)
	if p < 0 || p > 65535 {
		p = 0
	}
	return sensor.Endpoint{IP: ip, Port: p}
}
