package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// EVETypes are the Suricata EVE event types taken by default.
var EVETypes = []string{"alert", "http", "dns", "tls", "ssh", "flow", "anomaly", "fileinfo"}

// ErrSkipped is returned by ParseEVE for a well-formed record of a type
// that is not taken (stats, netflow, …).
var ErrSkipped = errors.New("event type not taken")

// eve is the part of a Suricata EVE JSON record the pipeline maps.
type eve struct {
	Timestamp string      `json:"timestamp"`
	EventType string      `json:"event_type"`
	Host      string      `json:"host"`
	FlowID    json.Number `json:"flow_id"`
	InIface   string      `json:"in_iface"`
	SrcIP     string      `json:"src_ip"`
	SrcPort   int         `json:"src_port"`
	DestIP    string      `json:"dest_ip"`
	DestPort  int         `json:"dest_port"`
	Proto     string      `json:"proto"`
	AppProto  string      `json:"app_proto"`
	Alert     *struct {
		Action      string `json:"action"`
		GID         int    `json:"gid"`
		SignatureID int    `json:"signature_id"`
		Rev         int    `json:"rev"`
		Signature   string `json:"signature"`
		Category    string `json:"category"`
		Severity    int    `json:"severity"`
	} `json:"alert"`
	HTTP *struct {
		Hostname  string `json:"hostname"`
		URL       string `json:"url"`
		UserAgent string `json:"http_user_agent"`
		Method    string `json:"http_method"`
		Protocol  string `json:"protocol"`
		Status    int    `json:"status"`
		Length    int64  `json:"length"`
	} `json:"http"`
	DNS *struct {
		Type   string `json:"type"`
		RRName string `json:"rrname"`
		RRType string `json:"rrtype"`
		RCode  string `json:"rcode"`
	} `json:"dns"`
	TLS *struct {
		Subject  string `json:"subject"`
		IssuerDN string `json:"issuerdn"`
		SNI      string `json:"sni"`
		Version  string `json:"version"`
		JA3      *struct {
			Hash string `json:"hash"`
		} `json:"ja3"`
		JA3S *struct {
			Hash string `json:"hash"`
		} `json:"ja3s"`
	} `json:"tls"`
	SSH *struct {
		Client *struct {
			ProtoVersion    string `json:"proto_version"`
			SoftwareVersion string `json:"software_version"`
			HASSH           *struct {
				Hash string `json:"hash"`
			} `json:"hassh"`
		} `json:"client"`
	} `json:"ssh"`
	Flow *struct {
		PktsToServer  int64  `json:"pkts_toserver"`
		BytesToServer int64  `json:"bytes_toserver"`
		PktsToClient  int64  `json:"pkts_toclient"`
		BytesToClient int64  `json:"bytes_toclient"`
		State         string `json:"state"`
		Reason        string `json:"reason"`
	} `json:"flow"`
	Anomaly *struct {
		Type  string `json:"type"`
		Event string `json:"event"`
		Layer string `json:"layer"`
	} `json:"anomaly"`
	FileInfo *struct {
		Filename string `json:"filename"`
		SHA256   string `json:"sha256"`
		Size     int64  `json:"size"`
	} `json:"fileinfo"`
}

// eveTimeLayouts are Suricata's timestamp format and RFC 3339.
var eveTimeLayouts = []string{"2006-01-02T15:04:05.999999999-0700", time.RFC3339Nano}

// parseEVETime parses a timestamp in one of eveTimeLayouts, the first
// that fits. A zone of "Z" or "+01:00" can only be RFC 3339's (Suricata's
// is "+0100"), so such a timestamp is not tried against Suricata's layout.
func parseEVETime(s string) (t time.Time, err error) {
	layouts := eveTimeLayouts
	if n := len(s); n >= 3 && (s[n-1] == 'Z' || s[n-1] == 'z' || s[n-3] == ':') {
		layouts = layouts[1:]
	}
	for _, layout := range layouts {
		if t, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	return t, err
}

// ParseEVE maps one Suricata EVE JSON record to an event (without an ID:
// the caller derives one, see EVEID). Types not in types (EVETypes if
// nil) give ErrSkipped. sensorName prefixes the event's sensor field.
func ParseEVE(line []byte, types []string, sensorName string) (sensor.Event, error) {
	var r eve
	if err := json.Unmarshal(line, &r); err != nil {
		return sensor.Event{}, fmt.Errorf("not an EVE JSON record: %v", err)
	}
	if r.EventType == "" {
		return sensor.Event{}, errors.New("not an EVE JSON record: no event_type")
	}
	if types == nil {
		types = EVETypes
	}
	if !slices.Contains(types, r.EventType) {
		return sensor.Event{}, fmt.Errorf("%w: %q", ErrSkipped, r.EventType)
	}
	t, err := parseEVETime(r.Timestamp)
	if err != nil {
		return sensor.Event{}, fmt.Errorf("timestamp %q is not Suricata's format", clean(r.Timestamp, 64))
	}
	if sensorName == "" {
		sensorName = "suricata"
	}
	e := sensor.Event{
		Time:     t.UTC(),
		Sensor:   sensorName,
		Protocol: "suricata",
		Src:      sensor.Endpoint{IP: r.SrcIP, Port: r.SrcPort},
		Dst:      sensor.Endpoint{IP: r.DestIP, Port: r.DestPort},
	}
	if r.Host != "" {
		e.Sensor = sensorName + "/" + clean(r.Host, 64)
	}
	// The details and fingerprints are gathered first, so that each map
	// is made once at its size.
	var dbuf [16]pair
	var fbuf [4]pair
	details, fps := pairs(dbuf[:0]), pairs(fbuf[:0])
	details = details.with("event_type", r.EventType)
	details = details.with("proto", r.Proto)
	details = details.with("app_proto", r.AppProto)
	details = details.with("flow_id", r.FlowID.String())
	details = details.with("in_iface", r.InIface)
	e.Session = r.FlowID.String()
	switch r.EventType {
	case "alert":
		e.Kind = sensor.KindAlert
		e.Severity = sensor.SeverityLow
		if a := r.Alert; a != nil {
			switch a.Severity {
			case 1:
				e.Severity = sensor.SeverityHigh
			case 2:
				e.Severity = sensor.SeverityMedium
			}
			e.Command = a.Signature
			details = details.with("signature", a.Signature)
			details = details.with("signature_id", itoa(a.SignatureID))
			details = details.with("gid", itoa(a.GID))
			details = details.with("rev", itoa(a.Rev))
			details = details.with("category", a.Category)
			details = details.with("action", a.Action)
			details = details.with("severity", itoa(a.Severity))
		}
	case "http":
		e.Kind = sensor.KindRequest
		if h := r.HTTP; h != nil {
			e.Command = strings.TrimSpace(h.Method + " " + h.URL)
			fps = fps.with("user_agent", h.UserAgent)
			details = details.with("hostname", h.Hostname)
			details = details.with("http_protocol", h.Protocol)
			details = details.with("status", itoa(h.Status))
		}
	case "dns":
		e.Kind = sensor.KindRequest
		e.Severity = sensor.SeverityInfo
		if d := r.DNS; d != nil {
			e.Command = strings.TrimSpace("dns " + d.Type + " " + d.RRName + " " + d.RRType)
			details = details.with("rrname", d.RRName)
			details = details.with("rrtype", d.RRType)
			details = details.with("rcode", d.RCode)
		}
	case "tls":
		e.Kind = sensor.KindConnect
		e.Severity = sensor.SeverityInfo
		if x := r.TLS; x != nil {
			details = details.with("sni", x.SNI)
			details = details.with("tls_version", x.Version)
			details = details.with("subject", x.Subject)
			details = details.with("issuer", x.IssuerDN)
			if x.JA3 != nil {
				fps = fps.with("ja3", x.JA3.Hash)
			}
			if x.JA3S != nil {
				fps = fps.with("ja3s", x.JA3S.Hash)
			}
		}
	case "ssh":
		e.Kind = sensor.KindConnect
		if s := r.SSH; s != nil && s.Client != nil {
			fps = fps.with("client_version", s.Client.SoftwareVersion)
			if s.Client.HASSH != nil {
				fps = fps.with("hassh", s.Client.HASSH.Hash)
			}
		}
	case "flow":
		e.Kind = sensor.KindConnect
		e.Severity = sensor.SeverityInfo
		if f := r.Flow; f != nil {
			details = details.with("state", f.State)
			details = details.with("reason", f.Reason)
			details = details.with("bytes_toserver", strconv.FormatInt(f.BytesToServer, 10))
			details = details.with("bytes_toclient", strconv.FormatInt(f.BytesToClient, 10))
			details = details.with("pkts_toserver", strconv.FormatInt(f.PktsToServer, 10))
			details = details.with("pkts_toclient", strconv.FormatInt(f.PktsToClient, 10))
		}
	case "anomaly":
		e.Kind = sensor.KindAlert
		e.Severity = sensor.SeverityLow
		if a := r.Anomaly; a != nil {
			e.Command = a.Event
			details = details.with("anomaly_type", a.Type)
			details = details.with("anomaly_layer", a.Layer)
		}
	case "fileinfo":
		// A file seen on the wire, not one captured by a decoy.
		e.Kind = sensor.KindUpload
		e.Severity = sensor.SeverityInfo
		if f := r.FileInfo; f != nil && len(f.SHA256) == 64 {
			e.Payloads = []sensor.PayloadRef{{SHA256: strings.ToLower(f.SHA256), Size: f.Size, Name: f.Filename}}
		}
	default:
		// A type the operator asked for that has no mapping of its own.
		e.Kind = sensor.KindLog
		e.Severity = sensor.SeverityInfo
	}
	e.Details, e.Fingerprints = details.toMap(), fps.toMap()
	return e, nil
}

// pair is one detail or fingerprint.
type pair struct{ k, v string }

// pairs gathers an event's details or fingerprints.
type pairs []pair

// with adds k unless v is empty.
func (f pairs) with(k, v string) pairs {
	if v != "" {
		f = append(f, pair{k, v})
	}
	return f
}

// toMap returns the fields as a map, nil if there are none.
func (f pairs) toMap() map[string]string {
	if len(f) == 0 {
		return nil
	}
	m := make(map[string]string, len(f))
	for _, x := range f {
		m[x.k] = x.v
	}
	return m
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// EVEID derives an event ID from where a record came from and its bytes,
// so that reading the same record again (after a crash, or a client that
// posts a batch twice) gives the same ID and is logged once.
func EVEID(origin string, line []byte) string {
	h := sha256.New()
	h.Write([]byte(origin))
	h.Write([]byte{0})
	h.Write(line)
	var sum [sha256.Size]byte
	return formatEVEID(h.Sum(sum[:0]))
}

// formatEVEID is an EVEID from the SHA-256 of its origin and record.
func formatEVEID(sum []byte) string {
	var id [4 + 32]byte
	copy(id[:], "eve-")
	hex.Encode(id[4:], sum[:16])
	return string(id[:])
}

// lineIDs derives the EVEIDs of the lines of one file, whose origin is
// the file's prefix and the line's offset, without an allocation but
// the ID's. A lineIDs is used by one goroutine at a time.
type lineIDs struct {
	prefix string
	msg    []byte // scratch: prefix, offset, 0, line
}

// id is EVEID(prefix+offset, line).
func (l *lineIDs) id(offset int64, line []byte) string {
	l.msg = append(l.msg[:0], l.prefix...)
	l.msg = strconv.AppendInt(l.msg, offset, 10)
	l.msg = append(append(l.msg, 0), line...)
	sum := sha256.Sum256(l.msg)
	return formatEVEID(sum[:])
}
