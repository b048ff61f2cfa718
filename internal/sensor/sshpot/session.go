package sshpot

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vallum/vallum/internal/sensor"
)

// session is one "session" channel: a pty, a shell, an exec, or a
// subsystem. Requests are answered by the connection's goroutine; the
// shell, exec or subsystem runs on one goroutine of its own.
type session struct {
	c    *conn
	ch   ssh.Channel
	reqs <-chan *ssh.Request
	// Set by the connection goroutine before the worker starts:
	pty     bool
	term    string
	env     map[string]string
	started bool
	// Updated by window-change while the worker runs:
	cols, rows atomic.Int32
	// tr is the connection's transcript, set when the worker starts.
	tr *transcript
}

// Per-connection bounds.
const (
	maxEnv         = 16
	maxWritePacket = 512
)

// serve runs the connection after the handshake. One goroutine selects
// over new channels, global requests and the first session's requests
// (nearly every client opens one), so that a held session costs the
// goroutines x/crypto/ssh needs, this one and the session's worker;
// further sessions get a goroutine for their requests.
func (c *conn) serve(chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request) {
	var workers sync.WaitGroup
	defer workers.Wait()
	var first *session
	var firstReqs <-chan *ssh.Request // nil while there is no first session
	open := 0
	var extra sync.WaitGroup
	defer extra.Wait() // before workers.Wait: these may start workers
	var mu sync.Mutex  // guards open for the extra sessions' goroutines
	for {
		select {
		case nc, ok := <-chans:
			if !ok {
				return
			}
			mu.Lock()
			n := open
			mu.Unlock()
			s := c.newChannel(nc, n)
			if s == nil {
				continue
			}
			mu.Lock()
			open++
			mu.Unlock()
			if first == nil {
				first, firstReqs = s, s.reqs
				continue
			}
			extra.Add(1)
			go func() {
				defer extra.Done()
				for r := range s.reqs {
					s.request(r, &workers)
				}
				mu.Lock()
				open--
				mu.Unlock()
			}()
		case r, ok := <-reqs:
			if !ok {
				return
			}
			c.globalRequest(r)
		case r, ok := <-firstReqs:
			if !ok {
				first, firstReqs = nil, nil
				mu.Lock()
				open--
				mu.Unlock()
				continue
			}
			first.request(r, &workers)
		}
	}
}

func (c *conn) newChannel(nc ssh.NewChannel, open int) *session {
	switch nc.ChannelType() {
	case "session":
		if open >= c.s.cfg.MaxChannels {
			nc.Reject(ssh.ResourceShortage, "too many sessions")
			return nil
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			return nil
		}
		s := &session{c: c, ch: ch, reqs: reqs}
		s.cols.Store(80)
		s.rows.Store(24)
		return s
	case "direct-tcpip", "forwarded-tcpip":
		var m struct {
			Host       string
			Port       uint32
			OriginHost string
			OriginPort uint32
		}
		details := map[string]string{"type": nc.ChannelType()}
		if ssh.Unmarshal(nc.ExtraData(), &m) == nil {
			details["host"] = payloadSafe(m.Host)
			details["port"] = strconv.FormatUint(uint64(m.Port), 10)
			details["origin"] = payloadSafe(m.OriginHost) + ":" + strconv.FormatUint(uint64(m.OriginPort), 10)
		}
		c.forward(details)
		nc.Reject(ssh.Prohibited, "open failed")
	case "direct-streamlocal@openssh.com":
		var m struct{ Path string }
		details := map[string]string{"type": nc.ChannelType()}
		if ssh.Unmarshal(nc.ExtraData(), &m) == nil {
			details["path"] = payloadSafe(m.Path)
		}
		c.forward(details)
		nc.Reject(ssh.Prohibited, "open failed")
	default:
		nc.Reject(ssh.UnknownChannelType, "unknown channel type")
	}
	return nil
}

// forward records a refused forwarding request.
func (c *conn) forward(details map[string]string) {
	ev := c.event(sensor.KindForward)
	ev.Details = details
	c.emit(ev)
}

func (c *conn) globalRequest(r *ssh.Request) {
	switch r.Type {
	case "tcpip-forward", "streamlocal-forward@openssh.com":
		var m struct {
			Addr string
			Port uint32
		}
		details := map[string]string{"type": r.Type}
		if ssh.Unmarshal(r.Payload, &m) == nil {
			details["host"] = payloadSafe(m.Addr)
			details["port"] = strconv.FormatUint(uint64(m.Port), 10)
		}
		c.forward(details)
	}
	if r.WantReply {
		r.Reply(false, nil)
	}
}

// request answers a session's request.
func (s *session) request(r *ssh.Request, workers *sync.WaitGroup) {
	ok := false
	switch r.Type {
	case "pty-req":
		var m struct {
			Term                      string
			Cols, Rows, Width, Height uint32
			Modes                     string
		}
		if !s.started && ssh.Unmarshal(r.Payload, &m) == nil {
			s.pty, s.term, ok = true, payloadSafe(m.Term), true
			s.resize(m.Cols, m.Rows)
		}
	case "window-change":
		var m struct{ Cols, Rows, Width, Height uint32 }
		if ssh.Unmarshal(r.Payload, &m) == nil {
			s.resize(m.Cols, m.Rows)
			if s.started {
				s.c.mu.Lock()
				tr := s.c.tr
				s.c.mu.Unlock()
				tr.event("r", strconv.Itoa(int(s.cols.Load()))+"x"+strconv.Itoa(int(s.rows.Load())))
			}
		}
	case "env":
		var m struct{ Name, Value string }
		// Only before the worker starts: it reads env once, unlocked.
		if !s.started && ssh.Unmarshal(r.Payload, &m) == nil && validVarName(m.Name) && (m.Name == "LANG" || strings.HasPrefix(m.Name, "LC_")) {
			if s.env == nil {
				s.env = map[string]string{}
			}
			if len(s.env) < maxEnv {
				s.env[m.Name] = payloadSafe(m.Value)
				ok = true
			}
		}
	case "shell", "exec", "subsystem":
		if s.started {
			break
		}
		var arg string
		if r.Type != "shell" {
			var m struct{ Value string }
			if ssh.Unmarshal(r.Payload, &m) != nil {
				break
			}
			arg = m.Value
			if r.Type == "subsystem" && arg != "sftp" {
				break
			}
		}
		s.started, ok = true, true
		// Reply before the worker starts, or its output and close could
		// reach the client before the answer to its request.
		if r.WantReply {
			r.Reply(true, nil)
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			s.run(r.Type, arg)
		}()
		return
	case "x11-req", "auth-agent-req@openssh.com":
		s.c.forward(map[string]string{"type": r.Type})
	}
	if r.WantReply {
		r.Reply(ok, nil)
	}
}

func (s *session) resize(cols, rows uint32) {
	s.cols.Store(int32(min(max(cols, 1), 1000)))
	s.rows.Store(int32(min(max(rows, 1), 1000)))
}

// run is the session's worker: it serves a shell, an exec or SFTP, then
// closes the channel with an exit status.
func (s *session) run(kind, arg string) {
	defer s.ch.Close()
	defer func() {
		// A bug in the emulator must cost one session, not the sensor.
		if r := recover(); r != nil {
			s.c.s.logger.Error("SSH honeypot session failed", "session", s.c.id, "panic", r)
		}
	}()
	status := 0
	switch {
	case kind == "subsystem":
		s.serveSFTP()
	case kind == "exec" && isSCPSink(arg):
		s.command(arg, map[string]string{"exec": "true"})
		status = s.serveSCP(arg)
	case kind == "exec":
		status = s.exec(arg)
	default:
		status = s.shell()
	}
	s.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
}

// write sends p to the client and to the transcript. A client that
// stops granting window for longer than the idle timeout is cut off.
func (s *session) write(p string) {
	if p == "" {
		return
	}
	p = strings.ToValidUTF8(p, "\uFFFD")
	s.tr.event("o", p)
	t := time.AfterFunc(s.c.s.cfg.Limits.IdleTimeout, func() { s.c.raw.Close() })
	defer t.Stop()
	// x/crypto/ssh keeps each channel's and each cipher's packet buffer
	// as large as the largest packet sent: small packets keep a held
	// session small.
	b := []byte(p)
	for len(b) > 0 {
		n := min(len(b), maxWritePacket)
		if _, err := s.ch.Write(b[:n]); err != nil {
			return
		}
		b = b[n:]
	}
}

// newShell makes the emulated shell for this session.
func (s *session) newShell() *shell {
	tty := ""
	if s.pty {
		tty = "pts/0"
	}
	sh := newShell(s.c.s.host, s.c.user, s.c.src, tty, s.term)
	for k, v := range s.env {
		sh.env()[k] = v
	}
	sh.download = func(tool, url string) {
		ev := s.c.event(sensor.KindRequest)
		ev.Command = payloadSafe(sh.line)
		ev.Details = map[string]string{"tool": tool, "url": payloadSafe(url)}
		s.c.emit(ev)
	}
	return sh
}

// command records a command line.
func (s *session) command(line string, details map[string]string) {
	s.c.mu.Lock()
	s.c.commands++
	s.c.mu.Unlock()
	ev := s.c.event(sensor.KindCommand)
	ev.Command = payloadSafe(line)
	ev.Details = details
	s.c.emit(ev)
}

// crlf turns line ends into what a pty sends.
func crlf(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// exec runs one command line given to ssh and returns its exit status.
func (s *session) exec(line string) int {
	if len(line) > maxLineBytes {
		line = line[:maxLineBytes]
	}
	s.tr = s.c.transcript(int(s.cols.Load()), int(s.rows.Load()), s.term)
	s.tr.event("i", line+"\n")
	s.command(line, map[string]string{"exec": "true"})
	sh := s.newShell()
	sh.errPrefix = "bash: line 1"
	sh.cols = int(s.cols.Load())
	sh.line = line
	out := sh.run(line)
	if s.pty {
		out = crlf(out)
	}
	s.write(out)
	s.tr.flush()
	return sh.status
}

// shell runs an interactive shell until the client leaves.
func (s *session) shell() int {
	s.tr = s.c.transcript(int(s.cols.Load()), int(s.rows.Load()), s.term)
	sh := s.newShell()
	if s.pty {
		s.write(crlf(s.c.s.host.motd(sh)) + sh.prompt())
		s.tr.flush()
	}
	var ed lineEditor
	var pending []byte // input without a pty: a partial line
	buf := make([]byte, 512)
	for !sh.exited {
		n, err := s.ch.Read(buf)
		if n > 0 {
			s.tr.event("i", string(buf[:n]))
			if s.pty {
				s.typed(sh, &ed, buf[:n])
			} else {
				pending = s.piped(sh, append(pending, buf[:n]...))
			}
		}
		if err != nil {
			if !s.pty && len(pending) > 0 && !sh.exited {
				s.runLine(sh, string(pending))
			}
			break
		}
	}
	s.tr.flush()
	return sh.status
}

// typed handles keystrokes on a pty.
func (s *session) typed(sh *shell, ed *lineEditor, in []byte) {
	var out strings.Builder
	flush := func() {
		s.write(out.String())
		out.Reset()
	}
	for _, b := range in {
		if sh.exited {
			break
		}
		echo, act := ed.key(b)
		out.WriteString(echo)
		switch act {
		case editEnter:
			out.WriteString("\r\n")
			flush()
			line := ed.take()
			s.write(crlf(s.runLine(sh, line)))
			if !sh.exited {
				out.WriteString(sh.prompt())
			} else {
				out.WriteString("logout\r\n")
			}
		case editInterrupt:
			out.WriteString("\r\n" + sh.prompt())
			sh.status = 130
		case editEOF:
			out.WriteString("\r\nlogout\r\n")
			sh.exited = true
		case editClear:
			out.WriteString("\x1b[H\x1b[2J" + sh.prompt() + string(ed.line))
		}
	}
	flush()
	s.tr.flush()
}

// piped handles input without a pty: whole lines, no echo, no prompt.
// It returns the unfinished rest.
func (s *session) piped(sh *shell, in []byte) []byte {
	for !sh.exited {
		i := strings.IndexByte(string(in), '\n')
		if i < 0 {
			break
		}
		s.write(s.runLine(sh, string(in[:i])))
		in = in[i+1:]
	}
	if len(in) > maxEditLine {
		in = in[:maxEditLine]
	}
	s.tr.flush()
	return in
}

// runLine records and runs one command line and returns its output.
func (s *session) runLine(sh *shell, line string) string {
	if strings.TrimSpace(line) != "" {
		s.command(line, nil)
	}
	sh.cols = int(s.cols.Load())
	sh.line = line
	return sh.run(line)
}

// motd is what an interactive login prints before the first prompt.
func (h *host) motd(sh *shell) string {
	now := h.now().UTC()
	m := strings.ReplaceAll(h.persona.motd, "{{date}}", now.Format("Mon Jan _2 15:04:05 MST 2006"))
	last := now.Add(-26*time.Hour - 13*time.Minute)
	return m + "Last login: " + last.Format("Mon Jan _2 15:04:05 2006") + " from 10.0.0.2\n"
}
