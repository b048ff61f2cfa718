package config

import (
	"fmt"
	"time"
)

// Web configures the web console (docs/console.md), served by `vallum
// serve` beside the API on the same address.
type Web struct {
	// Disabled turns the console off: only the API and the log endpoints
	// are served. Default false (the console is on).
	Disabled bool `yaml:"disabled"`
	// SecureCookies marks the session cookies Secure even when the request
	// did not arrive over TLS (set it when a TLS-terminating proxy sits in
	// front). Cookies of requests that arrive over TLS are always Secure.
	SecureCookies bool `yaml:"secure_cookies"`
	// SessionLifetime is how long a sign-in lasts at most, whatever the
	// activity, e.g. "8h". Default 8h; between 5m and 7 days.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// IdleTimeout ends a session unused for that long, e.g. "30m".
	// Default 1h; between 1m and SessionLifetime.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Language is the console's language when the browser's
	// Accept-Language names neither: "it" or "en". Default "it".
	Language string `yaml:"language"`
}

// Defaults of the console.
const (
	DefaultSessionLifetime = 8 * time.Hour
	DefaultIdleTimeout     = time.Hour
)

func (x *Web) validate() error {
	if x.SessionLifetime == 0 {
		x.SessionLifetime = DefaultSessionLifetime
	}
	if x.IdleTimeout == 0 {
		x.IdleTimeout = min(DefaultIdleTimeout, x.SessionLifetime)
	}
	if x.Language == "" {
		x.Language = "it"
	}
	if x.SessionLifetime < 5*time.Minute || x.SessionLifetime > 7*24*time.Hour {
		return fmt.Errorf("config: web.session_lifetime %s must be between 5m and 168h", x.SessionLifetime)
	}
	if x.IdleTimeout < time.Minute || x.IdleTimeout > x.SessionLifetime {
		return fmt.Errorf("config: web.idle_timeout %s must be between 1m and web.session_lifetime (%s)", x.IdleTimeout, x.SessionLifetime)
	}
	if x.Language != "it" && x.Language != "en" {
		return fmt.Errorf("config: web.language %q must be \"it\" or \"en\"", x.Language)
	}
	return nil
}
