package tcppot

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/vallum/vallum/internal/sensor"
)

// Telnet bytes (RFC 854).
const (
	tIAC  = 255
	tDONT = 254
	tDO   = 253
	tWONT = 252
	tWILL = 251
	tSB   = 250
	tSE   = 240
	tECHO = 1
)

// telnetOpening is what Linux telnetd sends first: DO TERMINAL-TYPE, DO
// TERMINAL-SPEED, DO X-DISPLAY-LOCATION, DO NEW-ENVIRON.
var telnetOpening = []byte{tIAC, tDO, 24, tIAC, tDO, 32, tIAC, tDO, 35, tIAC, tDO, 39}

// telnetMaxTries is how many logins are tried, and telnetMaxPrompts how
// many prompts (empty logins included) are shown, before hanging up.
const (
	telnetMaxTries   = 3
	telnetMaxPrompts = 10
)

// telnet negotiates like Linux telnetd, asks for login and password up to
// three times (each attempt recorded) and answers "Login incorrect".
func (s *Server) telnet(ctx context.Context, ss *session) {
	if _, err := ss.c.Write(telnetOpening); err != nil {
		return
	}
	d := &telnetDecoder{}
	// Wait for the client's answers to the negotiation (a scanner may
	// send none) before the prompt, as telnetd does.
	// sensor.Conn moves its deadline on every Read: wait on the
	// connection underneath.
	ss.c.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var buf [512]byte
	n, err := ss.c.Conn.Read(buf[:])
	if err != nil && n == 0 {
		if ne, ok := err.(interface{ Timeout() bool }); !ok || !ne.Timeout() {
			return
		}
	}
	pending := d.decode(buf[:n])
	ss.write("\r\nDebian GNU/Linux 12\r\n")
	for try, prompts := 0, 0; try < telnetMaxTries && prompts < telnetMaxPrompts; prompts++ {
		ss.write("\r\n" + s.cfg.Hostname + " login: ")
		user, rest, ok := telnetLine(ss, d, pending)
		if !ok {
			return
		}
		if user == "" {
			// An empty login is asked again, as login(1) does.
			pending = rest
			continue
		}
		try++
		// Stop the client echoing the password.
		ss.c.Write([]byte{tIAC, tWILL, tECHO})
		ss.write("Password: ")
		pass, rest2, ok := telnetLine(ss, d, rest)
		if !ok {
			ss.auth(sensor.Credentials{Method: "password", Username: user}, map[string]string{"incomplete": "true"})
			return
		}
		ss.auth(sensor.Credentials{Method: "password", Username: user, Password: pass}, nil)
		pending = rest2
		time.Sleep(200 * time.Millisecond)
		// Echo back on and the failure in one segment, as clients (and
		// hydra) read the answer to a password as one block.
		ss.write(string([]byte{tIAC, tWONT, tECHO}) + "\r\nLogin incorrect\r\n")
	}
}

// telnetLine reads data bytes (negotiation removed) up to a line end,
// starting with pending; it returns the line and the bytes after it.
func telnetLine(ss *session, d *telnetDecoder, pending []byte) (string, []byte, bool) {
	line := make([]byte, 0, 64)
	var buf [512]byte
	for {
		for i, b := range pending {
			switch {
			case b == '\r' || b == '\n':
				rest := pending[i+1:]
				if len(rest) > 0 && (rest[0] == '\n' || rest[0] == 0) {
					rest = rest[1:]
				}
				return stripC1(line), rest, true
			case b == 0x7f || b == 0x08:
				if len(line) > 0 {
					line = line[:len(line)-1]
				}
			case b >= 0x20 && len(line) < maxValue:
				line = append(line, b)
			}
		}
		n, err := ss.c.Read(buf[:])
		if n == 0 && err != nil {
			return stripC1(line), nil, false
		}
		pending = d.decode(buf[:n])
	}
}

// stripC1 drops C1 control characters (U+0080–U+009F, and the same
// values as lone 8-bit bytes, which some terminals obey as ESC-sequences:
// 0x9b is CSI); other bytes, Latin-1 letters included, are kept as sent.
func stripC1(b []byte) string {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		c1 := 0x80 <= r && r <= 0x9f || r == utf8.RuneError && size == 1 && 0x80 <= b[0] && b[0] <= 0x9f
		if !c1 {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return string(out)
}

// telnetDecoder strips telnet commands and subnegotiations from a byte
// stream, keeping state across reads. It never grows: subnegotiation
// bytes are dropped, not buffered.
type telnetDecoder struct {
	state int // 0 data, 1 after IAC, 2 after IAC WILL/WONT/DO/DONT, 3 in SB, 4 IAC in SB
}

// decode returns the data bytes of in (in place: the result aliases in).
func (d *telnetDecoder) decode(in []byte) []byte {
	out := in[:0]
	for _, b := range in {
		switch d.state {
		case 0:
			if b == tIAC {
				d.state = 1
			} else {
				out = append(out, b)
			}
		case 1:
			switch {
			case b == tIAC: // escaped 255
				out = append(out, b)
				d.state = 0
			case b >= tWILL && b <= tDONT:
				d.state = 2
			case b == tSB:
				d.state = 3
			default: // NOP, GA, BRK, …
				d.state = 0
			}
		case 2:
			d.state = 0
		case 3:
			if b == tIAC {
				d.state = 4
			}
		case 4:
			if b == tSE {
				d.state = 0
			} else {
				d.state = 3
			}
		}
	}
	return out
}
