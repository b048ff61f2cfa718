package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Intake configures the event pipeline and the intake sources: Suricata
// EVE JSON, syslog and the JSON webhook (docs/sensors.md).
type Intake struct {
	// Queue is how many events the pipeline holds in memory before new
	// ones overflow to the disk spool. Default 65536.
	Queue int `yaml:"queue"`
	// Appenders is how many events are appended to the evidence log at
	// once (the log's group commit batches them). Default 1024.
	Appenders int `yaml:"appenders"`
	// Spool bounds the disk spool that takes the overflow when the queue
	// is full or the log is slow; beyond it events are dropped, counted
	// and logged as an "event.dropped" entry. Default 1 GiB.
	Spool Spool `yaml:"spool"`
	// PerSourceRate limits the events one source address puts in the log
	// through Emit (the honeypots and syslog); the excess is counted and
	// summarised, not logged one by one.
	PerSourceRate PerSourceRate `yaml:"per_source_rate"`
	// Correlation turns events into incidents.
	Correlation Correlation `yaml:"correlation"`
	// FeedBuffer is the buffer of each live-feed subscriber; a subscriber
	// that falls this far behind is dropped. Default 1024.
	FeedBuffer int `yaml:"feed_buffer"`
	// Suricata configures Suricata EVE JSON intake.
	Suricata Suricata `yaml:"suricata"`
	// Syslog configures syslog intake (RFC 5424 and RFC 3164).
	Syslog Syslog `yaml:"syslog"`
	// Webhook configures the generic JSON webhook
	// (POST /api/v1/intake/webhook).
	Webhook Webhook `yaml:"webhook"`
}

// Correlation configures how events become incidents.
type Correlation struct {
	// Disabled turns correlation off: events are logged and recorded, no
	// incident is opened or linked.
	Disabled bool `yaml:"disabled"`
	// Window is how long an incident stays the one events of its source
	// go to after the last event linked to it. Default 24h.
	Window time.Duration `yaml:"window"`
	// OpenSeverity is the least severity that opens an incident for a
	// source that has none. Default "high".
	OpenSeverity string `yaml:"open_severity"`
	// LinkSeverity is the least severity linked to a source's open
	// incident and counted as malicious activity (the guardrail's
	// present_danger). Lower events are only counted. Default "medium".
	LinkSeverity string `yaml:"link_severity"`
	// Flush is how often pending links are written (one log entry per
	// incident per flush). Default 2s.
	Flush time.Duration `yaml:"flush"`
}

// PerSourceRate is a token bucket per source address (IPv4 address, IPv6
// /64). Events beyond it are not logged one by one: they are counted and
// one summary event per source is logged every Summary.
type PerSourceRate struct {
	// Disabled turns the limit off.
	Disabled bool `yaml:"disabled"`
	// Rate is the events per second one source may log, sustained.
	// Default 200.
	Rate float64 `yaml:"rate"`
	// Burst is the events one source may log at once. Default 1000.
	Burst int `yaml:"burst"`
	// Sources bounds the sources tracked; beyond it the least recently
	// seen is forgotten (its pending summary logged first). Default 65536.
	Sources int `yaml:"sources"`
	// Summary is how often each rate-limited source's summary is logged.
	// Default 10s.
	Summary time.Duration `yaml:"summary"`
}

// Suricata configures EVE JSON intake.
type Suricata struct {
	// Files are EVE JSON files to tail (eve.json); each follows appends,
	// rotation and truncation and remembers its offset across restarts.
	Files []string `yaml:"files"`
	// Poll is how often a tailed file is checked for growth. Default 250ms.
	Poll time.Duration `yaml:"poll"`
	// Types are the EVE event types taken; others are skipped. Default
	// alert, http, dns, tls, ssh, flow, anomaly, fileinfo.
	Types []string `yaml:"types"`
}

// Syslog configures syslog listeners.
type Syslog struct {
	// UDP is a listen address for syslog over UDP ("" for none).
	UDP string `yaml:"udp"`
	// TCP is a listen address for syslog over TCP, with octet-counting or
	// newline framing (RFC 6587) ("" for none).
	TCP string `yaml:"tcp"`
	// MaxMessage bounds one message in bytes; longer ones are truncated
	// (UDP) or cut (TCP) and flagged. Default 8192.
	MaxMessage int `yaml:"max_message"`
	// MaxConns bounds TCP connections at once. Default 256.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerSource bounds TCP connections from one address at once;
	// more are closed when accepted. Default 8.
	MaxConnsPerSource int `yaml:"max_conns_per_source"`
	// IdleTimeout closes a TCP connection that sends nothing for this
	// long. Default 5m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SessionTimeout closes any TCP connection this long after it was
	// accepted, however busy (the sender reconnects). Default 1h.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// MaxSessionBytes closes a TCP connection after it has sent this many
	// bytes (the sender reconnects). Default 64 MiB.
	MaxSessionBytes int64 `yaml:"max_session_bytes"`
	// Allow lists the networks (CIDRs, or single addresses) syslog is
	// taken from, over UDP and TCP; datagrams and connections from other
	// peers are dropped and counted. Default loopback only (127.0.0.0/8,
	// ::1/128): a syslog sender is another system speaking for itself, and
	// its UDP source address can be forged.
	Allow []string `yaml:"allow"`
	// MaxSeverity caps the severity of events made from syslog messages:
	// a log line is a claim by another system, not an observation of ours,
	// so by default it cannot open an incident alone. Default: the
	// severity just below correlation.open_severity ("medium" for the
	// default "high"). Setting it at or above open_severity lets a log
	// line open incidents.
	MaxSeverity string `yaml:"max_severity"`
}

// Webhook configures the generic JSON webhook.
type Webhook struct {
	// HMACSecretFile, when set, names a file whose content (trimmed) is a
	// shared secret: every webhook request must then also carry
	// X-Vallum-Signature: sha256=<hex HMAC-SHA256(secret, body)>.
	HMACSecretFile string `yaml:"hmac_secret_file"`
	// Fields maps event fields (time, src_ip, src_port, dst_ip, dst_port,
	// kind, severity, protocol, session, command, username, message) to
	// dotted JSON paths in the posted document; unmapped fields use the
	// same name.
	Fields map[string]string `yaml:"fields"`
}

// WebhookFields are the event fields a webhook mapping may name.
var WebhookFields = []string{"id", "time", "src_ip", "src_port", "dst_ip", "dst_port", "kind", "severity", "protocol", "session", "command", "username", "message"}

// Severities, lowest first (sensor.Severity…).
var severities = []string{"info", "low", "medium", "high", "critical"}

func (x *Intake) validate() error {
	setDefault(&x.Queue, 65536)
	setDefault(&x.Appenders, 1024)
	setDefault(&x.FeedBuffer, 1024)
	if x.Queue < 1 || x.Appenders < 1 || x.FeedBuffer < 1 {
		return fmt.Errorf("config: intake.queue, intake.appenders and intake.feed_buffer must be positive")
	}
	if err := x.Spool.validate("intake.spool"); err != nil {
		return err
	}
	r := &x.PerSourceRate
	if r.Rate == 0 {
		r.Rate = 200
	}
	setDefault(&r.Burst, 1000)
	setDefault(&r.Sources, 65536)
	if r.Summary == 0 {
		r.Summary = 10 * time.Second
	}
	if r.Rate < 0 || r.Burst < 1 || r.Sources < 1 || r.Summary < 0 {
		return fmt.Errorf("config: intake.per_source_rate: rate must be positive, burst and sources at least 1, summary not negative")
	}
	c := &x.Correlation
	if c.Window == 0 {
		c.Window = 24 * time.Hour
	}
	if c.Flush == 0 {
		c.Flush = 2 * time.Second
	}
	if c.OpenSeverity == "" {
		c.OpenSeverity = "high"
	}
	if c.LinkSeverity == "" {
		c.LinkSeverity = "medium"
	}
	if c.Window < 0 || c.Flush < 0 {
		return fmt.Errorf("config: intake.correlation.window and flush must not be negative")
	}
	for _, s := range []string{c.OpenSeverity, c.LinkSeverity} {
		if !slices.Contains(severities, s) {
			return fmt.Errorf("config: intake.correlation: severity %q is not one of %v", s, severities)
		}
	}
	if slices.Index(severities, c.OpenSeverity) < slices.Index(severities, c.LinkSeverity) {
		return fmt.Errorf("config: intake.correlation.open_severity %q is below link_severity %q", c.OpenSeverity, c.LinkSeverity)
	}
	if x.Suricata.Poll == 0 {
		x.Suricata.Poll = 250 * time.Millisecond
	}
	if len(x.Suricata.Types) == 0 {
		x.Suricata.Types = []string{"alert", "http", "dns", "tls", "ssh", "flow", "anomaly", "fileinfo"}
	}
	setDefault(&x.Syslog.MaxMessage, 8192)
	setDefault(&x.Syslog.MaxConns, 256)
	if err := x.Syslog.validate(c.OpenSeverity); err != nil {
		return err
	}
	if x.Syslog.MaxMessage < 480 || x.Syslog.MaxMessage > 1<<20 {
		return fmt.Errorf("config: intake.syslog.max_message %d must be between 480 and %d", x.Syslog.MaxMessage, 1<<20)
	}
	for _, a := range []string{x.Syslog.UDP, x.Syslog.TCP} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("config: intake.syslog: listen address %q is not host:port: %v", a, err)
		}
	}
	for f := range x.Webhook.Fields {
		if !slices.Contains(WebhookFields, f) {
			return fmt.Errorf("config: intake.webhook.fields: unknown field %q: want one of %v", f, WebhookFields)
		}
	}
	return nil
}

// validate fills the syslog defaults: openSeverity is the correlation's,
// already checked.
func (s *Syslog) validate(openSeverity string) error {
	setDefault(&s.MaxConnsPerSource, 8)
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 5 * time.Minute
	}
	if s.SessionTimeout == 0 {
		s.SessionTimeout = time.Hour
	}
	if s.MaxSessionBytes == 0 {
		s.MaxSessionBytes = 64 << 20
	}
	if s.MaxConns < 1 || s.MaxConnsPerSource < 1 || s.IdleTimeout < 0 || s.SessionTimeout < 0 || s.MaxSessionBytes < 0 {
		return fmt.Errorf("config: intake.syslog: max_conns and max_conns_per_source must be positive, the timeouts and max_session_bytes not negative")
	}
	if s.Allow == nil {
		s.Allow = []string{"127.0.0.0/8", "::1/128"}
	}
	if _, err := ParsePrefixes(s.Allow); err != nil {
		return fmt.Errorf("config: intake.syslog.allow: %w", err)
	}
	if s.MaxSeverity == "" {
		s.MaxSeverity = severities[max(slices.Index(severities, openSeverity)-1, 0)]
	}
	if !slices.Contains(severities, s.MaxSeverity) {
		return fmt.Errorf("config: intake.syslog.max_severity %q is not one of %v", s.MaxSeverity, severities)
	}
	return nil
}

// ParsePrefixes parses CIDRs; a bare address is a network of one.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR or an address", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func setDefault(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

// Validate checks the section and fills its defaults (Config.Validate
// calls it; the event pipeline calls it on a section built in code).
func (x *Intake) Validate() error { return x.validate() }
