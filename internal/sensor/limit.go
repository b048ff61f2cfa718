package sensor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what one honeypot gives its clients. Zero fields take the
// defaults of DefaultLimits.
type Limits struct {
	// MaxConns is the most connections the sensor holds at once.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerSource is the most connections from one address.
	MaxConnsPerSource int `yaml:"max_conns_per_source"`
	// IdleTimeout cuts a connection that neither sends nor reads for this
	// long (this is what ends slow-read and slow-send clients).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SessionTimeout cuts any connection this long after it was accepted.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// MaxSessionBytes cuts a connection after it has read this many bytes.
	MaxSessionBytes int64 `yaml:"max_session_bytes"`
	// MaxEvents is the most events one session (for HTTP, one
	// connection) emits after its connect event; later ones are counted,
	// not emitted, and the count is carried by the session's last event.
	MaxEvents int `yaml:"max_events"`
}

// DefaultLimits are the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxConns:          20000,
		MaxConnsPerSource: 64,
		IdleTimeout:       2 * time.Minute,
		SessionTimeout:    30 * time.Minute,
		MaxSessionBytes:   16 << 20,
		MaxEvents:         1000,
	}
}

// WithDefaults returns l with zero fields set from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxConns == 0 {
		l.MaxConns = d.MaxConns
	}
	if l.MaxConnsPerSource == 0 {
		l.MaxConnsPerSource = d.MaxConnsPerSource
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.SessionTimeout == 0 {
		l.SessionTimeout = d.SessionTimeout
	}
	if l.MaxSessionBytes == 0 {
		l.MaxSessionBytes = d.MaxSessionBytes
	}
	if l.MaxEvents == 0 {
		l.MaxEvents = d.MaxEvents
	}
	return l
}

// Validate reports a negative limit.
func (l Limits) Validate() error {
	if l.MaxConns < 0 || l.MaxConnsPerSource < 0 || l.IdleTimeout < 0 || l.SessionTimeout < 0 || l.MaxSessionBytes < 0 || l.MaxEvents < 0 {
		return fmt.Errorf("sensor limits must not be negative: %+v", l)
	}
	return nil
}

// Gate admits connections within MaxConns and MaxConnsPerSource.
type Gate struct {
	limits Limits
	mu     sync.Mutex
	total  int
	bySrc  map[netip.Addr]int
}

// NewGate returns a gate for l (defaults filled in).
func NewGate(l Limits) *Gate {
	return &Gate{limits: l.WithDefaults(), bySrc: make(map[netip.Addr]int)}
}

// Limits returns the gate's limits with defaults filled in.
func (g *Gate) Limits() Limits { return g.limits }

// ErrLimit is returned by Admit when a limit is reached.
var ErrLimit = errors.New("connection limit reached")

// Admit takes a slot for a connection from remote; release gives it back
// and is safe to call more than once.
func (g *Gate) Admit(remote net.Addr) (release func(), err error) {
	src := netip.MustParseAddr(orUnspecified(EndpointOf(remote).IP))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.limits.MaxConns {
		return nil, fmt.Errorf("%w: %d connections held", ErrLimit, g.total)
	}
	if g.bySrc[src] >= g.limits.MaxConnsPerSource {
		return nil, fmt.Errorf("%w: %d connections from %s", ErrLimit, g.bySrc[src], src)
	}
	g.total++
	g.bySrc[src]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.total--
			if g.bySrc[src]--; g.bySrc[src] == 0 {
				delete(g.bySrc, src)
			}
		})
	}, nil
}

// Held returns the number of connections admitted and not released.
func (g *Gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

func orUnspecified(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

// EventCap counts one session's events and lets the first max through,
// so a client flooding commands cannot flood the event pipeline. It is
// safe for concurrent use (an SSH connection's channels share one).
type EventCap struct {
	max int64
	n   atomic.Int64
}

// NewEventCap returns a cap of max events (DefaultLimits' when max is 0).
func NewEventCap(max int) *EventCap {
	if max == 0 {
		max = DefaultLimits().MaxEvents
	}
	return &EventCap{max: int64(max)}
}

// Allow counts one event and reports whether it may be emitted.
func (c *EventCap) Allow() bool { return c.n.Add(1) <= c.max }

// Suppressed returns the events counted and not allowed.
func (c *EventCap) Suppressed() int64 { return max(c.n.Load()-c.max, 0) }

// Budget is a memory budget in bytes shared by all sensors of a process:
// buffers for transcripts, bodies and uploads are reserved from it, and a
// capture that cannot reserve is truncated rather than growing the heap.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Reserve takes n bytes from the budget; false when that would exceed it.
// A nil budget always reserves.
func (b *Budget) Reserve(n int64) bool {
	if b == nil {
		return true
	}
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// Release returns n reserved bytes.
func (b *Budget) Release(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Conn is a connection under limits: every Read and Write first moves the
// idle deadline (never past the session deadline), and reading stops with
// ErrSessionBytes after MaxSessionBytes.
type Conn struct {
	net.Conn
	limits   Limits
	deadline time.Time
	// read is written by Read and may be read by BytesRead from another
	// goroutine.
	read atomic.Int64
}

// ErrSessionBytes is returned by Conn.Read when the session's byte cap is
// reached.
var ErrSessionBytes = errors.New("session byte limit reached")

// LimitConn wraps c with the limits l (defaults filled in).
func LimitConn(c net.Conn, l Limits) *Conn {
	l = l.WithDefaults()
	lc := &Conn{Conn: c, limits: l, deadline: time.Now().Add(l.SessionTimeout)}
	lc.touch()
	return lc
}

func (c *Conn) touch() {
	d := time.Now().Add(c.limits.IdleTimeout)
	if d.After(c.deadline) {
		d = c.deadline
	}
	c.Conn.SetDeadline(d)
}

// Read reads within the idle and session deadlines and the byte cap.
func (c *Conn) Read(p []byte) (int, error) {
	read := c.read.Load()
	if read >= c.limits.MaxSessionBytes {
		return 0, ErrSessionBytes
	}
	if rest := c.limits.MaxSessionBytes - read; int64(len(p)) > rest {
		p = p[:rest]
	}
	c.touch()
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// Write writes within the idle and session deadlines; a client that does
// not read is cut off when the deadline passes.
func (c *Conn) Write(p []byte) (int, error) {
	c.touch()
	return c.Conn.Write(p)
}

// BytesRead returns what the client has sent so far.
func (c *Conn) BytesRead() int64 { return c.read.Load() }

// Serve accepts connections on ln until ctx ends, admits each through gate
// (refused ones are closed at once), wraps it with the gate's limits and
// runs handle on its own goroutine. It waits for running handlers before
// returning. Temporary accept errors back off instead of spinning.
func Serve(ctx context.Context, ln net.Listener, gate *Gate, handle func(context.Context, *Conn)) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		release, err := gate.Admit(c.RemoteAddr())
		if err != nil {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release()
			lc := LimitConn(c, gate.Limits())
			defer lc.Close()
			cctx, cancel := context.WithDeadline(ctx, lc.deadline)
			defer cancel()
			stopConn := context.AfterFunc(cctx, func() { lc.Close() })
			defer stopConn()
			handle(cctx, lc)
		}()
	}
}
