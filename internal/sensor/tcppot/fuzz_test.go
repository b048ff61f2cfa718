package tcppot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

func FuzzRESP(f *testing.F) {
	for _, s := range []string{"*1\r\n$4\r\nPING\r\n", "GET / HTTP/1.0\r\n", "*2\r\n$3\r\nGET\r\n$-1\r\n", "*99999999999\r\n", "*1\r\n$3\r\nab\r\n", "\r\n", "*1\r\n$70000\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for range 100 {
			args, err := readRESP(r)
			if err != nil {
				return
			}
			total := 0
			for _, a := range args {
				total += len(a)
			}
			// An array holds at most respMaxArgs, an inline line at most
			// maxLine bytes; nothing holds more than was sent.
			if len(args) > max(respMaxArgs, maxLine/2) || total > len(b) {
				t.Fatalf("readRESP returned %d args, %d bytes from %d bytes of input", len(args), total, len(b))
			}
		}
	})
}

func FuzzHandshakeResponse(f *testing.F) {
	f.Add(mysqlHandshake("root", "db", "mysql_native_password", bytes.Repeat([]byte{1}, 20)))
	f.Add(mysqlHandshake("", "", "", nil))
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		hr, err := parseHandshakeResponse(b)
		if err == nil && len(hr.User)+len(hr.AuthResponse)+len(hr.Database)+len(hr.Plugin) > len(b) {
			t.Fatalf("parsed more than the packet holds: %+v", hr)
		}
	})
}

func FuzzSMB(f *testing.F) {
	f.Add([]byte(nmapSMBProbe))
	f.Add(smb2NegotiateRequest())
	f.Add([]byte("\x00\x00\x00\x05\xffSMBr"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readNetBIOS(bytes.NewReader(b))
		if err != nil {
			return
		}
		n, err := parseSMB(m)
		if err == nil && len(n.Dialects) > 64 {
			t.Fatalf("%d dialects", len(n.Dialects))
		}
	})
}

func FuzzX224(f *testing.F) {
	f.Add([]byte("\x03\x00\x00\x2a\x25\xe0\x00\x00\x00\x00\x00Cookie: mstshash=nmap\r\n\x01\x00\x08\x00\x03\x00\x00\x00"))
	f.Add([]byte("\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := readTPKT(bytes.NewReader(b))
		if err != nil {
			return
		}
		req, err := parseX224CR(p)
		if err == nil && len(req.Cookie) > maxValue {
			t.Fatalf("cookie of %d bytes", len(req.Cookie))
		}
	})
}

func FuzzTelnetDecoder(f *testing.F) {
	f.Add([]byte{tIAC, tDO, 24, 'a', tIAC, tIAC, tIAC, tSB, 1, 2, tIAC, tSE, 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &telnetDecoder{}
		in := bytes.Clone(b)
		out := d.decode(in)
		if len(out) > len(b) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(b))
		}
		// Decoding in two pieces gives the same data.
		d1 := &telnetDecoder{}
		cut := len(b) / 2
		a := append([]byte(nil), d1.decode(bytes.Clone(b[:cut]))...)
		a = append(a, d1.decode(bytes.Clone(b[cut:]))...)
		if !bytes.Equal(a, out) {
			t.Fatalf("split decoding %q, whole %q", a, out)
		}
	})
}

// FuzzSessions runs each protocol's whole session over an in-memory
// connection with fuzzed client bytes: it must end, not panic, and never
// answer with more than a bounded multiple of what it was sent.
func FuzzSessions(f *testing.F) {
	seeds := map[string]string{
		FTP:    "USER anonymous\r\nPASS x\r\nPASV\r\nLIST\r\nSTOR a\r\nQUIT\r\n",
		Telnet: "\xff\xfc\x18root\r\n\r\n",
		Redis:  "*1\r\n$4\r\nINFO\r\nKEYS *\r\n",
		MySQL:  string(myPacket(1, mysqlHandshake("root", "", "x", []byte("abc")))),
		SMB:    nmapSMBProbe,
		RDP:    "\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00",
	}
	for i, p := range Protocols {
		f.Add(uint8(i), []byte(seeds[p]))
	}
	s, err := New(Config{Limits: sensor.Limits{IdleTimeout: time.Second, SessionTimeout: 5 * time.Second}}, sensor.Env{Sink: sensor.SinkFunc(func(sensor.Event) {})})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, in []byte) {
		proto := Protocols[int(which)%len(Protocols)]
		if proto == Telnet && bytes.Count(in, []byte("\n"))+bytes.Count(in, []byte("\r")) > 8 {
			return // each telnet login waits 200ms: keep runs short
		}
		client, server := net.Pipe()
		ln := &oneConn{c: server, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		served := make(chan error, 1)
		go func() { served <- s.ServeListener(ctx, proto, ln) }()
		go func() {
			client.Write(in)
			client.Close()
		}()
		var out bytes.Buffer
		io.Copy(&out, client)
		cancel()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s session didn't end", proto)
		}
		if limit := 64<<10 + 16*len(in); out.Len() > limit {
			t.Fatalf("%s answered %d bytes to %d", proto, out.Len(), len(in))
		}
	})
}

// oneConn is a listener that yields one connection, then blocks until
// closed.
type oneConn struct {
	c    net.Conn
	done chan struct{}
	used bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }

func FuzzNTLMAuthenticate(f *testing.F) {
	f.Add(ntlmAuthenticate("CORP", "alice", "WS", bytes.Repeat([]byte{1}, 40)))
	f.Add(ntlmAuthenticate("", "", "", nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, typ, ok := ntlmMessage(b); ok && typ == 3 {
			a, err := parseNTLMAuthenticate(m)
			if err == nil && (len(a.User) > maxValue || len(a.NT) > len(m)) {
				t.Fatalf("parsed %+v from %d bytes", a, len(m))
			}
			a.crackFormat(make([]byte, 8))
		}
		sessionSetupBlob(b)
	})
}

func FuzzSMB1SessionSetup(f *testing.F) {
	// A session setup as hydra's smb module sends it (OEM strings).
	m := make([]byte, 32)
	copy(m, "\xffSMB\x73")
	words := make([]byte, 26)
	binary.LittleEndian.PutUint16(words[14:], 24)
	binary.LittleEndian.PutUint16(words[16:], 24)
	body := append(bytes.Repeat([]byte{1}, 48), "administrator\x00\x00Unix\x00Samba\x00"...)
	f.Add(append(append(append(m, 13), words...), append(binary.LittleEndian.AppendUint16(nil, uint16(len(body))), body...)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSMB1SessionSetup(b)
		if err == nil && len(r.LM)+len(r.NT) > len(b) {
			t.Fatalf("passwords of %d bytes from %d", len(r.LM)+len(r.NT), len(b))
		}
	})
}
