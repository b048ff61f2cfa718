package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/sshpot"
)

const castSample = `{"version":2,"width":80,"height":24,"timestamp":1700000000,"env":{"SHELL":"/bin/bash","TERM":"xterm"}}
[0.100000, "o", "root@web01:~# "]
[1.500000, "i", "id\r"]
[1.600000, "o", "id\r\nuid=0(root) gid=0(root) groups=0(root)\r\n"]
[1.700000, "r", "100x30"]
[4.600000, "o", "\u001b]0;owned\u0007\u001b[01;32mok\u001b[00m\u001b[6n\r\n"]
`

func TestReplayTiming(t *testing.T) {
	var slept []time.Duration
	sleep := func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	tests := []struct {
		name      string
		opts      replayOptions
		wantSleep []time.Duration
		wantOut   string
	}{
		{"as recorded", replayOptions{speed: 1}, []time.Duration{100 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second},
			"root@web01:~# id\r\nuid=0(root) gid=0(root) groups=0(root)\r\n\x1b[01;32mok\x1b[00m\r\n"},
		{"twice as fast, capped", replayOptions{speed: 2, maxWait: time.Second}, []time.Duration{50 * time.Millisecond, 750 * time.Millisecond, time.Second}, ""},
		{"instant", replayOptions{speed: 1, instant: true}, nil, ""},
		{"raw", replayOptions{speed: 1, instant: true, raw: true}, nil,
			"root@web01:~# id\r\nuid=0(root) gid=0(root) groups=0(root)\r\n\x1b]0;owned\a\x1b[01;32mok\x1b[00m\x1b[6n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slept = nil
			var out bytes.Buffer
			if err := replayCast(context.Background(), strings.NewReader(castSample), &out, tt.opts, sleep); err != nil {
				t.Fatal(err)
			}
			if len(slept) != len(tt.wantSleep) {
				t.Fatalf("slept %v, want %v", slept, tt.wantSleep)
			}
			for i := range slept {
				if d := slept[i] - tt.wantSleep[i]; d < -time.Millisecond || d > time.Millisecond {
					t.Errorf("pause %d: %v, want %v", i, slept[i], tt.wantSleep[i])
				}
			}
			if tt.wantOut != "" && out.String() != tt.wantOut {
				t.Errorf("got %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.cast")
	os.WriteFile(bad, []byte("{\"version\":1}\n"), 0o600)
	for _, args := range [][]string{
		{"replay"},
		{"replay", "--data", dir, "ssh-0123"},
		{"replay", "--data", dir, "../../etc/passwd"},
		{"replay", bad},
		{"replay", "--speed", "0", bad},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), &cliEnv{stdout: &stdout, stderr: &stderr}, args); code == 0 {
			t.Errorf("%q succeeded", args)
		} else if !strings.Contains(stderr.String(), "vallum") && !strings.Contains(stderr.String(), "Usage") {
			t.Errorf("%q: stderr %q", args, stderr.String())
		}
	}
}

// TestReplayLiveSession records a session of the SSH honeypot with a Go
// client on a pty and checks that `vallum replay --instant` prints byte
// for byte what the client saw.
func TestReplayLiveSession(t *testing.T) {
	data := t.TempDir()
	var mu sync.Mutex
	var session string
	ended := make(chan struct{})
	sink := sensor.SinkFunc(func(e sensor.Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Kind == sensor.KindDisconnect {
			session = e.Session
			close(ended)
		}
	})
	srv, err := sshpot.New(sshpot.Config{Accept: sshpot.Accept{Policy: sshpot.PolicyAny}},
		sensor.Env{Sink: sink, Dir: filepath.Join(data, "sensors", "ssh")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.ServeListener(ctx, ln)

	client, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.Password("x")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, _ := client.NewSession()
	if err := sess.RequestPty("xterm", 24, 80, nil); err != nil {
		t.Fatal(err)
	}
	stdin, _ := sess.StdinPipe()
	stdout, _ := sess.StdoutPipe()
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	r := bufio.NewReader(io.TeeReader(stdout, &seen))
	for _, typed := range []string{"", "ls -la /root\r", "free -m\r", "cat /etc/os-release\r", "exit\r"} {
		stdin.Write([]byte(typed))
		if typed == "exit\r" {
			break
		}
		for !strings.HasSuffix(seen.String(), "# ") {
			if _, err := r.ReadByte(); err != nil {
				t.Fatal(err)
			}
		}
	}
	io.Copy(io.Discard, r)
	sess.Wait()
	client.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("no disconnect event")
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), &cliEnv{stdout: &out, stderr: &errb}, []string{"replay", "--instant", "--data", data, session}); code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errb.String())
	}
	if out.String() != seen.String() {
		t.Errorf("replay differs from what the client saw:\n got %q\nwant %q", out.String(), seen.String())
	}
	if !strings.Contains(out.String(), "Ubuntu 22.04.4 LTS") || !strings.Contains(out.String(), ".bashrc") {
		t.Errorf("replay: %q", out.String())
	}
}
