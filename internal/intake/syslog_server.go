package intake

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// SyslogServer receives syslog over UDP and TCP and emits one event per
// message. A message that does not parse is kept as a log event with its
// raw text and the parse error (nothing is lost); one longer than
// MaxMessage is cut there and flagged.
type SyslogServer struct {
	// UDP and TCP are listen addresses ("" for none).
	UDP, TCP   string
	MaxMessage int
	MaxConns   int
	// IdleTimeout closes a TCP connection that sends nothing for this
	// long (default 5 minutes).
	IdleTimeout time.Duration
	Sensor      string
	Sink        sensor.Sink
	Logger      *slog.Logger
	Clock       func() time.Time

	udp *net.UDPConn
	tcp net.Listener
}

// Listen binds the configured addresses, so that a bad address fails at
// start.
func (s *SyslogServer) Listen() error {
	if s.MaxMessage <= 0 {
		s.MaxMessage = 8192
	}
	if s.MaxConns <= 0 {
		s.MaxConns = 256
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = 5 * time.Minute
	}
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
		cut := n > s.MaxMessage
		s.emit(buf[:min(n, s.MaxMessage)], cut, sensor.EndpointOf(from), "udp")
	}
}

func (s *SyslogServer) serveTCP(ctx context.Context) {
	slots := make(chan struct{}, s.MaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.Logger.Warn("refused a syslog connection: too many open", "remote", c.RemoteAddr().String(), "max_conns", s.MaxConns)
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			defer c.Close()
			s.readTCP(c)
		}()
	}
}

// readTCP reads RFC 6587 frames: octet-counting ("LEN SP MSG") when a
// frame starts with a digit, newline-terminated otherwise.
func (s *SyslogServer) readTCP(c net.Conn) {
	peer := sensor.EndpointOf(c.RemoteAddr())
	r := bufio.NewReaderSize(c, s.MaxMessage+16)
	for {
		c.SetReadDeadline(time.Now().Add(s.IdleTimeout))
		msg, cut, err := ReadFrame(r, s.MaxMessage)
		if len(msg) > 0 {
			s.emit(msg, cut, peer, "tcp")
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					s.Logger.Warn("closed a syslog connection", "remote", c.RemoteAddr().String(), "err", err)
				}
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
	e.ID = sensor.NewID("sl-")
	e.Details["transport"] = transport
	if cut {
		e.Details["truncated"] = "true"
		e.Details["max_message"] = strconv.Itoa(s.MaxMessage)
	}
	s.Sink.Emit(e)
}
