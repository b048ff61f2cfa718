package intake

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/sensor"
)

// SyslogServer receives syslog over UDP and TCP and emits one event per
// message. A message that does not parse is kept as a log event with its
// raw text and the parse error (nothing is lost); one longer than
// MaxMessage is cut there and flagged.
//
// Only peers in Allow are heard; the others' datagrams and connections
// are dropped and counted (Refused), with a rate-limited line in the
// operator log. Events are never more severe than MaxSeverity: a log line
// is a claim by another system, not an observation of ours.
//
// Fields left zero take the intake.syslog settings of the pipeline when
// Sink is a *Pipeline (config.Syslog, validated), else the same defaults.
type SyslogServer struct {
	// UDP and TCP are listen addresses ("" for none).
	UDP, TCP   string
	MaxMessage int
	// MaxConns bounds TCP connections at once (Limits.MaxConns when zero).
	MaxConns int
	// IdleTimeout closes a TCP connection that sends nothing for this
	// long (Limits.IdleTimeout when zero).
	IdleTimeout time.Duration
	// Limits bound TCP connections: at once, per source, idle, in all
	// and in bytes (sensor.Limits).
	Limits sensor.Limits
	// Allow are the networks whose peers are heard; nil: intake.syslog.allow
	// (loopback only by default).
	Allow []netip.Prefix
	// MaxSeverity caps the events' severity; "": intake.syslog.max_severity
	// (the severity below the correlation's open severity by default).
	MaxSeverity string
	Sensor      string
	Sink        sensor.Sink
	Logger      *slog.Logger
	Clock       func() time.Time

	udp  *net.UDPConn
	tcp  net.Listener
	gate *sensor.Gate

	// refused counts datagrams and connections from peers not in Allow;
	// refusedMu guards the operator-log rate limit below it.
	refused   atomic.Int64
	refusedMu sync.Mutex
	unlogged  int64     // refused since the last operator-log line
	loggedAt  time.Time // when that line was written
}

// refusedLogEvery is the least time between two operator-log lines about
// refused syslog peers.
const refusedLogEvery = time.Minute

// defaults fills zero fields from the pipeline's intake.syslog section
// (or the same defaults when Sink is something else).
func (s *SyslogServer) defaults() error {
	var c config.Intake
	if p, ok := s.Sink.(*Pipeline); ok {
		c = p.cfg.Intake // validated by Open
	} else if err := c.Validate(); err != nil {
		return err
	}
	sc := c.Syslog
	if s.MaxMessage <= 0 {
		s.MaxMessage = sc.MaxMessage
	}
	l := &s.Limits
	if l.MaxConns == 0 {
		l.MaxConns = cmp.Or(s.MaxConns, sc.MaxConns)
	}
	if l.MaxConnsPerSource == 0 {
		l.MaxConnsPerSource = sc.MaxConnsPerSource
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = cmp.Or(s.IdleTimeout, sc.IdleTimeout)
	}
	if l.SessionTimeout == 0 {
		l.SessionTimeout = sc.SessionTimeout
	}
	if l.MaxSessionBytes == 0 {
		l.MaxSessionBytes = sc.MaxSessionBytes
	}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	s.MaxConns, s.IdleTimeout = l.MaxConns, l.IdleTimeout
	if s.Allow == nil {
		allow, err := config.ParsePrefixes(sc.Allow)
		if err != nil {
			return fmt.Errorf("syslog allow list: %w", err)
		}
		s.Allow = allow
	}
	if s.MaxSeverity == "" {
		s.MaxSeverity = sc.MaxSeverity
	}
	if Rank(s.MaxSeverity) < 0 {
		return fmt.Errorf("syslog: max severity %q is not one of %v", s.MaxSeverity, Severities)
	}
	return nil
}

// allowed reports whether peer is in Allow.
func (s *SyslogServer) allowed(peer net.Addr) bool {
	ap, err := netip.ParseAddrPort(peer.String())
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range s.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refuse counts a datagram or connection from a peer not in Allow and
// says so in the operator log at most once every refusedLogEvery.
func (s *SyslogServer) refuse(peer net.Addr, transport string) {
	s.refused.Add(1)
	s.refusedMu.Lock()
	defer s.refusedMu.Unlock()
	s.unlogged++
	now := time.Now()
	if now.Sub(s.loggedAt) < refusedLogEvery {
		return
	}
	s.Logger.Warn("dropped syslog from peers not in intake.syslog.allow", "refused", s.unlogged,
		"last_remote", peer.String(), "transport", transport, "refused_total", s.refused.Load())
	s.unlogged, s.loggedAt = 0, now
}

// Refused returns how many datagrams and connections were dropped
// because their peer is not in Allow.
func (s *SyslogServer) Refused() int64 { return s.refused.Load() }

// allowListener drops connections from peers not in the allow list
// before they take a slot of the gate.
type allowListener struct {
	net.Listener
	s *SyslogServer
}

func (l allowListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.s.allowed(c.RemoteAddr()) {
			return c, nil
		}
		l.s.refuse(c.RemoteAddr(), "tcp")
		c.Close()
	}
}

// Listen binds the configured addresses, so that a bad address fails at
// start.
func (s *SyslogServer) Listen() error {
	if err := s.defaults(); err != nil {
		return err
	}
	s.gate = sensor.NewGate(s.Limits)
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Clock == nil {
		s.Clock = time.Now
	}
	if s.UDP != "" {
		a, err := net.ResolveUDPAddr("udp", s.UDP)
		if err != nil {
			return fmt.Errorf("syslog udp %q: %w", s.UDP, err)
		}
		if s.udp, err = net.ListenUDP("udp", a); err != nil {
			return fmt.Errorf("couldn't listen for syslog on udp %s: %w", s.UDP, err)
		}
	}
	if s.TCP != "" {
		var err error
		if s.tcp, err = net.Listen("tcp", s.TCP); err != nil {
			if s.udp != nil {
				s.udp.Close()
			}
			return fmt.Errorf("couldn't listen for syslog on tcp %s: %w", s.TCP, err)
		}
	}
	return nil
}

// UDPAddr and TCPAddr return the bound addresses (nil if none).
func (s *SyslogServer) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr returns the bound TCP address (nil if none).
func (s *SyslogServer) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Serve receives messages until ctx ends.
func (s *SyslogServer) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.udp != nil {
		stop := context.AfterFunc(ctx, func() { s.udp.Close() })
		defer stop()
		wg.Add(1)
		go func() { defer wg.Done(); s.serveUDP() }()
	}
	if s.tcp != nil {
		stop := context.AfterFunc(ctx, func() { s.tcp.Close() })
		defer stop()
		wg.Add(1)
		go func() { defer wg.Done(); s.serveTCP(ctx) }()
	}
	wg.Wait()
	return nil
}

func (s *SyslogServer) serveUDP() {
	buf := make([]byte, s.MaxMessage+1)
	for {
		n, from, err := s.udp.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !s.allowed(from) {
			s.refuse(from, "udp")
			continue
		}
		cut := n > s.MaxMessage
		s.emit(buf[:min(n, s.MaxMessage)], cut, sensor.EndpointOf(from), "udp")
	}
}

// serveTCP serves TCP connections from allowed peers within the gate's
// limits (at once, per source, idle, in all and in bytes).
func (s *SyslogServer) serveTCP(ctx context.Context) {
	sensor.Serve(ctx, allowListener{s.tcp, s}, s.gate, func(_ context.Context, c *sensor.Conn) { s.readTCP(c) })
}

// readTCP reads RFC 6587 frames: octet-counting ("LEN SP MSG") when a
// frame starts with a digit, newline-terminated otherwise. c's deadlines
// and byte cap end it.
func (s *SyslogServer) readTCP(c *sensor.Conn) {
	peer := sensor.EndpointOf(c.RemoteAddr())
	r := bufio.NewReaderSize(c, s.MaxMessage+16)
	for {
		msg, cut, err := ReadFrame(r, s.MaxMessage)
		if len(msg) > 0 {
			s.emit(msg, cut, peer, "tcp")
		}
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.As(err, &ne) && ne.Timeout():
			case errors.Is(err, sensor.ErrSessionBytes):
				s.Logger.Info("closed a syslog connection at its byte limit; the sender reconnects", "remote", c.RemoteAddr().String(), "max_session_bytes", s.Limits.MaxSessionBytes)
			default:
				s.Logger.Warn("closed a syslog connection", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
	}
}

// ErrFraming is returned by ReadFrame for a stream that is not RFC 6587.
var ErrFraming = errors.New("syslog framing error")

// ReadFrame reads one syslog frame (RFC 6587) of at most max bytes: a
// longer message is cut at max (cut is true) and the rest of it skipped.
func ReadFrame(r *bufio.Reader, max int) (msg []byte, cut bool, err error) {
	b, err := r.Peek(1)
	if err != nil {
		return nil, false, err
	}
	if b[0] >= '1' && b[0] <= '9' {
		var n int
		for digits := 0; ; digits++ {
			c, err := r.ReadByte()
			if err != nil {
				return nil, false, err
			}
			if c == ' ' {
				break
			}
			if c < '0' || c > '9' || digits >= 9 {
				return nil, false, fmt.Errorf("%w: octet count is not a number followed by a space", ErrFraming)
			}
			n = n*10 + int(c-'0')
		}
		keep := min(n, max)
		msg = make([]byte, keep)
		if _, err := io.ReadFull(r, msg); err != nil {
			return nil, false, err
		}
		if n > keep {
			if _, err := r.Discard(n - keep); err != nil {
				return msg, true, err
			}
		}
		return msg, n > keep, nil
	}
	total := 0
	for {
		line, err := r.ReadSlice('\n')
		total += len(line)
		if room := max - len(msg); room > 0 {
			msg = append(msg, line[:min(len(line), room)]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && total == 0 {
			return nil, false, err
		}
		body := total
		if len(line) > 0 && line[len(line)-1] == '\n' {
			body--
		}
		return bytes.TrimRight(msg, "\r\n"), body > max, err
	}
}

func (s *SyslogServer) emit(raw []byte, cut bool, peer sensor.Endpoint, transport string) {
	now := s.Clock()
	var e sensor.Event
	m, err := ParseSyslog(raw, now)
	if err != nil {
		e = sensor.Event{Time: now, Sensor: s.Sensor, Protocol: "syslog", Kind: sensor.KindLog, Src: peer,
			Details: map[string]string{"message": string(raw), "parse_error": err.Error()}}
	} else {
		e = SyslogEvent(m, peer, s.Sensor, now)
	}
	if Rank(e.Severity) > Rank(s.MaxSeverity) {
		// A log line is another system's claim: it alone must not open
		// an incident.
		e.Details["claimed_severity"] = e.Severity
		e.Severity = s.MaxSeverity
	}
	e.ID = sensor.NewID("sl-")
	e.Details["transport"] = transport
	if cut {
		e.Details["truncated"] = "true"
		e.Details["max_message"] = strconv.Itoa(s.MaxMessage)
	}
	if p, ok := s.Sink.(*Pipeline); ok && e.Src == peer {
		// A message about the sender itself: the sender is an
		// allow-listed relay speaking for many hosts, bounded by the TCP
		// limits, not a hostile source for intake.per_source_rate. An
		// address named in the text (sshd) is limited like any other.
		p.emit(e)
		return
	}
	s.Sink.Emit(e)
}
