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

	"github.com/vallum/vallum/internal/sensor"
)

// MySQL capability flags used here.
const (
	myLongPassword     = 0x00000001
	myConnectWithDB    = 0x00000008
	myProtocol41       = 0x00000200
	mySSL              = 0x00000800
	mySecureConn       = 0x00008000
	myPluginAuth       = 0x00080000
	myConnectAttrs     = 0x00100000
	myPluginAuthLenenc = 0x00200000
)

// myServerCaps is what the greeting offers: a MySQL 8 server without TLS.
const myServerCaps = 0xdfffffff &^ mySSL

// myMaxPacket bounds a client packet.
const myMaxPacket = 16 << 10

// mysql sends a MySQL 8 greeting (protocol 10, a random salt), reads the
// HandshakeResponse41, records the user, auth data, plugin and database,
// and answers "Access denied" (1045).
func (s *Server) mysql(ctx context.Context, ss *session) {
	salt := make([]byte, 20)
	rand.Read(salt)
	for i := range salt { // the salt is printable and has no NUL, as MySQL's
		salt[i] = 0x21 + salt[i]%0x5e
	}
	if _, err := ss.c.Write(myPacket(0, myGreeting(s.cfg.MySQL.Version, salt))); err != nil {
		return
	}
	seq, body, err := readMyPacket(ss.r)
	if err != nil {
		return
	}
	hr, err := parseHandshakeResponse(body)
	if err != nil {
		ss.command("malformed handshake response", map[string]string{"error": err.Error(), "bytes": strconv.Itoa(len(body))})
		ss.c.Write(myPacket(seq+1, myError(1043, "08S01", "Bad handshake")))
		return
	}
	d := map[string]string{"auth_plugin": clip(hr.Plugin, maxValue), "auth_response": hex.EncodeToString(hr.AuthResponse), "salt": string(salt), "capabilities": fmt.Sprintf("0x%08x", hr.Caps)}
	if hr.Database != "" {
		d["database"] = clip(hr.Database, maxValue)
	}
	for k, v := range hr.Attrs {
		if len(d) < 24 {
			d["attr_"+clip(k, 32)] = clip(v, maxValue)
		}
	}
	ss.auth(sensor.Credentials{Method: "mysql", Username: hr.User}, d)
	using := "NO"
	if len(hr.AuthResponse) > 0 {
		using = "YES"
	}
	ss.c.Write(myPacket(seq+1, myError(1045, "28000", fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", clip(hr.User, 64), ss.src.IP, using))))
}

// myGreeting is a Protocol::HandshakeV10 payload.
func myGreeting(version string, salt []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(10)
	b.WriteString(version)
	b.WriteByte(0)
	var id [4]byte
	rand.Read(id[:3]) // under 2^24, as a fresh server's are
	b.Write(id[:])
	b.Write(salt[:8])
	b.WriteByte(0)
	caps := uint32(myServerCaps)
	binary.Write(&b, binary.LittleEndian, uint16(caps))
	b.WriteByte(0xff)                                     // utf8mb4_0900_ai_ci
	binary.Write(&b, binary.LittleEndian, uint16(0x0002)) // SERVER_STATUS_AUTOCOMMIT
	binary.Write(&b, binary.LittleEndian, uint16(caps>>16))
	b.WriteByte(21) // length of the auth plugin data
	b.Write(make([]byte, 10))
	b.Write(salt[8:])
	b.WriteByte(0)
	b.WriteString("caching_sha2_password")
	b.WriteByte(0)
	return b.Bytes()
}

// myPacket frames payload with the 3-byte length and sequence number.
func myPacket(seq byte, payload []byte) []byte {
	h := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	return append(h, payload...)
}

// myError is an ERR_Packet payload.
func myError(code uint16, state, msg string) []byte {
	b := []byte{0xff, byte(code), byte(code >> 8), '#'}
	b = append(b, state...)
	return append(b, msg...)
}

// readMyPacket reads one client packet of at most myMaxPacket bytes.
func readMyPacket(r io.Reader) (seq byte, body []byte, err error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n > myMaxPacket {
		return 0, nil, fmt.Errorf("%w: mysql packet of %d bytes", errProtocol, n)
	}
	// Grown as the bytes arrive: a header alone costs no 16 KiB.
	body, err = sensor.AppendFull(r, nil, n)
	return h[3], body, err
}

// handshakeResponse is what a Protocol::HandshakeResponse41 carries.
type handshakeResponse struct {
	Caps         uint32
	User         string
	AuthResponse []byte
	Database     string
	Plugin       string
	Attrs        map[string]string
}

// parseHandshakeResponse parses a HandshakeResponse41 (an SSLRequest,
// which is its first 32 bytes, is reported as such).
func parseHandshakeResponse(b []byte) (handshakeResponse, error) {
	var hr handshakeResponse
	if len(b) < 32 {
		return hr, fmt.Errorf("%w: handshake response of %d bytes", errProtocol, len(b))
	}
	hr.Caps = binary.LittleEndian.Uint32(b)
	if hr.Caps&myProtocol41 == 0 {
		return hr, fmt.Errorf("%w: pre-4.1 handshake", errProtocol)
	}
	p := b[32:]
	if len(p) == 0 && hr.Caps&mySSL != 0 {
		return hr, fmt.Errorf("%w: SSL request (not offered)", errProtocol)
	}
	var ok bool
	var user []byte
	if user, p, ok = cstring(p); !ok {
		return hr, fmt.Errorf("%w: user name not terminated", errProtocol)
	}
	hr.User = string(user)
	switch {
	case hr.Caps&myPluginAuthLenenc != 0:
		n, rest, ok := lenenc(p)
		if !ok || n > uint64(len(rest)) {
			return hr, fmt.Errorf("%w: bad auth response length", errProtocol)
		}
		hr.AuthResponse, p = rest[:n], rest[n:]
	case hr.Caps&mySecureConn != 0:
		if len(p) < 1 || int(p[0]) > len(p)-1 {
			return hr, fmt.Errorf("%w: bad auth response length", errProtocol)
		}
		hr.AuthResponse, p = p[1:1+int(p[0])], p[1+int(p[0]):]
	default:
		var a []byte
		if a, p, ok = cstring(p); !ok {
			return hr, fmt.Errorf("%w: auth response not terminated", errProtocol)
		}
		hr.AuthResponse = a
	}
	if hr.Caps&myConnectWithDB != 0 && len(p) > 0 {
		var db []byte
		if db, p, ok = cstring(p); !ok {
			return hr, fmt.Errorf("%w: database not terminated", errProtocol)
		}
		hr.Database = string(db)
	}
	if hr.Caps&myPluginAuth != 0 && len(p) > 0 {
		var pl []byte
		if pl, p, ok = cstring(p); !ok {
			return hr, fmt.Errorf("%w: plugin name not terminated", errProtocol)
		}
		hr.Plugin = string(pl)
	}
	if hr.Caps&myConnectAttrs != 0 && len(p) > 0 {
		n, rest, ok := lenenc(p)
		if !ok || n > uint64(len(rest)) {
			return hr, fmt.Errorf("%w: bad attributes length", errProtocol)
		}
		attrs := rest[:n]
		hr.Attrs = map[string]string{}
		for len(attrs) > 0 && len(hr.Attrs) < 32 {
			var k, v []byte
			if k, attrs, ok = lenencString(attrs); !ok {
				break
			}
			if v, attrs, ok = lenencString(attrs); !ok {
				break
			}
			hr.Attrs[string(k)] = string(v)
		}
	}
	return hr, nil
}

func cstring(b []byte) (s, rest []byte, ok bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// lenenc reads a length-encoded integer.
func lenenc(b []byte) (uint64, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), b[1:], true
	case c == 0xfc && len(b) >= 3:
		return uint64(binary.LittleEndian.Uint16(b[1:])), b[3:], true
	case c == 0xfd && len(b) >= 4:
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, b[4:], true
	case c == 0xfe && len(b) >= 9:
		return binary.LittleEndian.Uint64(b[1:]), b[9:], true
	}
	return 0, nil, false
}

func lenencString(b []byte) (s, rest []byte, ok bool) {
	n, rest, ok := lenenc(b)
	if !ok || n > uint64(len(rest)) {
		return nil, nil, false
	}
	return rest[:n], rest[n:], true
}
