package intake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// MaxWebhookEvents bounds the documents of one webhook request.
const MaxWebhookEvents = 1000

// WebhookFields maps event fields to dotted JSON paths in a posted
// document ("alert.source.ip"); a field not in the map is looked up under
// its own name. The fields are those of config.WebhookFields.
type WebhookFields map[string]string

// Parsed is one document of a webhook body: its event, or why it was not
// taken.
type Parsed struct {
	Event sensor.Event
	Err   error
}

// ParseWebhook maps a JSON document, or an array of documents, to events.
// Each document is mapped on its own: a bad one gets an error and the
// others are kept. A document without an id gets one derived from its
// content, so a retried request is logged once.
func ParseWebhook(body []byte, fields WebhookFields, sensorName string, now time.Time) ([]Parsed, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("body is not JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("body has data after the JSON document")
	}
	var docs []any
	switch v := v.(type) {
	case map[string]any:
		docs = []any{v}
	case []any:
		docs = v
	default:
		return nil, errors.New("body must be a JSON object or an array of objects")
	}
	if len(docs) > MaxWebhookEvents {
		return nil, fmt.Errorf("body holds %d documents, at most %d are taken per request", len(docs), MaxWebhookEvents)
	}
	out := make([]Parsed, len(docs))
	for i, d := range docs {
		m, ok := d.(map[string]any)
		if !ok {
			out[i].Err = fmt.Errorf("document %d is not a JSON object", i)
			continue
		}
		out[i].Event, out[i].Err = webhookEvent(m, fields, sensorName, now)
	}
	return out, nil
}

func webhookEvent(doc map[string]any, fields WebhookFields, sensorName string, now time.Time) (sensor.Event, error) {
	used := map[string]bool{}
	get := func(f string) (any, bool) {
		path := f
		if p, ok := fields[f]; ok {
			path = p
		}
		var cur any = doc
		for _, k := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[k]; !ok {
				return nil, false
			}
		}
		used[strings.SplitN(path, ".", 2)[0]] = true
		return cur, cur != nil
	}
	str := func(f string) string {
		v, ok := get(f)
		if !ok {
			return ""
		}
		return scalar(v)
	}
	port := func(f string) (int, error) {
		s := str(f)
		if s == "" {
			return 0, nil
		}
		p, err := strconv.Atoi(s)
		if err != nil || p < 0 || p > 65535 {
			return 0, fmt.Errorf("%s %q is not a port", f, clean(s, 32))
		}
		return p, nil
	}
	e := sensor.Event{
		ID: str("id"), Sensor: sensorName, Protocol: str("protocol"), Kind: str("kind"), Severity: str("severity"),
		Session: str("session"), Command: str("command"),
		Src: sensor.Endpoint{IP: str("src_ip")}, Dst: sensor.Endpoint{IP: str("dst_ip")},
	}
	var err error
	if e.Src.Port, err = port("src_port"); err != nil {
		return sensor.Event{}, err
	}
	if e.Dst.Port, err = port("dst_port"); err != nil {
		return sensor.Event{}, err
	}
	if e.Protocol == "" {
		e.Protocol = "webhook"
	}
	if e.Kind == "" {
		e.Kind = sensor.KindLog
	}
	if u := str("username"); u != "" {
		e.Credentials = &sensor.Credentials{Method: "reported", Username: u}
	}
	if tv, ok := get("time"); ok { // without one, Normalize gives the arrival time
		if e.Time, err = webhookTime(tv); err != nil {
			return sensor.Event{}, err
		}
	}
	e.Details = map[string]string{}
	if msg := str("message"); msg != "" {
		e.Details["message"] = msg
	}
	// The other top-level scalars are kept as details.
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if used[k] || len(e.Details) >= maxFields-1 {
			continue
		}
		if s := scalar(doc[k]); s != "" {
			e.Details[k] = s
		}
	}
	if e.ID == "" {
		b, _ := json.Marshal(doc) // map keys sorted: the same document, the same ID
		sum := sha256.Sum256(b)
		e.ID = "wh-" + hex.EncodeToString(sum[:16])
	}
	return Normalize(e, now)
}

// scalar renders a JSON string, number or boolean; "" for anything else.
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// webhookTime reads an RFC 3339 string or Unix seconds.
func webhookTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q is not RFC 3339", clean(v, 64))
		}
		return t, nil
	case json.Number:
		f, err := v.Float64()
		if err != nil || f < 0 || f > 253402300799 || math.IsNaN(f) {
			return time.Time{}, fmt.Errorf("time %s is not Unix seconds", clean(v.String(), 32))
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, errors.New("time must be an RFC 3339 string or Unix seconds")
}

// SignatureHeader carries a webhook body's HMAC when a shared secret is
// configured: "sha256=" and the hex HMAC-SHA256 of the body.
const SignatureHeader = "X-Vallum-Signature"

// CheckSignature reports whether sig is "sha256=<hex HMAC-SHA256(secret,
// body)>", in constant time.
func CheckSignature(secret, body []byte, sig string) bool {
	h, ok := strings.CutPrefix(strings.TrimSpace(sig), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(h)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
