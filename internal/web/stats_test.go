package web

import (
	"context"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/intake"
	"github.com/vallum/vallum/internal/intake/intaketest"
	"github.com/vallum/vallum/internal/sensor"
)

// TestEventStatsFromIndex: with the event pipeline the pictures count
// every event of the last 24 hours from its index — more than the
// console would read from the log — by hour and by source.
func TestEventStatsFromIndex(t *testing.T) {
	e := newEnv(t)
	p := intaketest.Pipeline(t, intake.Config{Log: e.srv.Log, DB: e.srv.DB})
	e.srv.Events = &api.EventService{Pipeline: p, Sensor: "hq"}

	now := e.clock.now()
	var events []sensor.Event
	add := func(n int, src string, ago time.Duration) {
		for range n {
			events = append(events, sensor.Event{ID: sensor.NewID("st-"), Time: now.Add(-ago), Sensor: "edge-1/http", Protocol: "http",
				Kind: sensor.KindRequest, Src: sensor.Endpoint{IP: src, Port: 40000}})
		}
	}
	add(maxStatEvents+10, "203.0.113.80", 10*time.Minute) // more than the log read would take
	add(7, "203.0.113.81", 5*time.Hour)
	add(3, "203.0.113.82", 30*time.Hour) // older than the pictures
	for _, r := range p.Ingest(context.Background(), events) {
		if r.Status != intake.Accepted {
			t.Fatalf("ingest: %+v", r)
		}
	}
	var st eventStats
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err = e.console.eventStats(context.Background(), now); err != nil {
			t.Fatal(err)
		}
		if st.Total == maxStatEvents+17 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Total != maxStatEvents+17 {
		t.Fatalf("total %d, want %d (every event of the last 24 hours)", st.Total, maxStatEvents+17)
	}
	if got := st.Hours[23] + st.Hours[22]; got != maxStatEvents+10 {
		t.Errorf("the last hour(s) hold %d events, want %d: %v", got, maxStatEvents+10, st.Hours)
	}
	if len(st.Sources) != 2 || st.Sources[0] != (sourceCount{"203.0.113.80", maxStatEvents + 10}) || st.Sources[1] != (sourceCount{"203.0.113.81", 7}) {
		t.Errorf("top sources %+v", st.Sources)
	}
}
