package httppot

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// limit wraps l so that every connection is admitted through the gate
// (connections over MaxConns or MaxConnsPerSource are closed at once), is
// closed SessionTimeout after it was accepted, and may send at most
// MaxSessionBytes. Deadlines are left to http.Server's timeouts.
func (s *Server) limit(l net.Listener) net.Listener {
	return &limitListener{Listener: l, s: s}
}

type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, err := l.s.gate.Admit(c.RemoteAddr())
		if err != nil {
			l.s.refused.Add(1)
			c.Close()
			continue
		}
		lim := l.s.gate.Limits()
		lc := &limitedConn{Conn: c, release: release, left: lim.MaxSessionBytes}
		lc.timer = time.AfterFunc(lim.SessionTimeout, func() { lc.Close() })
		return lc, nil
	}
}

// limitedConn releases its gate slot when closed.
type limitedConn struct {
	net.Conn
	release func()
	timer   *time.Timer
	left    int64 // bytes the client may still send; read by one goroutine at a time
	once    sync.Once
	// info is what the connection's requests share, set by ConnContext
	// and taken by ConnState when the connection ends.
	info atomic.Pointer[connInfo]
}

var errSessionBytes = errors.New("http honeypot: session byte limit reached")

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errSessionBytes
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	if err == nil && c.left <= 0 {
		err = io.EOF
	}
	return n, err
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.timer.Stop()
		c.release()
	})
	return err
}

var _ net.Conn = (*limitedConn)(nil)
