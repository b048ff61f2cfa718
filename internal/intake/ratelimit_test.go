package intake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/sensor"
)

// loggedEvents returns the log's event entries.
func loggedEvents(t testing.TB, l *evidence.Log) []sensor.Event {
	t.Helper()
	var out []sensor.Event
	for i := range l.Size() {
		ent, err := l.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		h, err := evidence.DecodeHeader(ent.Header)
		if err != nil {
			t.Fatal(err)
		}
		if h.Kind != EventKind {
			continue
		}
		var e sensor.Event
		if err := json.Unmarshal(ent.Payload, &e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

func TestFloodingSourceDoesNotStarveAnother(t *testing.T) {
	e := newEnv(t)
	frozen := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC) // no bucket refills
	p := startPipeline(t, e, func(c *Config) {
		c.Desk = nil
		c.Clock = func() time.Time { return frozen }
		c.Intake.Queue, c.Intake.Appenders = 64, 1
		c.Intake.Spool = config.Spool{MaxBytes: 4096, SegmentBytes: 4096}
		c.Intake.PerSourceRate = config.PerSourceRate{Rate: 1, Burst: 20, Summary: 50 * time.Millisecond}
	})
	const flood, burst = 5000, 20
	for i := range flood {
		kind := sensor.KindConnect
		if i == flood/2 {
			kind = sensor.KindCommand // high: the summary must say so
		}
		p.Emit(ev(fmt.Sprintf("flood-%d", i), "192.0.2.66", kind))
	}
	for i := range 10 {
		p.Emit(ev(fmt.Sprintf("quiet-%d", i), "198.51.100.7", sensor.KindAuth))
	}
	// The summaries come once per interval: a slow run may split the
	// flood over several, so their counts are added up.
	var summaries []sensor.Event
	suppressed := func() int {
		n := 0
		for _, x := range summaries {
			c, _ := strconv.Atoi(x.Details[RateLimitedDetail])
			n += c
		}
		return n
	}
	waitFor(t, "the quiet source's events and the flooder's summaries", func() bool {
		quiet := 0
		summaries = summaries[:0]
		for _, x := range loggedEvents(t, e.log) {
			if strings.HasPrefix(x.ID, "quiet-") {
				quiet++
			}
			if x.Details[RateLimitedDetail] != "" {
				summaries = append(summaries, x)
			}
		}
		return quiet == 10 && suppressed() == flood-burst
	})
	p.stop(t)
	floodLogged := 0
	for _, x := range loggedEvents(t, e.log) {
		if strings.HasPrefix(x.ID, "flood-") {
			floodLogged++
		}
	}
	if floodLogged != burst {
		t.Errorf("flooder: got %d events logged one by one, want the burst, %d", floodLogged, burst)
	}
	worst := ""
	for _, x := range summaries {
		if x.Src.IP != "192.0.2.66" || x.Kind != sensor.KindLog {
			t.Errorf("summary: got source %q kind %q, want 192.0.2.66, log", x.Src.IP, x.Kind)
		}
		if Rank(x.Severity) > Rank(worst) {
			worst = x.Severity
		}
	}
	if worst != sensor.SeverityHigh {
		t.Errorf("summaries: worst severity %q, want high (the worst suppressed)", worst)
	}
	summary := summaries[0]
	if summary.Details["since"] == "" || summary.Details["until"] == "" || summary.Details["sensors"] != "test/ssh" {
		t.Errorf("summary details: %v", summary.Details)
	}
	if st := p.Stats(); st.RateLimited != flood-burst || st.Dropped != 0 {
		t.Errorf("stats: rate_limited %d dropped %d, want %d and 0", st.RateLimited, st.Dropped, flood-burst)
	}
}

func TestLimiterBuckets(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	l := newLimiter(config.PerSourceRate{Rate: 10, Burst: 2, Sources: 2})
	allow := func(src string) bool {
		ok, _ := l.allow(ev("x", src, sensor.KindConnect), now)
		return ok
	}
	// Two addresses of one IPv6 /64 share a bucket; IPv4 addresses do not.
	if !allow("2001:db8::1") || !allow("2001:db8::2") || allow("2001:db8::3") {
		t.Errorf("a /64 did not share one bucket of 2")
	}
	if !allow("192.0.2.1") || !allow("192.0.2.1") || allow("192.0.2.1") {
		t.Errorf("192.0.2.1: want 2 events then none")
	}
	// A third source evicts the least recently seen (the /64), whose
	// pending count comes back as a summary.
	ok, evicted := l.allow(ev("y", "192.0.2.2", sensor.KindConnect), now)
	if !ok || evicted == nil || evicted.Details[RateLimitedDetail] != "1" || evicted.Details["source"] != "2001:db8::/64" {
		t.Fatalf("eviction: got ok %v summary %+v, want the /64's summary of 1", ok, evicted)
	}
	// Tokens come back at the rate: 0.1 s gives one.
	now = now.Add(100 * time.Millisecond)
	if !allow("192.0.2.1") || allow("192.0.2.1") {
		t.Errorf("192.0.2.1 after 100ms at 10/s: want one more event")
	}
	sums := l.summaries(now)
	if len(sums) != 1 || sums[0].Details[RateLimitedDetail] != "2" || sums[0].Src.IP != "192.0.2.1" {
		t.Errorf("summaries: got %+v, want one for 192.0.2.1 counting 2", sums)
	}
	if again := l.summaries(now); len(again) != 0 {
		t.Errorf("summaries twice: got %d, want 0 (counts reset)", len(again))
	}
	// No source: the pipeline's own events are not limited.
	for range 5 {
		if ok, _ := l.allow(sensor.Event{ID: "own", Sensor: Actor, Kind: sensor.KindLog}, now); !ok {
			t.Fatal("an event without a source was limited")
		}
	}
}
