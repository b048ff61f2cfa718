// Package intake is Vallum's event pipeline and its intake sources.
//
// The Pipeline takes sensor.Events from the honeypots (Emit, which never
// blocks a decoy) and from remote sensors and intake sources (Ingest,
// which answers per event once it is durable), appends each as an "event"
// entry to the evidence log, indexes it in SQLite, recognises honeytokens,
// correlates hostile sources into incidents on the incident desk, and
// feeds subscribers live. The parsers (Suricata EVE JSON, syslog RFC 5424
// and RFC 3164, a generic JSON webhook) are pure functions of bytes; the
// sources that read files and sockets are at the edge (tail.go,
// syslog_server.go).
//
// Overflow policy: the in-memory queue holds Config.Queue events; when it
// is full (the log is slow or a burst arrives) Emit writes the event to a
// bounded disk spool that is drained back into the queue when it has room;
// when the spool is full too, the event is dropped, counted, reported to
// the operator log and recorded in the evidence log as an "event.dropped"
// entry with the count (docs/sensors.md).
//
// Idempotency: Event.ID is the key. The first copy is logged; a later one
// is answered "duplicate" without a second entry, once the first is
// durable.
package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/spool"
	"github.com/vallum/vallum/internal/store"
)

// Entry kinds the pipeline writes.
const (
	// EventKind is the kind of an event's log entry; its payload is the
	// sensor.Event as JSON.
	EventKind = "event"
	// DroppedKind records events dropped by the overflow policy.
	DroppedKind = "event.dropped"
	// Actor is the actor of the entries the pipeline writes itself
	// (drops, and the incidents it opens and links).
	Actor = "vallum-intake"
)

// Log is the evidence log events go to. Append and AppendBatch must
// return only once the entries they report appended are durable; Entry returns a committed entry; Changed returns a
// channel closed at the next commit. All must be safe for concurrent use.
// *evidence.Log implements it.
type Log interface {
	Append(ctx context.Context, rec evidence.Record) (evidence.Receipt, error)
	AppendBatch(ctx context.Context, recs []evidence.Record) []evidence.Appended
	Entry(i int64) (evidence.Entry, error)
	Size() int64
	Changed() <-chan struct{}
}

var _ Log = (*evidence.Log)(nil)

// TokenMatcher recognises honeytokens. MatchToken returns the ID of the
// honeytoken e used or carried. It is called on every event, from many
// goroutines at once, so it must be safe for concurrent use and fast.
type TokenMatcher interface {
	MatchToken(e sensor.Event) (id string, ok bool)
}

// TokenMatchFunc adapts a function to TokenMatcher.
type TokenMatchFunc func(e sensor.Event) (string, bool)

// MatchToken calls f(e).
func (f TokenMatchFunc) MatchToken(e sensor.Event) (string, bool) { return f(e) }

// Config configures a Pipeline.
type Config struct {
	Log Log
	DB  *store.DB
	// Desk opens and links incidents; nil turns correlation off.
	Desk Desk
	// Tokens recognises honeytokens; nil: none.
	Tokens TokenMatcher
	// SpoolDir is the overflow spool's directory.
	SpoolDir string
	// Intake holds the sizes and the correlation settings (defaults
	// filled by config validation).
	Intake config.Intake
	// MaxPayload is the log's payload limit; larger events are rejected.
	MaxPayload int
	Logger     *slog.Logger
	// Clock returns the current time; time.Now if nil.
	Clock func() time.Time
}

// Result is the outcome of one event given to Ingest.
type Result struct {
	ID string `json:"id"`
	// Status is accepted (now in the log), duplicate (an earlier copy is
	// in the log), rejected (invalid: sending it again will not help),
	// limited (over its source's rate: counted in the source's summary
	// event, see IngestLimited) or retry (not logged now: send it again
	// later).
	Status string `json:"status"`
	// Index is the log index of an accepted event.
	Index *int64 `json:"index,omitempty"`
	Error string `json:"error,omitempty"`
}

// Result statuses.
const (
	Accepted  = "accepted"
	Duplicate = "duplicate"
	Rejected  = "rejected"
	Limited   = "limited"
	Retry     = "retry"
)

// Done reports whether the sender may forget the event: it is in the log,
// or will never be.
func (r Result) Done() bool { return r.Status != Retry }

// item is one event in the queue. done is nil for Emit (fire and forget);
// for Ingest it receives the result.
type item struct {
	e    sensor.Event
	done chan Result
}

// flight is an event accepted for appending and not yet in the SQLite
// index: later copies of its ID wait on done and are duplicates if ok.
type flight struct {
	done chan struct{}
	ok   bool // set before done is closed
}

// Pipeline is the event pipeline. It is safe for concurrent use.
//
// Goroutines (started by Run): the dispatcher takes batches from queue,
// drops duplicates and starts one appender per event (at most
// Intake.Appenders at once); the projector follows the log and indexes
// event entries in SQLite; the drainer moves spooled events back into the
// queue; the correlator opens and links incidents; the reporter records
// drops.
type Pipeline struct {
	cfg    Config
	log    Log
	db     *store.DB
	spool  *spool.Spool
	logger *slog.Logger
	clock  func() time.Time
	feed   feed
	corr   *correlator // nil when correlation is off
	limit  *limiter    // nil when intake.per_source_rate is disabled

	queue chan item
	sem   chan struct{} // appender slots
	wg    sync.WaitGroup

	// stopMu orders Emit and Ingest with shutdown: they hold it for
	// reading while queueing; Run takes it to set stopped and empty the
	// queue.
	stopMu  sync.RWMutex
	stopped bool // guarded by stopMu

	mu sync.Mutex // guards the fields below
	// recent holds the events (by eventKey) accepted for appending and
	// not yet in SQLite.
	recent map[string]*flight
	// hints are events appended and not yet projected, by log index: the
	// projector takes them instead of reading the entry back.
	hints map[int64]sensor.Event
	// claimed is the index the projector has taken hints up to: an
	// appender stores a hint only at or above it.
	claimed   int64
	projected chan struct{} // signalled after each projection commit

	spooled chan struct{} // signalled when an event is spooled

	// seen holds every ID indexed or accepted for appending (dispatcher
	// owned).
	seen *bloom

	// counters
	accepted   atomic.Int64
	duplicates atomic.Int64
	rejected   atomic.Int64
	spooledN   atomic.Int64
	dropped    atomic.Int64 // dropped and not yet reported
	droppedAll atomic.Int64
	limited    atomic.Int64 // counted in a rate-limit summary, not logged alone
}

// maxRecent bounds the IDs awaiting projection; the dispatcher waits for
// the projector beyond it.
const maxRecent = 1 << 18

// Open prepares a pipeline: it migrates its tables, brings the SQLite
// index up to date with the log (events appended before a crash but not
// indexed are indexed now, so that their IDs are known), opens the spool
// and loads the correlation state. Run starts it.
func Open(ctx context.Context, cfg Config) (*Pipeline, error) {
	if cfg.Log == nil || cfg.DB == nil {
		return nil, errors.New("intake: the pipeline needs a log and a database")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1 << 20
	}
	if err := cfg.Intake.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.DB.Migrate(ctx, "intake", migrations); err != nil {
		return nil, fmt.Errorf("couldn't migrate the intake tables: %w", err)
	}
	in := cfg.Intake
	p := &Pipeline{
		cfg: cfg, log: cfg.Log, db: cfg.DB, logger: cfg.Logger, clock: cfg.Clock,
		feed:      feed{buf: in.FeedBuffer},
		queue:     make(chan item, in.Queue),
		sem:       make(chan struct{}, in.Appenders),
		recent:    make(map[string]*flight),
		hints:     make(map[int64]sensor.Event),
		projected: make(chan struct{}, 1),
		spooled:   make(chan struct{}, 1),
		limit:     newLimiter(in.PerSourceRate),
	}
	head, err := p.loadHead(ctx)
	if err != nil {
		return nil, err
	}
	p.claimed = head
	for p.claimed < p.log.Size() {
		if err := p.projectRange(ctx, p.log.Size()); err != nil {
			return nil, fmt.Errorf("couldn't index the log's events: %w", err)
		}
	}
	if p.seen, err = p.loadSeen(ctx); err != nil {
		return nil, err
	}
	sp, err := spool.Open(cfg.SpoolDir, spool.Config{MaxBytes: in.Spool.MaxBytes, SegmentBytes: in.Spool.SegmentBytes, MaxEvent: cfg.MaxPayload})
	if err != nil {
		return nil, fmt.Errorf("couldn't open the intake spool: %w", err)
	}
	p.spool = sp
	if cfg.Desk != nil && !in.Correlation.Disabled {
		if p.corr, err = newCorrelator(ctx, p, cfg.Desk, in.Correlation); err != nil {
			sp.Close()
			return nil, err
		}
	}
	if st := sp.Stats(); st.Events > 0 {
		p.logger.Info("intake spool holds events from before the restart; draining", "events", st.Events, "bytes", st.Bytes)
	}
	return p, nil
}

// Emit queues e for the log and returns at once: a full queue sends e to
// the disk spool, a full spool drops it (counted, reported and logged). An
// event without an ID gets one; invalid events are counted and dropped.
//
// A source beyond intake.per_source_rate has its events counted instead,
// and summarised in one event per source every summary interval, so that
// one flooding source cannot fill the queue and the spool that every
// sensor shares. An event that carries a honeytoken is never held back.
//
// The pipeline takes ownership of e's maps and slices (Details,
// Fingerprints, Payloads): the caller must not change them afterwards.
// The same holds for the events given to Ingest and IngestLimited.
func (p *Pipeline) Emit(e sensor.Event) {
	if p.overLimit(e, p.clock()) {
		return
	}
	p.emit(e)
}

// overLimit applies intake.per_source_rate to e: it reports whether e is
// over its source's limit, in which case e is counted in the source's
// summary instead of logged. An event that carries a honeytoken is never
// held back.
func (p *Pipeline) overLimit(e sensor.Event, now time.Time) bool {
	if p.limit == nil {
		return false
	}
	ok, evicted := p.limit.allow(e, now)
	if evicted != nil {
		p.emit(*evicted)
	}
	if ok {
		return false
	}
	if p.cfg.Tokens != nil {
		if _, tok := p.cfg.Tokens.MatchToken(e); tok {
			return false
		}
	}
	p.limited.Add(1)
	return true
}

// IngestLimited is Ingest with the per-source limit Emit applies, for
// events from honeypots elsewhere (remote sensors), so that one attacker
// flooding a remote honeypot cannot fill the log any more than one
// flooding a local one. The events of a source over its limit are
// answered Limited — final: the sender may forget them — once a summary
// event that counts them (one per source and call) is durably in the
// log; if it is not, they are answered as it was (retry).
func (p *Pipeline) IngestLimited(ctx context.Context, events []sensor.Event) []Result {
	if p.limit == nil {
		return p.Ingest(ctx, events)
	}
	out := make([]Result, len(events))
	take := make([]sensor.Event, 0, len(events))
	at := make([]int, 0, len(events)) // index in events, or -1 - the summary's index in sums
	type sum struct {
		b      *bucket
		events []int
	}
	var sums []*sum
	bySrc := map[netip.Prefix]*sum{}
	now := p.clock()
	for i, e := range events {
		ok, evicted := p.limit.check(e, now, false)
		if evicted != nil {
			p.emit(*evicted)
		}
		if !ok && p.cfg.Tokens != nil {
			_, ok = p.cfg.Tokens.MatchToken(e) // a honeytoken is never held back
		}
		if ok {
			take, at = append(take, e), append(at, i)
			continue
		}
		key, _ := sourceKey(e)
		s := bySrc[key]
		if s == nil {
			s = &sum{b: &bucket{key: key}}
			bySrc[key] = s
			sums = append(sums, s)
		}
		s.b.count(e, now)
		s.events = append(s.events, i)
	}
	for j, s := range sums {
		take, at = append(take, *s.b.summary(p.limit)), append(at, -1-j)
	}
	for j, r := range p.Ingest(ctx, take) {
		if at[j] >= 0 {
			out[at[j]] = r
			continue
		}
		s := sums[-1-at[j]]
		for _, i := range s.events {
			out[i] = Result{ID: events[i].ID, Status: Limited}
			if r.Status != Accepted && r.Status != Duplicate {
				out[i].Status, out[i].Error = Retry, "over its source's rate, and the summary that would count it was not logged: "+r.Error
			}
		}
		if out[s.events[0]].Status == Limited {
			p.limited.Add(int64(len(s.events)))
		}
	}
	return out
}

// emit is Emit without the per-source limit: for the pipeline's own
// events (summaries, honeytoken events of events already admitted).
func (p *Pipeline) emit(e sensor.Event) {
	if e.ID == "" {
		e.ID = sensor.NewID("ev-")
	}
	p.stopMu.RLock()
	if !p.stopped {
		select {
		case p.queue <- item{e: e}:
			p.stopMu.RUnlock()
			return
		default:
		}
	}
	p.stopMu.RUnlock()
	p.toSpool(e)
}

// toSpool writes e to the spool, or drops it.
func (p *Pipeline) toSpool(e sensor.Event) {
	if err := p.spool.Put(e); err != nil {
		p.dropped.Add(1)
		p.droppedAll.Add(1)
		if !errors.Is(err, spool.ErrFull) {
			p.logger.Error("couldn't spool an event; dropped", "event", e.ID, "err", err)
		}
		return
	}
	p.spooledN.Add(1)
	select {
	case p.spooled <- struct{}{}:
	default:
	}
}

// Ingest logs events and returns one result per event, in order, each
// only once it is final: accepted and duplicate events are durably in the
// log. It waits for room in the queue (backpressure on the sender) until
// ctx ends; events it could not queue are answered "retry".
func (p *Pipeline) Ingest(ctx context.Context, events []sensor.Event) []Result {
	out := make([]Result, len(events))
	chans := make([]chan Result, len(events))
	p.stopMu.RLock()
	for i, e := range events {
		if p.stopped {
			out[i] = Result{ID: e.ID, Status: Retry, Error: "the server is shutting down"}
			continue
		}
		ch := make(chan Result, 1)
		select {
		case p.queue <- item{e: e, done: ch}:
			chans[i] = ch
		case <-ctx.Done():
			out[i] = Result{ID: e.ID, Status: Retry, Error: "timed out waiting for room in the queue"}
		}
	}
	p.stopMu.RUnlock()
	for i, ch := range chans {
		if ch != nil {
			out[i] = <-ch
		}
	}
	return out
}

// Run runs the pipeline until ctx ends. On the way out it stops taking
// events, spools what is still queued, waits for appends in flight and
// flushes pending incident links.
func (p *Pipeline) Run(ctx context.Context) error {
	var bg sync.WaitGroup
	start := func(f func(context.Context)) {
		bg.Add(1)
		go func() { defer bg.Done(); f(ctx) }()
	}
	projErr := make(chan error, 1)
	bg.Add(1)
	go func() {
		defer bg.Done()
		if err := p.project(ctx); err != nil {
			projErr <- err
		}
	}()
	start(p.drain)
	start(p.report)
	if p.limit != nil {
		start(p.summarise)
	}
	if p.corr != nil {
		start(p.corr.run)
	}
	p.dispatch(ctx)

	// Shutdown: refuse new events, spool the queued ones (answering
	// Ingest callers "retry": they keep their copy).
	p.stopMu.Lock()
	p.stopped = true
	p.stopMu.Unlock()
	for {
		select {
		case it := <-p.queue:
			p.fail(it, nil, "the server is shutting down")
			continue
		default:
		}
		break
	}
	p.wg.Wait()
	if p.corr != nil {
		p.corr.stop()
	}
	bg.Wait()
	p.emitSummaries() // to the spool: the pipeline is stopped
	p.reportDrops(context.Background())
	err := p.spool.Close()
	select {
	case e := <-projErr:
		return e
	default:
	}
	return err
}

// fail answers an item that was not logged: an Ingest caller gets retry,
// an emitted event goes to the spool.
func (p *Pipeline) fail(it item, fl *flight, why string) {
	if fl != nil {
		p.mu.Lock()
		delete(p.recent, eventKey(it.e))
		p.mu.Unlock()
		close(fl.done)
	}
	if it.done != nil {
		it.done <- Result{ID: it.e.ID, Status: Retry, Error: why}
		return
	}
	p.toSpool(it.e)
}

func (p *Pipeline) answer(it item, r Result) {
	if it.done != nil {
		it.done <- r
	}
}

// dispatch is the dispatcher goroutine's loop.
func (p *Pipeline) dispatch(ctx context.Context) {
	batch := make([]item, 0, 1024)
	for {
		batch = batch[:0]
		select {
		case it := <-p.queue:
			batch = append(batch, it)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case it := <-p.queue:
				batch = append(batch, it)
			default:
				break more
			}
		}
		p.admit(ctx, batch)
	}
}

// admit normalises a batch, answers invalid events and duplicates, and
// starts an appender for each of the rest.
func (p *Pipeline) admit(ctx context.Context, batch []item) {
	now := p.clock()
	fresh := make([]item, 0, len(batch))
	for _, it := range batch {
		e, err := Normalize(it.e, now)
		if err != nil {
			p.reject(it, err)
			continue
		}
		it.e = e
		fresh = append(fresh, it)
	}
	// Wait for the projector if too many IDs await it.
	for {
		p.mu.Lock()
		n := len(p.recent)
		p.mu.Unlock()
		if n < maxRecent {
			break
		}
		select {
		case <-p.projected:
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Claim each ID first: a copy already in flight waits for it. Only
	// then ask the index, so that an ID the projector removes from recent
	// (after committing it) is found there.
	mine := make([]claim, 0, len(fresh))
	var maybe []item
	keys := make([]string, len(fresh))
	for i := range fresh {
		keys[i] = eventKey(fresh[i].e)
	}
	type copyOf struct {
		it    item
		prior *flight
	}
	var copies []copyOf
	p.mu.Lock()
	for i, it := range fresh {
		if prior := p.recent[keys[i]]; prior != nil {
			copies = append(copies, copyOf{it, prior})
			continue
		}
		fl := &flight{done: make(chan struct{})}
		p.recent[keys[i]] = fl
		mine = append(mine, claim{it, fl})
	}
	p.mu.Unlock()
	for _, c := range copies {
		p.waitPrior(c.it, c.prior)
	}
	for _, c := range mine {
		if p.seen.mayContain(c.it.e.ID) { // only IDs the filter may have seen are looked up
			maybe = append(maybe, c.it)
		}
	}
	known, err := p.knownIDs(ctx, maybe)
	if err != nil {
		p.logger.Error("couldn't look up event IDs", "err", err)
	}
	todo := make([]claim, 0, len(mine))
	for _, c := range mine {
		if err != nil {
			p.fail(c.it, c.fl, "couldn't check the event ID")
			continue
		}
		if len(known) > 0 && known[eventKey(c.it.e)] {
			p.mu.Lock()
			delete(p.recent, eventKey(c.it.e))
			p.mu.Unlock()
			c.fl.ok = true // the first copy is durable
			close(c.fl.done)
			p.duplicates.Add(1)
			p.answer(c.it, Result{ID: c.it.e.ID, Status: Duplicate})
			continue
		}
		p.seen.add(c.it.e.ID)
		todo = append(todo, c)
	}
	// Append in parts of a quarter of the appender slots, so that several
	// parts are in flight: while the log makes one durable, the next is
	// encoded and sequenced.
	part := max(1, cap(p.sem)/4)
	for len(todo) > 0 {
		n := min(len(todo), part)
		batch := todo[:n:n]
		todo = todo[n:]
		for range n {
			p.sem <- struct{}{}
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() {
				for range n {
					<-p.sem
				}
			}()
			p.appendBatch(batch)
		}()
	}
}

// waitPrior answers a copy of an event already in flight once the first
// copy's outcome is known.
func (p *Pipeline) waitPrior(it item, prior *flight) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		<-prior.done
		if prior.ok {
			p.duplicates.Add(1)
			p.answer(it, Result{ID: it.e.ID, Status: Duplicate})
			return
		}
		p.fail(it, nil, "an earlier copy of this event could not be logged")
	}()
}

func (p *Pipeline) reject(it item, err error) {
	p.rejected.Add(1)
	if it.done == nil {
		p.logger.Warn("dropped an invalid event", "sensor", clean(it.e.Sensor, 64), "err", err)
	}
	p.answer(it, Result{ID: it.e.ID, Status: Rejected, Error: err.Error()})
}

// claim is an event admitted for appending, with the flight that later
// copies of its ID wait on.
type claim struct {
	it item
	fl *flight
}

// appendBatch appends a batch of admitted events to the log with one
// wait, then hands each to the index, the feed and the correlator.
func (p *Pipeline) appendBatch(batch []claim) {
	recs := make([]evidence.Record, 0, len(batch))
	keep := make([]claim, 0, len(batch))
	buf := make([]byte, 0, 512*len(batch)) // one allocation for the payloads
	for _, c := range batch {
		e := &c.it.e
		if p.cfg.Tokens != nil && e.Honeytoken == "" {
			if id, ok := p.cfg.Tokens.MatchToken(*e); ok {
				e.Honeytoken = clean(id, maxShort)
				if Rank(e.Severity) < Rank(sensor.SeverityHigh) {
					e.Severity = sensor.SeverityHigh
				}
			}
		}
		from := len(buf)
		buf = appendEvent(buf, e)
		payload := buf[from:len(buf):len(buf)]
		if len(payload) > p.cfg.MaxPayload {
			buf = buf[:from]
			p.refuse(c, fmt.Errorf("%w: the event is %d bytes, the log takes at most %d", ErrInvalidEvent, len(payload), p.cfg.MaxPayload))
			continue
		}
		recs = append(recs, evidence.Record{Kind: EventKind, Actor: actorOf(*e), Payload: payload})
		keep = append(keep, c)
	}
	if len(recs) == 0 {
		return
	}
	outs := p.log.AppendBatch(context.Background(), recs)
	p.mu.Lock()
	for i, o := range outs {
		if o.Err == nil && o.Receipt.Index >= p.claimed {
			p.hints[o.Receipt.Index] = keep[i].it.e
		}
	}
	p.mu.Unlock()
	failed := 0
	var lastErr error
	for i, o := range outs {
		c := keep[i]
		switch {
		case errors.Is(o.Err, evidence.ErrInvalid):
			p.refuse(c, o.Err)
		case o.Err != nil:
			failed++
			lastErr = o.Err
			p.fail(c.it, c.fl, "the evidence log did not take the event; send it again")
		default:
			p.accept(c, o.Receipt.Index)
		}
	}
	if failed > 0 {
		p.logger.Warn("couldn't log events; they are kept for a retry", "events", failed, "err", lastErr)
	}
}

// refuse answers an admitted event that can never be logged.
func (p *Pipeline) refuse(c claim, err error) {
	p.mu.Lock()
	delete(p.recent, eventKey(c.it.e))
	p.mu.Unlock()
	close(c.fl.done)
	p.reject(c.it, err)
}

// accept answers an event now durably at log index idx and passes it on.
func (p *Pipeline) accept(c claim, idx int64) {
	e := c.it.e
	c.fl.ok = true
	close(c.fl.done)
	p.accepted.Add(1)
	p.answer(c.it, Result{ID: e.ID, Status: Accepted, Index: &idx})
	p.feed.publish(e)
	if p.corr != nil {
		p.corr.observe(idx, e)
	}
	if e.Honeytoken != "" && e.Kind != sensor.KindHoneytoken {
		p.emit(honeytokenEvent(e))
	}
}

// eventKey identifies an event for idempotency: its ID and its time (to
// the microsecond, as the index keeps it). A copy of an event carries
// both; an event that reuses an ID at another time is another event, and
// is logged. An event sent without a time is identified by its ID among
// the events sent without one.
func eventKey(e sensor.Event) string {
	if arrivalTimed(e) {
		return e.ID + "\x00arrival"
	}
	return e.ID + "\x00" + strconv.FormatInt(e.Time.UnixMicro(), 10)
}

// honeytokenEvent is the "honeytoken" event raised when e used or carried
// a honeytoken. Its ID derives from e's, so a re-delivered e raises it
// once.
func honeytokenEvent(e sensor.Event) sensor.Event {
	h := e
	h.ID = clean(e.ID, MaxID-len("-honeytoken")) + "-honeytoken"
	h.Kind = sensor.KindHoneytoken
	if Rank(h.Severity) < Rank(sensor.SeverityHigh) {
		h.Severity = sensor.SeverityHigh
	}
	h.Credentials, h.Payloads, h.Command = nil, nil, ""
	h.Details = map[string]string{"event": e.ID, "event_kind": e.Kind}
	return h
}

// actorOf is the log entry's actor: the sensor that observed the event.
func actorOf(e sensor.Event) string {
	if evidence.ValidActor(e.Sensor) == nil {
		return e.Sensor
	}
	return Actor
}

// drain moves spooled events back through Ingest when the queue has
// room, and acknowledges them once they are final.
func (p *Pipeline) drain(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.spooled:
		case <-time.After(time.Second):
		}
		for ctx.Err() == nil {
			if len(p.queue) >= max(cap(p.queue)/2, 1) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			events, cur, err := p.spool.Peek(1024)
			if err != nil {
				p.logger.Error("couldn't read the intake spool", "err", err)
				break
			}
			if len(events) == 0 {
				if cur != (spool.Cursor{}) {
					p.spool.Ack(cur)
				}
				break
			}
			ok := true
			for _, r := range p.Ingest(ctx, events) {
				ok = ok && r.Done()
			}
			if !ok {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			if err := p.spool.Ack(cur); err != nil {
				p.logger.Error("couldn't acknowledge spooled events", "err", err)
			}
		}
	}
}

// summarise logs the rate-limit summaries every intake.per_source_rate.summary.
func (p *Pipeline) summarise(ctx context.Context) {
	t := time.NewTicker(p.cfg.Intake.PerSourceRate.Summary)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.emitSummaries()
		}
	}
}

func (p *Pipeline) emitSummaries() {
	if p.limit == nil {
		return
	}
	for _, s := range p.limit.summaries(p.clock()) {
		p.logger.Warn("rate-limited a source's events; logged a summary", "src_ip", s.Src.IP,
			"source", s.Details["source"], "suppressed", s.Details[RateLimitedDetail], "since", s.Details["since"], "until", s.Details["until"])
		p.emit(s)
	}
}

// reportEvery is how often drops are reported.
const reportEvery = 10 * time.Second

// report records drops every reportEvery.
func (p *Pipeline) report(ctx context.Context) {
	t := time.NewTicker(reportEvery)
	defer t.Stop()
	since := p.clock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if p.reportDropsSince(ctx, since) {
				since = p.clock()
			}
		}
	}
}

func (p *Pipeline) reportDrops(ctx context.Context) { p.reportDropsSince(ctx, time.Time{}) }

// DroppedRecord is the payload of an "event.dropped" entry.
type DroppedRecord struct {
	// Dropped is how many events were dropped since the previous report.
	Dropped int64  `json:"dropped"`
	Since   string `json:"since,omitempty"`
	Until   string `json:"until"`
	Reason  string `json:"reason"`
	// Spool is the spool's state when the report was made.
	Spool spool.Stats `json:"spool"`
}

// reportDropsSince logs and records the drops not yet reported; true if
// there were any and they were recorded.
func (p *Pipeline) reportDropsSince(ctx context.Context, since time.Time) bool {
	n := p.dropped.Swap(0)
	if n == 0 {
		return false
	}
	rec := DroppedRecord{Dropped: n, Until: p.clock().UTC().Format(time.RFC3339), Reason: "queue and disk spool full", Spool: p.spool.Stats()}
	if !since.IsZero() {
		rec.Since = since.UTC().Format(time.RFC3339)
	}
	p.logger.Warn("dropped sensor events: the queue and the disk spool were full", "dropped", n, "spool_bytes", rec.Spool.Bytes, "spool_events", rec.Spool.Events)
	b, _ := json.Marshal(rec)
	if _, err := p.log.Append(ctx, evidence.Record{Kind: DroppedKind, Actor: Actor, Payload: b}); err != nil {
		p.dropped.Add(n) // report them with the next ones
		p.logger.Error("couldn't record dropped events in the log", "err", err)
		return false
	}
	return true
}

// Stats are the pipeline's counters since it opened.
type Stats struct {
	Accepted   int64 `json:"accepted"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"`
	Spooled    int64 `json:"spooled"`
	Dropped    int64 `json:"dropped"`
	// RateLimited counts events not logged one by one because their
	// source exceeded intake.per_source_rate (each is in a summary).
	RateLimited int64       `json:"rate_limited"`
	Queued      int         `json:"queued"`
	Spool       spool.Stats `json:"spool"`
	// Subscribers is the number of live-feed subscribers.
	Subscribers int `json:"subscribers"`
}

// Stats returns the counters.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Accepted: p.accepted.Load(), Duplicates: p.duplicates.Load(), Rejected: p.rejected.Load(),
		Spooled: p.spooledN.Load(), Dropped: p.droppedAll.Load(), RateLimited: p.limited.Load(), Queued: len(p.queue),
		Spool: p.spool.Stats(), Subscribers: p.feed.len(),
	}
}

// Subscribe returns a live feed of the events logged from now on. The
// channel has Intake.FeedBuffer room; a subscriber that falls that far
// behind is dropped (its channel closed). It is closed when ctx ends.
func (p *Pipeline) Subscribe(ctx context.Context) <-chan sensor.Event { return p.feed.subscribe(ctx) }
