package intake

import (
	"container/list"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/sensor"
)

// RateLimitedDetail is the detail of a summary event that counts the
// events of its source not logged one by one (intake.per_source_rate).
const RateLimitedDetail = "rate_limited"

// limiter is a token bucket per source: an IPv4 address, or an IPv6 /64
// (one host can hold a whole /64). It is safe for concurrent use.
//
// Its pure part takes the time as an argument; the pipeline gives it its
// clock and logs the summaries it returns.
type limiter struct {
	rate  float64 // tokens a second
	burst float64
	max   int // sources tracked

	mu    sync.Mutex
	lru   *list.List // of *bucket, most recently seen first
	bySrc map[netip.Prefix]*list.Element
}

// bucket is one source's tokens and what it had suppressed since its
// last summary.
type bucket struct {
	key    netip.Prefix
	tokens float64
	at     time.Time // when tokens was last refilled

	suppressed  int64
	first, last time.Time // of the suppressed events
	worst       string    // severity
	src         sensor.Endpoint
	sensors     []string // distinct, at most maxSummaryNames
	kinds       map[string]int64
}

// maxSummaryNames bounds the sensor names listed in a summary.
const maxSummaryNames = 8

func newLimiter(c config.PerSourceRate) *limiter {
	if c.Disabled {
		return nil
	}
	return &limiter{rate: c.Rate, burst: float64(c.Burst), max: c.Sources, lru: list.New(), bySrc: make(map[netip.Prefix]*list.Element)}
}

// sourceKey is the prefix e's source is limited under; false for an event
// without a source address (the pipeline's own, which are not limited).
func sourceKey(e sensor.Event) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(e.Src.IP)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p, true
}

// allow takes a token for e at now. When there is none, e is counted in
// its source's summary and allow returns false. evicted is the summary of
// a source forgotten to make room, to be logged by the caller.
func (l *limiter) allow(e sensor.Event, now time.Time) (ok bool, evicted *sensor.Event) {
	return l.check(e, now, true)
}

// check is allow; without a token, e is counted in its source's summary
// only if count is set (the caller sums it up otherwise).
func (l *limiter) check(e sensor.Event, now time.Time, count bool) (ok bool, evicted *sensor.Event) {
	key, limited := sourceKey(e)
	if !limited {
		return true, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if el := l.bySrc[key]; el != nil {
		l.lru.MoveToFront(el)
		b = el.Value.(*bucket)
		if d := now.Sub(b.at); d > 0 {
			b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
			b.at = now
		}
	} else {
		if l.lru.Len() >= l.max {
			old := l.lru.Remove(l.lru.Back()).(*bucket)
			delete(l.bySrc, old.key)
			evicted = old.summary(l)
		}
		b = &bucket{key: key, tokens: l.burst, at: now}
		l.bySrc[key] = l.lru.PushFront(b)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, evicted
	}
	if count {
		b.count(e, now)
	}
	return false, evicted
}

// count adds e, suppressed at now, to b's summary.
func (b *bucket) count(e sensor.Event, now time.Time) {
	sev := e.Severity
	if Rank(sev) < 0 {
		sev = defaultSeverity(e.Kind)
	}
	if b.suppressed == 0 {
		b.first, b.worst, b.src, b.sensors, b.kinds = now, sev, e.Src, nil, map[string]int64{}
	}
	b.suppressed++
	b.last = now
	if Rank(sev) > Rank(b.worst) {
		b.worst = sev
	}
	if len(b.sensors) < maxSummaryNames && !slices.Contains(b.sensors, e.Sensor) {
		b.sensors = append(b.sensors, e.Sensor)
	}
	if len(b.kinds) < len(Kinds) || b.kinds[e.Kind] > 0 {
		b.kinds[e.Kind]++
	}
}

// summaries returns one summary event per source with suppressed events
// and resets their counts; sources whose bucket is full again and that
// have nothing pending are forgotten (a new bucket is the same).
func (l *limiter) summaries(now time.Time) []sensor.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sensor.Event
	for el := l.lru.Front(); el != nil; {
		next := el.Next()
		b := el.Value.(*bucket)
		if s := b.summary(l); s != nil {
			out = append(out, *s)
			b.suppressed = 0
		} else if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			l.lru.Remove(el)
			delete(l.bySrc, b.key)
		}
		el = next
	}
	return out
}

// summary is the event that stands for b's suppressed events (nil if
// none): kind log, from the source, as severe as the worst of them.
func (b *bucket) summary(l *limiter) *sensor.Event {
	if b.suppressed == 0 {
		return nil
	}
	kinds := make([]string, 0, len(b.kinds))
	for k, n := range b.kinds {
		kinds = append(kinds, k+":"+strconv.FormatInt(n, 10))
	}
	slices.Sort(kinds)
	return &sensor.Event{
		ID: sensor.NewID("rl-"), Time: b.last, Sensor: Actor, Kind: sensor.KindLog, Severity: b.worst,
		Src: sensor.Endpoint{IP: b.src.IP},
		Details: map[string]string{
			RateLimitedDetail: strconv.FormatInt(b.suppressed, 10),
			"since":           b.first.UTC().Format(time.RFC3339Nano),
			"until":           b.last.UTC().Format(time.RFC3339Nano),
			"source":          b.key.String(),
			"sensors":         strings.Join(b.sensors, ","),
			"kinds":           strings.Join(kinds, ","),
			"rate":            strconv.FormatFloat(l.rate, 'f', -1, 64),
			"burst":           strconv.FormatFloat(l.burst, 'f', -1, 64),
			"message":         "events from this source beyond intake.per_source_rate were counted, not logged one by one",
		},
	}
}
