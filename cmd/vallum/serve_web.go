package main

import (
	"context"
	"net/http"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/sensor/tcppot"
	"github.com/vallum/vallum/internal/web"
)

// setupWeb returns the server's handler: the web console around the API.
// The API's paths (/api/, /log/, /healthz) pass through unchanged; the
// console serves the rest ("/", "/incidents/…", "/static/…", "/signin").
// With web.disabled it returns the API alone.
func setupWeb(ctx context.Context, rt *runtime, apiHandler http.Handler) (http.Handler, error) {
	if rt.cfg.Web.Disabled {
		return apiHandler, nil
	}
	c, err := web.New(web.Config{
		Srv:             rt.srv,
		Logger:          rt.logger.With("component", "web"),
		SecureCookies:   rt.cfg.Web.SecureCookies,
		SessionLifetime: rt.cfg.Web.SessionLifetime,
		IdleTimeout:     rt.cfg.Web.IdleTimeout,
		Language:        rt.cfg.Web.Language,
		Clock:           rt.srv.Clock,
		Honeypots:       consoleHoneypots(rt.cfg.Sensors),
		// Containment plans, court bundles, anchors and honeytokens come
		// from the API server's services (rt.srv.Contain, Bundles,
		// Honeytokens), set by the set-up steps that run before this one.
	})
	if err != nil {
		return nil, err
	}
	rt.background = append(rt.background, c.Run)
	return c.Handler(apiHandler), nil
}

// consoleHoneypots lists the configured honeypots for the console's Sensors page.
func consoleHoneypots(s config.Sensors) []web.Honeypot {
	name := s.Name
	if name == "" {
		name = "local"
	}
	hp := []web.Honeypot{
		{Sensor: name + "/ssh", Protocol: "ssh", Listen: consoleNonEmpty(s.SSH.Listen), Enabled: s.SSH.Enabled},
		{Sensor: name + "/http", Protocol: "http", Listen: append(append([]string{}, s.HTTP.Listen...), s.HTTP.TLSListen...), Enabled: s.HTTP.Enabled},
	}
	for _, t := range []struct {
		proto string
		svc   tcppot.Service
	}{{"ftp", s.TCP.FTP.Service}, {"telnet", s.TCP.Telnet}, {"redis", s.TCP.Redis}, {"mysql", s.TCP.MySQL}, {"smb", s.TCP.SMB}, {"rdp", s.TCP.RDP}} {
		hp = append(hp, web.Honeypot{Sensor: name + "/" + t.proto, Protocol: t.proto, Listen: t.svc.Listen, Enabled: t.svc.Enabled})
	}
	return hp
}

func consoleNonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
