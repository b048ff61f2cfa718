package web

import (
	"errors"
	"net/http"

	"github.com/vallum/vallum/internal/incident"
)

// sensorsData is the Sensors page's data.
type sensorsData struct {
	// Available: the sensor part is in this build.
	Available   bool
	Honeypots   []Honeypot
	Sessions    []SensorSession
	Honeytokens []Honeytoken
	Error       string
	// Events, the pictures and the feed come from the evidence log and
	// are there in every build.
	Events    []feedEvent
	LastEvent int64
	Stats     eventStats
	HoursSVG  string
	TopSVG    string
}

func (c *Console) sensorsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	d := sensorsData{Available: c.cfg.Sensors != nil, LastEvent: -1}
	var err error
	if d.Events, err = c.recentEvents(ctx, -1, 50, rq.lang); err == nil {
		d.Stats, err = c.eventStats(ctx, rq.now)
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if len(d.Events) > 0 {
		d.LastEvent = d.Events[0].Index
	}
	d.HoursSVG = hoursSVG(d.Stats, rq.lang)
	d.TopSVG = sourcesSVG(d.Stats.Sources, rq.lang)
	if s := c.cfg.Sensors; s != nil {
		err := errors.Join(
			get(&d.Honeypots, func() ([]Honeypot, error) { return s.Honeypots(ctx) }),
			get(&d.Sessions, func() ([]SensorSession, error) { return s.Sessions(ctx, 50) }),
			get(&d.Honeytokens, func() ([]Honeytoken, error) { return s.Honeytokens(ctx) }),
		)
		if err != nil {
			c.log.Error("couldn't read the sensors", "err", err)
			d.Error = translate(rq.lang, "err.internal")
		}
	}
	c.render(w, r, rq, http.StatusOK, "sensors", "sensors.title", d)
}

// sessionData is the transcript replay page's data.
type sessionData struct {
	ID    string
	Lines []TranscriptLine
}

func (c *Console) sessionPage(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.cfg.Sensors == nil {
		c.fail(w, r, rq, http.StatusNotImplemented, "part.unavailable.sensors")
		return
	}
	id := r.PathValue("id")
	lines, err := c.cfg.Sensors.Transcript(r.Context(), id)
	if errors.Is(err, incident.ErrNotFound) {
		c.fail(w, r, rq, http.StatusNotFound, "err.notfound")
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	c.render(w, r, rq, http.StatusOK, "session", "session.title", sessionData{ID: id, Lines: lines}, id)
}
