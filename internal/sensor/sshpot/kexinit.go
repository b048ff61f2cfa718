package sshpot

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"strings"
)

// KexInit is the client's SSH_MSG_KEXINIT (RFC 4253 §7.1): the
// algorithms it offers, in its order of preference.
type KexInit struct {
	Kex, HostKey                                     []string
	CiphersClientServer, CiphersServerClient         []string
	MACsClientServer, MACsServerClient               []string
	CompressionClientServer, CompressionServerClient []string
	LanguagesClientServer, LanguagesServerClient     []string
	FirstKexFollows                                  bool
}

const msgKexInit = 20

// KEXINIT bounds: a real one is 1–2 KiB; anything larger than maxKexInit
// is not fingerprinted (x/crypto/ssh still handles it within its own
// limits).
const (
	maxKexInit     = 32 << 10
	maxNameList    = 8 << 10
	maxVersionLine = 255
	maxPreVersion  = 1024 // lines before the version, as x/crypto/ssh allows
)

var errKexInit = errors.New("malformed KEXINIT")

// ParseKexInit parses the payload of a KEXINIT message (starting with
// its message number). It checks every length against the payload.
func ParseKexInit(payload []byte) (*KexInit, error) {
	if len(payload) < 1+16 || payload[0] != msgKexInit {
		return nil, errKexInit
	}
	p := payload[17:]
	k := &KexInit{}
	for _, dst := range []*[]string{
		&k.Kex, &k.HostKey, &k.CiphersClientServer, &k.CiphersServerClient, &k.MACsClientServer, &k.MACsServerClient,
		&k.CompressionClientServer, &k.CompressionServerClient, &k.LanguagesClientServer, &k.LanguagesServerClient,
	} {
		if len(p) < 4 {
			return nil, errKexInit
		}
		n := binary.BigEndian.Uint32(p)
		if n > maxNameList || uint64(n) > uint64(len(p)-4) {
			return nil, errKexInit
		}
		if n > 0 {
			*dst = strings.Split(string(p[4:4+n]), ",")
		}
		p = p[4+n:]
	}
	if len(p) < 5 {
		return nil, errKexInit
	}
	k.FirstKexFollows = p[0] != 0
	return k, nil
}

// HASSH returns the HASSH fingerprint of the client (Salesforce's
// definition: the MD5 of "kex;ciphers;macs;compression", client to
// server lists) and the string it is computed over.
func (k *KexInit) HASSH() (hash, algorithms string) {
	algorithms = strings.Join([]string{
		strings.Join(k.Kex, ","), strings.Join(k.CiphersClientServer, ","),
		strings.Join(k.MACsClientServer, ","), strings.Join(k.CompressionClientServer, ","),
	}, ";")
	sum := md5.Sum([]byte(algorithms))
	return hex.EncodeToString(sum[:]), algorithms
}

// kexSniffer watches the first bytes a client sends — its version line
// and its first binary packet, the KEXINIT, sent in the clear — and
// parses the KEXINIT. It keeps at most one packet's bytes and lets go of
// them when done. Feed it every byte in order, in any chunks.
type kexSniffer struct {
	state   int // sniffVersion, sniffPacket, sniffDone
	line    int // bytes in the current pre-version line
	lines   int
	lineBuf [4]byte // the first bytes of the current line, to spot "SSH-"
	buf     []byte  // the packet so far
	need    int     // 4 + packet length, once known
	kex     *KexInit
	err     error
}

const (
	sniffVersion = iota
	sniffPacket
	sniffDone
)

func (s *kexSniffer) done() bool { return s.state == sniffDone }

func (s *kexSniffer) fail(err error) {
	s.state, s.err, s.buf = sniffDone, err, nil
}

// feed gives the sniffer the next bytes the client sent.
func (s *kexSniffer) feed(p []byte) {
	for len(p) > 0 && s.state != sniffDone {
		switch s.state {
		case sniffVersion:
			i := 0
			for ; i < len(p); i++ {
				c := p[i]
				if s.line < len(s.lineBuf) {
					s.lineBuf[s.line] = c
				}
				s.line++
				if c != '\n' {
					if s.line > maxVersionLine+2 {
						s.fail(errors.New("version line too long"))
						return
					}
					continue
				}
				isVersion := s.line >= 4 && string(s.lineBuf[:]) == "SSH-"
				s.line = 0
				if isVersion {
					s.state = sniffPacket
					i++
					break
				}
				if s.lines++; s.lines > maxPreVersion {
					s.fail(errors.New("too many lines before the version"))
					return
				}
			}
			p = p[i:]
		case sniffPacket:
			if s.need == 0 {
				take := min(4-len(s.buf), len(p))
				s.buf = append(s.buf, p[:take]...)
				p = p[take:]
				if len(s.buf) < 4 {
					return
				}
				n := binary.BigEndian.Uint32(s.buf)
				if n < 1+1+16 || n > maxKexInit {
					s.fail(errKexInit)
					return
				}
				s.need = 4 + int(n)
				s.buf = append(make([]byte, 0, s.need), s.buf...)
			}
			take := min(s.need-len(s.buf), len(p))
			s.buf = append(s.buf, p[:take]...)
			p = p[take:]
			if len(s.buf) < s.need {
				return
			}
			pad := int(s.buf[4])
			end := s.need - pad
			if end < 5 {
				s.fail(errKexInit)
				return
			}
			k, err := ParseKexInit(s.buf[5:end])
			s.fail(err)
			s.kex = k
		}
	}
}

// sniffConn passes a connection through to x/crypto/ssh while its
// sniffer reads the client's KEXINIT out of what ssh reads. x/crypto/ssh
// does not expose the client's KEXINIT; reading it here keeps the
// handshake byte-for-byte what the client sent.
type sniffConn struct {
	net.Conn
	sniff kexSniffer
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.sniff.done() {
		c.sniff.feed(p[:n])
	}
	return n, err
}
