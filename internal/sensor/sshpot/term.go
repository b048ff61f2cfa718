package sshpot

import "unicode/utf8"

// lineEditor is the part of readline a shell on a pty needs: it echoes
// what is typed, erases with backspace and ^U, ignores escape sequences
// (arrow keys), and reports Enter, ^C, ^D and ^L. Input that is not valid
// UTF-8 is dropped, so the echo (and so the transcript) is always valid
// UTF-8.
type lineEditor struct {
	line  []byte
	esc   int // 0: none, 1: after ESC, 2: in a CSI or SS3 sequence
	utf   [utf8.UTFMax]byte
	nutf  int
	sawCR bool
}

type editAction int

const (
	editNone editAction = iota
	editEnter
	editInterrupt
	editEOF
	editClear
)

// maxEditLine bounds a typed line.
const maxEditLine = 4096

// key handles one input byte and returns what to echo and what happened.
func (e *lineEditor) key(b byte) (echo string, act editAction) {
	cr := e.sawCR
	e.sawCR = false
	switch e.esc {
	case 1:
		if b == '[' || b == 'O' {
			e.esc = 2
		} else {
			e.esc = 0
		}
		return "", editNone
	case 2:
		if b >= 0x40 && b <= 0x7e {
			e.esc = 0
		}
		return "", editNone
	}
	if b >= 0x80 {
		return e.rune(b), editNone
	}
	e.nutf = 0 // an unfinished character is dropped
	switch b {
	case '\r':
		e.sawCR = true
		return "", editEnter
	case '\n':
		if cr {
			return "", editNone // CR LF is one Enter
		}
		return "", editEnter
	case 0x03: // ^C
		e.line = e.line[:0]
		return "^C", editInterrupt
	case 0x04: // ^D
		if len(e.line) == 0 {
			return "", editEOF
		}
		return "", editNone
	case 0x7f, 0x08: // backspace
		if len(e.line) == 0 {
			return "", editNone
		}
		_, size := utf8.DecodeLastRune(e.line)
		e.line = e.line[:len(e.line)-size]
		return "\b \b", editNone
	case 0x15: // ^U
		n := utf8.RuneCount(e.line)
		e.line = e.line[:0]
		var s []byte
		for range n {
			s = append(s, "\b \b"...)
		}
		return string(s), editNone
	case 0x0c: // ^L
		return "", editClear
	case 0x1b:
		e.esc = 1
		return "", editNone
	case '\t':
		return "\a", editNone
	}
	if b < 0x20 {
		return "", editNone
	}
	if len(e.line) >= maxEditLine {
		return "\a", editNone
	}
	e.line = append(e.line, b)
	return string(b), editNone
}

// rune collects a multi-byte UTF-8 character.
func (e *lineEditor) rune(b byte) string {
	if e.nutf == 0 && !utf8.RuneStart(b) || e.nutf > 0 && utf8.RuneStart(b) {
		e.nutf = 0
		if !utf8.RuneStart(b) {
			return ""
		}
	}
	e.utf[e.nutf] = b
	e.nutf++
	if !utf8.FullRune(e.utf[:e.nutf]) {
		if e.nutf == utf8.UTFMax {
			e.nutf = 0
		}
		return ""
	}
	r := e.utf[:e.nutf]
	e.nutf = 0
	if c, _ := utf8.DecodeRune(r); c == utf8.RuneError || len(e.line)+len(r) > maxEditLine {
		return ""
	}
	e.line = append(e.line, r...)
	return string(r)
}

// take returns the line typed and starts a new one.
func (e *lineEditor) take() string {
	s := string(e.line)
	e.line = e.line[:0]
	return s
}
