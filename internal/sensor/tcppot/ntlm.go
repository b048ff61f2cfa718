package tcppot

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// NTLM (MS-NLMP) as far as a decoy needs it: find the NTLMSSP message in a
// security blob, answer a NEGOTIATE with a CHALLENGE, and read the user,
// domain, workstation and challenge response of an AUTHENTICATE. The
// response is kept in the format password crackers read (hashcat 5600 for
// NTLMv2, 5500 for NTLMv1), as evidence of what was presented; nothing is
// verified, every login fails.

var ntlmSignature = []byte("NTLMSSP\x00")

// ntlmMessage returns the NTLMSSP message in blob (bare or inside SPNEGO)
// and its type, or false.
func ntlmMessage(blob []byte) ([]byte, uint32, bool) {
	i := bytes.Index(blob, ntlmSignature)
	if i < 0 || len(blob)-i < 12 {
		return nil, 0, false
	}
	m := blob[i:]
	return m, binary.LittleEndian.Uint32(m[8:]), true
}

// ntlmChallengeFlags are a Windows server's CHALLENGE flags: Unicode,
// request target, sign, NTLM, always sign, target type server, extended
// session security, target info, version, 128-bit, key exchange, 56-bit.
const ntlmChallengeFlags = 0xe28a8215

// ntlmChallenge builds a CHALLENGE message for challenge, naming the
// workgroup and host.
func ntlmChallenge(challenge []byte, workgroup, host string, now time.Time) []byte {
	name := utf16le(workgroup)
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		binary.Write(&info, binary.LittleEndian, id)
		binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(2, utf16le(workgroup))
	av(1, utf16le(host))
	av(4, utf16le(strings.ToLower(workgroup)+".local"))
	av(3, utf16le(strings.ToLower(host)+"."+strings.ToLower(workgroup)+".local"))
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, filetime(now))
	av(7, ts)
	av(0, nil)

	const head = 56
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.Write(ntlmSignature)
	le(uint32(2))
	le(uint16(len(name)))
	le(uint16(len(name)))
	le(uint32(head))
	le(uint32(ntlmChallengeFlags))
	b.Write(challenge)
	b.Write(make([]byte, 8))
	le(uint16(info.Len()))
	le(uint16(info.Len()))
	le(uint32(head + len(name)))
	b.Write([]byte{10, 0, 0x61, 0x4a, 0, 0, 0, 15}) // Windows 10.0.19041, NTLMSSP revision 15
	b.Write(name)
	b.Write(info.Bytes())
	return b.Bytes()
}

// ntlmAuth is what an AUTHENTICATE message carries.
type ntlmAuth struct {
	User, Domain, Workstation string
	LM, NT                    []byte
}

// parseNTLMAuthenticate reads an AUTHENTICATE (type 3) message.
func parseNTLMAuthenticate(m []byte) (ntlmAuth, error) {
	var a ntlmAuth
	if len(m) < 64 || !bytes.HasPrefix(m, ntlmSignature) || binary.LittleEndian.Uint32(m[8:]) != 3 {
		return a, fmt.Errorf("%w: not an NTLM AUTHENTICATE message", errProtocol)
	}
	field := func(at int) ([]byte, error) {
		n := int(binary.LittleEndian.Uint16(m[at:]))
		off := int(binary.LittleEndian.Uint32(m[at+4:]))
		if n == 0 {
			return nil, nil
		}
		if off < 0 || off > len(m) || n > len(m)-off {
			return nil, fmt.Errorf("%w: NTLM field at %d out of bounds", errProtocol, at)
		}
		return m[off : off+n], nil
	}
	flags := binary.LittleEndian.Uint32(m[60:])
	text := func(b []byte) string {
		if flags&1 == 0 { // OEM
			return clip(string(b), maxValue)
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return clip(string(utf16.Decode(u)), maxValue)
	}
	var err error
	if a.LM, err = field(12); err != nil {
		return a, err
	}
	if a.NT, err = field(20); err != nil {
		return a, err
	}
	for at, dst := range map[int]*string{28: &a.Domain, 36: &a.User, 44: &a.Workstation} {
		b, err := field(at)
		if err != nil {
			return a, err
		}
		*dst = text(b)
	}
	return a, nil
}

// crackFormat returns the challenge response in hashcat's format: mode
// 5600 (NetNTLMv2) for responses over 24 bytes, mode 5500 (NetNTLMv1)
// for 24-byte ones; "" for an anonymous login.
func (a ntlmAuth) crackFormat(challenge []byte) string {
	switch {
	case len(a.NT) > 24:
		return fmt.Sprintf("%s::%s:%x:%x:%x", a.User, a.Domain, challenge, a.NT[:16], a.NT[16:])
	case len(a.NT) == 24:
		return fmt.Sprintf("%s::%s:%x:%x:%x", a.User, a.Domain, a.LM, a.NT, challenge)
	}
	return ""
}

// der encodes one DER element.
func der(tag byte, content ...[]byte) []byte {
	body := bytes.Join(content, nil)
	n := len(body)
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, body...)
}

// oidNTLMSSP is 1.3.6.1.4.1.311.2.2.10, DER-encoded.
var oidNTLMSSP = []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}

// spnegoChallenge wraps an NTLM CHALLENGE in a SPNEGO negTokenResp
// (accept-incomplete, mechanism NTLMSSP).
func spnegoChallenge(ntlm []byte) []byte {
	return der(0xa1, der(0x30,
		der(0xa0, []byte{0x0a, 0x01, 0x01}),
		der(0xa1, oidNTLMSSP),
		der(0xa2, der(0x04, ntlm)),
	))
}

func utf16le(s string) []byte {
	b := utf16z(s)
	return b[:len(b)-2]
}

func newChallenge() []byte {
	c := make([]byte, 8)
	rand.Read(c)
	return c
}
