package intake

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// roundTrip checks that appendEvent's JSON is valid and reads back as the
// same event as encoding/json's.
func roundTrip(t *testing.T, e sensor.Event) {
	t.Helper()
	got := appendEvent(nil, &e)
	if !json.Valid(got) {
		t.Fatalf("invalid JSON: %s", got)
	}
	want, err := json.Marshal(e)
	if err != nil {
		t.Skipf("encoding/json refuses it too: %v", err) // a year out of range: Normalize bounds it
	}
	var a, b sensor.Event
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	json.Unmarshal(want, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("appendEvent reads back as\n%+v\nencoding/json as\n%+v\n(%s)", a, b, got)
	}
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	full := sensor.Event{ID: "ev-1", Time: time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC), Sensor: "edge/ssh", Protocol: "ssh",
		Kind: "auth", Severity: "medium", Src: sensor.Endpoint{IP: "2001:db8::1", Port: 22}, Dst: sensor.Endpoint{Port: 2222},
		Session: "s", Credentials: &sensor.Credentials{Method: "password", Username: "root", Password: "p\"a\\s\ns\x01<&>\u2028é\xff", Accepted: true},
		Command: "echo 'x' | sh", Payloads: []sensor.PayloadRef{{SHA256: "ab", Size: 3, Name: "x.sh", Truncated: true}, {SHA256: "cd"}},
		Fingerprints: map[string]string{"hassh": "h", "client_version": "SSH-2.0-x"}, Details: map[string]string{"z": "1", "a": "\t"}, Honeytoken: "HT-1"}
	roundTrip(t, full)
	roundTrip(t, sensor.Event{ID: "e", Sensor: "s", Kind: "connect"})
	roundTrip(t, sensor.Event{ID: "e", Sensor: "s", Kind: "connect", Src: sensor.Endpoint{IP: "192.0.2.1"}, Credentials: &sensor.Credentials{}})
	for _, l := range readLines(t, "eve.ndjson") {
		e, err := ParseEVE(l, nil, "ids")
		if err != nil {
			continue
		}
		e.ID = EVEID("t", l)
		roundTrip(t, e)
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("ev-1", "root", "p\"\\\n\x00<é\xff\u2028", "k", "v", int64(5))
	f.Fuzz(func(t *testing.T, id, user, pass, k, v string, n int64) {
		roundTrip(t, sensor.Event{ID: id, Time: time.Unix(n%253402300799, 0).UTC(), TimeSource: k, Sensor: user, Kind: pass,
			Credentials: &sensor.Credentials{Username: user, Password: pass}, Details: map[string]string{k: v, "x" + k: pass},
			Payloads: []sensor.PayloadRef{{SHA256: v, Size: n}}})
	})
}
