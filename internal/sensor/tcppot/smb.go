package tcppot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/vallum/vallum/internal/sensor"
)

// smbMaxMessage bounds a NetBIOS session message.
const smbMaxMessage = 64 << 10

// SMB2 dialects this honeypot may choose, lowest first. 3.1.1 needs
// negotiate contexts and is not chosen.
var smb2Dialects = []uint16{0x0202, 0x0210, 0x0300, 0x0302}

// smbNegotiate is what a NEGOTIATE request says.
type smbNegotiate struct {
	Version  int      // 1 or 2
	Dialects []string // SMB1 dialect strings, or SMB2 dialects as "0x0311"
	// SMB2 only.
	ClientGUID   string
	SecurityMode uint16
	Capabilities uint32
	// SMB1 header fields echoed in the answer.
	PID, MID uint16
	// MessageID of an SMB2 request.
	MessageID uint64
}

// parseSMB parses the SMB message of one NetBIOS session message. It
// returns errProtocol for anything but an SMB1 or SMB2 NEGOTIATE.
func parseSMB(m []byte) (smbNegotiate, error) {
	var n smbNegotiate
	switch {
	case len(m) >= 35 && bytes.HasPrefix(m, []byte("\xffSMB")) && m[4] == 0x72:
		n.Version = 1
		n.PID = binary.LittleEndian.Uint16(m[26:])
		n.MID = binary.LittleEndian.Uint16(m[30:])
		wc := int(m[32])
		off := 33 + 2*wc
		if off+2 > len(m) {
			return n, fmt.Errorf("%w: short SMB1 negotiate", errProtocol)
		}
		bc := int(binary.LittleEndian.Uint16(m[off:]))
		data := m[off+2:]
		if bc < len(data) {
			data = data[:bc]
		}
		for len(data) > 0 && len(n.Dialects) < 64 {
			if data[0] != 0x02 {
				return n, fmt.Errorf("%w: bad SMB1 dialect buffer", errProtocol)
			}
			i := bytes.IndexByte(data[1:], 0)
			if i < 0 {
				return n, fmt.Errorf("%w: dialect not terminated", errProtocol)
			}
			n.Dialects = append(n.Dialects, clip(string(data[1:1+i]), 64))
			data = data[2+i:]
		}
		return n, nil
	case len(m) >= 64+36 && bytes.HasPrefix(m, []byte("\xfeSMB")) && binary.LittleEndian.Uint16(m[12:]) == 0:
		n.Version = 2
		n.MessageID = binary.LittleEndian.Uint64(m[24:])
		b := m[64:]
		if binary.LittleEndian.Uint16(b) != 36 {
			return n, fmt.Errorf("%w: bad SMB2 negotiate size", errProtocol)
		}
		count := int(binary.LittleEndian.Uint16(b[2:]))
		n.SecurityMode = binary.LittleEndian.Uint16(b[4:])
		n.Capabilities = binary.LittleEndian.Uint32(b[8:])
		n.ClientGUID = hex.EncodeToString(b[12:28])
		if count > 64 || 36+2*count > len(b) {
			return n, fmt.Errorf("%w: bad SMB2 dialect count", errProtocol)
		}
		for i := range count {
			n.Dialects = append(n.Dialects, fmt.Sprintf("0x%04x", binary.LittleEndian.Uint16(b[36+2*i:])))
		}
		return n, nil
	}
	return n, fmt.Errorf("%w: not an SMB negotiate", errProtocol)
}

// readNetBIOS reads one NetBIOS session message (RFC 1002, type 0).
func readNetBIOS(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if h[0] != 0 || n > smbMaxMessage || n < 4 {
		return nil, fmt.Errorf("%w: not a session message", errProtocol)
	}
	// Grown as the bytes arrive: a header alone costs no 64 KiB.
	return sensor.AppendFull(r, nil, n)
}

func netbios(m []byte) []byte {
	return append([]byte{0, byte(len(m) >> 16), byte(len(m) >> 8), byte(len(m))}, m...)
}

// smb answers NEGOTIATE as Windows does: SMB2 when the client offers it,
// the SMB1 "NT LM 0.12" answer otherwise. The next message is recorded
// and the connection closed.
func (s *Server) smb(ctx context.Context, ss *session) {
	m, err := readNetBIOS(ss.r)
	if err != nil {
		return
	}
	neg, err := parseSMB(m)
	if err != nil {
		return
	}
	d := map[string]string{"smb_version": strconv.Itoa(neg.Version), "dialects": clip(strings.Join(neg.Dialects, ","), maxValue)}
	if neg.Version == 2 {
		d["client_guid"] = neg.ClientGUID
		d["security_mode"] = fmt.Sprintf("0x%04x", neg.SecurityMode)
		d["capabilities"] = fmt.Sprintf("0x%08x", neg.Capabilities)
	}
	ss.emit(sensor.KindRequest, func(e *sensor.Event) {
		e.Command = "NEGOTIATE"
		e.Details = d
	})
	var reply []byte
	switch {
	case neg.Version == 2:
		reply = s.smb2Negotiate(neg, chooseSMB2(neg.Dialects))
	case hasPrefix(neg.Dialects, "SMB 2"):
		// An SMB1 negotiate offering SMB2: answer with the wildcard.
		reply = s.smb2Negotiate(neg, 0x02ff)
	case indexOf(neg.Dialects, "NT LM 0.12") >= 0:
		challenge := newChallenge()
		if _, err := ss.c.Write(netbios(s.smb1Negotiate(neg, indexOf(neg.Dialects, "NT LM 0.12"), challenge))); err != nil {
			return
		}
		s.smb1Session(ss, challenge)
		return
	default:
		return
	}
	if _, err := ss.c.Write(netbios(reply)); err != nil {
		return
	}
	s.smb2Session(ss)
}

// SMB1 commands and flags used here.
const (
	smb1SessionSetupAndX = 0x73
	smb1FlagsUnicode     = 0x8000
)

// smb1SessionSetup is what an SMB1 SESSION_SETUP_ANDX request without
// extended security carries.
type smb1SessionSetup struct {
	User, Domain, NativeOS, NativeLanMan string
	LM, NT                               []byte
}

// parseSMB1SessionSetup reads an SMB1 SESSION_SETUP_ANDX request of the
// NT LM 0.12 dialect without extended security (word count 13).
func parseSMB1SessionSetup(m []byte) (smb1SessionSetup, error) {
	var r smb1SessionSetup
	if len(m) < 33+26+2 || !bytes.HasPrefix(m, []byte("\xffSMB")) || m[4] != smb1SessionSetupAndX || m[32] != 13 {
		return r, fmt.Errorf("%w: not an NT LM 0.12 session setup", errProtocol)
	}
	unicode := binary.LittleEndian.Uint16(m[10:])&smb1FlagsUnicode != 0
	w := m[33:]
	lmLen := int(binary.LittleEndian.Uint16(w[14:]))
	ntLen := int(binary.LittleEndian.Uint16(w[16:]))
	at := 33 + 26 + 2 // offset of the bytes from the header's start
	if lmLen+ntLen > len(m)-at {
		return r, fmt.Errorf("%w: passwords past the message", errProtocol)
	}
	r.LM = m[at : at+lmLen]
	r.NT = m[at+lmLen : at+lmLen+ntLen]
	at += lmLen + ntLen
	if unicode && at%2 == 1 {
		at++
	}
	for _, dst := range []*string{&r.User, &r.Domain, &r.NativeOS, &r.NativeLanMan} {
		if at >= len(m) {
			break
		}
		var n int
		*dst, n = smbString(m[at:], unicode)
		at += n
	}
	return r, nil
}

// smbString reads a NUL-terminated string (UTF-16LE if unicode) and
// returns it and the bytes it took.
func smbString(b []byte, unicode bool) (string, int) {
	if !unicode {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return clip(string(b), maxValue), len(b)
		}
		return clip(string(b[:i]), maxValue), i + 1
	}
	var u []uint16
	i := 0
	for ; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			i += 2
			break
		}
		u = append(u, c)
	}
	return clip(string(utf16.Decode(u)), maxValue), i
}

// smb1Session records an SMB1 session setup (user, domain, the client's
// OS and the LM/NTLM responses to challenge) and refuses it with
// STATUS_LOGON_FAILURE; anything else is recorded and ends the
// connection.
func (s *Server) smb1Session(ss *session, challenge []byte) {
	m, err := readNetBIOS(ss.r)
	if err != nil {
		return
	}
	if len(m) < 33 || !bytes.HasPrefix(m, []byte("\xffSMB")) {
		return
	}
	if m[4] != smb1SessionSetupAndX {
		ss.command("smb1 command "+strconv.Itoa(int(m[4])), nil)
		return
	}
	r, err := parseSMB1SessionSetup(m)
	if err != nil {
		ss.command("smb1 session setup", map[string]string{"error": err.Error()})
		return
	}
	d := map[string]string{"domain": r.Domain, "native_os": r.NativeOS, "native_lanman": r.NativeLanMan, "challenge": fmt.Sprintf("%x", challenge)}
	if h := (ntlmAuth{User: r.User, Domain: r.Domain, LM: r.LM, NT: r.NT}).crackFormat(challenge); h != "" {
		d["ntlm_response"] = clip(h, 2048)
	}
	user := r.User
	if r.Domain != "" {
		user = r.Domain + "\\" + r.User
	}
	ss.auth(sensor.Credentials{Method: "ntlm", Username: user}, d)
	// An error answer: the request's header with the status set, no words,
	// no bytes.
	reply := append([]byte(nil), m[:32]...)
	binary.LittleEndian.PutUint32(reply[5:], statusLogonFailure)
	reply[9] |= 0x80 // reply
	reply = append(reply, 0, 0, 0)
	ss.c.Write(netbios(reply))
}

// SMB2 commands and statuses used here.
const (
	smb2Negotiate        = 0
	smb2SessionSetup     = 1
	statusMoreProcessing = 0xc0000016
	statusLogonFailure   = 0xc000006d
	smbMaxSteps          = 4 // messages read after the first NEGOTIATE
)

// smb2Session carries on after NEGOTIATE: a second NEGOTIATE (after the
// SMB1 wildcard answer) is answered, SESSION_SETUP with NTLMSSP gets a
// CHALLENGE, and the AUTHENTICATE that follows is recorded as a
// credential and refused with STATUS_LOGON_FAILURE. Anything else is
// recorded and ends the connection.
func (s *Server) smb2Session(ss *session) {
	challenge := newChallenge()
	var sessionID [8]byte
	rand.Read(sessionID[:])
	sid := binary.LittleEndian.Uint64(sessionID[:])
	for range smbMaxSteps {
		m, err := readNetBIOS(ss.r)
		if err != nil {
			return
		}
		if len(m) < 64 || !bytes.HasPrefix(m, []byte("\xfeSMB")) {
			if bytes.HasPrefix(m, []byte("\xffSMB")) && len(m) > 4 {
				ss.command("smb1 command "+strconv.Itoa(int(m[4])), nil)
			}
			return
		}
		cmd := binary.LittleEndian.Uint16(m[12:])
		msgID := binary.LittleEndian.Uint64(m[24:])
		switch cmd {
		case smb2Negotiate:
			neg, err := parseSMB(m)
			if err != nil {
				return
			}
			ss.emit(sensor.KindRequest, func(e *sensor.Event) {
				e.Command = "NEGOTIATE"
				e.Details = map[string]string{"smb_version": "2", "dialects": clip(strings.Join(neg.Dialects, ","), maxValue), "client_guid": neg.ClientGUID}
			})
			if _, err := ss.c.Write(netbios(s.smb2Negotiate(neg, chooseSMB2(neg.Dialects)))); err != nil {
				return
			}
		case smb2SessionSetup:
			blob, ok := sessionSetupBlob(m)
			if !ok {
				return
			}
			msg, typ, ok := ntlmMessage(blob)
			switch {
			case ok && typ == 1:
				tok := spnegoChallenge(ntlmChallenge(challenge, s.cfg.Workgroup, s.cfg.Hostname, time.Now()))
				if _, err := ss.c.Write(netbios(smb2SessionSetupResponse(msgID, sid, statusMoreProcessing, tok))); err != nil {
					return
				}
			case ok && typ == 3:
				a, err := parseNTLMAuthenticate(msg)
				if err != nil {
					ss.command("malformed NTLM AUTHENTICATE", map[string]string{"error": err.Error()})
					return
				}
				d := map[string]string{"domain": a.Domain, "workstation": a.Workstation, "challenge": fmt.Sprintf("%x", challenge)}
				if h := a.crackFormat(challenge); h != "" {
					d["ntlm_response"] = clip(h, 2048)
				}
				user := a.User
				if a.Domain != "" {
					user = a.Domain + "\\" + a.User
				}
				ss.auth(sensor.Credentials{Method: "ntlm", Username: user}, d)
				ss.c.Write(netbios(smb2SessionSetupResponse(msgID, sid, statusLogonFailure, nil)))
				return
			default:
				ss.command("SESSION_SETUP without NTLMSSP", nil)
				return
			}
		default:
			ss.command("smb2 command "+strconv.Itoa(int(cmd)), nil)
			return
		}
	}
}

// sessionSetupBlob returns the security buffer of an SMB2 SESSION_SETUP
// request.
func sessionSetupBlob(m []byte) ([]byte, bool) {
	if len(m) < 64+24 || binary.LittleEndian.Uint16(m[64:]) != 25 {
		return nil, false
	}
	off := int(binary.LittleEndian.Uint16(m[64+12:]))
	n := int(binary.LittleEndian.Uint16(m[64+14:]))
	if off < 64+24 || off > len(m) || n > len(m)-off {
		return nil, false
	}
	return m[off : off+n], true
}

// smb2Header is an SMB2 response header.
func smb2Header(cmd uint16, status uint32, msgID, sessionID uint64) []byte {
	h := make([]byte, 64)
	copy(h, "\xfeSMB")
	binary.LittleEndian.PutUint16(h[4:], 64)
	binary.LittleEndian.PutUint32(h[8:], status)
	binary.LittleEndian.PutUint16(h[12:], cmd)
	binary.LittleEndian.PutUint16(h[14:], 1) // CreditResponse
	binary.LittleEndian.PutUint32(h[16:], 1) // SERVER_TO_REDIR
	binary.LittleEndian.PutUint64(h[24:], msgID)
	binary.LittleEndian.PutUint32(h[32:], 0xfeff)
	binary.LittleEndian.PutUint64(h[40:], sessionID)
	return h
}

// smb2SessionSetupResponse carries token, or is an error response when
// status is a failure.
func smb2SessionSetupResponse(msgID, sessionID uint64, status uint32, token []byte) []byte {
	b := smb2Header(smb2SessionSetup, status, msgID, sessionID)
	if status == statusLogonFailure {
		return append(b, 9, 0, 0, 0, 0, 0, 0, 0, 0) // ERROR response
	}
	body := make([]byte, 8)
	binary.LittleEndian.PutUint16(body, 9)
	binary.LittleEndian.PutUint16(body[4:], 64+8)
	binary.LittleEndian.PutUint16(body[6:], uint16(len(token)))
	return append(append(b, body...), token...)
}

func hasPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// chooseSMB2 returns the highest dialect both sides speak (0x0202 if none).
func chooseSMB2(offered []string) uint16 {
	best := uint16(0x0202)
	for _, d := range smb2Dialects {
		if indexOf(offered, fmt.Sprintf("0x%04x", d)) >= 0 {
			best = d
		}
	}
	return best
}

// spnegoInit is a SPNEGO negTokenInit offering NEGOEX and NTLMSSP, as a
// Windows server sends in its NEGOTIATE answer.
var spnegoInit = []byte{
	0x60, 0x28, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x1e, 0x30, 0x1c, 0xa0, 0x1a,
	0x30, 0x18, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e, 0x06, 0x0a,
	0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
}

// filetime is t as a Windows FILETIME.
func filetime(t time.Time) uint64 { return uint64(t.UnixNano()/100) + 116444736000000000 }

// smb2Negotiate is an SMB2 NEGOTIATE response choosing dialect.
func (s *Server) smb2Negotiate(neg smbNegotiate, dialect uint16) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.Write(smb2Header(smb2Negotiate, 0, neg.MessageID, 0))
	// NEGOTIATE response body.
	guid := make([]byte, 16)
	rand.Read(guid)
	le(uint16(65))      // StructureSize
	le(uint16(1))       // SecurityMode: signing enabled
	le(dialect)         // DialectRevision
	le(uint16(0))       // NegotiateContextCount
	b.Write(guid)       // ServerGuid
	le(uint32(0x2f))    // Capabilities: DFS, leasing, large MTU, multi-channel, persistent handles
	le(uint32(8388608)) // MaxTransactSize
	le(uint32(8388608)) // MaxReadSize
	le(uint32(8388608)) // MaxWriteSize
	le(filetime(time.Now()))
	le(filetime(time.Now().Add(-17 * 24 * time.Hour))) // ServerStartTime
	le(uint16(64 + 64))                                // SecurityBufferOffset
	le(uint16(len(spnegoInit)))
	le(uint32(0)) // NegotiateContextOffset
	b.Write(spnegoInit)
	return b.Bytes()
}

// smb1Negotiate is an SMB1 NT LM 0.12 NEGOTIATE response without
// extended security, with the workgroup and server name, as a Windows 7
// to 10 host with SMB1 on sends it.
func (s *Server) smb1Negotiate(neg smbNegotiate, dialect int, challenge []byte) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("\xffSMBr")
	le(uint32(0))             // Status
	b.WriteByte(0x88)         // Flags: reply, case-insensitive
	le(uint16(0x4001))        // Flags2: long names, NT status off
	b.Write(make([]byte, 14)) // PIDHigh, SecurityFeatures, Reserved, TID
	le(neg.PID)
	le(uint16(0)) // UID
	le(neg.MID)
	b.WriteByte(17) // WordCount
	le(uint16(dialect))
	b.WriteByte(0x03)      // SecurityMode: user level, challenge/response
	le(uint16(10))         // MaxMpxCount
	le(uint16(1))          // MaxNumberVcs
	le(uint32(4356))       // MaxBufferSize
	le(uint32(65536))      // MaxRawSize
	le(uint32(0))          // SessionKey
	le(uint32(0x0001e3fc)) // Capabilities (no extended security)
	le(filetime(time.Now()))
	le(uint16(0))  // ServerTimeZone
	b.WriteByte(8) // ChallengeLength
	domain := utf16z(s.cfg.Workgroup)
	server := utf16z(s.cfg.Hostname)
	le(uint16(8 + len(domain) + len(server)))
	b.Write(challenge)
	b.Write(domain)
	b.Write(server)
	return b.Bytes()
}

// utf16z is s in UTF-16LE with a terminating NUL.
func utf16z(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = append(out, byte(c), byte(c>>8))
	}
	return append(out, 0, 0)
}
