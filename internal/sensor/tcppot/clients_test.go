package tcppot

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/sensor"
)

// TestRedisCLI talks to the Redis honeypot with the real redis-cli when
// it is installed (it is not in CI's package list; TestRedis covers the
// protocol with raw bytes).
func TestRedisCLI(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skipf("needs redis-cli (not installed; TestRedis covers the protocol): %v", err)
	}
	p := startPots(t, Config{})
	host, port, _ := net.SplitHostPort(p.addr[Redis])
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG"},
		{[]string{"INFO", "server"}, "redis_version:7.0.15"},
		{[]string{"CONFIG", "GET", "dir"}, "/var/lib/redis"},
	} {
		out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, tt.args...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("redis-cli %v: %v %q, want %q", tt.args, err, out, tt.want)
		}
	}
	if cmds := p.ev.Of(t, sensor.KindCommand, 3); len(cmds) < 3 {
		t.Errorf("commands recorded: %+v", cmds)
	}
}

// TestMySQLClient logs in with the real mysql (or mariadb) client when it
// is installed (TestMySQL covers the handshake with raw bytes).
func TestMySQLClient(t *testing.T) {
	client := ""
	for _, name := range []string{"mysql", "mariadb"} {
		if _, err := exec.LookPath(name); err == nil {
			client = name
			break
		}
	}
	if client == "" {
		t.Skip("needs the mysql or mariadb client (not installed; TestMySQL covers the handshake)")
	}
	p := startPots(t, Config{})
	host, port, _ := net.SplitHostPort(p.addr[MySQL])
	out, err := exec.Command(client, "--protocol=TCP", "-h", host, "-P", port, "-u", "root", "-psecret", "-e", "select 1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Access denied for user 'root'") {
		t.Errorf("%s: %v %q, want access denied", client, err, out)
	}
	if a := p.ev.Of(t, sensor.KindAuth, 1); len(a) != 1 || a[0].Credentials.Username != "root" || a[0].Details["auth_response"] == "" {
		t.Errorf("auth events %+v", a)
	}
}
