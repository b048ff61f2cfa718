// Package httppot is the HTTP(S) honeypot: fake login pages (an admin
// panel, an SSL-VPN portal, WordPress, phpMyAdmin, Outlook Web App, Tomcat
// manager), the paths scanners probe first answered with bait, and every
// request recorded as an event. It never executes anything it receives
// and never opens an outbound connection.
package httppot

import (
	"fmt"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// Config configures the HTTP honeypot (docs/honeypots.md). Zero fields
// take the defaults listed on each.
type Config struct {
	// Enabled turns the honeypot on.
	Enabled bool `yaml:"enabled"`
	// Listen are the plain HTTP addresses (default 127.0.0.1:8081).
	Listen []string `yaml:"listen"`
	// TLSListen are the HTTPS addresses (default none). The certificate
	// is self-signed, made on first start and kept in the honeypot's
	// directory, so it does not change across restarts.
	TLSListen []string `yaml:"tls_listen"`
	// TLSHost is the certificate's subject and DNS name (default
	// "localhost").
	TLSHost string `yaml:"tls_host"`
	// ServerHeader is the Server response header (default
	// "Apache/2.4.58 (Ubuntu)"); "-" sends none.
	ServerHeader string `yaml:"server_header"`
	// MaxBody is the most bytes of a request body read and kept
	// (default 64 KiB); the connection is closed after a longer body.
	MaxBody int64 `yaml:"max_body"`
	// MaxHeaderBytes bounds the request line and headers (default 16 KiB).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReadHeaderTimeout cuts a client that hasn't sent its headers in
	// this time (default 10s): the end of slowloris clients.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request (default 30s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response (default 30s): the end of
	// slow-read clients.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a kept-alive connection idle this long (default
	// 60s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Limits bound connections: MaxConns, MaxConnsPerSource and
	// SessionTimeout apply (the HTTP timeouts above replace IdleTimeout;
	// MaxSessionBytes caps what one connection may send).
	Limits sensor.Limits `yaml:"limits"`
	// CaptureBodies keeps request bodies in the quarantine under the
	// honeypot's directory (default true; "false" records hash and size
	// only).
	CaptureBodies *bool `yaml:"capture_bodies"`
	// Quarantine bounds the captured bodies on disk.
	Quarantine sensor.QuarantineLimits `yaml:"quarantine"`
	// Bait maps a path to the body served for it, replacing or adding
	// to the built-in bait (e.g. a /.env holding a honeytoken).
	Bait map[string]string `yaml:"bait"`
}

// Defaults.
const (
	DefaultListen            = "127.0.0.1:8081"
	DefaultTLSHost           = "localhost"
	DefaultServerHeader      = "Apache/2.4.58 (Ubuntu)"
	DefaultMaxBody           = 64 << 10
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
)

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Listen == nil {
		c.Listen = []string{DefaultListen}
	}
	if c.TLSHost == "" {
		c.TLSHost = DefaultTLSHost
	}
	if c.ServerHeader == "" {
		c.ServerHeader = DefaultServerHeader
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.CaptureBodies == nil {
		t := true
		c.CaptureBodies = &t
	}
	c.Limits = c.Limits.WithDefaults()
	return c
}

// Validate reports a configuration that cannot be served.
func (c Config) Validate() error {
	if c.MaxBody < 0 || c.MaxHeaderBytes < 0 || c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 {
		return fmt.Errorf("http honeypot: limits must not be negative")
	}
	for p := range c.Bait {
		if len(p) == 0 || p[0] != '/' {
			return fmt.Errorf("http honeypot: bait path %q must start with /", p)
		}
	}
	return c.Limits.Validate()
}
