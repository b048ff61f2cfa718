package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/sensor"
)

// eventKind is the log kind of sensor events: each is an "event" entry
// whose payload is a sensor.Event (internal/sensor).
const eventKind = "event"

// feedEvent is a sensor event as the console shows it.
type feedEvent struct {
	Index    int64     `json:"index"`
	Time     time.Time `json:"-"`
	When     string    `json:"when"`
	Sensor   string    `json:"sensor"`
	Protocol string    `json:"protocol"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Source   string    `json:"source"`
	Summary  string    `json:"summary"`
	Erased   bool      `json:"erased"`
}

// eventIndexes returns the log indexes of sensor events after index
// after, newest first, at most limit. It reads the log's index (the
// store's projection, which follows the log within moments).
func (c *Console) eventIndexes(ctx context.Context, after int64, limit int) ([]int64, error) {
	es, err := c.srv.DB.LatestOfKind(ctx, eventKind, after, limit)
	if err != nil {
		return nil, fmt.Errorf("couldn't list sensor events: %w", err)
	}
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Index
	}
	return out, nil
}

// readEvent reads the event at index from the log.
func (c *Console) readEvent(i int64, lang string) (feedEvent, sensor.Event, error) {
	e, err := c.srv.Log.Entry(i)
	if err != nil {
		return feedEvent{}, sensor.Event{}, err
	}
	h, err := evidence.DecodeHeader(e.Header)
	if err != nil {
		return feedEvent{}, sensor.Event{}, err
	}
	t, _ := h.ParsedTime()
	fe := feedEvent{Index: i, Time: t, Erased: e.Erased}
	var ev sensor.Event
	if !e.Erased && json.Unmarshal(e.Payload, &ev) == nil {
		if !ev.Time.IsZero() {
			fe.Time = ev.Time
		}
		fe.Sensor, fe.Protocol, fe.Kind, fe.Severity, fe.Source = ev.Sensor, ev.Protocol, ev.Kind, ev.Severity, ev.Src.IP
		fe.Summary = eventSummary(ev)
	}
	if fe.Severity == "" {
		fe.Severity = sensor.SeverityInfo
	}
	fe.When = fe.Time.In(incident.Rome).Format("15:04:05")
	if fe.Erased {
		fe.Summary = translate(lang, "event.erased")
	}
	return fe, ev, nil
}

// eventSummary is one line about an event, from attacker-controlled
// fields: it is only ever shown escaped (template or textContent).
func eventSummary(ev sensor.Event) string {
	var parts []string
	if ev.Credentials != nil {
		parts = append(parts, fmt.Sprintf("%s %s", ev.Credentials.Method, ev.Credentials.Username))
	}
	if ev.Command != "" {
		parts = append(parts, ev.Command)
	}
	for _, p := range ev.Payloads {
		parts = append(parts, fmt.Sprintf("%s (%d B, sha256 %.12s)", p.Name, p.Size, p.SHA256))
	}
	if s := ev.Details["signature"]; s != "" {
		parts = append(parts, s)
	}
	s := strings.Join(parts, " · ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return strings.ToValidUTF8(s, "�")
}

// recentEvents returns the sensor events after index after, newest
// first, at most limit.
func (c *Console) recentEvents(ctx context.Context, after int64, limit int, lang string) ([]feedEvent, error) {
	idx, err := c.eventIndexes(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]feedEvent, 0, len(idx))
	for _, i := range idx {
		fe, _, err := c.readEvent(i, lang)
		if err != nil {
			return nil, err
		}
		out = append(out, fe)
	}
	return out, nil
}

// loggedEvent is a sensor event read from the log.
type loggedEvent struct {
	feedEvent
	ev sensor.Event
}

// maxStatEvents bounds the events read for the pictures, the sessions
// and the honeytoken hits: the most recent ones.
const maxStatEvents = 5000

// eventCache keeps the latest read of the recent events (see
// recentLogged for how long). It is safe for concurrent use.
type eventCache struct {
	mu     sync.Mutex
	size   int64         // guarded by mu: the log size when read
	at     time.Time     // guarded by mu
	events []loggedEvent // guarded by mu: newest first
}

// recentLogged returns the most recent sensor events (at most
// maxStatEvents), newest first.
func (c *Console) recentLogged(ctx context.Context) ([]loggedEvent, error) {
	size := c.srv.Log.Size()
	c.events.mu.Lock()
	defer c.events.mu.Unlock()
	// Reused while the log has not grown (for a minute at most), and for
	// two seconds whatever happens: several people watching a busy
	// incident share one read.
	age := time.Since(c.events.at)
	if c.events.events != nil && ((c.events.size == size && age < time.Minute) || age < 2*time.Second) {
		return c.events.events, nil
	}
	idx, err := c.eventIndexes(ctx, -1, maxStatEvents)
	if err != nil {
		return nil, err
	}
	out := make([]loggedEvent, 0, len(idx))
	for _, i := range idx {
		fe, ev, err := c.readEvent(i, "en")
		if err != nil {
			return nil, err
		}
		out = append(out, loggedEvent{fe, ev})
	}
	c.events.events, c.events.size, c.events.at = out, size, time.Now()
	return out, nil
}

// eventStats are the pictures' numbers: events per hour over the last 24
// hours (oldest first) and the top sources among them.
type eventStats struct {
	Hours   [24]int
	Start   time.Time
	Sources []sourceCount
	Total   int
}

type sourceCount struct {
	Source string
	Count  int
}

// With the event pipeline (vallum serve) they count every event of the
// 24 hours in its index; without it, the latest maxStatEvents read from
// the log.
func (c *Console) eventStats(ctx context.Context, now time.Time) (eventStats, error) {
	st := eventStats{Start: now.Truncate(time.Hour).Add(-23 * time.Hour)}
	if ev := c.srv.Events; ev != nil && ev.Pipeline != nil {
		return c.indexedStats(ctx, st)
	}
	evs, err := c.recentLogged(ctx)
	if err != nil {
		return st, err
	}
	counts := map[string]int{}
	for _, fe := range evs {
		if fe.Time.Before(st.Start) {
			continue
		}
		h := int(fe.Time.Sub(st.Start) / time.Hour)
		if h < 0 || h >= 24 {
			continue
		}
		st.Hours[h]++
		st.Total++
		if fe.Source != "" {
			counts[fe.Source]++
		}
	}
	for s, n := range counts {
		st.Sources = append(st.Sources, sourceCount{s, n})
	}
	slices.SortFunc(st.Sources, func(a, b sourceCount) int {
		return cmp.Or(b.Count-a.Count, strings.Compare(a.Source, b.Source))
	})
	if len(st.Sources) > 8 {
		st.Sources = st.Sources[:8]
	}
	return st, nil
}

// indexedStats fills st from the pipeline's index of events.
func (c *Console) indexedStats(ctx context.Context, st eventStats) (eventStats, error) {
	s, err := c.srv.Events.Pipeline.EventStats(ctx, st.Start, 8)
	if err != nil {
		return st, fmt.Errorf("couldn't count sensor events: %w", err)
	}
	for _, h := range s.PerHour {
		t, err := time.Parse("2006-01-02T15", h.Hour)
		if i := int(t.Sub(st.Start) / time.Hour); err == nil && i >= 0 && i < 24 {
			st.Hours[i] += int(h.Count)
			st.Total += int(h.Count)
		}
	}
	for _, src := range s.TopSources {
		st.Sources = append(st.Sources, sourceCount{src.Source, int(src.Count)})
	}
	return st, nil
}

// feedLifetime bounds one live-feed stream; the browser reconnects.
const feedLifetime = 10 * time.Minute

// feedRecheck is how often an open live feed re-checks that the token
// behind its session still authenticates.
const feedRecheck = 2 * time.Second

// feed streams new sensor events as Server-Sent Events (event "sensor",
// data a feedEvent in JSON) until the client leaves, the session ends
// (it expires, or its token is revoked or its user disabled: then it sends
// the event "signedout") or feedLifetime passes. ?after= or Last-Event-ID is the last index the
// page has.
func (c *Console) feed(w http.ResponseWriter, r *http.Request, rq *request) {
	after, ok := formInt(r.URL.Query(), "after", -1, 1<<62)
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		var n int64
		if _, err := fmt.Sscan(id, &n); err == nil && n >= 0 {
			after, ok = n, true
		}
	}
	if !ok {
		c.fail(w, r, rq, http.StatusBadRequest, "err.param", "after")
		return
	}
	if after < 0 {
		// Only what is new from now on.
		after = c.srv.Log.Size() - 1
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	end := time.NewTimer(feedLifetime)
	defer end.Stop()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	checked := time.Now() // page() checked the token as the feed opened
	quiet := 0
	for {
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		evs, err := c.recentEvents(ctx, after, 50, rq.lang)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Error("live feed failed", "err", err)
			}
			return
		}
		slices.Reverse(evs)
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\nevent: sensor\ndata: %s\n\n", ev.Index, b)
			after = ev.Index
		}
		if len(evs) == 0 {
			quiet++
			if quiet%8 == 0 {
				fmt.Fprint(w, ": keep-alive\n\n")
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
		alive := c.sessions.alive(rq.sess, c.now())
		if alive && time.Since(checked) >= feedRecheck {
			// The token behind the session must still be good, as page()
			// checks for every request: a feed open when the token is
			// revoked or the user disabled ends within feedRecheck.
			checked = time.Now()
			var err error
			if _, alive, err = c.holder(ctx, rq.sess); err != nil {
				if ctx.Err() == nil {
					c.log.Error("live feed: couldn't re-check the session's token", "err", err)
				}
				return
			}
		}
		if !alive {
			fmt.Fprint(w, "event: signedout\ndata: {}\n\n")
			rc.Flush()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-c.srv.Log.Changed():
		case <-tick.C:
		}
	}
}
