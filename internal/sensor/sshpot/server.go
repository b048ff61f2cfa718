package sshpot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vallum/vallum/internal/sensor"
)

// Server is the SSH honeypot. Its fields are set by New and read-only
// afterwards, except what acceptor guards itself.
type Server struct {
	cfg        Config
	env        sensor.Env
	sensor     string // Event.Sensor
	logger     *slog.Logger
	base       ssh.ServerConfig // copied per connection, callbacks added
	hostKeys   []ssh.PublicKey
	host       *host
	gate       *sensor.Gate
	quarantine *sensor.Quarantine
	transcrDir string // "" when transcripts are off
	accept     *acceptor
}

// Subdirectories of the sensor's state directory.
const (
	TranscriptDir = "transcripts"
	QuarantineDir = "quarantine"
)

// TranscriptPath is where the transcript of session is kept under the
// SSH honeypot's state directory.
func TranscriptPath(dir, session string) string {
	return filepath.Join(dir, TranscriptDir, session+".cast")
}

// New checks cfg (defaults filled in), loads or creates the host keys
// and opens the quarantine and the transcript directory in env.Dir.
func New(cfg Config, env sensor.Env) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if env.Dir == "" {
		return nil, errors.New("sshpot: the sensor has no state directory")
	}
	if env.Sink == nil {
		return nil, errors.New("sshpot: the sensor has no event sink")
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := personas[cfg.Persona]
	keyDir := cfg.HostKeyDir
	if keyDir == "" {
		keyDir = env.Dir
	}
	signers, created, err := loadHostKeys(keyDir, cfg.HostKeys, "root@"+cfg.Hostname)
	if err != nil {
		return nil, err
	}
	for _, f := range created {
		logger.Info("generated an SSH honeypot host key; it is kept for later starts", "path", f)
	}
	q, err := sensor.OpenQuarantine(filepath.Join(env.Dir, QuarantineDir), cfg.Quarantine)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		env:        env,
		sensor:     "ssh",
		logger:     logger,
		gate:       sensor.NewGate(cfg.Limits),
		quarantine: q,
		accept:     newAcceptor(cfg.Accept),
	}
	if env.Name != "" {
		s.sensor = env.Name + "/ssh"
	}
	if !cfg.DisableTranscripts {
		s.transcrDir = filepath.Join(env.Dir, TranscriptDir)
		if err := os.MkdirAll(s.transcrDir, 0o700); err != nil {
			return nil, fmt.Errorf("couldn't create the transcript directory: %w", err)
		}
	}
	version := p.version
	if cfg.ServerVersion != "" {
		version = cfg.ServerVersion
	}
	s.base = ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: p.kex,
			Ciphers:      p.ciphers,
			MACs:         p.macs,
		},
		ServerVersion: version,
		MaxAuthTries:  cfg.MaxAuthTries,
	}
	for _, k := range signers {
		s.base.AddHostKey(k)
		s.hostKeys = append(s.hostKeys, k.PublicKey())
	}
	users := []userInfo{{name: "root", home: "/root"}}
	defaultUser := "ubuntu"
	if cfg.Persona == "debian-12" {
		defaultUser = "debian"
	}
	for i, name := range append([]string{defaultUser}, cfg.Users...) {
		users = append(users, userInfo{name: name, uid: 1000 + i, gid: 1000 + i, home: "/home/" + name})
	}
	now := time.Now
	start := now()
	s.host = &host{
		cfg:     cfg,
		persona: p,
		base:    buildBase(cfg, p, users),
		users:   users,
		boot:    start.Add(-(41*24*time.Hour + 3*time.Hour + 12*time.Minute)),
		now:     now,
	}
	return s, nil
}

// HostKeys returns the public host keys the server offers.
func (s *Server) HostKeys() []ssh.PublicKey { return s.hostKeys }

// Serve listens on the configured address and serves until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ssh honeypot couldn't listen on %s: %w", s.cfg.Listen, err)
	}
	s.logger.Info("SSH honeypot listening", "addr", ln.Addr().String())
	return s.ServeListener(ctx, ln)
}

// ServeListener serves connections accepted on ln until ctx ends, then
// closes ln and every connection and returns once they are done.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	return sensor.Serve(ctx, ln, s.gate, s.handle)
}

// conn is one client connection. Its fields are set by the connection's
// goroutine; auth callbacks run on it too (inside NewServerConn). The
// counters are read at the end, after every session has stopped.
type conn struct {
	s        *Server
	id       string
	src, dst sensor.Endpoint
	srcAddr  netip.Addr
	start    time.Time
	raw      *sensor.Conn
	sniff    *sniffConn
	fp       map[string]string // client fingerprints, once the KEXINIT is read
	user     string
	attempts int
	mu       sync.Mutex // guards tr, commands and uploads (sessions run concurrently)
	tr       *transcript
	commands int
	uploads  int
	events   *sensor.EventCap // Limits.MaxEvents, shared by the sessions
}

// emit sends ev unless the connection's event cap is spent, in which case
// it is only counted (the disconnect event carries the count).
func (c *conn) emit(ev sensor.Event) {
	if c.events == nil || c.events.Allow() {
		c.s.env.Sink.Emit(ev)
	}
}

func (s *Server) handle(ctx context.Context, lc *sensor.Conn) {
	c, sc, chans, reqs := s.handshake(lc)
	if c == nil {
		return
	}
	// This goroutine serves the connection's requests for as long as it
	// is held: its stack is kept small (the handshake's large frame is
	// gone), so that the runtime can shrink it to 4 KiB.
	c.serve(chans, reqs)
	sc.Close()
	c.disconnect("closed")
}

// handshake runs the SSH handshake and authentication on lc. It returns
// a nil conn when the handshake failed (the disconnect is recorded).
//
//go:noinline
func (s *Server) handshake(lc *sensor.Conn) (*conn, *ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request) {
	c := &conn{
		s:      s,
		id:     sensor.NewID("ssh-"),
		src:    sensor.EndpointOf(lc.RemoteAddr()),
		dst:    sensor.EndpointOf(lc.LocalAddr()),
		start:  time.Now(),
		raw:    lc,
		events: sensor.NewEventCap(s.cfg.Limits.MaxEvents),
	}
	c.srcAddr, _ = netip.ParseAddr(c.src.IP)
	c.sniff = &sniffConn{Conn: lc}
	s.env.Sink.Emit(c.event(sensor.KindConnect))

	cfg := s.base
	cfg.PasswordCallback = c.password
	cfg.KeyboardInteractiveCallback = c.keyboardInteractive
	cfg.PublicKeyCallback = c.publicKey
	if s.cfg.Banner != "" {
		cfg.BannerCallback = func(ssh.ConnMetadata) string { return s.cfg.Banner }
	}
	timer := time.AfterFunc(s.cfg.HandshakeTimeout, func() { lc.Close() })
	sc, chans, reqs, err := ssh.NewServerConn(c.sniff, &cfg)
	timer.Stop()
	if err != nil {
		c.disconnect(handshakeReason(err))
		return nil, nil, nil, nil
	}
	// The fingerprints served the auth events; a held session need not
	// keep them.
	c.fp, c.sniff.sniff.kex = nil, nil
	return c, sc, chans, reqs
}

func handshakeReason(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, sensor.ErrSessionBytes):
		return "byte limit"
	}
	var ae *ssh.ServerAuthError
	if errors.As(err, &ae) {
		return "authentication failed"
	}
	return "handshake failed"
}

// event returns an event of this connection.
func (c *conn) event(kind string) sensor.Event {
	return sensor.Event{
		ID:       sensor.NewID("ev-"),
		Time:     time.Now().UTC(),
		Sensor:   c.s.sensor,
		Protocol: "ssh",
		Kind:     kind,
		Src:      c.src,
		Dst:      c.dst,
		Session:  c.id,
	}
}

// fingerprints returns the client's fingerprints (computed once).
func (c *conn) fingerprints(meta ssh.ConnMetadata) map[string]string {
	if c.fp == nil {
		c.fp = map[string]string{"client_version": payloadSafe(string(meta.ClientVersion()))}
		if k := c.sniff.sniff.kex; k != nil {
			c.fp["hassh"], c.fp["hassh_algorithms"] = k.HASSH()
			c.fp["hassh_algorithms"] = payloadSafe(c.fp["hassh_algorithms"])
		}
	}
	fp := make(map[string]string, len(c.fp))
	for k, v := range c.fp {
		fp[k] = v
	}
	return fp
}

var errDenied = errors.New("permission denied")

func (c *conn) authEvent(meta ssh.ConnMetadata, cred sensor.Credentials) {
	c.attempts++
	c.user = meta.User()
	ev := c.event(sensor.KindAuth)
	cred.Username = payloadSafe(meta.User())
	ev.Credentials = &cred
	ev.Fingerprints = c.fingerprints(meta)
	c.emit(ev)
}

func (c *conn) password(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	ok := c.s.accept.password(c.srcAddr, meta.User(), string(pw))
	c.authEvent(meta, sensor.Credentials{Method: "password", Password: payloadSafe(string(pw)), Accepted: ok})
	if !ok {
		return nil, errDenied
	}
	return &ssh.Permissions{}, nil
}

func (c *conn) keyboardInteractive(meta ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	answers, err := client("", "", []string{"Password: "}, []bool{false})
	if err != nil {
		return nil, err
	}
	pw := ""
	if len(answers) > 0 {
		pw = answers[0]
	}
	ok := c.s.accept.password(c.srcAddr, meta.User(), pw)
	c.authEvent(meta, sensor.Credentials{Method: "keyboard-interactive", Password: payloadSafe(pw), Accepted: ok})
	if !ok {
		return nil, errDenied
	}
	return &ssh.Permissions{}, nil
}

func (c *conn) publicKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	ok := c.s.accept.publicKey(c.srcAddr)
	c.authEvent(meta, sensor.Credentials{Method: "publickey", KeyType: key.Type(), KeyFingerprint: ssh.FingerprintSHA256(key), Accepted: ok})
	if !ok {
		return nil, errDenied
	}
	return &ssh.Permissions{}, nil
}

// disconnect closes the transcript and records the end of the
// connection.
func (c *conn) disconnect(reason string) {
	ev := c.event(sensor.KindDisconnect)
	c.mu.Lock()
	tr := c.tr
	ev.Details = map[string]string{
		"reason":      reason,
		"duration_ms": strconv.FormatInt(time.Since(c.start).Milliseconds(), 10),
		"bytes_in":    strconv.FormatInt(c.raw.BytesRead(), 10),
		"auth":        strconv.Itoa(c.attempts),
		"commands":    strconv.Itoa(c.commands),
		"uploads":     strconv.Itoa(c.uploads),
	}
	if n := c.events.Suppressed(); n > 0 {
		ev.Details["suppressed_events"] = strconv.FormatInt(n, 10)
	}
	c.mu.Unlock()
	if tr != nil {
		ref, err := tr.close()
		if err != nil {
			c.s.logger.Warn("couldn't finish an SSH transcript", "session", c.id, "err", err)
		} else {
			ref.Name = TranscriptDir + "/" + c.id + ".cast"
			if qref, err := c.s.quarantine.Link(ref.Name, tr.path); err == nil && qref.SHA256 == ref.SHA256 {
				ev.Details["transcript_quarantined"] = "true"
			}
			ev.Payloads = []sensor.PayloadRef{ref}
		}
	}
	c.s.env.Sink.Emit(ev)
}

// transcript returns the connection's transcript, made on first use
// with the size of the first terminal; nil when transcripts are off.
func (c *conn) transcript(cols, rows int, term string) *transcript {
	if c.s.transcrDir == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tr == nil {
		if term == "" {
			term = "xterm"
		}
		c.tr = newTranscript(TranscriptPath(c.s.env.Dir, c.id), time.Now(), cols, rows, payloadSafe(term), c.s.cfg.MaxTranscript, c.s.env.Budget)
	}
	return c.tr
}

// acceptor applies the accept policy. It is safe for concurrent use.
type acceptor struct {
	cfg   Accept
	pairs map[string]bool
	mu    sync.Mutex
	// bySrc is the "after" policy's memory per source address, bounded:
	// it is emptied when it reaches maxAcceptSources.
	bySrc map[netip.Addr]*srcState
}

type srcState struct {
	attempts   int
	user, pass string // the pair that got in
}

const maxAcceptSources = 1 << 16

func newAcceptor(cfg Accept) *acceptor {
	a := &acceptor{cfg: cfg, pairs: map[string]bool{}, bySrc: map[netip.Addr]*srcState{}}
	for _, p := range cfg.Credentials {
		a.pairs[p] = true
	}
	return a
}

func (a *acceptor) password(src netip.Addr, user, pass string) bool {
	switch a.cfg.Policy {
	case PolicyNever:
		return false
	case PolicyAny:
		return true
	}
	if a.pairs[user+":"+pass] {
		return true
	}
	switch a.cfg.Policy {
	case PolicyRandom:
		return rand.Float64() < a.cfg.Probability
	case PolicyAfter:
		return a.after(src, user, pass)
	}
	return false
}

func (a *acceptor) after(src netip.Addr, user, pass string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.bySrc[src]
	if st == nil {
		if len(a.bySrc) >= maxAcceptSources {
			clear(a.bySrc)
		}
		st = &srcState{}
		a.bySrc[src] = st
	}
	if st.user != "" || st.pass != "" {
		return st.user == user && st.pass == pass
	}
	if st.attempts++; st.attempts >= a.cfg.Attempts {
		st.user, st.pass = user, pass
		return true
	}
	return false
}

func (a *acceptor) publicKey(src netip.Addr) bool {
	if !a.cfg.PublicKeys {
		return false
	}
	switch a.cfg.Policy {
	case PolicyAny:
		return true
	case PolicyRandom:
		return rand.Float64() < a.cfg.Probability
	}
	return false
}

// payloadSafe bounds an attacker-chosen string carried in an event and
// makes it valid UTF-8.
func payloadSafe(s string) string {
	const max = 1024
	if len(s) > max {
		s = s[:max]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
