// Package sensor holds what every honeypot and intake source shares: the
// one event schema, the Sink events go to, and the limits that keep a
// decoy facing attackers from being hurt by them.
//
// A honeypot never executes input and never opens an outbound connection;
// it hands each observation to a Sink as an Event and goes on. Sinks never
// block the decoy: they buffer, spool and drop by a documented policy.
package sensor

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Event kinds.
const (
	KindConnect    = "connect"    // a connection was accepted
	KindAuth       = "auth"       // a credential was tried
	KindCommand    = "command"    // a command was typed or requested
	KindRequest    = "request"    // an HTTP request, or a protocol request
	KindUpload     = "upload"     // a file was captured to the quarantine
	KindForward    = "forward"    // a port-forward or proxy request (refused)
	KindDisconnect = "disconnect" // a session ended
	KindHoneytoken = "honeytoken" // a honeytoken was used or seen
	KindAlert      = "alert"      // an IDS alert (Suricata)
	KindLog        = "log"        // a log line (syslog, webhook)
)

// Severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Event is one observation by a sensor or an intake source. It is the
// payload of an "event" entry in the evidence log.
type Event struct {
	// ID is unique per event and is the idempotency key when a remote
	// sensor ships it: the server keeps the first copy of each ID.
	ID string `json:"id"`
	// Time is when the sensor observed it (UTC).
	Time time.Time `json:"time"`
	// TimeSource is empty when Time is the sensor's, and "arrival" when
	// the sender gave no time and the server used the time the event
	// arrived. Only the server sets it: it is cleared on everything a
	// caller posts.
	TimeSource string `json:"time_source,omitempty"`
	// Sensor names the sensor or intake source ("edge-1/ssh", "suricata").
	Sensor string `json:"sensor"`
	// Protocol is ssh, http, ftp, telnet, redis, mysql, smb, rdp,
	// suricata, syslog or webhook.
	Protocol string `json:"protocol"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Severity is one of the Severity constants; empty means info.
	Severity string   `json:"severity,omitempty"`
	Src      Endpoint `json:"src"`
	Dst      Endpoint `json:"dst"`
	// Session groups the events of one connection; a transcript, when one
	// is kept, is stored under this ID.
	Session string `json:"session,omitempty"`
	// Credentials tried, when Kind is auth (or a login form was posted).
	Credentials *Credentials `json:"credentials,omitempty"`
	// Command is a command line, an HTTP request line, a protocol verb.
	Command string `json:"command,omitempty"`
	// Payloads are references to captured bytes (uploads, bodies): the
	// bytes are in the quarantine under their SHA-256, not in the event.
	Payloads []PayloadRef `json:"payloads,omitempty"`
	// Fingerprints of the client: "client_version", "hassh",
	// "user_agent", "ja3", …
	Fingerprints map[string]string `json:"fingerprints,omitempty"`
	// Details holds protocol-specific fields (HTTP headers, an EVE alert
	// signature, a syslog app name), small and flat.
	Details map[string]string `json:"details,omitempty"`
	// Honeytoken is the ID of the honeytoken this event used or carried,
	// set by the pipeline when it recognises one.
	Honeytoken string `json:"honeytoken,omitempty"`
}

// Endpoint is an address and port; IP is empty when unknown.
type Endpoint struct {
	IP   string `json:"ip,omitempty"`
	Port int    `json:"port,omitempty"`
}

// EndpointOf returns the endpoint of a net.Addr (TCP or UDP); the zero
// Endpoint for anything else.
func EndpointOf(a net.Addr) Endpoint {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		return Endpoint{}
	}
	return Endpoint{IP: ap.Addr().Unmap().String(), Port: int(ap.Port())}
}

// Credentials are what a client presented.
type Credentials struct {
	// Method is password, keyboard-interactive, publickey, form, basic, …
	Method   string `json:"method"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// KeyFingerprint is the SHA256 fingerprint of a public key offered.
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	// KeyType is the public key's algorithm.
	KeyType string `json:"key_type,omitempty"`
	// Accepted tells whether the decoy let the client in.
	Accepted bool `json:"accepted"`
}

// PayloadRef names captured bytes in the quarantine.
type PayloadRef struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Name is what the client called it (a file name, a path).
	Name string `json:"name,omitempty"`
	// Truncated is set when the capture stopped at the size cap; SHA256
	// and Size are then of the bytes kept.
	Truncated bool `json:"truncated,omitempty"`
}

// Sink receives events. Emit must not block for long and must not fail
// the caller: a sink that cannot keep up buffers, spools or drops by its
// documented policy and records that it did.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// NewID returns a random event or session ID with the given prefix.
func NewID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Env is what a honeypot is given by the process that runs it (`vallum
// serve` or `vallum sensor`). Each honeypot package exports
//
//	func New(cfg Config, env sensor.Env) (*Server, error)
//	func (s *Server) Serve(ctx context.Context) error
//
// where Serve listens on the addresses of cfg and returns when ctx ends.
type Env struct {
	// Name is the sensor's name, the prefix of Event.Sensor ("edge-1").
	Name string
	// Sink receives every event.
	Sink Sink
	// Dir is the honeypot's own state directory (host keys, transcripts,
	// quarantine), created with mode 0700 by the caller.
	Dir string
	// Budget is the process-wide memory budget for captures.
	Budget *Budget
	// Logger is for the operator, never for attacker-controlled secrets.
	Logger *slog.Logger
}
