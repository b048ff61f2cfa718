package sshpot

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"path"
	"strconv"

	"github.com/vallum/vallum/internal/sensor"
)

// A small SFTP version 3 server (draft-ietf-secsh-filexfer-02), enough
// for sftp and for scp in its SFTP mode to upload: files written are
// captured to the quarantine; everything else is answered from the fake
// filesystem. Nothing touches the real disk except the quarantine.

// SFTP packet types.
const (
	sftpInit      = 1
	sftpVersion   = 2
	sftpOpen      = 3
	sftpClose     = 4
	sftpRead      = 5
	sftpWrite     = 6
	sftpLstat     = 7
	sftpFstat     = 8
	sftpSetstat   = 9
	sftpFsetstat  = 10
	sftpOpendir   = 11
	sftpReaddir   = 12
	sftpRemove    = 13
	sftpMkdir     = 14
	sftpRmdir     = 15
	sftpRealpath  = 16
	sftpStat      = 17
	sftpRename    = 18
	sftpReadlink  = 19
	sftpSymlink   = 20
	sftpStatus    = 101
	sftpMsgHandle = 102
	sftpData      = 103
	sftpName      = 104
	sftpMsgAttrs  = 105
	sftpExtended  = 200
)

// SFTP status codes.
const (
	sftpOK            = 0
	sftpEOF           = 1
	sftpNoSuchFile    = 2
	sftpPermDenied    = 3
	sftpFailure       = 4
	sftpBadMessage    = 5
	sftpOpUnsupported = 8
)

// SFTP attribute flags and open flags.
const (
	attrSize        = 0x1
	attrUIDGID      = 0x2
	attrPermissions = 0x4
	attrACModTime   = 0x8
	attrExtended    = 0x80000000

	openRead  = 0x1
	openWrite = 0x2
)

// SFTP bounds: OpenSSH's sftp-server takes packets up to 256 KiB.
const (
	maxSFTPPacket  = 256 << 10
	maxSFTPHandles = 16
	maxSFTPRead    = 32 << 10
)

var errSFTPPacket = errors.New("malformed SFTP packet")

// sftpPacket is a parsed request. Which fields are set depends on typ.
type sftpPacket struct {
	typ    byte
	id     uint32
	path   string // path, or handle
	path2  string // rename and symlink target
	pflags uint32
	offset uint64
	length uint32
	data   []byte
	attrs  sftpAttrs
}

type sftpAttrs struct {
	flags        uint32
	size         uint64
	uid, gid     uint32
	perm         uint32
	atime, mtime uint32
}

// sftpReader reads SFTP fields with bounds checks.
type sftpReader struct {
	b   []byte
	err error
}

func (r *sftpReader) u32() uint32 {
	if len(r.b) < 4 {
		r.err = errSFTPPacket
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *sftpReader) u64() uint64 {
	if len(r.b) < 8 {
		r.err = errSFTPPacket
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *sftpReader) bytes() []byte {
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.err = errSFTPPacket
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *sftpReader) str() string { return string(r.bytes()) }

func (r *sftpReader) attrs() sftpAttrs {
	a := sftpAttrs{flags: r.u32()}
	if a.flags&attrSize != 0 {
		a.size = r.u64()
	}
	if a.flags&attrUIDGID != 0 {
		a.uid, a.gid = r.u32(), r.u32()
	}
	if a.flags&attrPermissions != 0 {
		a.perm = r.u32()
	}
	if a.flags&attrACModTime != 0 {
		a.atime, a.mtime = r.u32(), r.u32()
	}
	if a.flags&attrExtended != 0 {
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.bytes()
			r.bytes()
		}
	}
	return a
}

// parseSFTPPacket parses a packet's body (after its length): type, then
// the request's fields. Unknown types parse to just their type and ID.
func parseSFTPPacket(b []byte) (sftpPacket, error) {
	if len(b) < 1 {
		return sftpPacket{}, errSFTPPacket
	}
	p := sftpPacket{typ: b[0]}
	r := &sftpReader{b: b[1:]}
	p.id = r.u32() // the version, for INIT
	switch p.typ {
	case sftpOpen:
		p.path, p.pflags, p.attrs = r.str(), r.u32(), r.attrs()
	case sftpClose, sftpFstat, sftpReaddir, sftpLstat, sftpStat, sftpOpendir, sftpRemove, sftpRmdir, sftpRealpath, sftpReadlink:
		p.path = r.str()
	case sftpRead:
		p.path, p.offset, p.length = r.str(), r.u64(), r.u32()
	case sftpWrite:
		p.path, p.offset, p.data = r.str(), r.u64(), r.bytes()
	case sftpSetstat, sftpFsetstat, sftpMkdir:
		p.path, p.attrs = r.str(), r.attrs()
	case sftpRename, sftpSymlink:
		p.path, p.path2 = r.str(), r.str()
	}
	return p, r.err
}

// errSFTPLength is a packet length of zero or over maxSFTPPacket.
var errSFTPLength = errors.New("bad sftp packet length")

// readSFTPPacket reads one packet's length and body, appending the body to
// buf. The body is grown as its bytes arrive: a length alone, sent and
// left, pins no 256 KiB.
func readSFTPPacket(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxSFTPPacket {
		return buf, errSFTPLength
	}
	return sensor.AppendFull(r, buf, int(n))
}

// sftpHandle is an open file or directory.
type sftpHandle struct {
	path    string
	capture *sensor.Capture // an upload
	next    int64           // the offset the next write should have
	content string          // a file read from the fake filesystem
	names   []string        // a directory's entries, nil once sent
	dir     bool
}

type sftpServer struct {
	s       *session
	sh      *shell // for the fake filesystem and the user's rights
	handles map[string]*sftpHandle
	nextH   int
	out     []byte
}

// serveSFTP runs the SFTP subsystem until the client closes it.
func (s *session) serveSFTP() {
	srv := &sftpServer{s: s, sh: s.newShell(), handles: map[string]*sftpHandle{}}
	defer srv.closeAll()
	var buf []byte
	for {
		var err error
		if buf, err = readSFTPPacket(s.ch, buf[:0]); err != nil {
			return
		}
		p, err := parseSFTPPacket(buf)
		if err != nil {
			srv.status(p.id, sftpBadMessage, "Bad message")
		} else {
			srv.handle(p)
		}
		if _, err := s.ch.Write(srv.out); err != nil {
			return
		}
		srv.out = srv.out[:0]
	}
}

// reply frames a response of typ with the body produced by fill.
func (srv *sftpServer) reply(typ byte, id uint32, fill func(b []byte) []byte) {
	start := len(srv.out)
	srv.out = append(srv.out, 0, 0, 0, 0, typ)
	srv.out = binary.BigEndian.AppendUint32(srv.out, id)
	srv.out = fill(srv.out)
	binary.BigEndian.PutUint32(srv.out[start:], uint32(len(srv.out)-start-4))
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func (srv *sftpServer) status(id uint32, code uint32, msg string) {
	srv.reply(sftpStatus, id, func(b []byte) []byte {
		b = binary.BigEndian.AppendUint32(b, code)
		b = appendString(b, msg)
		return appendString(b, "")
	})
}

func (srv *sftpServer) fsError(id uint32, err error) {
	switch {
	case errors.Is(err, errPerm):
		srv.status(id, sftpPermDenied, "Permission denied")
	case errors.Is(err, errNotExist), errors.Is(err, errNotDir):
		srv.status(id, sftpNoSuchFile, "No such file")
	default:
		srv.status(id, sftpFailure, "Failure")
	}
}

// attrsOf encodes a node's attributes.
func (srv *sftpServer) attrsOf(b []byte, n *node) []byte {
	perm := uint32(n.mode.Perm())
	switch {
	case n.isDir():
		perm |= 0o040000
	case n.mode&fs.ModeSymlink != 0:
		perm |= 0o120000
	default:
		perm |= 0o100000
	}
	b = binary.BigEndian.AppendUint32(b, attrSize|attrUIDGID|attrPermissions|attrACModTime)
	b = binary.BigEndian.AppendUint64(b, uint64(n.fileSize(srv.sh)))
	b = binary.BigEndian.AppendUint32(b, uint32(n.uid))
	b = binary.BigEndian.AppendUint32(b, uint32(n.gid))
	b = binary.BigEndian.AppendUint32(b, perm)
	t := uint32(n.mtime.Unix())
	b = binary.BigEndian.AppendUint32(b, t)
	return binary.BigEndian.AppendUint32(b, t)
}

func (srv *sftpServer) abs(p string) string {
	if p == "" {
		p = "."
	}
	return srv.sh.abs(p)
}

func (srv *sftpServer) handle(p sftpPacket) {
	sh := srv.sh
	switch p.typ {
	case sftpInit:
		srv.out = append(srv.out, 0, 0, 0, 5, sftpVersion, 0, 0, 0, 3)
	case sftpRealpath:
		full := srv.abs(p.path)
		srv.reply(sftpName, p.id, func(b []byte) []byte {
			b = binary.BigEndian.AppendUint32(b, 1)
			b = appendString(b, full)
			b = appendString(b, full)
			return binary.BigEndian.AppendUint32(b, 0)
		})
	case sftpStat, sftpLstat:
		_, n, err := sh.fs.resolve(srv.abs(p.path), p.typ == sftpStat)
		if err != nil {
			srv.fsError(p.id, err)
			return
		}
		srv.reply(sftpMsgAttrs, p.id, func(b []byte) []byte { return srv.attrsOf(b, n) })
	case sftpFstat:
		h := srv.handles[p.path]
		if h == nil {
			srv.status(p.id, sftpFailure, "Failure")
			return
		}
		n := &node{mode: 0o644, uid: sh.user.uid, gid: sh.user.gid, mtime: sh.host.now(), size: h.next}
		if h.dir {
			n.mode |= fs.ModeDir
		} else if h.capture == nil {
			n.content = h.content
		}
		srv.reply(sftpMsgAttrs, p.id, func(b []byte) []byte { return srv.attrsOf(b, n) })
	case sftpOpen:
		srv.open(p)
	case sftpWrite:
		h := srv.handles[p.path]
		if h == nil || h.capture == nil {
			srv.status(p.id, sftpFailure, "Failure")
			return
		}
		srv.write(h, p.offset, p.data)
		srv.status(p.id, sftpOK, "Success")
	case sftpRead:
		h := srv.handles[p.path]
		if h == nil || h.dir || h.capture != nil {
			srv.status(p.id, sftpFailure, "Failure")
			return
		}
		if p.offset >= uint64(len(h.content)) {
			srv.status(p.id, sftpEOF, "End of file")
			return
		}
		chunk := h.content[p.offset:]
		chunk = chunk[:min(len(chunk), int(p.length), maxSFTPRead)]
		srv.reply(sftpData, p.id, func(b []byte) []byte { return appendString(b, chunk) })
	case sftpClose:
		h := srv.handles[p.path]
		if h == nil {
			srv.status(p.id, sftpFailure, "Failure")
			return
		}
		delete(srv.handles, p.path)
		srv.finish(h)
		srv.status(p.id, sftpOK, "Success")
	case sftpOpendir:
		full, n, err := sh.fs.stat(srv.abs(p.path))
		switch {
		case err != nil:
			srv.fsError(p.id, err)
		case !n.isDir():
			srv.status(p.id, sftpFailure, "Not a directory")
		case !sh.can(n, 4):
			srv.status(p.id, sftpPermDenied, "Permission denied")
		default:
			srv.newHandle(p.id, &sftpHandle{path: full, dir: true, names: append([]string{".", ".."}, sh.fs.list(full)...)})
		}
	case sftpReaddir:
		h := srv.handles[p.path]
		if h == nil || !h.dir {
			srv.status(p.id, sftpFailure, "Failure")
			return
		}
		if h.names == nil {
			srv.status(p.id, sftpEOF, "End of file")
			return
		}
		names := h.names
		h.names = nil
		srv.reply(sftpName, p.id, func(b []byte) []byte {
			b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
			for _, name := range names {
				n := sh.fs.get(path.Join(h.path, name))
				if name == "." || name == ".." || n == nil {
					n = sh.fs.get(h.path)
				}
				b = appendString(b, name)
				c := &call{sh: sh}
				c.out.max = 1024
				c.lsPrint([]lsEntry{{name, n}}, map[byte]bool{}, true, true, false)
				b = appendString(b, stringsTrimNL(c.out.String()))
				b = srv.attrsOf(b, n)
			}
			return b
		})
	case sftpMkdir:
		c := &call{sh: sh, args: []string{"mkdir", p.path}}
		c.err.max = 1024
		if cmdMkdir(c) != 0 {
			srv.status(p.id, sftpFailure, "Failure")
			return
		}
		srv.status(p.id, sftpOK, "Success")
	case sftpRemove, sftpRmdir:
		name := "rm"
		if p.typ == sftpRmdir {
			name = "rmdir"
		}
		c := &call{sh: sh, args: []string{name, p.path}}
		c.err.max = 1024
		if cmdRm(c) != 0 {
			srv.status(p.id, sftpFailure, "Failure")
			return
		}
		srv.status(p.id, sftpOK, "Success")
	case sftpSetstat, sftpFsetstat, sftpRename, sftpSymlink:
		srv.status(p.id, sftpOK, "Success")
	case sftpReadlink:
		_, n, err := sh.fs.resolve(srv.abs(p.path), false)
		if err != nil || n.mode&fs.ModeSymlink == 0 {
			srv.status(p.id, sftpNoSuchFile, "No such file")
			return
		}
		srv.reply(sftpName, p.id, func(b []byte) []byte {
			b = binary.BigEndian.AppendUint32(b, 1)
			b = appendString(b, n.target)
			b = appendString(b, n.target)
			return binary.BigEndian.AppendUint32(b, 0)
		})
	default:
		srv.status(p.id, sftpOpUnsupported, "Operation unsupported")
	}
}

func stringsTrimNL(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}

func (srv *sftpServer) newHandle(id uint32, h *sftpHandle) {
	if len(srv.handles) >= maxSFTPHandles {
		srv.status(id, sftpFailure, "Too many open files")
		return
	}
	srv.nextH++
	name := strconv.Itoa(srv.nextH)
	srv.handles[name] = h
	srv.reply(sftpMsgHandle, id, func(b []byte) []byte { return appendString(b, name) })
}

func (srv *sftpServer) open(p sftpPacket) {
	sh := srv.sh
	full := srv.abs(p.path)
	if p.pflags&openWrite == 0 {
		s, err := sh.readFile(full)
		if err != nil {
			srv.fsError(p.id, err)
			return
		}
		srv.newHandle(p.id, &sftpHandle{path: full, content: s})
		return
	}
	dir, dn, err := sh.fs.stat(path.Dir(full))
	switch {
	case err != nil:
		srv.fsError(p.id, err)
		return
	case !dn.isDir():
		srv.status(p.id, sftpNoSuchFile, "No such file")
		return
	case !sh.can(dn, 2):
		srv.status(p.id, sftpPermDenied, "Permission denied")
		return
	}
	if len(srv.handles) >= maxSFTPHandles {
		srv.status(p.id, sftpFailure, "Too many open files")
		return
	}
	capt, err := srv.s.c.s.quarantine.Create(path.Join(dir, path.Base(full)))
	if err != nil {
		srv.status(p.id, sftpFailure, "Failure")
		return
	}
	srv.newHandle(p.id, &sftpHandle{path: path.Join(dir, path.Base(full)), capture: capt})
}

var zeros [32 << 10]byte

// write adds data at offset to an upload. Writes come in order from
// OpenSSH's clients; a gap is filled with zeros (up to the cap), and a
// write behind the end (a rewrite) is dropped.
func (srv *sftpServer) write(h *sftpHandle, offset uint64, data []byte) {
	if offset > uint64(h.next) {
		gap := offset - uint64(h.next)
		for gap > 0 && !h.capture.Truncated() {
			n := min(gap, uint64(len(zeros)))
			h.capture.Write(zeros[:n])
			gap -= n
			h.next += int64(n)
		}
		if gap > 0 {
			h.next += int64(gap)
			h.capture.Write(data)
			h.next += int64(len(data))
			return
		}
	}
	if offset < uint64(h.next) {
		return
	}
	h.capture.Write(data)
	h.next += int64(len(data))
}

// finish ends a handle: an upload is committed and recorded, and the
// file appears in the session's view of the filesystem.
func (srv *sftpServer) finish(h *sftpHandle) {
	if h.capture == nil {
		return
	}
	srv.s.uploaded(h.capture, h.path, "sftp", h.capture.Received())
	srv.sh.fs.put(h.path, &node{mode: 0o644, uid: srv.sh.user.uid, gid: srv.sh.user.gid, size: h.next, mtime: srv.sh.host.now()})
}

func (srv *sftpServer) closeAll() {
	for name, h := range srv.handles {
		delete(srv.handles, name)
		srv.finish(h)
	}
}
