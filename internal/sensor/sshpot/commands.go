package sshpot

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// commands are the emulated programs and builtins. None of them executes
// anything, opens a file of the real host or touches the network.
var commands map[string]func(*call) int

func init() {
	commands = map[string]func(*call) int{
		"echo": cmdEcho, "printf": cmdPrintf, "uname": cmdUname, "id": cmdID, "whoami": cmdWhoami, "w": cmdW,
		"who": cmdWho, "uptime": cmdUptime, "hostname": cmdHostname, "pwd": cmdPwd, "cd": cmdCd, "ls": cmdLs,
		"dir": cmdLs, "ll": cmdLl, "cat": cmdCat, "head": cmdHead, "tail": cmdTail, "grep": cmdGrep, "egrep": cmdGrep,
		"wc": cmdWc, "sort": cmdSort, "uniq": cmdUniq, "awk": cmdAwk, "cut": cmdCut, "base64": cmdBase64,
		"ps": cmdPs, "free": cmdFree, "df": cmdDf, "ifconfig": cmdIfconfig, "ip": cmdIP, "history": cmdHistory,
		"export": cmdExport, "env": cmdEnv, "printenv": cmdEnv, "which": cmdWhich, "type": cmdType, "nproc": cmdNproc,
		"lscpu": cmdLscpu, "crontab": cmdCrontab, "wget": cmdWget, "curl": cmdCurl, "tftp": cmdTftp,
		"ftpget": cmdTftp, "chmod": cmdChmod, "chown": cmdNop, "chattr": cmdNop, "rm": cmdRm, "mkdir": cmdMkdir,
		"rmdir": cmdRm, "touch": cmdTouch, "cp": cmdCp, "mv": cmdMv, "exit": cmdExit, "logout": cmdExit,
		"sudo": cmdSudo, "sh": cmdSh, "bash": cmdSh, "dash": cmdSh, "source": cmdSource, ".": cmdSource,
		"true": cmdNop, ":": cmdNop, "false": cmdFalse, "clear": cmdClear, "date": cmdDate, "sleep": cmdNop,
		"kill": cmdNop, "pkill": cmdNop, "killall": cmdNop, "unset": cmdUnset, "set": cmdNop, "alias": cmdNop,
		"ulimit": cmdUlimit, "umask": cmdUmask, "nohup": cmdWrapped, "timeout": cmdWrapped, "nice": cmdWrapped,
		"top": cmdTop, "netstat": cmdNetstat, "ss": cmdNetstat, "last": cmdLast, "mount": cmdMount,
		"dmesg": cmdDmesg, "passwd": cmdPasswd, "chpasswd": cmdNop, "useradd": cmdNop, "usermod": cmdNop,
		"apt": cmdApt, "apt-get": cmdApt, "ping": cmdPing, "ssh": cmdSSH, "nc": cmdFalse,
		"python3": cmdNop, "perl": cmdNop, "file": cmdFile, "md5sum": cmdSum, "sha1sum": cmdSum,
		"sha256sum": cmdSum, "su": cmdSu, "systemctl": cmdSystemctl, "service": cmdNop,
		"less": cmdCat, "more": cmdCat, "vi": cmdNop, "vim": cmdNop, "nano": cmdNop, "lsattr": cmdNop,
		"xargs": cmdNop, "tr": cmdTr, "getconf": cmdGetconf, "arch": cmdArch, "lsb_release": cmdLsbRelease,
		"scp": cmdSCPShell, "find": cmdFind, "du": cmdNop, "sync": cmdNop,
	}
}

// flags splits args into single-letter flags (clustered, "-la") and the
// rest; "--" ends flags. Long options are kept in long.
func flags(args []string) (set map[byte]bool, long []string, rest []string) {
	set = map[byte]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return set, long, append(rest, args[i+1:]...)
		case strings.HasPrefix(a, "--"):
			long = append(long, a)
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				set[a[j]] = true
			}
		default:
			rest = append(rest, a)
		}
	}
	return set, long, rest
}

func cmdNop(*call) int   { return 0 }
func cmdFalse(*call) int { return 1 }

func cmdEcho(c *call) int {
	args := c.args[1:]
	newline, escapes := true, false
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && strings.Trim(args[0][1:], "neE") == "" {
		newline = newline && !strings.Contains(args[0], "n")
		escapes = strings.Contains(args[0], "e") || escapes && !strings.Contains(args[0], "E")
		args = args[1:]
	}
	s := strings.Join(args, " ")
	if escapes {
		var stop bool
		s, stop = unescape(s)
		newline = newline && !stop
	}
	c.out.WriteString(s)
	if newline {
		c.out.WriteString("\n")
	}
	return 0
}

// unescape interprets echo -e / printf escapes; stop is set by \c.
func unescape(s string) (out string, stop bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'e':
			b.WriteByte(0x1b)
		case '\\':
			b.WriteByte('\\')
		case 'c':
			return b.String(), true
		case 'x':
			j := i + 1
			for j < len(s) && j < i+3 && isHex(s[j]) {
				j++
			}
			if j == i+1 {
				b.WriteString("\\x")
				continue
			}
			v, _ := strconv.ParseUint(s[i+1:j], 16, 8)
			b.WriteByte(byte(v))
			i = j - 1
		case '0':
			j := i + 1
			for j < len(s) && j < i+4 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint("0"+s[i+1:j], 8, 16)
			b.WriteByte(byte(v))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String(), false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func cmdPrintf(c *call) int {
	if len(c.args) < 2 {
		c.errorf("printf: usage: printf [-v var] format [arguments]\n")
		return 2
	}
	format, args := c.args[1], c.args[2:]
	// Apply the format at least once and again while arguments remain.
	for first := true; first || len(args) > 0; first = false {
		var b strings.Builder
		used := 0
		for i := 0; i < len(format); i++ {
			if format[i] != '%' || i+1 == len(format) {
				b.WriteByte(format[i])
				continue
			}
			i++
			arg := ""
			if format[i] != '%' && used < len(args) {
				arg = args[used]
				used++
			}
			switch format[i] {
			case '%':
				b.WriteByte('%')
			case 'd', 'i':
				n, _ := strconv.Atoi(arg)
				b.WriteString(strconv.Itoa(n))
			case 'b':
				s, _ := unescape(arg)
				b.WriteString(s)
			default:
				b.WriteString(arg)
			}
		}
		s, _ := unescape(b.String())
		c.out.WriteString(s)
		if used == 0 {
			break
		}
		args = args[used:]
	}
	return 0
}

func cmdUname(c *call) int {
	f, _, _ := flags(c.args[1:])
	p, h := c.sh.host.persona, c.sh.host
	if f['a'] {
		c.out.WriteString("Linux " + h.cfg.Hostname + " " + p.kernel + " " + p.kernelVer + " x86_64 x86_64 x86_64 GNU/Linux\n")
		return 0
	}
	var parts []string
	for _, x := range []struct {
		flag byte
		v    string
	}{{'s', "Linux"}, {'n', h.cfg.Hostname}, {'r', p.kernel}, {'v', p.kernelVer}, {'m', "x86_64"}, {'p', "x86_64"}, {'i', "x86_64"}, {'o', "GNU/Linux"}} {
		if f[x.flag] {
			parts = append(parts, x.v)
		}
	}
	if len(parts) == 0 {
		parts = []string{"Linux"}
	}
	c.out.WriteString(strings.Join(parts, " ") + "\n")
	return 0
}

func cmdArch(c *call) int { c.out.WriteString("x86_64\n"); return 0 }

func cmdID(c *call) int {
	u := c.sh.user
	if len(c.args) > 1 && !strings.HasPrefix(c.args[len(c.args)-1], "-") {
		name := c.args[len(c.args)-1]
		found := false
		for _, v := range c.sh.host.users {
			if v.name == name {
				u, found = v, true
			}
		}
		if !found && name != u.name {
			c.errorf("id: '%s': no such user\n", name)
			return 1
		}
	}
	f, _, _ := flags(c.args[1:])
	switch {
	case f['u'] && f['n']:
		c.out.WriteString(u.name + "\n")
	case f['u']:
		c.out.WriteString(itoa(u.uid) + "\n")
	case f['g']:
		c.out.WriteString(itoa(u.gid) + "\n")
	case u.uid == 0:
		c.out.WriteString("uid=0(root) gid=0(root) groups=0(root)\n")
	default:
		c.out.WriteString(fmt.Sprintf("uid=%d(%s) gid=%d(%s) groups=%d(%s),4(adm),24(cdrom),27(sudo),30(dip),46(plugdev),110(lxd)\n",
			u.uid, u.name, u.gid, u.name, u.gid, u.name))
	}
	return 0
}

func cmdWhoami(c *call) int { c.out.WriteString(c.sh.user.name + "\n"); return 0 }

// uptimeLine is the first line of w and uptime.
func (sh *shell) uptimeLine() string {
	now := sh.host.now()
	up := now.Sub(sh.host.boot)
	days := int(up.Hours()) / 24
	hm := fmt.Sprintf("%2d:%02d", int(up.Hours())%24, int(up.Minutes())%60)
	return fmt.Sprintf(" %s up %d days, %s,  1 user,  load average: 0.08, 0.03, 0.01\n", now.Format("15:04:05"), days, hm)
}

func (sh *shell) procUptime() string {
	up := sh.host.now().Sub(sh.host.boot).Seconds()
	return fmt.Sprintf("%.2f %.2f\n", up, up*1.93)
}

func cmdUptime(c *call) int {
	f, _, _ := flags(c.args[1:])
	switch {
	case f['p']:
		up := c.sh.host.now().Sub(c.sh.host.boot)
		d := int(up.Hours()) / 24
		c.out.WriteString(fmt.Sprintf("up %d weeks, %d days, %d hours, %d minutes\n", d/7, d%7, int(up.Hours())%24, int(up.Minutes())%60))
	case f['s']:
		c.out.WriteString(c.sh.host.boot.Format("2006-01-02 15:04:05") + "\n")
	default:
		c.out.WriteString(c.sh.uptimeLine())
	}
	return 0
}

func cmdW(c *call) int {
	sh := c.sh
	c.out.WriteString(sh.uptimeLine())
	c.out.WriteString("USER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n")
	tty := sh.tty
	if tty == "" {
		tty = "-"
	}
	c.out.WriteString(fmt.Sprintf("%-8.8s %-8s %-16.16s %-8s %-6s %-6s %-5s %s\n", sh.user.name, tty, sh.src.IP, sh.login.Format("15:04"), "0.00s", "0.02s", "0.00s", "w"))
	return 0
}

func cmdWho(c *call) int {
	sh := c.sh
	if sh.tty != "" {
		c.out.WriteString(fmt.Sprintf("%-8s %-12s %s (%s)\n", sh.user.name, sh.tty, sh.login.Format("2006-01-02 15:04"), sh.src.IP))
	}
	return 0
}

func cmdHostname(c *call) int {
	f, _, _ := flags(c.args[1:])
	switch {
	case f['I']:
		c.out.WriteString("10.0.0.14 \n")
	case f['i']:
		c.out.WriteString("127.0.1.1\n")
	default:
		c.out.WriteString(c.sh.host.cfg.Hostname + "\n")
	}
	return 0
}

func cmdPwd(c *call) int { c.out.WriteString(c.sh.cwd + "\n"); return 0 }

func cmdCd(c *call) int {
	sh := c.sh
	target := sh.user.home
	if len(c.args) > 1 {
		target = c.args[1]
	}
	if target == "-" {
		target = sh.oldpwd
		if target == "" {
			c.bashErrf("cd: OLDPWD not set\n")
			return 1
		}
		c.out.WriteString(target + "\n")
	}
	p := sh.abs(target)
	_, n, err := sh.fs.stat(p)
	switch {
	case err != nil:
		c.bashErrf("cd: %s: %s\n", target, err.Error())
		return 1
	case !n.isDir():
		c.bashErrf("cd: %s: Not a directory\n", target)
		return 1
	case !sh.can(n, 1):
		c.bashErrf("cd: %s: Permission denied\n", target)
		return 1
	}
	sh.oldpwd, sh.cwd = sh.cwd, p
	vars := sh.env()
	vars["PWD"], vars["OLDPWD"] = sh.cwd, sh.oldpwd
	return 0
}

func cmdCat(c *call) int {
	_, _, files := flags(c.args[1:])
	if len(files) == 0 {
		if c.stdin != nil {
			c.out.WriteString(*c.stdin)
		}
		return 0
	}
	status := 0
	for _, f := range files {
		if f == "-" {
			if c.stdin != nil {
				c.out.WriteString(*c.stdin)
			}
			continue
		}
		s, err := c.sh.readFile(f)
		if err != nil {
			c.errorf("%s: %s: %s\n", c.args[0], f, err.Error())
			status = 1
			continue
		}
		c.out.WriteString(s)
	}
	return status
}

// readFile returns a file's content as the session's user may see it.
func (sh *shell) readFile(p string) (string, error) {
	_, n, err := sh.fs.stat(sh.abs(p))
	switch {
	case err != nil:
		return "", err
	case n.isDir():
		return "", errIsDir
	case !sh.can(n, 4):
		return "", errPerm
	}
	return sh.content(n), nil
}

// input returns the text a filter reads: its files, or its stdin.
func (c *call) input(files []string) (string, int) {
	if len(files) == 0 {
		if c.stdin == nil {
			return "", 0
		}
		return *c.stdin, 0
	}
	var b strings.Builder
	status := 0
	for _, f := range files {
		s, err := c.sh.readFile(f)
		if err != nil {
			c.errorf("%s: %s: %s\n", c.args[0], f, err.Error())
			status = 1
			continue
		}
		b.WriteString(s)
	}
	return b.String(), status
}

// lines splits text into lines without their ends.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// countArg parses -n N, -N and -nN for head and tail.
func countArg(args []string) (int, []string) {
	n := 10
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-n" && i+1 < len(args):
			n, _ = strconv.Atoi(strings.TrimPrefix(args[i+1], "+"))
			i++
		case strings.HasPrefix(a, "-n"):
			n, _ = strconv.Atoi(a[2:])
		case len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9':
			n, _ = strconv.Atoi(a[1:])
		case strings.HasPrefix(a, "-"):
		default:
			rest = append(rest, a)
		}
	}
	return max(n, 0), rest
}

func cmdHead(c *call) int {
	n, files := countArg(c.args[1:])
	s, status := c.input(files)
	l := lines(s)
	for _, line := range l[:min(n, len(l))] {
		c.out.WriteString(line + "\n")
	}
	return status
}

func cmdTail(c *call) int {
	n, files := countArg(c.args[1:])
	s, status := c.input(files)
	l := lines(s)
	for _, line := range l[max(len(l)-n, 0):] {
		c.out.WriteString(line + "\n")
	}
	return status
}

func cmdGrep(c *call) int {
	var pattern string
	var files []string
	f := map[byte]bool{}
	for i, a := range c.args[1:] {
		switch {
		case a == "-e" && i+2 < len(c.args):
			pattern = c.args[i+2]
		case len(a) > 1 && a[0] == '-' && pattern == "":
			for j := 1; j < len(a); j++ {
				f[a[j]] = true
			}
		case pattern == "" && (i == 0 || c.args[i] != "-e"):
			pattern = a
		case c.args[i] != "-e":
			files = append(files, a)
		}
	}
	if pattern == "" {
		c.errorf("Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n")
		return 2
	}
	expr := pattern
	if f['F'] || len(expr) > 256 {
		expr = regexp.QuoteMeta(expr)
	} else if c.args[0] != "egrep" && !f['E'] {
		// Basic regular expressions: \| \( \) are the operators.
		expr = strings.NewReplacer(`\|`, "|", `\(`, "(", `\)`, ")", "|", `\|`, "(", `\(`, ")", `\)`, "+", `\+`, "?", `\?`).Replace(expr)
	}
	if f['i'] {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(strings.ToValidUTF8(expr, "\uFFFD"))
	if err != nil {
		re = regexp.MustCompile(regexp.QuoteMeta(strings.ToValidUTF8(pattern, "\uFFFD")))
	}
	s, status := c.input(files)
	matched := 0
	for i, line := range lines(s) {
		if re.MatchString(line) == f['v'] {
			continue
		}
		matched++
		if f['c'] || f['q'] {
			continue
		}
		if f['n'] {
			c.out.WriteString(itoa(i+1) + ":")
		}
		c.out.WriteString(line + "\n")
	}
	if f['c'] {
		c.out.WriteString(itoa(matched) + "\n")
	}
	if status != 0 {
		return 2
	}
	if matched == 0 {
		return 1
	}
	return 0
}

func cmdWc(c *call) int {
	f, _, files := flags(c.args[1:])
	s, status := c.input(files)
	l, w, b := strings.Count(s, "\n"), len(strings.Fields(s)), len(s)
	var parts []string
	if f['l'] {
		parts = append(parts, itoa(l))
	}
	if f['w'] {
		parts = append(parts, itoa(w))
	}
	if f['c'] || f['m'] {
		parts = append(parts, itoa(b))
	}
	if len(parts) == 0 {
		parts = []string{fmt.Sprintf("%7d", l), fmt.Sprintf("%7d", w), fmt.Sprintf("%7d", b)}
	}
	out := strings.Join(parts, " ")
	if len(files) == 1 {
		out += " " + files[0]
	}
	c.out.WriteString(out + "\n")
	return status
}

func cmdSort(c *call) int {
	f, _, files := flags(c.args[1:])
	s, status := c.input(files)
	l := lines(s)
	slices.Sort(l)
	if f['r'] {
		slices.Reverse(l)
	}
	if f['u'] {
		l = slices.Compact(l)
	}
	for _, line := range l {
		c.out.WriteString(line + "\n")
	}
	return status
}

func cmdUniq(c *call) int {
	f, _, files := flags(c.args[1:])
	s, status := c.input(files)
	l := lines(s)
	for i := 0; i < len(l); {
		j := i
		for j < len(l) && l[j] == l[i] {
			j++
		}
		if f['c'] {
			c.out.WriteString(fmt.Sprintf("%7d %s\n", j-i, l[i]))
		} else {
			c.out.WriteString(l[i] + "\n")
		}
		i = j
	}
	return status
}

// awkPrint matches the awk programs attackers use: {print $N, $M}.
var awkPrint = regexp.MustCompile(`^\s*(?:/([^/]*)/\s*)?\{\s*print\s*((?:\$\d+|NF|\$NF)(?:\s*,?\s*(?:\$\d+|\$NF))*)?\s*;?\s*\}\s*$`)

func cmdAwk(c *call) int {
	args := c.args[1:]
	sep := ""
	for len(args) > 0 && strings.HasPrefix(args[0], "-F") {
		if sep = args[0][2:]; sep == "" && len(args) > 1 {
			sep, args = args[1], args[1:]
		}
		args = args[1:]
	}
	if len(args) == 0 {
		c.errorf("usage: awk [-F fs][-v var=value][prog | -f progfile][file ...]\n")
		return 2
	}
	m := awkPrint.FindStringSubmatch(args[0])
	s, status := c.input(args[1:])
	if m == nil {
		return status
	}
	var filter *regexp.Regexp
	if m[1] != "" {
		filter, _ = regexp.Compile(strings.ToValidUTF8(m[1], "\uFFFD"))
	}
	fieldRefs := regexp.MustCompile(`\$(\d+|NF)`).FindAllStringSubmatch(m[2], -1)
	for _, line := range lines(s) {
		if filter != nil && !filter.MatchString(line) {
			continue
		}
		var fields []string
		if sep == "" {
			fields = strings.Fields(line)
		} else {
			fields = strings.Split(line, sep)
		}
		if len(fieldRefs) == 0 {
			c.out.WriteString(line + "\n")
			continue
		}
		var outs []string
		for _, r := range fieldRefs {
			i := len(fields)
			if r[1] != "NF" {
				i, _ = strconv.Atoi(r[1])
			}
			switch {
			case i == 0:
				outs = append(outs, line)
			case i <= len(fields):
				outs = append(outs, fields[i-1])
			default:
				outs = append(outs, "")
			}
		}
		c.out.WriteString(strings.Join(outs, " ") + "\n")
	}
	return status
}

func cmdCut(c *call) int {
	args := c.args[1:]
	sep, field := "\t", 0
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-d" && i+1 < len(args):
			sep, i = args[i+1], i+1
		case strings.HasPrefix(a, "-d"):
			sep = a[2:]
		case a == "-f" && i+1 < len(args):
			field, _ = strconv.Atoi(strings.Split(args[i+1], ",")[0])
			i++
		case strings.HasPrefix(a, "-f"):
			field, _ = strconv.Atoi(strings.Split(a[2:], ",")[0])
		default:
			files = append(files, a)
		}
	}
	if sep == "" || field < 1 {
		c.errorf("cut: you must specify a list of bytes, characters, or fields\nTry 'cut --help' for more information.\n")
		return 1
	}
	s, status := c.input(files)
	for _, line := range lines(s) {
		parts := strings.Split(line, sep[:1])
		if len(parts) == 1 {
			c.out.WriteString(line + "\n")
		} else if field <= len(parts) {
			c.out.WriteString(parts[field-1] + "\n")
		} else {
			c.out.WriteString("\n")
		}
	}
	return status
}

func cmdTr(c *call) int {
	if c.stdin == nil || len(c.args) < 2 {
		return 0
	}
	s := *c.stdin
	f, _, sets := flags(c.args[1:])
	if f['d'] && len(sets) > 0 {
		s = strings.Map(func(r rune) rune {
			if strings.ContainsRune(sets[0], r) {
				return -1
			}
			return r
		}, s)
	} else if len(sets) == 2 {
		from, to := []rune(sets[0]), []rune(sets[1])
		s = strings.Map(func(r rune) rune {
			if i := slices.Index(from, r); i >= 0 && len(to) > 0 {
				return to[min(i, len(to)-1)]
			}
			return r
		}, s)
	}
	c.out.WriteString(s)
	return 0
}

func cmdBase64(c *call) int {
	f, _, files := flags(c.args[1:])
	s, status := c.input(files)
	if f['d'] {
		clean := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			b, _ = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
			c.out.WriteString(string(b))
			c.errorf("base64: invalid input\n")
			return 1
		}
		c.out.WriteString(string(b))
		return status
	}
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	for len(enc) > 76 {
		c.out.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	if enc != "" {
		c.out.WriteString(enc + "\n")
	}
	return status
}

func cmdPs(c *call) int {
	sh := c.sh
	tty := sh.tty
	if tty == "" {
		tty = "?"
	}
	pid := sh.pid()
	if len(c.args) == 1 {
		c.out.WriteString(fmt.Sprintf("    PID TTY          TIME CMD\n%7d %-8s 00:00:00 bash\n%7d %-8s 00:00:00 ps\n", pid, tty, pid+17, tty))
		return 0
	}
	c.out.WriteString(psAux)
	c.out.WriteString(fmt.Sprintf("root        %4d  0.0  0.2  17184 10984 ?        Ss   %s   0:00 sshd: %s@%s\n", pid-11, sh.login.Format("15:04"), sh.user.name, tty))
	c.out.WriteString(fmt.Sprintf("%-8.8s    %4d  0.0  0.1   8784  5504 %-8s Ss   %s   0:00 -bash\n", sh.user.name, pid, tty, sh.login.Format("15:04")))
	c.out.WriteString(fmt.Sprintf("%-8.8s    %4d  0.0  0.0  10072  3460 %-8s R+   %s   0:00 ps %s\n", sh.user.name, pid+17, tty, sh.host.now().Format("15:04"), strings.Join(c.args[1:], " ")))
	return 0
}

const psAux = `USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
root           1  0.0  0.3 167748 13180 ?        Ss   Mar21   1:32 /sbin/init
root           2  0.0  0.0      0     0 ?        S    Mar21   0:00 [kthreadd]
root           3  0.0  0.0      0     0 ?        I<   Mar21   0:00 [rcu_gp]
root          13  0.0  0.0      0     0 ?        S    Mar21   0:41 [ksoftirqd/0]
root          14  0.0  0.0      0     0 ?        I    Mar21   2:10 [rcu_sched]
root         386  0.0  0.4  64232 16228 ?        S<s  Mar21   0:58 /lib/systemd/systemd-journald
root         421  0.0  0.1  25496  6340 ?        Ss   Mar21   0:03 /lib/systemd/systemd-udevd
systemd+     574  0.0  0.1  25532 12420 ?        Ss   Mar21   0:12 /lib/systemd/systemd-resolved
root         611  0.0  0.0   6896  2936 ?        Ss   Mar21   0:04 /usr/sbin/cron -f -P
message+     612  0.0  0.1   8868  4900 ?        Ss   Mar21   0:02 @dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only
syslog       619  0.0  0.1 222404  6040 ?        Ssl  Mar21   0:09 /usr/sbin/rsyslogd -n -iNONE
root         623  0.0  0.1  15420  7448 ?        Ss   Mar21   0:01 /lib/systemd/systemd-logind
root         688  0.0  0.0   6172  1100 tty1     Ss+  Mar21   0:00 /sbin/agetty -o -p -- \u --noclear tty1 linux
root         702  0.0  0.2  15432  9196 ?        Ss   Mar21   0:07 sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups
root         741  0.0  0.0  55228  1640 ?        Ss   Mar21   0:00 nginx: master process /usr/sbin/nginx -g daemon on; master_process on;
www-data     742  0.0  0.1  55864  5684 ?        S    Mar21   0:21 nginx: worker process
www-data     743  0.0  0.1  55864  5684 ?        S    Mar21   0:20 nginx: worker process
`

func cmdFree(c *call) int {
	f, _, _ := flags(c.args[1:])
	total, used, free, shared, cache, avail := 4020184, 606392, 2214748, 3372, 1199044, 3165304
	switch {
	case f['h']:
		c.out.WriteString("               total        used        free      shared  buff/cache   available\nMem:           3.8Gi       592Mi       2.1Gi       3.0Mi       1.1Gi       3.0Gi\nSwap:             0B          0B          0B\n")
		return 0
	case f['m']:
		total, used, free, shared, cache, avail = total/1024, used/1024, free/1024, shared/1024, cache/1024, avail/1024
	case f['g']:
		total, used, free, shared, cache, avail = 3, 0, 2, 0, 1, 3
	}
	c.out.WriteString("               total        used        free      shared  buff/cache   available\n")
	c.out.WriteString(fmt.Sprintf("Mem:    %12d%12d%12d%12d%12d%12d\n", total, used, free, shared, cache, avail))
	c.out.WriteString(fmt.Sprintf("Swap:   %12d%12d%12d\n", 0, 0, 0))
	return 0
}

func cmdDf(c *call) int {
	f, _, _ := flags(c.args[1:])
	if f['h'] {
		c.out.WriteString(`Filesystem      Size  Used Avail Use% Mounted on
tmpfs           393M  1.1M  392M   1% /run
/dev/sda1        39G  9.0G   30G  24% /
tmpfs           2.0G     0  2.0G   0% /dev/shm
tmpfs           5.0M     0  5.0M   0% /run/lock
/dev/sda15      105M  6.1M   99M   6% /boot/efi
tmpfs           393M  4.0K  393M   1% /run/user/0
`)
		return 0
	}
	c.out.WriteString(`Filesystem     1K-blocks    Used Available Use% Mounted on
tmpfs             402020    1084    400936   1% /run
/dev/sda1       40453376 9453140  30983852  24% /
tmpfs            2010092       0   2010092   0% /dev/shm
tmpfs               5120       0      5120   0% /run/lock
/dev/sda15        106858    6182    100676   6% /boot/efi
tmpfs             402016       4    402012   1% /run/user/0
`)
	return 0
}

func cmdIfconfig(c *call) int {
	c.out.WriteString(`eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
        inet 10.0.0.14  netmask 255.255.255.0  broadcast 10.0.0.255
        inet6 fe80::f816:3eff:fe4a:9c21  prefixlen 64  scopeid 0x20<link>
        ether fa:16:3e:4a:9c:21  txqueuelen 1000  (Ethernet)
        RX packets 48211794  bytes 21433061893 (21.4 GB)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 39512210  bytes 11870543207 (11.8 GB)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536
        inet 127.0.0.1  netmask 255.0.0.0
        inet6 ::1  prefixlen 128  scopeid 0x10<host>
        loop  txqueuelen 1000  (Local Loopback)
        RX packets 1287736  bytes 118296022 (118.2 MB)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 1287736  bytes 118296022 (118.2 MB)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

`)
	return 0
}

func cmdIP(c *call) int {
	obj := ""
	for _, a := range c.args[1:] {
		if !strings.HasPrefix(a, "-") {
			obj = a
			break
		}
	}
	switch {
	case obj == "":
		c.errorf("Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n")
		return 255
	case strings.HasPrefix("address", obj):
		c.out.WriteString(`1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
    inet6 ::1/128 scope host
       valid_lft forever preferred_lft forever
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000
    link/ether fa:16:3e:4a:9c:21 brd ff:ff:ff:ff:ff:ff
    altname enp0s3
    inet 10.0.0.14/24 metric 100 brd 10.0.0.255 scope global dynamic eth0
       valid_lft 77914sec preferred_lft 77914sec
    inet6 fe80::f816:3eff:fe4a:9c21/64 scope link
       valid_lft forever preferred_lft forever
`)
	case strings.HasPrefix("route", obj):
		c.out.WriteString("default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.14 metric 100\n10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.14 metric 100\n")
	case strings.HasPrefix("link", obj):
		c.out.WriteString("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\n    link/ether fa:16:3e:4a:9c:21 brd ff:ff:ff:ff:ff:ff\n")
	default:
		c.errorf("Object \"%s\" is unknown, try \"ip help\".\n", obj)
		return 1
	}
	return 0
}

func cmdHistory(c *call) int {
	if len(c.args) > 1 && c.args[1] == "-c" {
		c.sh.history = nil
		return 0
	}
	for i, h := range c.sh.history {
		c.out.WriteString(fmt.Sprintf("%5d  %s\n", i+1, h))
	}
	return 0
}

func cmdExport(c *call) int {
	args := c.args[1:]
	if len(args) == 0 || args[0] == "-p" {
		vars := c.sh.env()
		names := make([]string, 0, len(vars))
		for k := range vars {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			c.out.WriteString("declare -x " + k + "=\"" + vars[k] + "\"\n")
		}
		return 0
	}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && validVarName(k) {
			c.sh.setVar(k, v)
		} else if !validVarName(k) {
			c.bashErrf("export: `%s': not a valid identifier\n", a)
			return 1
		}
	}
	return 0
}

func cmdUnset(c *call) int {
	for _, a := range c.args[1:] {
		delete(c.sh.env(), a)
	}
	return 0
}

func cmdEnv(c *call) int {
	if len(c.args) > 1 && c.args[0] == "env" && !strings.HasPrefix(c.args[1], "-") && !strings.Contains(c.args[1], "=") {
		return cmdWrapped(c)
	}
	if c.args[0] == "printenv" && len(c.args) > 1 {
		v, ok := c.sh.lookupVar(c.args[1])
		if !ok {
			return 1
		}
		c.out.WriteString(v + "\n")
		return 0
	}
	vars := c.sh.env()
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		c.out.WriteString(k + "=" + vars[k] + "\n")
	}
	return 0
}

// lookPath finds a command in the fake /usr/bin and /usr/sbin.
func (sh *shell) lookPath(name string) string {
	if strings.Contains(name, "/") {
		return ""
	}
	for _, d := range []string{"/usr/local/bin", "/usr/sbin", "/usr/bin"} {
		if n := sh.fs.get(d + "/" + name); n != nil && !n.isDir() {
			return d + "/" + name
		}
	}
	return ""
}

func cmdWhich(c *call) int {
	status := 0
	for _, a := range c.args[1:] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if p := c.sh.lookPath(a); p != "" {
			c.out.WriteString(p + "\n")
		} else {
			status = 1
		}
	}
	return status
}

func cmdType(c *call) int {
	status := 0
	for _, a := range c.args[1:] {
		switch p := c.sh.lookPath(a); {
		case isBuiltin(a):
			c.out.WriteString(a + " is a shell builtin\n")
		case p != "":
			c.out.WriteString(a + " is " + p + "\n")
		default:
			c.bashErrf("type: %s: not found\n", a)
			status = 1
		}
	}
	return status
}

func isBuiltin(s string) bool {
	switch s {
	case "cd", "echo", "export", "history", "exit", "logout", "printf", "pwd", "set", "unset", "alias", "source", ".", "type", "ulimit", "umask", "kill", "true", "false", ":":
		return true
	}
	return false
}

func cmdNproc(c *call) int { c.out.WriteString("2\n"); return 0 }

func cmdGetconf(c *call) int {
	if len(c.args) > 1 && c.args[1] == "_NPROCESSORS_ONLN" {
		c.out.WriteString("2\n")
		return 0
	}
	if len(c.args) > 1 && c.args[1] == "LONG_BIT" {
		c.out.WriteString("64\n")
		return 0
	}
	return 1
}

func cmdLscpu(c *call) int {
	c.out.WriteString(`Architecture:            x86_64
  CPU op-mode(s):        32-bit, 64-bit
  Address sizes:         46 bits physical, 48 bits virtual
  Byte Order:            Little Endian
CPU(s):                  2
  On-line CPU(s) list:   0,1
Vendor ID:               GenuineIntel
  Model name:            Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz
    CPU family:          6
    Model:               79
    Thread(s) per core:  1
    Core(s) per socket:  2
    Socket(s):           1
    Stepping:            1
    BogoMIPS:            4799.99
Virtualization features:
  Hypervisor vendor:     KVM
  Virtualization type:   full
Caches (sum of all):
  L1d:                   64 KiB (2 instances)
  L1i:                   64 KiB (2 instances)
  L2:                    512 KiB (2 instances)
  L3:                    35 MiB (1 instance)
NUMA:
  NUMA node(s):          1
  NUMA node0 CPU(s):     0,1
`)
	return 0
}

func cmdLsbRelease(c *call) int {
	c.out.WriteString("No LSB modules are available.\n")
	for _, l := range strings.Split(c.sh.host.persona.osRelease, "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			c.out.WriteString("Description:\t" + strings.Trim(v, `"`) + "\n")
		}
	}
	return 0
}

func cmdCrontab(c *call) int {
	sh := c.sh
	f, _, rest := flags(c.args[1:])
	spool := "/var/spool/cron/crontabs/" + sh.user.name
	switch {
	case f['l']:
		n := sh.fs.get(spool)
		if n == nil {
			c.errorf("no crontab for %s\n", sh.user.name)
			return 1
		}
		c.out.WriteString(n.content)
	case f['r']:
		sh.fs.remove(spool)
	case len(rest) > 0 || c.stdin != nil:
		var content string
		if len(rest) > 0 && rest[0] != "-" {
			s, err := sh.readFile(rest[0])
			if err != nil {
				c.errorf("%s: %s\n", rest[0], err.Error())
				return 1
			}
			content = s
		} else if c.stdin != nil {
			content = *c.stdin
		}
		if err := sh.fs.put(spool, &node{mode: 0o600, uid: sh.user.uid, content: content, mtime: sh.host.now()}); err != nil {
			c.errorf("crontab: %s\n", err.Error())
			return 1
		}
	default:
		c.errorf("crontab: usage error: file name or - (for stdin) must be specified\n")
		return 1
	}
	return 0
}

// Options of wget and curl that take a value.
var (
	wgetValueOpts = []string{"-O", "-o", "-P", "-U", "-e", "-t", "-T", "--header", "--user-agent", "--output-document"}
	curlValueOpts = []string{"-o", "-H", "-A", "-d", "-X", "-u", "-e", "-m", "--output", "--header", "--data", "--user-agent"}
)

// urlsIn returns the arguments that are not options or their values:
// the URLs (or host/path) a downloader was given.
func urlsIn(args, valueOpts []string) []string {
	var urls []string
	skip := false
	for _, a := range args {
		if skip {
			skip = false
			continue
		}
		if slices.Contains(valueOpts, a) {
			skip = true
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		urls = append(urls, a)
	}
	return urls
}

// hostOf returns the host part of a URL-ish argument.
func hostOf(raw string) (host string, withScheme string) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return raw, s
	}
	return u.Hostname(), s
}

func isIPLiteral(h string) bool {
	return strings.Trim(h, "0123456789.") == "" || strings.Contains(h, ":")
}

func cmdWget(c *call) int {
	urls := urlsIn(c.args[1:], wgetValueOpts)
	if len(urls) == 0 {
		c.errorf("wget: missing URL\nUsage: wget [OPTION]... [URL]...\n\nTry `wget --help' for more options.\n")
		return 1
	}
	f, _, _ := flags(c.args[1:])
	status := 0
	for _, raw := range urls {
		host, u := hostOf(raw)
		c.sh.download("wget", u)
		if f['q'] {
			status = 4
			continue
		}
		c.errorf("--%s--  %s\n", c.sh.host.now().Format("2006-01-02 15:04:05"), u)
		if isIPLiteral(host) {
			port := "80"
			if strings.HasPrefix(u, "https") {
				port = "443"
			}
			c.errorf("Connecting to %s:%s... failed: Connection timed out.\nRetrying.\n\n", host, port)
		} else {
			c.errorf("Resolving %s (%s)... failed: Temporary failure in name resolution.\nwget: unable to resolve host address ‘%s’\n", host, host, host)
		}
		status = 4
	}
	return status
}

func cmdCurl(c *call) int {
	urls := urlsIn(c.args[1:], curlValueOpts)
	if len(urls) == 0 {
		c.errorf("curl: try 'curl --help' or 'curl --manual' for more information\n")
		return 2
	}
	f, _, _ := flags(c.args[1:])
	status := 0
	for _, raw := range urls {
		host, u := hostOf(raw)
		c.sh.download("curl", u)
		if isIPLiteral(host) {
			status = 28
			if !f['s'] || f['S'] {
				c.errorf("curl: (28) Failed to connect to %s port 80 after 130281 ms: Connection timed out\n", host)
			}
		} else {
			status = 6
			if !f['s'] || f['S'] {
				c.errorf("curl: (6) Could not resolve host: %s\n", host)
			}
		}
	}
	return status
}

// cmdTftp pretends for tftp (tftp -g -r FILE HOST, tftp HOST -c get
// FILE) and busybox ftpget (ftpget [-u U -p P] HOST LOCAL REMOTE).
func cmdTftp(c *call) int {
	var host, file string
	var pos []string
	for i := 1; i < len(c.args); i++ {
		a := c.args[i]
		switch {
		case (a == "-r" || a == "-l" || a == "-u" || a == "-p" || a == "-P" || a == "-c") && i+1 < len(c.args):
			if a == "-r" {
				file = c.args[i+1]
			}
			if a == "-c" && i+2 < len(c.args) {
				file = c.args[i+2]
				i++
			}
			i++
		case strings.HasPrefix(a, "-"):
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) > 0 {
		host = pos[0]
	}
	if file == "" && len(pos) > 1 {
		file = pos[len(pos)-1]
	}
	if host == "" {
		c.errorf("%s: usage error\n", c.args[0])
		return 1
	}
	scheme := "tftp"
	if c.args[0] == "ftpget" {
		scheme = "ftp"
	}
	c.sh.download(c.args[0], scheme+"://"+host+"/"+strings.TrimPrefix(file, "/"))
	c.errorf("%s: timeout\n", c.args[0])
	return 1
}

func cmdChmod(c *call) int {
	_, _, rest := flags(c.args[1:])
	if len(rest) < 2 {
		c.errorf("chmod: missing operand\nTry 'chmod --help' for more information.\n")
		return 1
	}
	mode, files := rest[0], rest[1:]
	status := 0
	for _, f := range files {
		p, n, err := c.sh.fs.stat(c.sh.abs(f))
		if err != nil {
			c.errorf("chmod: cannot access '%s': %s\n", f, err.Error())
			status = 1
			continue
		}
		if c.sh.user.uid != 0 && n.uid != c.sh.user.uid {
			c.errorf("chmod: changing permissions of '%s': Operation not permitted\n", f)
			status = 1
			continue
		}
		cp := *n
		cp.mode = applyMode(n.mode, mode)
		if err := c.sh.fs.put(p, &cp); err != nil {
			c.errorf("chmod: changing permissions of '%s': %s\n", f, err.Error())
			status = 1
		}
	}
	return status
}

// applyMode applies an octal or a simple symbolic mode (+x, u+rwx, 755).
func applyMode(m fs.FileMode, spec string) fs.FileMode {
	if v, err := strconv.ParseUint(spec, 8, 32); err == nil {
		return m&^fs.ModePerm | fs.FileMode(v)&fs.ModePerm
	}
	for _, part := range strings.Split(spec, ",") {
		i := strings.IndexAny(part, "+-=")
		if i < 0 {
			continue
		}
		who, op, what := part[:i], part[i], part[i+1:]
		var mask fs.FileMode
		if who == "" || strings.Contains(who, "a") {
			who = "ugo"
		}
		for _, w := range who {
			shift := map[rune]uint{'u': 6, 'g': 3, 'o': 0}[w]
			for _, p := range what {
				bit := map[rune]fs.FileMode{'r': 4, 'w': 2, 'x': 1}[p]
				mask |= bit << shift
			}
		}
		switch op {
		case '+':
			m |= mask
		case '-':
			m &^= mask
		case '=':
			m = m&^fs.ModePerm | mask
		}
	}
	return m
}

func cmdRm(c *call) int {
	f, _, files := flags(c.args[1:])
	status := 0
	for _, name := range files {
		p, n, err := c.sh.fs.resolve(c.sh.abs(name), false)
		if err != nil {
			if !f['f'] {
				c.errorf("%s: cannot remove '%s': %s\n", c.args[0], name, err.Error())
				status = 1
			}
			continue
		}
		if n.isDir() && !f['r'] && !f['R'] && c.args[0] == "rm" {
			c.errorf("rm: cannot remove '%s': Is a directory\n", name)
			status = 1
			continue
		}
		if c.args[0] == "rmdir" && len(c.sh.fs.list(p)) > 0 {
			c.errorf("rmdir: failed to remove '%s': Directory not empty\n", name)
			status = 1
			continue
		}
		_, parent, _ := c.sh.fs.stat(path.Dir(p))
		if p == "/" || parent == nil || !c.sh.can(parent, 2) || strings.HasPrefix(p, "/proc") {
			c.errorf("%s: cannot remove '%s': Permission denied\n", c.args[0], name)
			status = 1
			continue
		}
		if err := c.sh.fs.remove(p); err != nil {
			c.errorf("%s: cannot remove '%s': %s\n", c.args[0], name, err.Error())
			status = 1
		}
	}
	return status
}

func cmdMkdir(c *call) int {
	f, _, dirs := flags(c.args[1:])
	status := 0
	for _, d := range dirs {
		full := c.sh.abs(d)
		var todo []string
		if f['p'] {
			for q := full; q != "/"; q = path.Dir(q) {
				todo = append([]string{q}, todo...)
			}
		} else {
			todo = []string{full}
		}
		for _, q := range todo {
			if _, n, err := c.sh.fs.stat(q); err == nil {
				if !f['p'] {
					c.errorf("mkdir: cannot create directory '%s': File exists\n", d)
					status = 1
				} else if !n.isDir() {
					c.errorf("mkdir: cannot create directory '%s': Not a directory\n", d)
					status = 1
					break
				}
				continue
			}
			pp, parent, err := c.sh.fs.stat(path.Dir(q))
			if err != nil || !parent.isDir() {
				c.errorf("mkdir: cannot create directory '%s': No such file or directory\n", d)
				status = 1
				break
			}
			if !c.sh.can(parent, 2) {
				c.errorf("mkdir: cannot create directory '%s': Permission denied\n", d)
				status = 1
				break
			}
			if err := c.sh.fs.put(path.Join(pp, path.Base(q)), &node{mode: fs.ModeDir | 0o755, uid: c.sh.user.uid, gid: c.sh.user.gid, mtime: c.sh.host.now()}); err != nil {
				c.errorf("mkdir: cannot create directory '%s': %s\n", d, err.Error())
				status = 1
				break
			}
		}
	}
	return status
}

func cmdTouch(c *call) int {
	_, _, files := flags(c.args[1:])
	status := 0
	for _, f := range files {
		if err := c.sh.writeFile(f, "", true); err != nil {
			c.errorf("touch: cannot touch '%s': %s\n", f, err.Error())
			status = 1
		}
	}
	return status
}

func cmdCp(c *call) int { return c.copyMove(false) }
func cmdMv(c *call) int { return c.copyMove(true) }

func (c *call) copyMove(move bool) int {
	_, _, rest := flags(c.args[1:])
	if len(rest) < 2 {
		c.errorf("%s: missing file operand\nTry '%s --help' for more information.\n", c.args[0], c.args[0])
		return 1
	}
	sh := c.sh
	dst := sh.abs(rest[len(rest)-1])
	_, dn, derr := sh.fs.stat(dst)
	status := 0
	for _, src := range rest[:len(rest)-1] {
		sp, n, err := sh.fs.stat(sh.abs(src))
		if err != nil {
			c.errorf("%s: cannot stat '%s': %s\n", c.args[0], src, err.Error())
			status = 1
			continue
		}
		if n.isDir() && !move {
			c.errorf("cp: -r not specified; omitting directory '%s'\n", src)
			status = 1
			continue
		}
		target := dst
		if derr == nil && dn.isDir() {
			target = path.Join(dst, path.Base(sp))
		}
		cp := *n
		cp.uid, cp.gid, cp.mtime = sh.user.uid, sh.user.gid, sh.host.now()
		if cp.gen != nil {
			cp.content, cp.gen = cp.gen(sh), nil
		}
		tdir, tn, err := sh.fs.stat(path.Dir(target))
		if err != nil || !tn.isDir() || !sh.can(tn, 2) {
			c.errorf("%s: cannot create regular file '%s': Permission denied\n", c.args[0], rest[len(rest)-1])
			status = 1
			continue
		}
		if err := sh.fs.put(path.Join(tdir, path.Base(target)), &cp); err != nil {
			c.errorf("%s: %s\n", c.args[0], err.Error())
			status = 1
			continue
		}
		if move {
			sh.fs.remove(sp)
		}
	}
	return status
}

func cmdExit(c *call) int {
	c.sh.exited = true
	if len(c.args) > 1 {
		n, _ := strconv.Atoi(c.args[1])
		return n & 0xff
	}
	return c.sh.status
}

// cmdWrapped runs the command a wrapper names (nohup, timeout, nice, env).
func cmdWrapped(c *call) int {
	args := c.args[1:]
	for len(args) > 0 && (strings.HasPrefix(args[0], "-") || c.args[0] == "timeout" && len(args) > 1 && isDuration(args[0])) {
		args = args[1:]
	}
	if len(args) == 0 {
		return 0
	}
	c.args = args
	return c.sh.exec(c)
}

func isDuration(s string) bool { return strings.Trim(s, "0123456789.smhd") == "" }

func cmdSudo(c *call) int {
	args := c.args[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		args = args[1:]
	}
	if len(args) == 0 {
		c.errorf("usage: sudo -h | -K | -k | -V\n")
		return 1
	}
	// The persona's cloud user has passwordless sudo, as on a stock image.
	sh := c.sh
	saved := sh.user
	sh.user = sh.host.userInfo("root")
	c.args = args
	status := sh.exec(c)
	sh.user = saved
	return status
}

func cmdSu(c *call) int {
	if c.sh.user.uid == 0 {
		return 0
	}
	c.errorf("Password: \nsu: Authentication failure\n")
	return 1
}

// cmdSh runs sh -c STRING, sh FILE or a script on stdin through the
// emulator, nested at most maxSubstDepth deep.
func cmdSh(c *call) int {
	sh := c.sh
	if sh.depth >= maxSubstDepth {
		return 0
	}
	var script string
	args := c.args[1:]
	switch {
	case len(args) >= 2 && args[0] == "-c":
		script = args[1]
	case len(args) >= 1 && !strings.HasPrefix(args[0], "-"):
		s, err := sh.readFile(args[0])
		if err != nil {
			c.errorf("%s: 0: cannot open %s: %s\n", c.args[0], args[0], err.Error())
			return 2
		}
		script = s
	case c.stdin != nil:
		script = *c.stdin
	default:
		return 0
	}
	sh.depth++
	sh.runTo(script, &c.out)
	sh.depth--
	return sh.status
}

func cmdSource(c *call) int {
	if len(c.args) < 2 {
		c.bashErrf("%s: filename argument required\n", c.args[0])
		return 2
	}
	c.args = []string{"sh", c.args[1]}
	return cmdSh(c)
}

func cmdClear(c *call) int { c.out.WriteString("\x1b[H\x1b[2J\x1b[3J"); return 0 }

func cmdDate(c *call) int {
	now := c.sh.host.now().UTC()
	if len(c.args) > 1 && strings.HasPrefix(c.args[1], "+") {
		c.out.WriteString(strftime(c.args[1][1:], now) + "\n")
		return 0
	}
	c.out.WriteString(now.Format("Mon Jan _2 15:04:05 MST 2006") + "\n")
	return 0
}

// strftime implements the date formats scripts use most.
func strftime(f string, t time.Time) string {
	r := strings.NewReplacer("%Y", t.Format("2006"), "%m", t.Format("01"), "%d", t.Format("02"), "%H", t.Format("15"),
		"%M", t.Format("04"), "%S", t.Format("05"), "%s", strconv.FormatInt(t.Unix(), 10), "%F", t.Format("2006-01-02"),
		"%T", t.Format("15:04:05"), "%Z", "UTC", "%%", "%")
	return r.Replace(f)
}

func cmdUlimit(c *call) int { c.out.WriteString("unlimited\n"); return 0 }
func cmdUmask(c *call) int  { c.out.WriteString("0022\n"); return 0 }

func cmdTop(c *call) int {
	sh := c.sh
	c.out.WriteString("top - " + strings.TrimPrefix(sh.uptimeLine(), " "))
	c.out.WriteString(`Tasks: 118 total,   1 running, 117 sleeping,   0 stopped,   0 zombie
%Cpu(s):  1.5 us,  0.5 sy,  0.0 ni, 97.9 id,  0.0 wa,  0.0 hi,  0.1 si,  0.0 st
MiB Mem :   3925.9 total,   2162.8 free,    592.2 used,   1170.9 buff/cache
MiB Swap:      0.0 total,      0.0 free,      0.0 used.   3091.1 avail Mem

    PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND
    742 www-data  20   0   55864   5684   3772 S   0.3   0.1   0:21.40 nginx
      1 root      20   0  167748  13180   8320 S   0.0   0.3   1:32.08 systemd
`)
	return 0
}

func cmdNetstat(c *call) int {
	c.out.WriteString(`Active Internet connections (only servers)
Proto Recv-Q Send-Q Local Address           Foreign Address         State
tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN
tcp        0      0 0.0.0.0:80              0.0.0.0:*               LISTEN
tcp        0      0 127.0.0.53:53           0.0.0.0:*               LISTEN
tcp6       0      0 :::22                   :::*                    LISTEN
tcp6       0      0 :::80                   :::*                    LISTEN
`)
	return 0
}

func cmdLast(c *call) int {
	sh := c.sh
	c.out.WriteString(fmt.Sprintf("%-8.8s %-12s %-16.16s %s   still logged in\n", sh.user.name, sh.tty, sh.src.IP, sh.login.Format("Mon Jan _2 15:04")))
	c.out.WriteString(fmt.Sprintf("reboot   system boot  %-16.16s %s   still running\n\nwtmp begins %s\n", sh.host.persona.kernel, sh.host.boot.Format("Mon Jan _2 15:04"), sh.host.boot.Format("Mon Jan _2 15:04:05 2006")))
	return 0
}

func cmdMount(c *call) int {
	for _, l := range lines(mounts) {
		f := strings.Fields(l)
		c.out.WriteString(f[0] + " on " + f[1] + " type " + f[2] + " (" + f[3] + ")\n")
	}
	return 0
}

func cmdDmesg(c *call) int {
	if c.sh.user.uid != 0 {
		c.errorf("dmesg: read kernel buffer failed: Operation not permitted\n")
		return 1
	}
	c.out.WriteString("[    0.000000] Linux version " + c.sh.host.persona.kernel + " (buildd@lcy02-amd64-008) " + c.sh.host.persona.gcc + " " + c.sh.host.persona.kernelVer + "\n[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-" + c.sh.host.persona.kernel + " root=LABEL=cloudimg-rootfs ro console=tty1 console=ttyS0\n")
	return 0
}

func cmdPasswd(c *call) int {
	c.errorf("New password: \nRetype new password: \npasswd: password updated successfully\n")
	return 0
}

func cmdApt(c *call) int {
	if c.sh.user.uid != 0 && len(c.args) > 1 && c.args[1] != "list" {
		c.errorf("E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you root?\n")
		return 100
	}
	c.out.WriteString("Reading package lists... Done\nBuilding dependency tree... Done\nReading state information... Done\n")
	if len(c.args) > 2 && c.args[1] == "install" {
		pkg := c.args[len(c.args)-1]
		c.errorf("E: Unable to locate package %s\n", pkg)
		return 100
	}
	return 0
}

func cmdPing(c *call) int {
	_, _, rest := flags(c.args[1:])
	if len(rest) == 0 {
		c.errorf("ping: usage error: Destination address required\n")
		return 1
	}
	host := rest[len(rest)-1]
	if !isIPLiteral(host) {
		c.errorf("ping: %s: Temporary failure in name resolution\n", host)
		return 2
	}
	c.out.WriteString(fmt.Sprintf("PING %s (%s) 56(84) bytes of data.\n\n--- %s ping statistics ---\n4 packets transmitted, 0 received, 100%% packet loss, time 3062ms\n\n", host, host, host))
	return 1
}

func cmdSSH(c *call) int {
	_, _, rest := flags(c.args[1:])
	if len(rest) == 0 {
		c.errorf("usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface] destination [command [argument ...]]\n")
		return 255
	}
	host := rest[0]
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	c.errorf("ssh: connect to host %s port 22: Connection timed out\n", host)
	return 255
}

func cmdFile(c *call) int {
	for _, f := range c.args[1:] {
		_, n, err := c.sh.fs.stat(c.sh.abs(f))
		switch {
		case err != nil:
			c.out.WriteString(f + ": cannot open `" + f + "' (No such file or directory)\n")
		case n.isDir():
			c.out.WriteString(f + ": directory\n")
		case n.content == "" && n.size > 0:
			c.out.WriteString(f + ": ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2, stripped\n")
		case n.content == "" && n.gen == nil:
			c.out.WriteString(f + ": empty\n")
		default:
			c.out.WriteString(f + ": ASCII text\n")
		}
	}
	return 0
}

func cmdSum(c *call) int {
	_, _, files := flags(c.args[1:])
	sum := func(s string) string {
		switch c.args[0] {
		case "md5sum":
			h := md5.Sum([]byte(s))
			return hex.EncodeToString(h[:])
		case "sha1sum":
			h := sha1.Sum([]byte(s))
			return hex.EncodeToString(h[:])
		}
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	if len(files) == 0 {
		s, _ := c.input(nil)
		c.out.WriteString(sum(s) + "  -\n")
		return 0
	}
	status := 0
	for _, f := range files {
		s, err := c.sh.readFile(f)
		if err != nil {
			c.errorf("%s: %s: %s\n", c.args[0], f, err.Error())
			status = 1
			continue
		}
		c.out.WriteString(sum(s) + "  " + f + "\n")
	}
	return status
}

func cmdSystemctl(c *call) int {
	if c.sh.user.uid != 0 && len(c.args) > 1 && c.args[1] != "status" {
		c.errorf("Failed to %s unit: Interactive authentication required.\n", c.args[1])
		return 1
	}
	return 0
}

func cmdFind(c *call) int {
	_, _, rest := flags(c.args[1:])
	start := "."
	if len(rest) > 0 {
		start = rest[0]
	}
	p, n, err := c.sh.fs.stat(c.sh.abs(start))
	if err != nil {
		c.errorf("find: '%s': %s\n", start, err.Error())
		return 1
	}
	c.out.WriteString(start + "\n")
	if n.isDir() && c.sh.can(n, 4) {
		for _, name := range c.sh.fs.list(p) {
			c.out.WriteString(strings.TrimSuffix(start, "/") + "/" + name + "\n")
		}
	}
	return 0
}

// cmdSCPShell is scp typed at the prompt: the emulated host has no route.
func cmdSCPShell(c *call) int {
	c.errorf("ssh: connect to host port 22: Connection timed out\nlost connection\n")
	return 1
}
