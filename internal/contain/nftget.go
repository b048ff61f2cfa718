package contain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// containing asks the kernel which interval of set holds addr
// (NFT_MSG_GETSETELEM without NLM_F_DUMP: the kernel answers the start
// element of the interval that contains the key), so that verifying an
// action costs a few small requests whatever the set's size; a dump of an
// interval set costs time quadratic in its size on the kernels tested. It
// returns found=false when no interval holds addr (ENOENT), else the
// interval's first address and its remaining time (zero without a
// timeout).
func (n *NFTables) containing(set string, addr netip.Addr) (first netip.Addr, expires time.Duration, found bool, err error) {
	cfg := &netlink.Config{}
	if n.nsfd >= 0 {
		cfg.NetNS = n.nsfd
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return netip.Addr{}, 0, false, err
	}
	defer c.Close()
	attrs, err := getElemAttrs(n.cfg.Table, set, addr)
	if err != nil {
		return netip.Addr{}, 0, false, err
	}
	msg := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM), Flags: netlink.Request},
		// nfgenmsg: family, version, resource id.
		Data: append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	msgs, err := c.Execute(msg)
	if errors.Is(err, unix.ENOENT) {
		return netip.Addr{}, 0, false, nil
	}
	if err != nil {
		return netip.Addr{}, 0, false, err
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		if first, expires, found, err = parseElemReply(m.Data[4:]); err != nil || found {
			return first, expires, found, err
		}
	}
	return netip.Addr{}, 0, false, nil
}

// getElemAttrs encodes the request for the element holding addr.
func getElemAttrs(table, set string, addr netip.Addr) ([]byte, error) {
	key, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: addr.AsSlice()}})
	if err != nil {
		return nil, err
	}
	elem, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_SET_ELEM_KEY | unix.NLA_F_NESTED, Data: key}})
	if err != nil {
		return nil, err
	}
	list, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: 1 | unix.NLA_F_NESTED, Data: elem}})
	if err != nil {
		return nil, err
	}
	return netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: append([]byte(table), 0)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: append([]byte(set), 0)},
		{Type: unix.NFTA_SET_ELEM_LIST_ELEMENTS | unix.NLA_F_NESTED, Data: list},
	})
}

// parseElemReply returns the first start element (not an interval end)
// in the attributes of a NEWSETELEM reply, with its remaining time.
func parseElemReply(b []byte) (netip.Addr, time.Duration, bool, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return netip.Addr{}, 0, false, err
	}
	ad.ByteOrder = binary.BigEndian
	var first netip.Addr
	var exp time.Duration
	found := false
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				list.Nested(func(el *netlink.AttributeDecoder) error {
					var k []byte
					var flags uint32
					var e time.Duration
					for el.Next() {
						switch el.Type() {
						case unix.NFTA_SET_ELEM_KEY:
							el.Nested(func(kd *netlink.AttributeDecoder) error {
								for kd.Next() {
									if kd.Type() == unix.NFTA_DATA_VALUE {
										k = kd.Bytes()
									}
								}
								return nil
							})
						case unix.NFTA_SET_ELEM_FLAGS:
							flags = el.Uint32()
						case unix.NFTA_SET_ELEM_EXPIRATION:
							e = time.Duration(el.Uint64()) * time.Millisecond
						}
					}
					if a, ok := netip.AddrFromSlice(k); ok && !found && flags&unix.NFT_SET_ELEM_INTERVAL_END == 0 {
						first, exp, found = a, e, true
					}
					return nil
				})
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return netip.Addr{}, 0, false, fmt.Errorf("couldn't decode the kernel's element: %w", err)
	}
	return first, exp, found, nil
}
