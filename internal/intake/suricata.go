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
	var t time.Time
	var err error
	for _, layout := range eveTimeLayouts {
		if t, err = time.Parse(layout, r.Timestamp); err == nil {
			break
		}
	}
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
		Details:  map[string]string{"event_type": r.EventType},
	}
	if r.Host != "" {
		e.Sensor = sensorName + "/" + clean(r.Host, 64)
	}
	set := func(m *map[string]string, k, v string) {
		if v != "" {
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[k] = v
		}
	}
	set(&e.Details, "proto", r.Proto)
	set(&e.Details, "app_proto", r.AppProto)
	set(&e.Details, "flow_id", r.FlowID.String())
	set(&e.Details, "in_iface", r.InIface)
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
			set(&e.Details, "signature", a.Signature)
			set(&e.Details, "signature_id", itoa(a.SignatureID))
			set(&e.Details, "gid", itoa(a.GID))
			set(&e.Details, "rev", itoa(a.Rev))
			set(&e.Details, "category", a.Category)
			set(&e.Details, "action", a.Action)
			set(&e.Details, "severity", itoa(a.Severity))
		}
	case "http":
		e.Kind = sensor.KindRequest
		if h := r.HTTP; h != nil {
			e.Command = strings.TrimSpace(h.Method + " " + h.URL)
			set(&e.Fingerprints, "user_agent", h.UserAgent)
			set(&e.Details, "hostname", h.Hostname)
			set(&e.Details, "http_protocol", h.Protocol)
			set(&e.Details, "status", itoa(h.Status))
		}
	case "dns":
		e.Kind = sensor.KindRequest
		e.Severity = sensor.SeverityInfo
		if d := r.DNS; d != nil {
			e.Command = strings.TrimSpace("dns " + d.Type + " " + d.RRName + " " + d.RRType)
			set(&e.Details, "rrname", d.RRName)
			set(&e.Details, "rrtype", d.RRType)
			set(&e.Details, "rcode", d.RCode)
		}
	case "tls":
		e.Kind = sensor.KindConnect
		e.Severity = sensor.SeverityInfo
		if x := r.TLS; x != nil {
			set(&e.Details, "sni", x.SNI)
			set(&e.Details, "tls_version", x.Version)
			set(&e.Details, "subject", x.Subject)
			set(&e.Details, "issuer", x.IssuerDN)
			if x.JA3 != nil {
				set(&e.Fingerprints, "ja3", x.JA3.Hash)
			}
			if x.JA3S != nil {
				set(&e.Fingerprints, "ja3s", x.JA3S.Hash)
			}
		}
	case "ssh":
		e.Kind = sensor.KindConnect
		if s := r.SSH; s != nil && s.Client != nil {
			set(&e.Fingerprints, "client_version", s.Client.SoftwareVersion)
			if s.Client.HASSH != nil {
				set(&e.Fingerprints, "hassh", s.Client.HASSH.Hash)
			}
		}
	case "flow":
		e.Kind = sensor.KindConnect
		e.Severity = sensor.SeverityInfo
		if f := r.Flow; f != nil {
			set(&e.Details, "state", f.State)
			set(&e.Details, "reason", f.Reason)
			set(&e.Details, "bytes_toserver", strconv.FormatInt(f.BytesToServer, 10))
			set(&e.Details, "bytes_toclient", strconv.FormatInt(f.BytesToClient, 10))
			set(&e.Details, "pkts_toserver", strconv.FormatInt(f.PktsToServer, 10))
			set(&e.Details, "pkts_toclient", strconv.FormatInt(f.PktsToClient, 10))
		}
	case "anomaly":
		e.Kind = sensor.KindAlert
		e.Severity = sensor.SeverityLow
		if a := r.Anomaly; a != nil {
			e.Command = a.Event
			set(&e.Details, "anomaly_type", a.Type)
			set(&e.Details, "anomaly_layer", a.Layer)
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
	return e, nil
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
	return "eve-" + hex.EncodeToString(h.Sum(nil)[:16])
}
