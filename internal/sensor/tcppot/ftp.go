package tcppot

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// ftpMaxFails is how many failed logins end the connection (vsftpd's
// max_login_fails).
const ftpMaxFails = 3

// ftpDataWait is how long a passive data port waits for its connection.
const ftpDataWait = 10 * time.Second

// ftp speaks enough FTP for scanners and brute-forcers: the vsftpd banner,
// USER/PASS (recorded, refused unless anonymous is on), SYST, FEAT, PWD,
// passive LIST and STOR to the quarantine. Active mode (PORT, EPRT) is
// refused: the honeypot never connects out.
func (s *Server) ftp(ctx context.Context, ss *session) {
	f := &ftpSession{ss: ss}
	defer f.closeData()
	if ss.write("220 (vsFTPd "+s.cfg.FTP.Version+")\r\n") != nil {
		return
	}
	for {
		line, err := readLine(ss.r, maxLine)
		if err == errLineTooLong {
			ss.write("500 Input line was too long.\r\n")
			return
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if verb != "PASS" {
			ss.command(line, nil)
		}
		if !f.handle(verb, arg) {
			return
		}
	}
}

type ftpSession struct {
	ss       *session
	user     string
	loggedIn bool
	fails    int
	data     net.Listener // passive data port, nil if none
	files    []string     // names stored in this session
	// uploaded is what this session's data connections have sent, all
	// of them together: with the control connection's own bytes it is
	// held within Limits.MaxSessionBytes.
	uploaded int64
}

// handle answers one command; false ends the session.
func (f *ftpSession) handle(verb, arg string) bool {
	ss := f.ss
	w := func(s string) bool { return ss.write(s+"\r\n") == nil }
	switch verb {
	case "USER":
		f.user, f.loggedIn = arg, false
		return w("331 Please specify the password.")
	case "PASS":
		anon := ss.s.cfg.FTP.Anonymous && (strings.EqualFold(f.user, "anonymous") || strings.EqualFold(f.user, "ftp"))
		ss.auth(sensor.Credentials{Method: "password", Username: f.user, Password: arg, Accepted: anon}, nil)
		if anon {
			f.loggedIn = true
			return w("230 Login successful.")
		}
		f.fails++
		w("530 Login incorrect.")
		return f.fails < ftpMaxFails
	case "QUIT":
		w("221 Goodbye.")
		return false
	case "SYST":
		return w("215 UNIX Type: L8")
	case "FEAT":
		return w("211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End")
	case "OPTS":
		return w("200 Always in UTF8 mode.")
	case "NOOP":
		return w("200 NOOP ok.")
	case "HELP":
		return w("214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n RNTO SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n XPWD XRMD\r\n214 Help OK.")
	}
	if !f.loggedIn {
		return w("530 Please login with USER and PASS.")
	}
	switch verb {
	case "PWD", "XPWD":
		return w(`257 "/" is the current directory`)
	case "CWD", "XCWD":
		if arg == "/" || arg == "." {
			return w("250 Directory successfully changed.")
		}
		return w("550 Failed to change directory.")
	case "CDUP", "XCUP":
		return w("250 Directory successfully changed.")
	case "TYPE":
		if strings.HasPrefix(strings.ToUpper(arg), "A") {
			return w("200 Switching to ASCII mode.")
		}
		return w("200 Switching to Binary mode.")
	case "PORT", "EPRT":
		// Active mode would make the honeypot connect out: never.
		return w("500 Illegal PORT command.")
	case "PASV", "EPSV":
		return f.passive(verb == "EPSV")
	case "LIST", "NLST":
		dc, ok := f.accept()
		if !ok {
			return w("425 Use PORT or PASV first.")
		}
		w("150 Here comes the directory listing.")
		for _, name := range f.files {
			if verb == "NLST" {
				fmt.Fprintf(dc, "%s\r\n", name)
			} else {
				fmt.Fprintf(dc, "-rw-------    1 ftp      ftp             0 Jan 01 00:00 %s\r\n", name)
			}
		}
		dc.Close()
		return w("226 Directory send OK.")
	case "STOR", "STOU", "APPE":
		return f.store(arg)
	case "RETR", "SIZE", "MDTM":
		return w("550 Failed to open file.")
	case "DELE", "MKD", "XMKD", "RMD", "XRMD", "RNFR", "RNTO", "SITE", "CHMOD":
		return w("550 Permission denied.")
	}
	return w("500 Unknown command.")
}

// passive opens a data port on the control connection's local address
// (an inbound port: the client connects to us).
func (f *ftpSession) passive(extended bool) bool {
	f.closeData()
	local, _ := f.ss.c.LocalAddr().(*net.TCPAddr)
	if local == nil {
		return f.ss.write("425 Can't open data connection.\r\n") == nil
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: local.IP})
	if err != nil {
		return f.ss.write("425 Can't open data connection.\r\n") == nil
	}
	f.data = ln
	port := ln.Addr().(*net.TCPAddr).Port
	ip4 := local.IP.To4()
	if extended || ip4 == nil {
		return f.ss.write(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)\r\n", port)) == nil
	}
	return f.ss.write(fmt.Sprintf("227 Entering Passive Mode (%d,%d,%d,%d,%d,%d).\r\n", ip4[0], ip4[1], ip4[2], ip4[3], port>>8, port&0xff)) == nil
}

// accept takes the data connection of the open passive port, from the
// control connection's address only, and closes the port.
func (f *ftpSession) accept() (net.Conn, bool) {
	ln, ok := f.data.(*net.TCPListener)
	if !ok {
		return nil, false
	}
	defer f.closeData()
	ln.SetDeadline(time.Now().Add(ftpDataWait))
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil, false
		}
		if sensor.EndpointOf(c.RemoteAddr()).IP != f.ss.src.IP {
			c.Close()
			continue
		}
		c.SetDeadline(time.Now().Add(f.ss.s.cfg.Limits.IdleTimeout))
		return c, true
	}
}

func (f *ftpSession) closeData() {
	if f.data != nil {
		f.data.Close()
		f.data = nil
	}
}

// store captures an upload into the quarantine, cut at its limits.
func (f *ftpSession) store(name string) bool {
	w := func(s string) bool { return f.ss.write(s+"\r\n") == nil }
	left := f.ss.s.cfg.Limits.MaxSessionBytes - f.ss.c.BytesRead() - f.uploaded
	if left <= 0 {
		f.closeData()
		return w("552 Requested file action aborted. Exceeded storage allocation.")
	}
	dc, ok := f.accept()
	if !ok {
		return w("425 Use PORT or PASV first.")
	}
	defer dc.Close()
	w("150 Ok to send data.")
	// What is left of the session's byte cap, whatever the quarantine
	// keeps: repeated PASV/STOR share one cap.
	r := &countReader{r: io.LimitReader(dc, left), n: &f.uploaded}
	var ref sensor.PayloadRef
	var err error
	if q := f.ss.s.quar; q != nil {
		ref, err = q.Capture(name, r)
	} else {
		ref, err = hashOnly(name, r)
	}
	if err != nil {
		f.ss.s.logger.Warn("ftp honeypot: couldn't capture an upload", "session", f.ss.id, "err", err)
		return w("426 Failure writing network stream.")
	}
	f.files = append(f.files, clip(strings.ReplaceAll(name, "/", "_"), 128))
	f.ss.emit(sensor.KindUpload, func(e *sensor.Event) {
		e.Command = clip("STOR "+name, maxCommand)
		e.Payloads = []sensor.PayloadRef{ref}
	})
	return w("226 Transfer complete.")
}

// countReader adds what it reads to *n.
type countReader struct {
	r io.Reader
	n *int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}
