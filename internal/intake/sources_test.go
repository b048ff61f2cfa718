package intake

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

func eveLine(i int) string {
	return fmt.Sprintf(`{"timestamp":"2026-11-28T10:00:%02d.000000+0000","event_type":"alert","src_ip":"203.0.113.%d","src_port":%d,"dest_ip":"10.0.0.1","dest_port":22,"proto":"TCP","alert":{"signature":"test %d","signature_id":%d,"severity":3}}`+"\n", i%60, i%250+1, 1024+i%60000, i, i)
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// runTail runs a Tail until the returned stop is called.
func runTail(t *testing.T, path, state string, out Ingester) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	tl := &Tail{Path: path, StateDir: state, Poll: 10 * time.Millisecond, Sensor: "ids", Out: out, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tail: %v", err)
		}
	}
}

func TestTailFollowsAppendsRotationTruncationAndRestarts(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, nil)
	dir := t.TempDir()
	path, state := filepath.Join(dir, "eve.json"), filepath.Join(dir, "state")
	count := func() int { return len(logged(t, e.log)) }

	appendFile(t, path, eveLine(0)+eveLine(1)+`{"not eve`+"\n"+`{"timestamp":"2026-11-28T10:00:00+0000","event_type":"stats"}`+"\n")
	stop := runTail(t, path, state, p)
	waitFor(t, "2 alerts", func() bool { return count() == 2 })
	// A half-written line waits for its end.
	line2 := eveLine(2)
	appendFile(t, path, line2[:40])
	time.Sleep(50 * time.Millisecond)
	appendFile(t, path, line2[40:])
	waitFor(t, "3 alerts", func() bool { return count() == 3 })
	stop()

	// While stopped the file grows; on restart only the new lines come.
	appendFile(t, path, eveLine(3))
	stop = runTail(t, path, state, p)
	waitFor(t, "4 alerts", func() bool { return count() == 4 })
	// Rotation: the old file is renamed, a new one appears.
	appendFile(t, path, eveLine(4))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, eveLine(5)+eveLine(6))
	waitFor(t, "7 alerts", func() bool { return count() == 7 })
	// Truncation in place: read from the start again.
	if err := os.WriteFile(path, []byte(eveLine(7)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "8 alerts", func() bool { return count() == 8 })
	stop()

	ids := logged(t, e.log)
	if len(ids) != 8 {
		t.Fatalf("got %d distinct events, want 8", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s logged %d times", id, n)
		}
	}
}

func TestSyslogOverUDPAndTCP(t *testing.T) {
	e := newEnv(t)
	p := startPipeline(t, e, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feed := p.Subscribe(ctx)
	srv := &SyslogServer{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", MaxMessage: 512, Sensor: "hq/syslog", Sink: p, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	u, err := net.Dial("udp", srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("<38>Nov 28 10:00:01 gw sshd[1]: Failed password for root from 203.0.113.77 port 50022 ssh2"))
	u.Write([]byte("<13>1 2026-11-28T10:00:00Z h app - - - " + strings.Repeat("x", 600)))
	u.Close()
	c, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "<14>Nov 28 10:00:02 gw app: newline framed\n")
	msg := "<14>1 2026-11-28T10:00:03Z gw app - - - octet\ncounted"
	fmt.Fprintf(c, "%d %s", len(msg), msg)
	fmt.Fprintf(c, "garbage without a PRI\n")
	c.Close()

	got := map[string]sensor.Event{}
	for len(got) < 5 {
		select {
		case ev := <-feed:
			got[ev.Details["message"]] = ev
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d events, want 5: %v", len(got), got)
		}
	}
	if a := got["Failed password for root from 203.0.113.77 port 50022 ssh2"]; a.Kind != sensor.KindAuth || a.Src.IP != "203.0.113.77" || a.Details["transport"] != "udp" {
		t.Errorf("sshd failure: %+v", a)
	}
	if l := got[strings.Repeat("x", 512-len("<13>1 2026-11-28T10:00:00Z h app - - - "))]; l.Details["truncated"] != "true" {
		t.Errorf("long UDP message not cut at 512 and flagged: %v", got)
	}
	if o := got["octet\ncounted"]; o.Details["transport"] != "tcp" || o.Details["format"] != "rfc5424" {
		t.Errorf("octet-counted frame: %+v", o)
	}
	if g := got["garbage without a PRI"]; g.Details["parse_error"] == "" || g.Kind != sensor.KindLog {
		t.Errorf("unparsable message not kept with its error: %+v", g)
	}
	if _, ok := got["newline framed"]; !ok {
		t.Errorf("newline-framed message missing: %v", got)
	}

	// The util-linux logger, a real client, in both framings.
	if _, err := exec.LookPath("logger"); err != nil {
		t.Log("logger not installed: skipping the real-client part")
	} else {
		_, port, _ := net.SplitHostPort(srv.TCPAddr().String())
		_, uport, _ := net.SplitHostPort(srv.UDPAddr().String())
		for _, args := range [][]string{
			{"--tcp", "--octet-count", "-P", port, "--rfc5424", "logger-octet"},
			{"--tcp", "-P", port, "--rfc3164", "logger-newline"},
			{"--udp", "-P", uport, "--rfc5424", "logger-udp"},
		} {
			cmd := exec.Command("logger", append([]string{"-n", "127.0.0.1", "-t", "vallumtest"}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("logger %v: %v %s", args, err, out)
			}
		}
		seen := map[string]bool{}
		for len(seen) < 3 {
			select {
			case ev := <-feed:
				if ev.Details["app_name"] == "vallumtest" {
					seen[ev.Details["message"]] = true
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("logger messages seen: %v, want logger-octet, logger-newline and logger-udp", seen)
			}
		}
	}
	cancel()
	<-done
}
