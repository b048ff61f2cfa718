package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/honeytoken"
	"github.com/vallum/vallum/internal/sensor"
)

// The sensor part (issue 6). Everything a honeypot observes reaches the
// evidence log as an "event" entry, so the Sensors page reads the log:
// the sessions and their transcripts are rebuilt from the events of each
// session, in log order, and each honeypot's activity from the events it
// emitted. The honeypots themselves are those of the configuration
// (Config.Honeypots); the honeytokens come from the API server's
// registry (api.Server.Honeytokens) when it has one.

// Honeypot is a honeypot of the configuration.
type Honeypot struct {
	// Sensor is the sensor field its events carry ("local/ssh").
	Sensor   string
	Protocol string
	Listen   []string
	Enabled  bool
}

// honeypotView is a honeypot with what the log has seen of it.
type honeypotView struct {
	Honeypot
	Events    int
	LastEvent time.Time
}

// sensorSession is one attacker session, from its events.
type sensorSession struct {
	ID       string
	Sensor   string
	Protocol string
	Source   string
	Start    time.Time
	End      time.Time
	Events   int
	Commands int
}

// honeytokenView is a honeytoken with its hits among the recent events.
type honeytokenView struct {
	honeytoken.Token
	Hits     int
	LastSeen time.Time
}

// honeytokenReaders see token values (the API's rule); others see them
// masked.
var honeytokenReaders = []string{api.RoleAnalyst, api.RoleIncidentCommander, api.RoleAdmin}

// sensorsData is the Sensors page's data.
type sensorsData struct {
	Honeypots []honeypotView
	Sessions  []sensorSession
	// TokensAvailable: the honeytoken registry is in this build.
	TokensAvailable bool
	Honeytokens     []honeytokenView
	Events          []feedEvent
	LastEvent       int64
	Stats           eventStats
	HoursSVG        string
	TopSVG          string
	Window          int
}

// sessionsOf groups events by session, most recent first.
func sessionsOf(evs []loggedEvent) []sensorSession {
	byID := map[string]*sensorSession{}
	var order []string
	for _, e := range evs {
		id := e.ev.Session
		if id == "" {
			continue
		}
		s := byID[id]
		if s == nil {
			s = &sensorSession{ID: id, Sensor: e.Sensor, Protocol: e.Protocol, Source: e.Source, Start: e.Time, End: e.Time}
			byID[id] = s
			order = append(order, id)
		}
		s.Events++
		if e.ev.Kind == sensor.KindCommand {
			s.Commands++
		}
		if e.Time.Before(s.Start) {
			s.Start = e.Time
		}
		if e.Time.After(s.End) {
			s.End = e.Time
		}
	}
	out := make([]sensorSession, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	slices.SortStableFunc(out, func(a, b sensorSession) int { return b.End.Compare(a.End) })
	return out
}

func (c *Console) honeytokens(ctx context.Context, rq *request, evs []loggedEvent) ([]honeytokenView, error) {
	if c.srv.Honeytokens == nil || c.srv.Honeytokens.Registry == nil {
		return nil, nil
	}
	toks, err := c.srv.Honeytokens.Registry.List(ctx)
	if err != nil {
		return nil, err
	}
	see := rq.can(honeytokenReaders...)
	out := make([]honeytokenView, 0, len(toks))
	for _, t := range toks {
		if !see {
			t = t.Mask()
		}
		v := honeytokenView{Token: t}
		for _, e := range evs {
			if e.ev.Honeytoken == t.ID {
				v.Hits++
				if e.Time.After(v.LastSeen) {
					v.LastSeen = e.Time
				}
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (c *Console) sensorsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	d := sensorsData{LastEvent: -1, TokensAvailable: c.srv.Honeytokens != nil && c.srv.Honeytokens.Registry != nil, Window: maxStatEvents}
	evs, err := c.recentLogged(ctx)
	if err == nil {
		d.Stats, err = c.eventStats(ctx, rq.now)
	}
	if err == nil {
		d.Honeytokens, err = c.honeytokens(ctx, rq, evs)
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	for i, e := range evs {
		if i == 50 {
			break
		}
		fe := e.feedEvent
		if rq.lang != "en" && fe.Erased {
			fe.Summary = translate(rq.lang, "event.erased")
		}
		d.Events = append(d.Events, fe)
	}
	if len(d.Events) > 0 {
		d.LastEvent = d.Events[0].Index
	}
	for _, h := range c.cfg.Honeypots {
		v := honeypotView{Honeypot: h}
		for _, e := range evs {
			if e.Sensor == h.Sensor {
				v.Events++
				if e.Time.After(v.LastEvent) {
					v.LastEvent = e.Time
				}
			}
		}
		d.Honeypots = append(d.Honeypots, v)
	}
	d.Sessions = sessionsOf(evs)
	if len(d.Sessions) > 50 {
		d.Sessions = d.Sessions[:50]
	}
	d.HoursSVG = hoursSVG(d.Stats, rq.lang)
	d.TopSVG = sourcesSVG(d.Stats.Sources, rq.lang)
	c.render(w, r, rq, http.StatusOK, "sensors", "sensors.title", d)
}

// transcriptLine is one step of a session's replay.
type transcriptLine struct {
	Index     int64
	At        time.Time
	Direction string // "in": the client; "note": what the decoy recorded
	Text      string
}

// sessionData is the transcript replay page's data.
type sessionData struct {
	Session sensorSession
	Lines   []transcriptLine
}

// transcriptText says what one event shows of a session, from
// attacker-controlled fields (shown escaped).
func transcriptText(ev sensor.Event) (dir, text string) {
	switch ev.Kind {
	case sensor.KindCommand, sensor.KindRequest:
		return "in", ev.Command
	case sensor.KindAuth:
		if cr := ev.Credentials; cr != nil {
			res := "refused"
			if cr.Accepted {
				res = "accepted"
			}
			who := cr.Username
			if cr.Password != "" {
				who += " / " + cr.Password
			}
			if cr.KeyFingerprint != "" {
				who += " / " + cr.KeyType + " " + cr.KeyFingerprint
			}
			return "note", fmt.Sprintf("auth %s %s: %s", cr.Method, who, res)
		}
	case sensor.KindUpload:
		var parts []string
		for _, p := range ev.Payloads {
			parts = append(parts, fmt.Sprintf("%s (%d B, sha256 %s)", p.Name, p.Size, p.SHA256))
		}
		return "note", "upload " + strings.Join(parts, ", ")
	}
	t := ev.Kind
	if ev.Command != "" {
		t += " " + ev.Command
	}
	return "note", t
}

func (c *Console) sessionPage(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	evs, err := c.recentLogged(r.Context())
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	var mine []loggedEvent
	for _, e := range evs {
		if e.ev.Session == id {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		c.fail(w, r, rq, http.StatusNotFound, "session.notfound", id)
		return
	}
	slices.SortFunc(mine, func(a, b loggedEvent) int { return int(a.Index - b.Index) })
	d := sessionData{Session: sessionsOf(mine)[0]}
	for _, e := range mine {
		dir, text := transcriptText(e.ev)
		d.Lines = append(d.Lines, transcriptLine{Index: e.Index, At: e.Time, Direction: dir, Text: strings.ToValidUTF8(text, "�")})
	}
	c.render(w, r, rq, http.StatusOK, "session", "session.title", d, id)
}
