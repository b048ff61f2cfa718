package web

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/sensor"
)

// BenchmarkNowPage renders the Now page with 20 open incidents and 5,000
// sensor events in the log (the most its pictures read), the event cache
// cold on every iteration (the log grows between renders).
func BenchmarkNowPage(b *testing.B) {
	e := newEnv(b)
	for i := range 20 {
		e.incident(fmt.Sprint("incident ", i), []incident.Severity{incident.Critical, incident.High, incident.Medium, incident.Low}[i%4])
	}
	for i := range maxStatEvents {
		e.event(sensor.Event{ID: fmt.Sprint("ev", i), Time: e.clock.now().Add(-time.Duration(i) * 15 * time.Second), Sensor: "edge-1/ssh",
			Protocol: "ssh", Kind: sensor.KindAuth, Src: sensor.Endpoint{IP: fmt.Sprintf("203.0.113.%d", i%200)}, Session: fmt.Sprint("s", i/10),
			Credentials: &sensor.Credentials{Method: "password", Username: "root"}})
	}
	e.waitProjected()
	br := e.signedIn("ana")
	b.ResetTimer()
	for b.Loop() {
		e.console.events.mu.Lock()
		e.console.events.events = nil
		e.console.events.mu.Unlock()
		if w := br.get("/"); w.Code != http.StatusOK {
			b.Fatalf("GET /: %d", w.Code)
		}
	}
}
