package tcppot

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vallum/vallum/internal/sensor"
)

// RDP negotiation protocols (MS-RDPBCGR 2.2.1.1.1).
const (
	rdpSSL    = 0x1
	rdpHybrid = 0x2
)

// rdpRequest is what an X.224 Connection Request carries.
type rdpRequest struct {
	Cookie    string // the "Cookie: mstshash=…" line's value, if any
	User      string // the mstshash user name
	HasNeg    bool
	Requested uint32 // requestedProtocols of RDP_NEG_REQ
}

// readTPKT reads one TPKT (RFC 1006) of at most 1 KiB.
func readTPKT(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[2:]))
	if h[0] != 3 || n < 7 || n > 1024 {
		return nil, fmt.Errorf("%w: not a TPKT", errProtocol)
	}
	b := make([]byte, n-4)
	_, err := io.ReadFull(r, b)
	return b, err
}

// parseX224CR parses an X.224 Connection Request TPDU (the TPKT payload).
func parseX224CR(b []byte) (rdpRequest, error) {
	var req rdpRequest
	if len(b) < 7 || b[1]&0xf0 != 0xe0 || int(b[0]) > len(b)-1 || b[0] < 6 {
		return req, fmt.Errorf("%w: not an X.224 connection request", errProtocol)
	}
	v := b[7 : 1+int(b[0])]
	if i := bytes.Index(v, []byte("\r\n")); i >= 0 && bytes.HasPrefix(v, []byte("Cookie: ")) {
		req.Cookie = clip(string(v[len("Cookie: "):i]), maxValue)
		if u, ok := strings.CutPrefix(req.Cookie, "mstshash="); ok {
			req.User = u
		}
		v = v[i+2:]
	}
	if len(v) >= 8 && v[0] == 0x01 && binary.LittleEndian.Uint16(v[2:]) == 8 {
		req.HasNeg = true
		req.Requested = binary.LittleEndian.Uint32(v[4:])
	}
	return req, nil
}

func rdpProtocols(p uint32) string {
	var s []string
	if p == 0 {
		return "rdp"
	}
	for bit, name := range map[uint32]string{rdpSSL: "ssl", rdpHybrid: "hybrid", 0x4: "rdstls", 0x8: "hybrid_ex", 0x10: "rdsaad"} {
		if p&bit != 0 {
			s = append(s, name)
		}
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

// rdp answers the X.224 Connection Request with a Connection Confirm as
// Windows does (CredSSP chosen when offered), records the cookie and the
// requested protocols, and closes once the client starts TLS.
func (s *Server) rdp(ctx context.Context, ss *session) {
	b, err := readTPKT(ss.r)
	if err != nil {
		return
	}
	req, err := parseX224CR(b)
	if err != nil {
		return
	}
	d := map[string]string{"requested_protocols": rdpProtocols(req.Requested)}
	if req.Cookie != "" {
		d["cookie"] = req.Cookie
	}
	if req.User != "" {
		d["user"] = clip(req.User, maxValue)
	}
	ss.emit(sensor.KindRequest, func(e *sensor.Event) {
		e.Command = "X.224 Connection Request"
		e.Details = d
	})
	if !req.HasNeg {
		ss.c.Write([]byte{0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00})
		return
	}
	selected := uint32(0)
	switch {
	case req.Requested&rdpHybrid != 0:
		selected = rdpHybrid
	case req.Requested&rdpSSL != 0:
		selected = rdpSSL
	}
	cc := []byte{0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x1f, 0x08, 0x00, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(cc[15:], selected)
	if _, err := ss.c.Write(cc); err != nil {
		return
	}
	// The client's TLS ClientHello: noted, not answered.
	var hello [5]byte
	if _, err := io.ReadFull(ss.r, hello[:]); err == nil && hello[0] == 0x16 {
		ss.command("TLS ClientHello", nil)
	}
}
