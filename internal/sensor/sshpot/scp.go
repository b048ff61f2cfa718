package sshpot

import (
	"bufio"
	"errors"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/vallum/vallum/internal/sensor"
)

// SCP's legacy protocol, sink side ("scp -t DIR", what `scp -O` runs on
// the server): the client sends C (file), D (enter directory), E (leave
// directory) and T (times) lines, each acknowledged with a zero byte, and
// a file's bytes after its C line.

// isSCPSink tells whether an exec command is scp in sink mode.
func isSCPSink(cmd string) bool {
	f := strings.Fields(cmd)
	if len(f) < 2 || path.Base(f[0]) != "scp" {
		return false
	}
	for _, a := range f[1:] {
		if len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsRune(a[1:], 't') {
			return true
		}
	}
	return false
}

type scpHeader struct {
	kind byte // 'C', 'D', 'E' or 'T'
	mode uint32
	size int64
	name string
}

var errSCPHeader = errors.New("scp: protocol error")

// maxSCPLine bounds a header line; maxSCPDepth, nested directories.
const (
	maxSCPLine  = 4096
	maxSCPDepth = 32
)

// parseSCPHeader parses one header line, without its newline.
func parseSCPHeader(line string) (scpHeader, error) {
	if line == "" || len(line) > maxSCPLine {
		return scpHeader{}, errSCPHeader
	}
	h := scpHeader{kind: line[0]}
	switch h.kind {
	case 'E':
		if line != "E" {
			return scpHeader{}, errSCPHeader
		}
		return h, nil
	case 'T':
		f := strings.Fields(line[1:])
		if len(f) != 4 {
			return scpHeader{}, errSCPHeader
		}
		for _, x := range f {
			if _, err := strconv.ParseUint(x, 10, 63); err != nil {
				return scpHeader{}, errSCPHeader
			}
		}
		return h, nil
	case 'C', 'D':
		modeStr, rest, ok := strings.Cut(line[1:], " ")
		if !ok || len(modeStr) != 4 {
			return scpHeader{}, errSCPHeader
		}
		mode, err := strconv.ParseUint(modeStr, 8, 32)
		if err != nil {
			return scpHeader{}, errSCPHeader
		}
		sizeStr, name, ok := strings.Cut(rest, " ")
		if !ok {
			return scpHeader{}, errSCPHeader
		}
		size, err := strconv.ParseInt(sizeStr, 10, 64)
		if err != nil || size < 0 {
			return scpHeader{}, errSCPHeader
		}
		if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
			return scpHeader{}, errSCPHeader
		}
		h.mode, h.size, h.name = uint32(mode), size, name
		return h, nil
	}
	return scpHeader{}, errSCPHeader
}

// serveSCP receives files as scp's sink into the quarantine and returns
// the exit status.
func (s *session) serveSCP(cmd string) int {
	f := strings.Fields(cmd)
	dir := s.c.s.host.userInfo(s.c.user).home
	if last := f[len(f)-1]; path.IsAbs(last) {
		dir = path.Clean(last)
	} else if !strings.HasPrefix(last, "-") {
		dir = path.Join(dir, last)
	}
	r := bufio.NewReaderSize(s.ch, 4096)
	ack := []byte{0}
	if _, err := s.ch.Write(ack); err != nil {
		return 1
	}
	depth := 0
	for {
		line, err := readSCPLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			s.ch.Write([]byte("\x01scp: protocol error\n"))
			return 1
		}
		if line[0] == 1 || line[0] == 2 {
			// A warning or an error from the sending side.
			if line[0] == 2 {
				return 1
			}
			continue
		}
		h, err := parseSCPHeader(line)
		if err != nil {
			s.ch.Write([]byte("\x01scp: protocol error: unexpected <newline>\n"))
			return 1
		}
		switch h.kind {
		case 'D':
			if depth++; depth > maxSCPDepth {
				s.ch.Write([]byte("\x01scp: too deep\n"))
				return 1
			}
			dir = path.Join(dir, h.name)
		case 'E':
			if depth == 0 {
				s.ch.Write([]byte("\x01scp: protocol error\n"))
				return 1
			}
			depth--
			dir = path.Dir(dir)
		case 'C':
			s.ch.Write(ack)
			full := path.Join(dir, h.name)
			capt, err := s.c.s.quarantine.Create(full)
			if err != nil {
				s.c.s.logger.Warn("couldn't capture an SCP upload", "session", s.c.id, "err", err)
				return 1
			}
			n, err := io.CopyN(capt, r, h.size)
			if err != nil {
				capt.Abort()
				return 1
			}
			// The sender ends a file with a zero byte.
			if b, err := r.ReadByte(); err != nil || b != 0 {
				capt.Abort()
				return 1
			}
			s.uploaded(capt, full, "scp", n)
		}
		if _, err := s.ch.Write(ack); err != nil {
			return 1
		}
	}
}

func readSCPLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			if len(b) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if c == '\n' {
			if len(b) == 0 {
				return "", errSCPHeader
			}
			return string(b), nil
		}
		if len(b) >= maxSCPLine {
			return "", errSCPHeader
		}
		b = append(b, c)
	}
}

// uploaded commits a capture and records the upload.
func (s *session) uploaded(capt *sensor.Capture, name, protocol string, received int64) {
	ref, err := capt.Commit()
	if err != nil {
		s.c.s.logger.Warn("couldn't keep an upload in the quarantine", "session", s.c.id, "err", err)
		return
	}
	s.c.mu.Lock()
	s.c.uploads++
	s.c.mu.Unlock()
	ev := s.c.event(sensor.KindUpload)
	ev.Command = protocol
	ev.Payloads = []sensor.PayloadRef{ref}
	ev.Details = map[string]string{"protocol": protocol, "path": payloadSafe(name), "received": strconv.FormatInt(received, 10)}
	s.c.emit(ev)
}
