package tcppot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vallum/vallum/internal/sensor"
)

// Server runs the enabled TCP services. Its fields are set by New and
// read-only afterwards; each connection is handled on its own goroutine
// with its own session.
type Server struct {
	cfg    Config
	env    sensor.Env
	gate   *sensor.Gate
	quar   *sensor.Quarantine // nil without a state directory
	logger *slog.Logger
}

// New checks cfg (defaults filled in) and opens the quarantine in env.Dir.
func New(cfg Config, env sensor.Env) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Sink == nil {
		return nil, errors.New("tcp honeypots: no event sink")
	}
	s := &Server{cfg: cfg, env: env, gate: sensor.NewGate(cfg.Limits), logger: env.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if env.Dir != "" {
		q, err := sensor.OpenQuarantine(filepath.Join(env.Dir, "quarantine"), cfg.Quarantine)
		if err != nil {
			return nil, fmt.Errorf("tcp honeypots: %w", err)
		}
		s.quar = q
	}
	return s, nil
}

// Serve listens on the addresses of every enabled service and serves
// until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	type bound struct {
		proto string
		ln    net.Listener
	}
	var lns []bound
	for _, p := range Protocols {
		svc := s.cfg.service(p)
		if !svc.Enabled {
			continue
		}
		for _, a := range svc.Listen {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				for _, b := range lns {
					b.ln.Close()
				}
				return fmt.Errorf("%s honeypot: %w", p, err)
			}
			s.logger.Info("tcp honeypot listening", "protocol", p, "addr", ln.Addr().String())
			lns = append(lns, bound{p, ln})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, b := range lns {
		g.Go(func() error { return s.ServeListener(gctx, b.proto, b.ln) })
	}
	return g.Wait()
}

// ServeListener serves proto (one of Protocols) on ln until ctx ends, then
// closes ln and waits for its connections to finish.
func (s *Server) ServeListener(ctx context.Context, proto string, ln net.Listener) error {
	var h func(context.Context, *session)
	switch proto {
	case FTP:
		h = s.ftp
	case Telnet:
		h = s.telnet
	case Redis:
		h = s.redis
	case MySQL:
		h = s.mysql
	case SMB:
		h = s.smb
	case RDP:
		h = s.rdp
	default:
		ln.Close()
		return fmt.Errorf("tcp honeypots: unknown protocol %q (want one of %s)", proto, strings.Join(Protocols, ", "))
	}
	return sensor.Serve(ctx, ln, s.gate, func(ctx context.Context, c *sensor.Conn) {
		ss := &session{
			s:      s,
			proto:  proto,
			id:     sensor.NewID(proto + "-"),
			src:    sensor.EndpointOf(c.RemoteAddr()),
			dst:    sensor.EndpointOf(c.LocalAddr()),
			c:      c,
			r:      bufio.NewReaderSize(c, 4096),
			events: sensor.NewEventCap(s.cfg.Limits.MaxEvents),
		}
		ss.emit(sensor.KindConnect, nil)
		h(ctx, ss)
		if n := ss.events.Suppressed(); n > 0 {
			// The summary of what the cap kept out of the pipeline.
			ss.emit(sensor.KindDisconnect, func(e *sensor.Event) {
				e.Details = map[string]string{"suppressed_events": strconv.FormatInt(n, 10)}
			})
		}
	})
}

// session is one connection; it belongs to the goroutine handling it.
type session struct {
	s        *Server
	proto    string
	id       string
	src, dst sensor.Endpoint
	c        *sensor.Conn
	r        *bufio.Reader
	events   *sensor.EventCap // Limits.MaxEvents; nil for none
}

// emit sends an event of kind, filled in by fill (may be nil). Past the
// session's event cap it only counts it; connect and disconnect always go.
func (ss *session) emit(kind string, fill func(*sensor.Event)) {
	if kind != sensor.KindConnect && kind != sensor.KindDisconnect && ss.events != nil && !ss.events.Allow() {
		return
	}
	name := ss.proto
	if ss.s.env.Name != "" {
		name = ss.s.env.Name + "/" + ss.proto
	}
	e := sensor.Event{
		ID: sensor.NewID("ev-"), Time: time.Now().UTC(), Sensor: name, Protocol: ss.proto,
		Kind: kind, Src: ss.src, Dst: ss.dst, Session: ss.id,
	}
	if fill != nil {
		fill(&e)
	}
	ss.s.env.Sink.Emit(e)
}

// command records a command line.
func (ss *session) command(line string, details map[string]string) {
	ss.emit(sensor.KindCommand, func(e *sensor.Event) {
		e.Command = clip(line, maxCommand)
		e.Details = details
	})
}

// auth records a credential.
func (ss *session) auth(c sensor.Credentials, details map[string]string) {
	c.Username = clip(c.Username, maxValue)
	c.Password = clip(c.Password, maxValue)
	ss.emit(sensor.KindAuth, func(e *sensor.Event) {
		e.Credentials = &c
		e.Details = details
	})
}

func (ss *session) write(s string) error {
	_, err := io.WriteString(ss.c, s)
	return err
}

const (
	maxCommand = 1024
	maxValue   = 256
	maxLine    = 1024 // longest command line read
)

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// errLineTooLong is returned by readLine for a line over its bound.
var errLineTooLong = errors.New("line too long")

// readLine reads one line ending in \n (the \r\n or \n removed), at most
// max bytes. The bound holds whatever the client sends.
func readLine(r *bufio.Reader, max int) (string, error) {
	var b []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(b)+len(frag) > max+2 {
			return "", errLineTooLong
		}
		b = append(b, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if len(b) > 0 && errors.Is(err, io.EOF) {
				break
			}
			return "", err
		}
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
