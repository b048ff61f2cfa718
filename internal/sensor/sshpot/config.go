// Package sshpot is the SSH honeypot: a believable OpenSSH server
// (golang.org/x/crypto/ssh) that records every authentication attempt,
// lets clients in by a configurable policy into an emulated shell that
// never executes anything, captures SFTP and SCP uploads to the
// quarantine, refuses and records port forwarding, and keeps a replayable
// transcript of every session (docs/honeypot-ssh.md).
//
// It never opens an outbound connection.
package sshpot

import (
	"errors"
	"fmt"
	"net"
	"path"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// Config configures the SSH honeypot. Zero fields take the defaults of
// docs/honeypot-ssh.md.
type Config struct {
	// Enabled turns the honeypot on.
	Enabled bool `yaml:"enabled"`
	// Listen is the TCP address to listen on. Default "127.0.0.1:2222".
	Listen string `yaml:"listen"`
	// Persona is the system the honeypot pretends to be: "ubuntu-22.04"
	// (default) or "debian-12". It sets the SSH version string, the
	// algorithms offered, the kernel, /etc/os-release and the rest of
	// the fake filesystem, so that they agree with each other.
	Persona string `yaml:"persona"`
	// ServerVersion overrides the persona's SSH version line
	// ("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"). It must start with
	// "SSH-2.0-". A version that disagrees with the persona is a tell.
	ServerVersion string `yaml:"server_version"`
	// Hostname is the machine's name in the prompt, uname and /etc.
	// Default "web01".
	Hostname string `yaml:"hostname"`
	// HostKeys are the host key types to offer: "ed25519", "ecdsa",
	// "rsa". Default ["ed25519", "ecdsa"]. Each key is generated once
	// into HostKeyDir and reused on every start (a fresh key per start is
	// a known honeypot tell). RSA (3072 bits) looks most like a stock
	// server but costs about 1.5 ms of CPU per handshake that picks it,
	// against 15–30 µs for Ed25519 and ECDSA.
	HostKeys []string `yaml:"host_keys"`
	// HostKeyDir is where the host keys are kept. Default: the sensor's
	// state directory.
	HostKeyDir string `yaml:"host_key_dir"`
	// Banner is a pre-authentication banner; stock servers send none.
	Banner string `yaml:"banner"`
	// Accept decides which credentials let a client in.
	Accept Accept `yaml:"accept"`
	// Users are extra accounts listed in /etc/passwd with a home
	// directory; any user name that logs in gets one anyway.
	Users []string `yaml:"users"`
	// Files are extra files in the fake filesystem, absolute path to
	// content (bait documents, honey credentials).
	Files map[string]string `yaml:"files"`
	// MaxAuthTries is the most authentication attempts on one
	// connection (OpenSSH's MaxAuthTries). Default 6.
	MaxAuthTries int `yaml:"max_auth_tries"`
	// HandshakeTimeout bounds the version exchange, key exchange and
	// authentication together (OpenSSH's LoginGraceTime). Default 30s.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// MaxChannels is the most channels (sessions) open at once on one
	// connection. Default 4.
	MaxChannels int `yaml:"max_channels"`
	// Quarantine bounds uploads kept (SFTP, SCP): max_file is the upload
	// cap (the rest is read and discarded, the capture marked
	// truncated), max_total the disk the quarantine may use.
	Quarantine sensor.QuarantineLimits `yaml:"quarantine"`
	// DisableTranscripts turns session transcripts off.
	DisableTranscripts bool `yaml:"disable_transcripts"`
	// MaxTranscript is the most bytes of one session's transcript; the
	// recording stops there. Default 1 MiB.
	MaxTranscript int64 `yaml:"max_transcript"`
	// Limits bound connections (sensor.Limits; its defaults apply).
	Limits sensor.Limits `yaml:"limits"`
}

// Accept is the policy that decides which credentials succeed. Every
// attempt is recorded whatever the policy says.
type Accept struct {
	// Policy is one of:
	//   never  – no login succeeds (credentials are only collected);
	//   any    – every password succeeds;
	//   after  – a source address gets in at its Attempts-th password,
	//            and afterwards with that same user and password
	//            (default, with Attempts 3);
	//   list   – only the Credentials pairs succeed;
	//   random – each password succeeds with Probability.
	// Credentials listed are accepted under every policy but never.
	Policy string `yaml:"policy"`
	// Attempts is the attempt that succeeds under "after". Default 3.
	Attempts int `yaml:"attempts"`
	// Credentials are "user:password" pairs that always succeed.
	Credentials []string `yaml:"credentials"`
	// Probability is the chance of success under "random", 0 to 1.
	Probability float64 `yaml:"probability"`
	// PublicKeys lets public-key attempts succeed under "any" (and
	// "after" and "random" as for passwords). Off by default: keys are
	// recorded and refused, and clients fall back to passwords.
	PublicKeys bool `yaml:"public_keys"`
}

// Accept policies.
const (
	PolicyNever  = "never"
	PolicyAny    = "any"
	PolicyAfter  = "after"
	PolicyList   = "list"
	PolicyRandom = "random"
)

// Defaults.
const (
	DefaultListen           = "127.0.0.1:2222"
	DefaultHostname         = "web01"
	DefaultMaxAuthTries     = 6
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultMaxChannels      = 4
	DefaultMaxTranscript    = 1 << 20
	DefaultAcceptAttempts   = 3
)

// withDefaults returns c with zero fields set.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Persona == "" {
		c.Persona = defaultPersona
	}
	if c.Hostname == "" {
		c.Hostname = DefaultHostname
	}
	if len(c.HostKeys) == 0 {
		c.HostKeys = []string{"ed25519", "ecdsa"}
	}
	if c.Accept.Policy == "" {
		c.Accept.Policy = PolicyAfter
	}
	if c.Accept.Attempts == 0 {
		c.Accept.Attempts = DefaultAcceptAttempts
	}
	if c.MaxAuthTries == 0 {
		c.MaxAuthTries = DefaultMaxAuthTries
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxChannels == 0 {
		c.MaxChannels = DefaultMaxChannels
	}
	if c.MaxTranscript == 0 {
		c.MaxTranscript = DefaultMaxTranscript
	}
	c.Limits = c.Limits.WithDefaults()
	return c
}

// Validate reports a configuration the honeypot cannot run with.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("sensors.ssh.listen %q: %w", c.Listen, err))
	}
	if _, ok := personas[c.Persona]; !ok {
		errs = append(errs, fmt.Errorf("sensors.ssh.persona %q is not one of %s", c.Persona, strings.Join(personaNames(), ", ")))
	}
	if c.ServerVersion != "" {
		if !strings.HasPrefix(c.ServerVersion, "SSH-2.0-") || len(c.ServerVersion) > 253 || strings.ContainsFunc(c.ServerVersion, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			errs = append(errs, fmt.Errorf("sensors.ssh.server_version %q must be printable ASCII starting with SSH-2.0-", c.ServerVersion))
		}
	}
	if c.Hostname != plainName(c.Hostname) {
		errs = append(errs, fmt.Errorf("sensors.ssh.hostname %q is not a host name", c.Hostname))
	}
	for _, k := range c.HostKeys {
		if _, ok := hostKeyFiles[k]; !ok {
			errs = append(errs, fmt.Errorf("sensors.ssh.host_keys: %q is not ed25519, ecdsa or rsa", k))
		}
	}
	switch c.Accept.Policy {
	case PolicyNever, PolicyAny, PolicyAfter, PolicyList, PolicyRandom:
	default:
		errs = append(errs, fmt.Errorf("sensors.ssh.accept.policy %q is not never, any, after, list or random", c.Accept.Policy))
	}
	if c.Accept.Attempts < 1 {
		errs = append(errs, fmt.Errorf("sensors.ssh.accept.attempts must be at least 1"))
	}
	if c.Accept.Probability < 0 || c.Accept.Probability > 1 {
		errs = append(errs, fmt.Errorf("sensors.ssh.accept.probability %v is not between 0 and 1", c.Accept.Probability))
	}
	for _, p := range c.Accept.Credentials {
		if !strings.Contains(p, ":") {
			errs = append(errs, fmt.Errorf("sensors.ssh.accept.credentials: %q is not user:password", p))
		}
	}
	for _, u := range c.Users {
		if u == "" || u != plainName(u) || u == "root" {
			errs = append(errs, fmt.Errorf("sensors.ssh.users: %q is not a plain user name", u))
		}
	}
	for p := range c.Files {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			errs = append(errs, fmt.Errorf("sensors.ssh.files: %q is not a clean absolute file path", p))
		}
	}
	if c.MaxAuthTries < 1 || c.MaxChannels < 1 || c.HandshakeTimeout < 0 || c.Quarantine.MaxFile < 0 || c.Quarantine.MaxTotal < 0 || c.MaxTranscript < 0 {
		errs = append(errs, errors.New("sensors.ssh: max_auth_tries and max_channels must be positive, timeouts and sizes not negative"))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sensors.ssh.limits: %w", err))
	}
	return errors.Join(errs...)
}

// plainName returns s stripped of what a host or user name cannot hold,
// so that s is valid when the result equals it.
func plainName(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return -1
	}, s)
}
