package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/spool"
	"github.com/vallum/vallum/internal/store"
)

// env is a real evidence log, database and incident desk in a temporary
// directory.
type env struct {
	dir  string
	log  *evidence.Log
	db   *store.DB
	desk *incident.Desk
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return openEnv(t, t.TempDir())
}

func openEnv(t testing.TB, dir string) *env {
	t.Helper()
	keys, _, err := evidence.LoadOrCreateKeys(dir, "test.vallum.example/intake")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	files, err := store.OpenFiles(filepath.Join(dir, "log"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.Open(evidence.Config{Origin: keys.Origin, Signer: keys.Signer, Verifier: keys.Verifier, Storage: files, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "vallum.db"))
	if err != nil {
		t.Fatal(err)
	}
	desk, err := incident.Open(context.Background(), db, l, noDecider{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, log: l, db: db, desk: desk}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.log.Close()
	e.db.Close()
}

type noDecider struct{}

func (noDecider) Decide(context.Context, guard.Request, string) (guard.Decision, error) {
	return guard.Decision{}, fmt.Errorf("no guardrail in intake tests")
}

// running is a pipeline with Run going until stop.
type running struct {
	*Pipeline
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
}

func startPipeline(t testing.TB, e *env, mod func(*Config)) *running {
	t.Helper()
	cfg := Config{Log: e.log, DB: e.db, Desk: e.desk, SpoolDir: filepath.Join(e.dir, "intake-spool"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.Intake.Correlation.Flush = 20 * time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	p, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Pipeline: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func ev(id, src, kind string) sensor.Event {
	return sensor.Event{ID: id, Time: time.Now().UTC(), Sensor: "test/ssh", Protocol: "ssh", Kind: kind,
		Src: sensor.Endpoint{IP: src, Port: 40000}, Dst: sensor.Endpoint{IP: "127.0.0.1", Port: 2222}, Session: "s-" + id}
}

// logged returns the IDs of the log's event entries, counting each.
func logged(t testing.TB, l *evidence.Log) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, e := range loggedEvents(t, l) {
		ids[e.ID]++
	}
	return ids
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIngestAcceptsOnceAndReportsEachEvent(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, nil)
	ctx := context.Background()
	bad := ev("bad", "203.0.113.7", "nonsense")
	a, b := ev("a", "203.0.113.7", sensor.KindConnect), ev("b", "203.0.113.7", sensor.KindAuth)
	res := p.Ingest(ctx, []sensor.Event{a, bad, b, a})
	want := []string{Accepted, Rejected, Accepted, Duplicate}
	for i, r := range res {
		if r.Status != want[i] {
			t.Errorf("event %d (%s): got %s (%s), want %s", i, r.ID, r.Status, r.Error, want[i])
		}
	}
	if res[0].Index == nil || res[2].Index == nil {
		t.Fatalf("accepted events have no index: %+v", res)
	}
	// A later copy, after indexing, is a duplicate too; an event that
	// reuses the ID at another time is a different event and is logged.
	waitFor(t, "indexing", func() bool { n, _ := p.loadHead(context.Background()); return n == e.log.Size() })
	later := b
	later.Time = b.Time.Add(time.Second)
	res = p.Ingest(ctx, []sensor.Event{b, later})
	if res[0].Status != Duplicate {
		t.Errorf("re-sent event: got %s, want duplicate", res[0].Status)
	}
	if res[1].Status != Accepted {
		t.Errorf("same ID at another time: got %s (%s), want accepted", res[1].Status, res[1].Error)
	}
	ids := logged(t, e.log)
	if ids["a"] != 1 || ids["b"] != 2 || ids["bad"] != 0 {
		t.Errorf("log holds %v, want a once and b twice (two times)", ids)
	}
}

func TestConcurrentCopiesLoggedOnce(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, nil)
	var events []sensor.Event
	for i := range 200 {
		events = append(events, ev(fmt.Sprintf("ev-%d", i), "198.51.100.1", sensor.KindConnect))
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range p.Ingest(context.Background(), slices.Clone(events)) {
				if r.Status != Accepted && r.Status != Duplicate {
					t.Errorf("%s: %s %s", r.ID, r.Status, r.Error)
				}
			}
		}()
	}
	wg.Wait()
	ids := logged(t, e.log)
	if len(ids) != 200 {
		t.Errorf("got %d distinct events, want 200", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s logged %d times", id, n)
		}
	}
}

func TestEmitSpoolsWhenQueueFullAndDrains(t *testing.T) {
	e := newEnv(t)
	// A queue of 1: most of a burst overflows to disk.
	p := startPipeline(t, e, func(c *Config) { c.Intake.Queue = 1; c.Intake.Appenders = 8 })
	const n = 500
	for i := range n {
		p.Emit(ev(fmt.Sprintf("burst-%d", i), "192.0.2.9", sensor.KindConnect))
	}
	if p.Stats().Spooled == 0 {
		t.Fatalf("nothing spooled: %+v", p.Stats())
	}
	waitFor(t, "every event logged", func() bool { return p.Stats().Accepted == n })
	ids := logged(t, e.log)
	if len(ids) != n {
		t.Errorf("got %d events in the log, want %d", len(ids), n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("%s logged %d times", id, c)
		}
	}
	waitFor(t, "spool emptied", func() bool { return p.Stats().Spool.Events == 0 })
}

func TestDropsBeyondSpoolAreCountedAndLogged(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, func(c *Config) {
		c.Intake.Queue, c.Intake.Appenders = 1, 1
		c.Intake.Spool = config.Spool{MaxBytes: 4096, SegmentBytes: 4096}
	})
	for i := range 300 {
		p.Emit(ev(fmt.Sprintf("flood-%d", i), "192.0.2.10", sensor.KindConnect))
	}
	if p.Stats().Dropped == 0 {
		t.Fatalf("nothing dropped with a 4 KiB spool: %+v", p.Stats())
	}
	p.stop(t) // records the drops on the way out
	dropped := p.Stats().Dropped
	var recorded int64
	for i := range e.log.Size() {
		ent, _ := e.log.Entry(i)
		h, _ := evidence.DecodeHeader(ent.Header)
		if h.Kind == DroppedKind {
			var d DroppedRecord
			if err := json.Unmarshal(ent.Payload, &d); err != nil {
				t.Fatal(err)
			}
			recorded += d.Dropped
		}
	}
	if recorded != dropped {
		t.Errorf("event.dropped entries count %d, the pipeline dropped %d", recorded, dropped)
	}
	// Every emitted event is logged, still spooled (a spooled event being
	// drained at shutdown may be both: the next start finds it a
	// duplicate), or dropped and counted.
	kept := logged(t, e.log)
	sp, err := spool.Open(filepath.Join(e.dir, "intake-spool"), spool.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for {
		evs, cur, err := sp.Peek(1000)
		if err != nil || len(evs) == 0 {
			break
		}
		for _, x := range evs {
			kept[x.ID]++
		}
		sp.Ack(cur)
	}
	if int64(len(kept))+dropped != 300 {
		t.Errorf("%d events logged or spooled + %d dropped != 300 emitted", len(kept), dropped)
	}
}

func TestRestartDrainsSpoolAndKeepsIDs(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir)
	p := startPipeline(t, e, func(c *Config) { c.Intake.Queue, c.Intake.Appenders = 1, 1 })
	var first sensor.Event
	for i := range 200 {
		x := ev(fmt.Sprintf("r-%d", i), "192.0.2.11", sensor.KindConnect)
		if i == 0 {
			first = x
		}
		p.Emit(x)
	}
	p.stop(t)
	e.close()
	e = openEnv(t, dir)
	p = startPipeline(t, e, nil)
	waitFor(t, "spool drained", func() bool { return p.Stats().Spool.Events == 0 && len(logged(t, e.log)) == 200 })
	// IDs logged before the restart are known after it.
	res := p.Ingest(context.Background(), []sensor.Event{first})
	if res[0].Status != Duplicate {
		t.Errorf("an event logged before the restart: got %s, want duplicate", res[0].Status)
	}
	for id, c := range logged(t, e.log) {
		if c != 1 {
			t.Errorf("%s logged %d times", id, c)
		}
	}
}

func TestCorrelationOpensLinksAndFeedsPresentDanger(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, nil)
	ctx := context.Background()
	// A scan (low) from a new source only counts; a command (high) opens
	// an incident; a later auth (medium) is linked to it.
	scan := ev("scan", "203.0.113.50", sensor.KindConnect)
	cmd := ev("cmd", "203.0.113.50", sensor.KindCommand)
	auth := ev("auth", "203.0.113.50", sensor.KindAuth)
	other := ev("other", "203.0.113.51", sensor.KindAuth) // medium, new source: no incident
	for _, x := range [][]sensor.Event{{scan}, {cmd}, {auth, other}} {
		for _, r := range p.Ingest(ctx, x) {
			if r.Status != Accepted {
				t.Fatalf("%s: %s %s", r.ID, r.Status, r.Error)
			}
		}
	}
	var list []incident.Incident
	waitFor(t, "an incident with two linked events", func() bool {
		var err error
		list, _, err = e.desk.ListIncidents(ctx, incident.Filter{}, incident.Page{})
		if err != nil || len(list) != 1 {
			return false
		}
		evs, _ := e.desk.Events(ctx, list[0].ID)
		return len(evs) == 2
	})
	obs, err := e.desk.Observables(ctx, list[0].ID)
	if err != nil || len(obs) != 1 || obs[0].Value != "203.0.113.50" {
		t.Errorf("observables: got %+v, %v; want the source address", obs, err)
	}
	last, err := p.LastMalicious(ctx, list[0].ID)
	if err != nil || !last.Equal(auth.Time) {
		t.Errorf("LastMalicious: got %v, %v; want %v", last, err, auth.Time)
	}
}

type tokens map[string]string // password -> token ID

func (m tokens) MatchToken(e sensor.Event) (string, bool) {
	if e.Credentials == nil {
		return "", false
	}
	id, ok := m[e.Credentials.Password]
	return id, ok
}

func TestHoneytokenRaisesSeverityAndEmitsEvent(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, func(c *Config) { c.Tokens = tokens{"hunter2-honey": "HT-1"} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feed := p.Subscribe(ctx)
	x := ev("login", "203.0.113.60", sensor.KindConnect)
	x.Credentials = &sensor.Credentials{Method: "password", Username: "svc", Password: "hunter2-honey"}
	if r := p.Ingest(ctx, []sensor.Event{x}); r[0].Status != Accepted {
		t.Fatalf("got %+v", r)
	}
	got := map[string]sensor.Event{}
	for len(got) < 2 {
		select {
		case e := <-feed:
			got[e.ID] = e
		case <-time.After(10 * time.Second):
			t.Fatalf("feed gave %d events, want 2", len(got))
		}
	}
	if o := got["login"]; o.Honeytoken != "HT-1" || o.Severity != sensor.SeverityHigh {
		t.Errorf("matched event: honeytoken %q severity %q, want HT-1 high", o.Honeytoken, o.Severity)
	}
	h := got["login-honeytoken"]
	if h.Kind != sensor.KindHoneytoken || h.Honeytoken != "HT-1" || h.Details["event"] != "login" || h.Credentials != nil {
		t.Errorf("honeytoken event: %+v", h)
	}
	// The high-severity match opens an incident.
	waitFor(t, "incident", func() bool {
		l, _, _ := e.desk.ListIncidents(ctx, incident.Filter{}, incident.Page{})
		return len(l) == 1
	})
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, func(c *Config) { c.Intake.FeedBuffer = 2 })
	ctx := context.Background()
	slow := p.Subscribe(ctx)
	var batch []sensor.Event
	for i := range 10 {
		batch = append(batch, ev(fmt.Sprintf("f-%d", i), "192.0.2.1", sensor.KindConnect))
	}
	p.Ingest(ctx, batch)
	n := 0
	for range slow {
		n++
	}
	if n != 2 {
		t.Errorf("slow subscriber got %d events before being dropped, want its buffer of 2", n)
	}
	if p.Stats().Subscribers != 0 {
		t.Errorf("subscribers: got %d, want 0", p.Stats().Subscribers)
	}
}

func TestListAndStats(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, nil)
	ctx := context.Background()
	var batch []sensor.Event
	for i := range 5 {
		batch = append(batch, ev(fmt.Sprintf("l-%d", i), "198.51.100.7", sensor.KindConnect))
	}
	batch = append(batch, ev("l-x", "198.51.100.8", sensor.KindAuth))
	p.Ingest(ctx, batch)
	waitFor(t, "indexing", func() bool { n, _ := p.loadHead(context.Background()); return n == e.log.Size() })
	page, next, err := p.List(ctx, Query{Source: "198.51.100.7", Limit: 3})
	if err != nil || len(page) != 3 || next == 0 {
		t.Fatalf("first page: %d events, next %d, %v", len(page), next, err)
	}
	rest, next2, err := p.List(ctx, Query{Source: "198.51.100.7", From: next})
	if err != nil || len(rest) != 2 || next2 != 0 {
		t.Fatalf("second page: %d events, next %d, %v", len(rest), next2, err)
	}
	if page[0].Event == nil || page[0].Event.Src.IP != "198.51.100.7" {
		t.Errorf("listed event: %+v", page[0])
	}
	st, err := p.EventStats(ctx, time.Now().Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 6 || len(st.TopSources) != 2 || st.TopSources[0].Source != "198.51.100.7" || st.TopSources[0].Count != 5 || st.ByKind["auth"] != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// TestIndexMigrationKeepsEvents opens a database indexed by schema 1 (a
// unique index on the ID alone): schema 2 rebuilds the index from the
// log, so listings find the event logged before the upgrade and a copy
// of it is still a duplicate.
func TestIndexMigrationKeepsEvents(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir)
	ctx := context.Background()
	if err := e.db.Migrate(ctx, "intake", migrations[:2]); err != nil {
		t.Fatal(err)
	}
	old := ev("before-upgrade", "192.0.2.44", sensor.KindAuth)
	rcpt, err := e.log.Append(ctx, evidence.Record{Kind: EventKind, Actor: "test", Payload: appendEvent(nil, &old)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SQL().ExecContext(ctx, `INSERT INTO intake_events(idx, id, time, sensor, protocol, kind, severity, src_ip, src_port, dst_ip, dst_port, session, honeytoken)
		VALUES (?, ?, ?, ?, 'ssh', ?, 'low', ?, 40000, '127.0.0.1', 2222, ?, '')`,
		rcpt.Index, old.ID, old.Time.UTC().Format(evidence.TimeFormat), old.Sensor, old.Kind, old.Src.IP, old.Session); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SQL().ExecContext(ctx, `INSERT INTO intake_head(id, next) VALUES (1, ?)`, rcpt.Index+1); err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, e, nil)
	got, _, err := p.List(ctx, Query{Source: "192.0.2.44"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Event == nil || got[0].Event.ID != old.ID {
		t.Fatalf("listing after the upgrade: %+v, want the event indexed before it", got)
	}
	if r := p.Ingest(ctx, []sensor.Event{old}); r[0].Status != Duplicate {
		t.Errorf("a copy of an event indexed before the upgrade: got %s, want duplicate", r[0].Status)
	}
	if n := logged(t, e.log)[old.ID]; n != 1 {
		t.Errorf("%s logged %d times, want once", old.ID, n)
	}
}

// TestEventsWithoutTime: an event sent without a time gets its arrival
// time, marked as such in the log, and a copy sent without a time later
// (after indexing) is a duplicate, as is one in the same batch.
func TestEventsWithoutTime(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, nil)
	ctx := context.Background()
	x := ev("untimed-1", "198.51.100.77", sensor.KindConnect)
	x.Time = time.Time{}
	res := p.Ingest(ctx, []sensor.Event{x, x})
	if res[0].Status != Accepted || res[1].Status != Duplicate {
		t.Fatalf("two copies in one batch: %+v", res)
	}
	ent, err := e.log.Entry(*res[0].Index)
	if err != nil {
		t.Fatal(err)
	}
	var got sensor.Event
	if err := json.Unmarshal(ent.Payload, &got); err != nil {
		t.Fatal(err)
	}
	if got.TimeSource != TimeArrival || got.Time.IsZero() {
		t.Errorf("logged %+v; want an arrival time, marked time_source=%s", got, TimeArrival)
	}
	if x.Details != nil {
		t.Errorf("the sender's event was changed: %+v", x.Details)
	}
	waitFor(t, "indexing", func() bool { n, _ := p.loadHead(ctx); return n == e.log.Size() })
	time.Sleep(2 * time.Millisecond) // a later arrival time
	if r := p.Ingest(ctx, []sensor.Event{x}); r[0].Status != Duplicate {
		t.Errorf("a copy sent later without a time: got %s, want duplicate", r[0].Status)
	}
	timed := x
	timed.Time = time.Now()
	if r := p.Ingest(ctx, []sensor.Event{timed}); r[0].Status != Accepted {
		t.Errorf("the ID with a time of its own: got %s (%s), want accepted", r[0].Status, r[0].Error)
	}
	if n := logged(t, e.log)[x.ID]; n != 2 {
		t.Errorf("%s logged %d times, want 2 (once without a time, once with)", x.ID, n)
	}
}

// TestNormalizeTimes: the year range is checked in UTC (a local time
// that is year 10000 in UTC is refused), an arrival time is marked, and a
// time_source the server does not write is refused.
func TestNormalizeTimes(t *testing.T) {
	base := ev("t-1", "192.0.2.1", sensor.KindConnect)
	loc := time.FixedZone("UTC-5", -5*3600)
	tests := []struct {
		name   string
		time   time.Time
		source string
		ok     bool
		want   string // TimeSource after
	}{
		{"sensor time", time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), "", true, ""},
		{"no time", time.Time{}, "", true, TimeArrival},
		{"arrival kept on the way back from the spool", time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), TimeArrival, true, TimeArrival},
		{"unknown time_source", time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), "sensor-clock", false, ""},
		{"year 10000 in UTC", time.Date(9999, 12, 31, 23, 59, 59, 0, loc), "", false, ""},
		{"year 1969 in UTC", time.Date(1970, 1, 1, 0, 30, 0, 0, time.FixedZone("UTC+1", 3600)), "", false, ""},
		{"last microsecond of 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			e.Time, e.TimeSource = tt.time, tt.source
			got, err := Normalize(e, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
			if (err == nil) != tt.ok {
				t.Fatalf("Normalize: %v, want ok %v", err, tt.ok)
			}
			if err == nil && got.TimeSource != tt.want {
				t.Errorf("time_source %q, want %q", got.TimeSource, tt.want)
			}
		})
	}
}

// TestWebhookRedeliveredWithoutTime: a webhook document without a time,
// delivered twice (its ID is a hash of its content), is logged once.
func TestWebhookRedeliveredWithoutTime(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, nil)
	body := []byte(`{"src_ip":"198.51.100.9","message":"login failed","time_source":"arrival"}`)
	var statuses []string
	for i := range 2 {
		docs, err := ParseWebhook(body, WebhookFields{"src_ip": "src_ip"}, "hook", time.Now().Add(time.Duration(i)*time.Second))
		if err != nil || len(docs) != 1 || docs[0].Err != nil {
			t.Fatalf("delivery %d: %+v, %v", i, docs, err)
		}
		if i == 1 {
			waitFor(t, "indexing", func() bool { n, _ := p.loadHead(context.Background()); return n == e.log.Size() })
		}
		statuses = append(statuses, p.Ingest(context.Background(), []sensor.Event{docs[0].Event})[0].Status)
	}
	if statuses[0] != Accepted || statuses[1] != Duplicate {
		t.Errorf("two deliveries: %v, want accepted then duplicate", statuses)
	}
}
