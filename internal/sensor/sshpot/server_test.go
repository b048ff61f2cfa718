package sshpot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/sensortest"
)

type pot struct {
	srv    *Server
	addr   string
	dir    string
	events *sensortest.Events
	stop   func()
}

// startPot runs a honeypot with cfg on a loopback port.
func startPot(t *testing.T, cfg Config, dir string) *pot {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ev := &sensortest.Events{}
	srv, err := New(cfg, sensor.Env{Name: "test", Sink: ev, Dir: dir, Budget: sensor.NewBudget(64 << 20)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln) }()
	p := &pot{srv: srv, addr: ln.Addr().String(), dir: dir, events: ev}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(p.stop)
	return p
}

func anyPolicy() Config { return Config{Accept: Accept{Policy: PolicyAny}} }

func dialGo(t *testing.T, addr, user, password string) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestInteractiveTranscript drives a pty shell with the Go client,
// checks what it shows, and checks that the transcript's output is
// byte for byte what the client received.
func TestInteractiveTranscript(t *testing.T) {
	p := startPot(t, anyPolicy(), "")
	client := dialGo(t, p.addr, "root", "hunter2")
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := sess.StdinPipe()
	stdout, _ := sess.StdoutPipe()
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	r := bufio.NewReader(io.TeeReader(stdout, &seen))
	readUntil := func(s string) string {
		t.Helper()
		var got []byte
		for !bytes.HasSuffix(got, []byte(s)) {
			b, err := r.ReadByte()
			if err != nil {
				t.Fatalf("reading until %q: %v (got %q)", s, err, got)
			}
			got = append(got, b)
		}
		return string(got)
	}
	const prompt = "root@web01:~# "
	if out := readUntil(prompt); !strings.Contains(out, "Welcome to Ubuntu 22.04.4 LTS") {
		t.Errorf("login banner: %q", out)
	}
	steps := []struct{ typed, want string }{
		{"uname -a\r", "uname -a\r\nLinux web01 5.15.0-105-generic #115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024 x86_64 x86_64 x86_64 GNU/Linux\r\n" + prompt},
		{"id\r", "id\r\nuid=0(root) gid=0(root) groups=0(root)\r\n" + prompt},
		{"whoamx\x7fi\r", "whoamx\b \bi\r\nroot\r\n" + prompt},
		{"cat /proc/cpuinfo | grep name | wc -l\r", "cat /proc/cpuinfo | grep name | wc -l\r\n2\r\n" + prompt},
		{"cd /tmp && echo hi > x; cat x\r", "cd /tmp && echo hi > x; cat x\r\nhi\r\n" + "root@web01:/tmp# "},
		{"sleep 10\x03", "sleep 10^C\r\nroot@web01:/tmp# "},
		{"nosuch\r", "nosuch\r\nnosuch: command not found\r\nroot@web01:/tmp# "},
		{"wget http://example.invalid/x.sh\r", "wget http://example.invalid/x.sh\r\n--"},
	}
	for _, st := range steps {
		if _, err := stdin.Write([]byte(st.typed)); err != nil {
			t.Fatal(err)
		}
		wantEnd := st.want[len(st.want)-min(len(st.want), 14):]
		if got := readUntil(wantEnd); !strings.HasPrefix(got, st.want[:len(st.want)-len(wantEnd)]) || !strings.HasSuffix(st.want, wantEnd) {
			t.Errorf("typed %q: got %q, want %q", st.typed, got, st.want)
		}
	}
	readUntil("/tmp# ")
	stdin.Write([]byte("exit 3\r"))
	if rest, _ := io.ReadAll(r); string(rest) != "exit 3\r\nlogout\r\n" {
		t.Errorf("after exit: %q", rest)
	}
	var ee *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Errorf("exit: %v, want status 3", err)
	}
	client.Close()

	p.events.Wait(t, "disconnect", func() bool { return len(p.events.All(sensor.KindDisconnect)) == 1 })
	disc := p.events.All(sensor.KindDisconnect)[0]
	if len(disc.Payloads) != 1 {
		t.Fatalf("disconnect payloads: %+v", disc.Payloads)
	}
	cast, err := os.ReadFile(TranscriptPath(p.dir, disc.Session))
	if err != nil {
		t.Fatal(err)
	}
	if got := sumHex(cast); got != disc.Payloads[0].SHA256 || int64(len(cast)) != disc.Payloads[0].Size {
		t.Errorf("transcript %s (%d bytes) but the event says %+v", got, len(cast), disc.Payloads[0])
	}
	if _, err := p.srv.quarantine.Open(disc.Payloads[0].SHA256); err != nil {
		t.Errorf("transcript not in the quarantine: %v", err)
	}
	out, in := castStreams(t, cast)
	if out != seen.String() {
		t.Errorf("transcript output differs from what the client saw:\n got %q\nwant %q", out, seen.String())
	}
	if !strings.Contains(in, "uname -a\r") || !strings.Contains(in, "whoamx\x7fi\r") {
		t.Errorf("transcript input: %q", in)
	}

	var cmds []string
	for _, ev := range p.events.All(sensor.KindCommand) {
		cmds = append(cmds, ev.Command)
	}
	wantCmds := []string{"uname -a", "id", "whoami", "cat /proc/cpuinfo | grep name | wc -l", "cd /tmp && echo hi > x; cat x", "nosuch", "wget http://example.invalid/x.sh", "exit 3"}
	if !slices.Equal(cmds, wantCmds) {
		t.Errorf("command events %q, want %q", cmds, wantCmds)
	}
	dl := p.events.All(sensor.KindRequest)
	if len(dl) != 1 || dl[0].Details["url"] != "http://example.invalid/x.sh" || dl[0].Details["tool"] != "wget" {
		t.Errorf("download events: %+v", dl)
	}
	auth := p.events.All(sensor.KindAuth)
	if len(auth) != 1 || auth[0].Credentials.Password != "hunter2" || !auth[0].Credentials.Accepted ||
		auth[0].Fingerprints["hassh"] == "" || !strings.HasPrefix(auth[0].Fingerprints["client_version"], "SSH-2.0-Go") {
		t.Errorf("auth events: %+v", auth)
	}
}

// castStreams returns the output and input of an asciicast v2 file,
// checking its shape.
func castStreams(t *testing.T, cast []byte) (out, in string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(cast), "\n"), "\n")
	var hdr struct {
		Version       int
		Width, Height int
	}
	if err := json.Unmarshal([]byte(lines[0]), &hdr); err != nil || hdr.Version != 2 || hdr.Width != 80 {
		t.Fatalf("header %q: %v", lines[0], err)
	}
	var o, i strings.Builder
	last := 0.0
	for _, l := range lines[1:] {
		var ev [3]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		ts := ev[0].(float64)
		if ts < last {
			t.Errorf("time goes back at %q", l)
		}
		last = ts
		switch ev[1] {
		case "o":
			o.WriteString(ev[2].(string))
		case "i":
			i.WriteString(ev[2].(string))
		}
	}
	return o.String(), i.String()
}

func TestExecAndForward(t *testing.T) {
	p := startPot(t, anyPolicy(), "")
	client := dialGo(t, p.addr, "admin", "admin")
	defer client.Close()
	sess, _ := client.NewSession()
	out, err := sess.CombinedOutput("cat /etc/passwd | head -n 1; false")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 1 {
		t.Errorf("exit: %v, want status 1", err)
	}
	if string(out) != "root:x:0:0:root:/root:/bin/bash\n" {
		t.Errorf("exec output %q", out)
	}
	if _, err := client.Dial("tcp", "192.0.2.1:80"); err == nil {
		t.Error("direct-tcpip was accepted")
	}
	if _, err := client.Listen("tcp", "0.0.0.0:8080"); err == nil {
		t.Error("tcpip-forward was accepted")
	}
	p.events.Wait(t, "forward events", func() bool { return len(p.events.All(sensor.KindForward)) == 2 })
	fw := p.events.All(sensor.KindForward)
	if fw[0].Details["host"] != "192.0.2.1" || fw[0].Details["port"] != "80" || fw[1].Details["type"] != "tcpip-forward" || fw[1].Details["port"] != "8080" {
		t.Errorf("forward events: %+v", fw)
	}
}

func TestHostKeyPersists(t *testing.T) {
	dir := t.TempDir()
	p1 := startPot(t, Config{}, dir)
	k1 := p1.srv.HostKeys()
	p1.stop()
	p2 := startPot(t, Config{}, dir)
	k2 := p2.srv.HostKeys()
	if len(k1) != 2 || len(k2) != 2 {
		t.Fatalf("host keys: %d then %d, want 2", len(k1), len(k2))
	}
	for i := range k1 {
		if !bytes.Equal(k1[i].Marshal(), k2[i].Marshal()) {
			t.Errorf("host key %s changed across a restart", k1[i].Type())
		}
	}
	info, err := os.Stat(filepath.Join(dir, "ssh_host_ed25519_key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", info, err)
	}
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestLimits(t *testing.T) {
	cfg := anyPolicy()
	cfg.Limits = sensor.Limits{MaxConnsPerSource: 3, IdleTimeout: 300 * time.Millisecond}
	p := startPot(t, cfg, "")
	// Three held connections from 127.0.0.1 fill its share; a fourth is
	// closed before the server says a word.
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n" {
			t.Fatalf("banner %q, %v", line, err)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := extra.Read(make([]byte, 64)); n != 0 || err == nil {
		t.Errorf("a fourth connection from one source got %d bytes, %v", n, err)
	}
	// The silent ones are cut at the idle timeout.
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("idle client: %v, want the server to close it", err)
		}
	}
	p.events.Wait(t, "three disconnects", func() bool { return len(p.events.All(sensor.KindDisconnect)) == 3 })
	for _, ev := range p.events.All(sensor.KindDisconnect) {
		if ev.Details["reason"] != "timeout" {
			t.Errorf("disconnect reason %q, want timeout", ev.Details["reason"])
		}
	}
}

func TestMaxAuthTries(t *testing.T) {
	cfg := Config{Accept: Accept{Policy: PolicyNever}, MaxAuthTries: 2}
	p := startPot(t, cfg, "")
	tries := 0
	_, err := ssh.Dial("tcp", p.addr, &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
			tries++
			return "pw" + strconv.Itoa(tries), nil
		}), 10)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
	})
	if err == nil {
		t.Fatal("logged in under policy never")
	}
	p.events.Wait(t, "the disconnect", func() bool { return len(p.events.All(sensor.KindDisconnect)) == 1 })
	if n := len(p.events.All(sensor.KindAuth)); n != 2 {
		t.Errorf("%d attempts recorded, want 2 (max_auth_tries)", n)
	}
}

func TestAcceptAfter(t *testing.T) {
	a := newAcceptor(Accept{Policy: PolicyAfter, Attempts: 3})
	src := netip.MustParseAddr("198.51.100.1")
	got := []bool{a.password(src, "root", "a"), a.password(src, "root", "b"), a.password(src, "root", "c"),
		a.password(src, "root", "d"), a.password(src, "root", "c"), a.password(netip.MustParseAddr("198.51.100.2"), "root", "c")}
	want := []bool{false, false, true, false, true, false}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestEventCapFlood pipes many command lines into one shell past
// max_events and checks what reaches the sink.
func TestEventCapFlood(t *testing.T) {
	const maxEvents, flood = 20, 300
	cfg := anyPolicy()
	cfg.Limits.MaxEvents = maxEvents
	p := startPot(t, cfg, "")
	client := dialGo(t, p.addr, "admin", "admin")
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sess.Stdin = strings.NewReader(strings.Repeat("true\n", flood))
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Wait(); err != nil {
		t.Logf("shell: %v", err)
	}
	client.Close()
	end := p.events.Of(t, sensor.KindDisconnect, 1)
	// The auth event counts against the cap too.
	if want := strconv.Itoa(1 + flood - maxEvents); len(end) != 1 || end[0].Details["suppressed_events"] != want {
		t.Fatalf("disconnect events %+v, want one with suppressed_events %s", end, want)
	}
	if got := len(p.events.All(sensor.KindCommand)); got != maxEvents-1 {
		t.Errorf("%d command events emitted, want %d", got, maxEvents-1)
	}
}
