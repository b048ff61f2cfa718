package sshpot

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// shell emulates bash for one session. It runs nothing: every command is
// a Go function producing believable output from the fake filesystem. It
// is used by one goroutine.
type shell struct {
	host    *host
	fs      vfs
	user    userInfo
	cwd     string
	oldpwd  string
	vars    map[string]string
	history []string
	status  int
	src     sensor.Endpoint
	login   time.Time
	tty     string // "pts/0" with a terminal, "" without
	term    string
	cols    int // terminal width, for ls
	depth   int // command substitution and sh -c nesting
	// errPrefix starts the shell's own errors: "-bash" for a login shell,
	// "bash: line 1" for a command given to ssh.
	errPrefix string
	exited    bool
	// line is the command line being run, for the events of downloads.
	line string
	// download is called for each URL a downloader was asked to fetch.
	download func(tool, url string)
}

// host is what every session's shell shares: the persona, the base
// filesystem, the boot time. It is read-only once built.
type host struct {
	cfg     Config
	persona *persona
	base    *baseFS
	users   []userInfo
	boot    time.Time
	now     func() time.Time
}

// Shell bounds.
const (
	maxHistory = 200
	maxVars    = 64
	maxVarLen  = 4096
)

func newShell(h *host, user string, src sensor.Endpoint, tty, term string) *shell {
	u := h.userInfo(user)
	sh := &shell{
		host:      h,
		fs:        vfs{base: h.base},
		user:      u,
		cwd:       u.home,
		src:       src,
		login:     h.now(),
		tty:       tty,
		term:      term,
		errPrefix: "-bash",
	}
	if sh.fs.get(u.home) == nil {
		sh.cwd = "/"
	}
	return sh
}

// userInfo returns the account for a login name; one not in the fake
// /etc/passwd is given the next free uid, as if it had been there.
func (h *host) userInfo(name string) userInfo {
	for _, u := range h.users {
		if u.name == name {
			return u
		}
	}
	uid := 1000 + len(h.users)
	return userInfo{name: name, uid: uid, gid: uid, home: "/home/" + plainName(name)}
}

// prompt is bash's PS1 for the persona.
func (sh *shell) prompt() string {
	dir := sh.cwd
	if dir == sh.user.home {
		dir = "~"
	} else if strings.HasPrefix(dir, sh.user.home+"/") {
		dir = "~" + dir[len(sh.user.home):]
	}
	sign := "$"
	if sh.user.uid == 0 {
		sign = "#"
	}
	base := sh.user.name + "@" + sh.host.cfg.Hostname
	if sh.user.uid != 0 && sh.host.persona.userPrompt {
		title := ""
		if strings.HasPrefix(sh.term, "xterm") || strings.HasPrefix(sh.term, "rxvt") {
			title = "\x1b]0;" + base + ": " + dir + "\a"
		}
		if sh.term == "xterm-color" || strings.HasSuffix(sh.term, "-256color") {
			return title + "\x1b[01;32m" + base + "\x1b[00m:\x1b[01;34m" + dir + "\x1b[00m" + sign + " "
		}
		return title + base + ":" + dir + sign + " "
	}
	return base + ":" + dir + sign + " "
}

// run runs one command line and returns what the terminal shows (with
// "\n" line ends; the caller adds "\r" for a pty).
func (sh *shell) run(line string) string {
	out := obuf{max: maxCommandOutput}
	sh.runTo(line, &out)
	return out.String()
}

func (sh *shell) runTo(line string, term *obuf) {
	trimmed := strings.TrimSpace(line)
	if trimmed == "" {
		return
	}
	if sh.depth == 0 {
		sh.addHistory(trimmed)
	}
	l, err := parseLine(line)
	if err != nil {
		var se *syntaxError
		switch {
		case errors.As(err, &se):
			term.WriteString(sh.errPrefix + ": " + err.Error() + "\n")
		case errors.Is(err, errUnterminated):
			// Interactive bash would wait for the rest; treat it as given up.
			term.WriteString(sh.errPrefix + ": unexpected EOF while looking for matching quote\n" + sh.errPrefix + ": syntax error: unexpected end of file\n")
		default:
			term.WriteString(sh.errPrefix + ": " + err.Error() + "\n")
		}
		sh.status = 2
		return
	}
	for _, ao := range l {
		if sh.exited {
			return
		}
		switch ao.op {
		case "&&":
			if sh.status != 0 {
				continue
			}
		case "||":
			if sh.status == 0 {
				continue
			}
		}
		sh.status = sh.runPipe(ao.pipe, term)
	}
}

func (sh *shell) addHistory(line string) {
	if len(line) > 1024 {
		line = line[:1024]
	}
	if len(sh.history) >= maxHistory {
		sh.history = slices.Delete(sh.history, 0, 1)
	}
	sh.history = append(sh.history, line)
}

// runPipe runs a pipeline: each command's output is the next one's input.
func (sh *shell) runPipe(pipe []simpleCmd, term *obuf) int {
	var stdin *string
	status := 0
	for i, sc := range pipe {
		c := &call{sh: sh, stdin: stdin}
		c.out.max, c.err.max = maxCommandOutput, maxCommandOutput
		for _, w := range sc.words {
			c.args = append(c.args, expandWord(w, sh)...)
		}
		toFile, appendFile, errToOut, errToNull := "", false, false, false
		for _, r := range sc.redirs {
			target := ""
			if r.target != "" {
				target = strings.Join(expandWord(r.target, sh), " ")
			}
			switch r.op {
			case ">", ">>":
				toFile, appendFile = target, r.op == ">>"
			case "&>":
				toFile, errToOut = target, true
			case "2>", "2>>":
				errToNull = target == "/dev/null"
			case "2>&1":
				errToOut = true
			case "<":
				s, err := sh.readFile(target)
				if err != nil {
					// bash does not run a command whose input cannot be opened.
					term.WriteString(sh.errPrefix + ": " + target + ": " + err.Error() + "\n")
					return 1
				}
				c.stdin = &s
			}
		}
		c.toTerm = i == len(pipe)-1 && toFile == "" && sh.tty != ""
		if len(c.args) == 0 {
			status = 0
		} else {
			status = sh.exec(c)
		}
		errs := c.err.String()
		if errToOut {
			c.out.WriteString(errs)
			errs = ""
		}
		if !errToNull {
			term.WriteString(errs)
		}
		s := c.out.String()
		if toFile != "" && toFile != "/dev/null" {
			if err := sh.writeFile(toFile, s, appendFile); err != nil {
				term.WriteString(sh.errPrefix + ": " + toFile + ": " + err.Error() + "\n")
				status = 1
			}
			s = ""
		} else if toFile == "/dev/null" {
			s = ""
		}
		if i == len(pipe)-1 {
			term.WriteString(s)
		} else {
			stdin = &s
		}
	}
	return status
}

// call is one command being run.
type call struct {
	sh    *shell
	args  []string
	stdin *string // nil: the terminal (reads nothing)
	// toTerm is set when the output goes straight to a terminal.
	toTerm bool
	out    obuf
	err    obuf
}

func (c *call) errorf(format string, a ...any) {
	c.err.WriteString(fmt.Sprintf(format, a...))
}

// bashErrf writes an error of the shell itself, prefixed as bash does.
func (c *call) bashErrf(format string, a ...any) {
	c.err.WriteString(c.sh.errPrefix + ": " + fmt.Sprintf(format, a...))
}

// exec runs the command c.args[0].
func (sh *shell) exec(c *call) int {
	name := c.args[0]
	if i := strings.IndexByte(name, '='); i > 0 && validVarName(name[:i]) {
		// VAR=value [command]
		if len(c.args) == 1 {
			sh.setVar(name[:i], name[i+1:])
			return 0
		}
		c.args = c.args[1:]
		name = c.args[0]
	}
	if isKeyword(name) {
		return 0
	}
	if strings.Contains(name, "/") {
		return sh.execPath(c)
	}
	if f, ok := commands[name]; ok {
		return f(c)
	}
	if sh.tty != "" && sh.host.persona.userPrompt {
		// Ubuntu's command-not-found handler, with nothing to suggest.
		c.errorf("%s: command not found\n", name)
	} else {
		c.bashErrf("%s: command not found\n", name)
	}
	return 127
}

// execPath "runs" a program named by path: a script is read and run by
// the emulator, anything else succeeds silently.
func (sh *shell) execPath(c *call) int {
	name := c.args[0]
	_, n, err := sh.fs.stat(sh.abs(name))
	switch {
	case err != nil:
		c.bashErrf("%s: %s\n", name, err.Error())
		return 127
	case n.isDir():
		c.bashErrf("%s: Is a directory\n", name)
		return 126
	case n.mode&0o111 == 0 || !sh.can(n, 4):
		c.bashErrf("%s: Permission denied\n", name)
		return 126
	}
	if s := sh.content(n); strings.HasPrefix(s, "#!") && sh.depth < maxSubstDepth {
		sh.depth++
		sh.runTo(s, &c.out)
		sh.depth--
	}
	return 0
}

func isKeyword(s string) bool {
	switch s {
	case "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "function", "{", "}", "[[", "]]", "!", "select", "time":
		return true
	}
	return false
}

// getVar implements expander.
func (sh *shell) getVar(name string) string {
	switch name {
	case "?":
		return strconv.Itoa(sh.status)
	case "$":
		return strconv.Itoa(sh.pid())
	case "#", "!":
		return "0"
	case "0":
		return "-bash"
	case "-":
		return "himBHs"
	case "PWD":
		return sh.cwd
	case "RANDOM":
		return strconv.Itoa(int(sh.host.now().UnixNano() % 32768))
	case "HOSTNAME":
		return sh.host.cfg.Hostname
	case "UID", "EUID":
		return strconv.Itoa(sh.user.uid)
	case "BASH_VERSION":
		return "5.1.16(1)-release"
	}
	v, _ := sh.lookupVar(name)
	return v
}

// defaultPath is the PATH of a login shell.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin"

// env returns the shell's variables, made from the login defaults on
// first use: a session that never changes or lists its variables (most
// held sessions) keeps no map.
func (sh *shell) env() map[string]string {
	if sh.vars == nil {
		sh.vars = map[string]string{
			"HOME": sh.user.home, "USER": sh.user.name, "LOGNAME": sh.user.name, "SHELL": "/bin/bash",
			"PATH":  defaultPath,
			"LANG":  "C.UTF-8",
			"PWD":   sh.user.home,
			"SHLVL": "1",
		}
		if sh.term != "" {
			sh.vars["TERM"] = sh.term
		}
	}
	return sh.vars
}

// lookupVar returns a variable's value and whether it is set, without
// making the map.
func (sh *shell) lookupVar(name string) (string, bool) {
	if sh.vars != nil {
		v, ok := sh.vars[name]
		return v, ok
	}
	switch name {
	case "HOME", "PWD":
		return sh.user.home, true
	case "USER", "LOGNAME":
		return sh.user.name, true
	case "SHELL":
		return "/bin/bash", true
	case "PATH":
		return defaultPath, true
	case "LANG":
		return "C.UTF-8", true
	case "SHLVL":
		return "1", true
	case "TERM":
		return sh.term, sh.term != ""
	}
	return "", false
}

func (sh *shell) setVar(name, value string) {
	if len(value) > maxVarLen {
		value = value[:maxVarLen]
	}
	vars := sh.env()
	if _, ok := vars[name]; !ok && len(vars) >= maxVars {
		return
	}
	vars[name] = value
	if name == "PWD" {
		sh.cwd = path.Clean("/" + value)
	}
}

func validVarName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// substitute implements expander: $(…) runs the emulator, bounded.
func (sh *shell) substitute(cmd string) string {
	if sh.depth >= maxSubstDepth {
		return ""
	}
	sh.depth++
	defer func() { sh.depth-- }()
	out := obuf{max: maxCommandOutput}
	sh.runTo(cmd, &out)
	return out.String()
}

// pid is this session's shell's process ID: stable per session.
func (sh *shell) pid() int {
	return 2000 + int(sh.login.UnixNano()/1000%20000)
}

// abs makes p absolute against the working directory, with ~ expanded.
func (sh *shell) abs(p string) string {
	switch {
	case p == "~":
		p = sh.user.home
	case strings.HasPrefix(p, "~/"):
		p = sh.user.home + p[1:]
	case !strings.HasPrefix(p, "/"):
		p = sh.cwd + "/" + p
	}
	return path.Clean(p)
}

// can tells whether the session's user may read (4), write (2) or
// execute (1) n.
func (sh *shell) can(n *node, bit fs.FileMode) bool {
	if sh.user.uid == 0 {
		return true
	}
	perm := n.mode.Perm()
	switch {
	case n.uid == sh.user.uid:
		return perm&(bit<<6) != 0
	case n.gid == sh.user.gid:
		return perm&(bit<<3) != 0
	}
	return perm&bit != 0
}

// content returns a file's bytes as the session sees them.
func (sh *shell) content(n *node) string {
	if n.gen != nil {
		return n.gen(sh)
	}
	if n.content == "" && n.size > 0 {
		return elfStub
	}
	return n.content
}

// elfStub is what a binary's contents start with when printed.
const elfStub = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00\x01\x00\x00\x00"

// writeFile writes (or appends) content to a file of the overlay.
func (sh *shell) writeFile(p, content string, appendTo bool) error {
	full := sh.abs(p)
	dir, dn, err := sh.fs.stat(path.Dir(full))
	if err != nil {
		return err
	}
	if !dn.isDir() {
		return errNotDir
	}
	if !sh.can(dn, 2) {
		return errPerm
	}
	target := path.Join(dir, path.Base(full))
	old := sh.fs.get(target)
	n := &node{mode: 0o644, uid: sh.user.uid, gid: sh.user.gid, mtime: sh.host.now()}
	if old != nil {
		if old.isDir() {
			return errIsDir
		}
		if !sh.can(old, 2) {
			return errPerm
		}
		cp := *old
		n = &cp
		n.mtime = sh.host.now()
		n.gen = nil
		if !appendTo {
			n.content, n.size = "", 0
		} else {
			n.content = sh.content(old)
		}
	}
	n.content += content
	return sh.fs.put(target, n)
}

// obuf is an output buffer that keeps at most max bytes.
type obuf struct {
	b   []byte
	max int
}

func (o *obuf) WriteString(s string) {
	if room := o.max - len(o.b); len(s) > room {
		s = s[:max(room, 0)]
	}
	o.b = append(o.b, s...)
}

func (o *obuf) Write(p []byte) (int, error) {
	o.WriteString(string(p))
	return len(p), nil
}

func (o *obuf) String() string { return string(o.b) }

func itoa(i int) string { return strconv.Itoa(i) }
