package intake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/sensor"
)

// Desk is what correlation needs of the incident desk; *incident.Desk
// implements it. Its methods log before they change anything and must be
// safe for concurrent use.
type Desk interface {
	Create(ctx context.Context, actor incident.Actor, in incident.NewIncident) (incident.Incident, error)
	AddObservable(ctx context.Context, actor incident.Actor, id string, in incident.NewObservable) (incident.Observable, error)
	LinkEvents(ctx context.Context, actor incident.Actor, id string, indexes []int64) (int64, error)
	GetIncident(ctx context.Context, id string) (incident.Incident, error)
}

var _ Desk = (*incident.Desk)(nil)

// deskActor is who the pipeline's incident entries are by.
var deskActor = incident.Actor{Name: Actor}

// correlator turns events into incidents. Policy (docs/sensors.md): an
// event of at least OpenSeverity from a source with no incident in the
// window opens one (with the source address as an observable); every
// event of at least LinkSeverity from a source with an incident in the
// window is linked to it and moves the incident's last malicious activity
// (the guardrail's present_danger fact); lower events are only indexed
// and counted. Links are written in batches, one entry per incident per
// flush. A source's incident is the one its events go to while they keep
// coming within Window of each other; a closed incident is not reused.
type correlator struct {
	p    *Pipeline
	desk Desk
	cfg  config.Correlation
	in   chan link
	done chan struct{}
	quit chan struct{}

	// owned by the run goroutine
	sources map[string]*source // by source address
	incSrc  map[string]string  // incident -> source address
	pending map[string][]int64 // incident -> event indexes to link

	mu sync.Mutex
	// lastMalicious is the latest malicious activity per incident,
	// guarded by mu (read by the API's decision hook).
	lastMalicious map[string]time.Time
}

type source struct {
	incident string
	last     time.Time
	dirty    bool
}

type link struct {
	idx int64
	e   sensor.Event
}

func newCorrelator(ctx context.Context, p *Pipeline, desk Desk, cfg config.Correlation) (*correlator, error) {
	c := &correlator{
		p: p, desk: desk, cfg: cfg,
		in: make(chan link, 16384), done: make(chan struct{}), quit: make(chan struct{}),
		sources: make(map[string]*source), incSrc: make(map[string]string), pending: make(map[string][]int64), lastMalicious: make(map[string]time.Time),
	}
	db := p.db.SQL()
	rows, err := db.QueryContext(ctx, `SELECT src_ip, incident, last_at FROM intake_sources`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var ip, inc, last string
		if err := rows.Scan(&ip, &inc, &last); err != nil {
			rows.Close()
			return nil, err
		}
		t, _ := time.Parse(time.RFC3339Nano, last)
		c.sources[ip] = &source{incident: inc, last: t}
		c.incSrc[inc] = ip
	}
	rows.Close()
	return c, rows.Err()
}

// observe hands a logged event to the correlator if it is severe enough
// to count. It blocks when the correlator is behind (the desk is slow).
func (c *correlator) observe(idx int64, e sensor.Event) {
	if e.Src.IP == "" || Rank(e.Severity) < Rank(c.cfg.LinkSeverity) {
		return
	}
	select {
	case c.in <- link{idx, e}:
	case <-c.quit:
	}
}

// stop flushes pending links and ends run; appenders have finished.
func (c *correlator) stop() {
	close(c.quit)
	<-c.done
}

func (c *correlator) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Flush)
	defer t.Stop()
	n := 0
	for {
		select {
		case l := <-c.in:
			c.take(ctx, l)
			if n++; n >= incident.MaxLinkEvents {
				c.flush(ctx)
				n = 0
			}
		case <-t.C:
			c.flush(ctx)
			n = 0
		case <-c.quit:
			for {
				select {
				case l := <-c.in:
					c.take(context.WithoutCancel(ctx), l)
					continue
				default:
				}
				break
			}
			c.flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// within reports whether t is within the window of last.
func (c *correlator) within(t, last time.Time) bool {
	d := t.Sub(last)
	return d <= c.cfg.Window && d >= -c.cfg.Window
}

func (c *correlator) take(ctx context.Context, l link) {
	ip := l.e.Src.IP
	s := c.sources[ip]
	if s == nil || !c.within(l.e.Time, s.last) {
		if Rank(l.e.Severity) < Rank(c.cfg.OpenSeverity) {
			return // counted only
		}
		inc, err := c.open(ctx, l.e)
		if err != nil {
			c.p.logger.Error("couldn't open an incident for a hostile source", "src", ip, "err", err)
			return
		}
		s = &source{incident: inc, last: l.e.Time}
		c.sources[ip] = s
		c.incSrc[inc] = ip
	}
	if l.e.Time.After(s.last) {
		s.last = l.e.Time
	}
	s.dirty = true
	c.pending[s.incident] = append(c.pending[s.incident], l.idx)
	c.mu.Lock()
	if l.e.Time.After(c.lastMalicious[s.incident]) {
		c.lastMalicious[s.incident] = l.e.Time
	}
	c.mu.Unlock()
}

// open opens an incident for the source of e.
func (c *correlator) open(ctx context.Context, e sensor.Event) (string, error) {
	sev := incident.Medium
	switch e.Severity {
	case sensor.SeverityHigh:
		sev = incident.High
	case sensor.SeverityCritical:
		sev = incident.Critical
	}
	what := e.Protocol + " " + e.Kind
	if e.Honeytoken != "" {
		what = "honeytoken " + e.Honeytoken + " used over " + e.Protocol
	}
	inc, err := c.desk.Create(ctx, deskActor, incident.NewIncident{
		Title: clean(fmt.Sprintf("Hostile activity from %s (%s)", e.Src.IP, what), 200),
		Description: clean(fmt.Sprintf("Opened by the event pipeline: a %s %s event from %s seen by %s at %s. "+
			"Events of severity %s or more from this address within %s of each other are linked here.",
			e.Severity, e.Kind, e.Src.IP, e.Sensor, e.Time.Format(time.RFC3339), c.cfg.LinkSeverity, c.cfg.Window), 2000),
		Severity:   sev,
		Categories: []string{"intrusion_attempt"},
	})
	if err != nil {
		return "", err
	}
	if _, err := c.desk.AddObservable(ctx, deskActor, inc.ID, incident.NewObservable{Type: incident.ObsIP, Value: e.Src.IP, Tags: []string{"source"}, Seen: e.Time}); err != nil {
		c.p.logger.Warn("couldn't add the source address to the incident", "incident", inc.ID, "err", err)
	}
	c.p.logger.Info("opened an incident for a hostile source", "incident", inc.ID, "src", e.Src.IP, "severity", e.Severity)
	return inc.ID, nil
}

// flush writes pending links (one entry per incident, at most
// MaxLinkEvents each) and saves the sources' state.
func (c *correlator) flush(ctx context.Context) {
	for inc, idxs := range c.pending {
		if cur, err := c.desk.GetIncident(ctx, inc); err == nil && cur.Status == incident.StatusClosed {
			// Closed by an analyst: the source's activity goes to a new one.
			next, err := c.reopen(ctx, inc)
			if err != nil {
				c.p.logger.Error("couldn't open an incident for a hostile source", "src", c.incSrc[inc], "err", err)
				continue
			}
			inc = next
		}
		for len(idxs) > 0 {
			n := min(len(idxs), incident.MaxLinkEvents)
			if _, err := c.desk.LinkEvents(ctx, deskActor, inc, idxs[:n]); err != nil {
				c.p.logger.Error("couldn't link events to an incident", "incident", inc, "events", n, "err", err)
				break
			}
			idxs = idxs[n:]
		}
		if err := c.save(ctx, inc); err != nil {
			c.p.logger.Error("couldn't save correlation state", "incident", inc, "err", err)
		}
	}
	clear(c.pending)
	if err := c.saveSources(ctx); err != nil {
		c.p.logger.Error("couldn't save correlation state", "err", err)
	}
}

// reopen opens a new incident for the source of a closed one and makes it
// the source's incident.
func (c *correlator) reopen(ctx context.Context, closed string) (string, error) {
	ip := c.incSrc[closed]
	s := c.sources[ip]
	if s == nil {
		return "", fmt.Errorf("no source recorded for incident %s", closed)
	}
	e := sensor.Event{Src: sensor.Endpoint{IP: ip}, Time: s.last, Severity: sensor.SeverityHigh, Kind: "activity", Protocol: "sensor", Sensor: "sensors after " + closed + " was closed"}
	inc, err := c.open(ctx, e)
	if err != nil {
		return "", err
	}
	s.incident, s.dirty = inc, true
	c.incSrc[inc] = ip
	c.mu.Lock()
	c.lastMalicious[inc] = c.lastMalicious[closed]
	c.mu.Unlock()
	return inc, nil
}

func (c *correlator) save(ctx context.Context, inc string) error {
	c.mu.Lock()
	last := c.lastMalicious[inc]
	c.mu.Unlock()
	_, err := c.p.db.SQL().ExecContext(ctx, `INSERT INTO intake_incidents(incident, src_ip, last_malicious_at, linked) VALUES (?, ?, ?, 0)
ON CONFLICT(incident) DO UPDATE SET last_malicious_at = max(last_malicious_at, excluded.last_malicious_at)`, inc, c.incSrc[inc], last.UTC().Format(evidence.TimeFormat))
	return err
}

func (c *correlator) saveSources(ctx context.Context) error {
	tx, err := c.p.db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for ip, s := range c.sources {
		if !s.dirty {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO intake_sources(src_ip, incident, last_at) VALUES (?, ?, ?) ON CONFLICT(src_ip) DO UPDATE SET incident = excluded.incident, last_at = excluded.last_at`,
			ip, s.incident, s.last.UTC().Format(evidence.TimeFormat)); err != nil {
			return err
		}
		s.dirty = false
	}
	return tx.Commit()
}

// LastMalicious returns the time of the latest malicious activity the
// pipeline linked to an incident (zero if none): the fact behind the
// guardrail's present_danger.
func (p *Pipeline) LastMalicious(ctx context.Context, inc string) (time.Time, error) {
	var mem time.Time
	if p.corr != nil {
		p.corr.mu.Lock()
		mem = p.corr.lastMalicious[inc]
		p.corr.mu.Unlock()
	}
	var s string
	err := p.db.SQL().QueryRowContext(ctx, `SELECT last_malicious_at FROM intake_incidents WHERE incident = ?`, inc).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return mem, nil
	}
	if err != nil {
		return mem, err
	}
	t, _ := time.Parse(time.RFC3339Nano, s)
	if t.After(mem) {
		mem = t
	}
	return mem, nil
}
