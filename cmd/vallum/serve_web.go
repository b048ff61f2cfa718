package main

import (
	"context"
	"net/http"

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
		// The parts of issues 6 (sensors), 7 (containment plans) and 8
		// (bundles, anchors) are wired here as their packages land.
	})
	if err != nil {
		return nil, err
	}
	rt.background = append(rt.background, c.Run)
	return c.Handler(apiHandler), nil
}
