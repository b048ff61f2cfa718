package sshpot

import (
	"errors"
	"strings"
)

// A command line is parsed the way a shell splits it, far enough for the
// emulator: lists joined by ; && || & and newlines, pipelines joined by |,
// words with their quoting kept (expanded later), and redirections. There
// are no compound commands; a line that starts with a shell keyword is
// accepted and does nothing.

// Parser bounds.
const (
	maxLineBytes     = 64 << 10
	maxWordsPerCmd   = 256
	maxCmdsPerLine   = 128
	maxSubstDepth    = 3
	maxCommandOutput = 64 << 10
)

// list is a parsed command line: pipelines, each run after the previous
// one's op allows it.
type list []andOr

type andOr struct {
	// op is how this pipeline depends on the previous: "" (first), ";",
	// "&", "&&" or "||".
	op   string
	pipe []simpleCmd
}

type simpleCmd struct {
	words  []string // raw words, quoting intact
	redirs []redir
}

type redir struct {
	op     string // ">", ">>", "<", "2>", "2>>", "&>", "2>&1", ">&2"
	target string // raw word; empty for 2>&1 and >&2
}

var (
	errUnterminated = errors.New("unexpected EOF while looking for matching quote")
	errTooLong      = errors.New("command line too long")
)

// syntaxError carries the token bash would name.
type syntaxError struct{ token string }

func (e *syntaxError) Error() string { return "syntax error near unexpected token `" + e.token + "'" }

// parseLine parses one command line. It never panics and its result is
// bounded by the line's length and the constants above.
func parseLine(line string) (list, error) {
	if len(line) > maxLineBytes {
		return nil, errTooLong
	}
	p := &parser{s: line}
	return p.parse()
}

type parser struct {
	s   string
	i   int
	out list
	cur andOr
	cmd simpleCmd
	n   int // commands so far
}

func (p *parser) parse() (list, error) {
	pendingOp := ""
	for {
		p.skipBlanks()
		if p.i >= len(p.s) {
			break
		}
		c := p.s[p.i]
		switch {
		case c == '#':
			// A comment runs to the end of the line.
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
			continue
		case p.listOp() != "":
			op := p.listOp()
			p.i += len(op)
			if op == ";;" {
				return nil, &syntaxError{op}
			}
			if len(p.cmd.words) == 0 && len(p.cmd.redirs) == 0 {
				if op == "\n" {
					continue // an empty line, or a list continued on the next
				}
				return nil, &syntaxError{op}
			}
			if err := p.endCmd(); err != nil {
				return nil, err
			}
			p.cur.op = pendingOp
			p.out = append(p.out, p.cur)
			p.cur = andOr{}
			if pendingOp = op; op == "\n" {
				pendingOp = ";"
			}
			continue
		case c == '|':
			if len(p.cmd.words) == 0 && len(p.cmd.redirs) == 0 {
				return nil, &syntaxError{"|"}
			}
			p.i++
			if err := p.endCmd(); err != nil {
				return nil, err
			}
			continue
		}
		if r, ok := p.redirOp(); ok {
			p.skipBlanks()
			if r.op != "2>&1" && r.op != ">&2" {
				w, err := p.word()
				if err != nil {
					return nil, err
				}
				if w == "" {
					return nil, &syntaxError{"newline"}
				}
				r.target = w
			}
			p.cmd.redirs = append(p.cmd.redirs, r)
			continue
		}
		w, err := p.word()
		if err != nil {
			return nil, err
		}
		if w == "" {
			// A character no rule consumed: take it as a word of its own.
			w = p.s[p.i : p.i+1]
			p.i++
		}
		if len(p.cmd.words) >= maxWordsPerCmd {
			return nil, errTooLong
		}
		p.cmd.words = append(p.cmd.words, w)
	}
	if len(p.cmd.words) > 0 || len(p.cmd.redirs) > 0 {
		if err := p.endCmd(); err != nil {
			return nil, err
		}
	} else if len(p.cur.pipe) > 0 || pendingOp == "&&" || pendingOp == "||" {
		return nil, &syntaxError{"newline"}
	}
	if len(p.cur.pipe) > 0 {
		p.cur.op = pendingOp
		p.out = append(p.out, p.cur)
	}
	return p.out, nil
}

func (p *parser) endCmd() error {
	if p.n++; p.n > maxCmdsPerLine {
		return errTooLong
	}
	p.cur.pipe = append(p.cur.pipe, p.cmd)
	p.cmd = simpleCmd{}
	return nil
}

// listOp returns the list operator at p.i, or "".
func (p *parser) listOp() string {
	switch {
	case p.at("&&"), p.at("||"), p.at(";;"):
		return p.s[p.i : p.i+2]
	case p.at("&>"):
		return ""
	}
	switch p.s[p.i] {
	case ';', '\n', '&':
		return p.s[p.i : p.i+1]
	}
	return ""
}

func (p *parser) at(s string) bool { return strings.HasPrefix(p.s[p.i:], s) }

func (p *parser) skipBlanks() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

// redirOp consumes a redirection operator at the start of a word.
func (p *parser) redirOp() (redir, bool) {
	for _, op := range []string{"2>&1", ">&2", "1>&2", "2>>", "&>>", "2>", "&>", ">>", "1>", ">", "<"} {
		if p.at(op) {
			p.i += len(op)
			switch op {
			case "1>&2":
				op = ">&2"
			case "1>":
				op = ">"
			case "&>>":
				op = "&>"
			}
			return redir{op: op}, true
		}
	}
	return redir{}, false
}

// word consumes one word, quoting and substitutions intact, and returns
// "" at an operator or the end.
func (p *parser) word() (string, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case ' ', '\t', '\r', '\n', ';', '&', '|', '<', '>':
			return p.s[start:p.i], nil
		case '\\':
			p.i += 2
		case '\'':
			end := strings.IndexByte(p.s[p.i+1:], '\'')
			if end < 0 {
				return "", errUnterminated
			}
			p.i += end + 2
		case '"':
			if err := p.skipDouble(); err != nil {
				return "", err
			}
		case '`':
			if err := p.skipBacktick(); err != nil {
				return "", err
			}
		case '$':
			if p.at("$(") {
				if err := p.skipParen(); err != nil {
					return "", err
				}
				continue
			}
			p.i++
		default:
			p.i++
		}
	}
	if p.i > len(p.s) {
		p.i = len(p.s) // a trailing backslash
	}
	return p.s[start:p.i], nil
}

// skipDouble moves past a double-quoted string starting at p.i.
func (p *parser) skipDouble() error {
	p.i++
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\\':
			p.i += 2
			continue
		case '"':
			p.i++
			return nil
		case '`':
			if err := p.skipBacktick(); err != nil {
				return err
			}
			continue
		case '$':
			if p.at("$(") {
				if err := p.skipParen(); err != nil {
					return err
				}
				continue
			}
		}
		p.i++
	}
	return errUnterminated
}

func (p *parser) skipBacktick() error {
	p.i++
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\\':
			p.i += 2
			continue
		case '`':
			p.i++
			return nil
		}
		p.i++
	}
	return errUnterminated
}

// skipParen moves past $( … ), nested and quoted.
func (p *parser) skipParen() error {
	p.i += 2
	depth := 1
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\\':
			p.i += 2
			continue
		case '\'':
			end := strings.IndexByte(p.s[p.i+1:], '\'')
			if end < 0 {
				return errUnterminated
			}
			p.i += end + 2
			continue
		case '"':
			if err := p.skipDouble(); err != nil {
				return err
			}
			continue
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				p.i++
				return nil
			}
		}
		p.i++
	}
	return errUnterminated
}

// expansion hooks the shell gives expandWord.
type expander interface {
	getVar(name string) string
	// substitute runs a command substitution and returns its output.
	substitute(cmd string) string
}

// expandWord removes quoting from a raw word and expands variables and
// command substitutions. Unquoted expansions are split into fields on
// blanks; quoted ones are not. There is no globbing.
func expandWord(raw string, x expander) []string {
	var fields []string
	var cur strings.Builder
	have := false // cur is a field even if empty ("" or '')
	flush := func() {
		fields = append(fields, cur.String())
		cur.Reset()
		have = false
	}
	// split adds an unquoted expansion: blanks in it separate fields.
	split := func(s string) {
		if s == "" {
			return
		}
		parts := strings.Fields(s)
		if isBlank(s[0]) && (have || cur.Len() > 0) {
			flush()
		}
		for i, f := range parts {
			if i > 0 {
				flush()
			}
			cur.WriteString(f)
			have = true
		}
		if isBlank(s[len(s)-1]) && len(parts) > 0 {
			flush()
		}
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case '\\':
			if i+1 < len(raw) {
				cur.WriteByte(raw[i+1])
			}
			i += 2
		case '\'':
			end := strings.IndexByte(raw[i+1:], '\'')
			if end < 0 {
				end = len(raw) - i - 1
			}
			cur.WriteString(raw[i+1 : i+1+end])
			have = true
			i += end + 2
		case '"':
			j := i + 1
			for j < len(raw) && raw[j] != '"' {
				switch {
				case raw[j] == '\\' && j+1 < len(raw) && strings.IndexByte("$`\"\\\n", raw[j+1]) >= 0:
					cur.WriteByte(raw[j+1])
					j += 2
				case raw[j] == '$' || raw[j] == '`':
					s, n := expandDollar(raw[j:], x)
					cur.WriteString(s)
					j += n
				default:
					cur.WriteByte(raw[j])
					j++
				}
			}
			have = true
			i = j + 1
		case '$', '`':
			s, n := expandDollar(raw[i:], x)
			if n == 1 && c == '$' {
				cur.WriteByte('$')
			} else {
				split(s)
			}
			i += n
		default:
			cur.WriteByte(c)
			i++
		}
	}
	if have || cur.Len() > 0 {
		fields = append(fields, cur.String())
	}
	return fields
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// expandDollar expands the $… or `…` at the start of s and returns the
// value and how many bytes it took (at least 1).
func expandDollar(s string, x expander) (string, int) {
	if s[0] == '`' {
		end := 1
		for end < len(s) && s[end] != '`' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		body := s[1:min(end, len(s))]
		return strings.TrimRight(x.substitute(body), "\n"), min(end+1, len(s))
	}
	if len(s) < 2 {
		return "$", 1
	}
	switch c := s[1]; {
	case c == '(':
		q := &parser{s: s}
		if err := q.skipParen(); err != nil {
			return strings.TrimRight(x.substitute(s[2:]), "\n"), len(s)
		}
		return strings.TrimRight(x.substitute(s[2:q.i-1]), "\n"), q.i
	case c == '{':
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "$", 1
		}
		name := s[2:end]
		if i := strings.IndexAny(name, ":-="); i >= 0 {
			// ${X:-default}: the default when X is empty.
			v := x.getVar(name[:i])
			if v == "" && strings.HasPrefix(name[i:], ":-") {
				v = name[i+2:]
			}
			return v, end + 1
		}
		return x.getVar(name), end + 1
	case c == '?' || c == '$' || c == '#' || c == '!' || c == '-' || c == '*' || c == '@' || c >= '0' && c <= '9':
		return x.getVar(s[1:2]), 2
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		end := 2
		for end < len(s) && (s[end] == '_' || s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z' || s[end] >= '0' && s[end] <= '9') {
			end++
		}
		return x.getVar(s[1:end]), end
	}
	return "$", 1
}
