//go:build linux

package raw

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Control messages (cmsg(3)) and the kernel's extended socket errors
// (<linux/errqueue.h>): the one reader of each, for the transmit stamps on
// the send sockets' error queues and for the ICMP errors on a connect
// socket's.

// cmsgHdrLen is sizeof(struct cmsghdr): a size_t length, then level and
// type (two ints).
const cmsgHdrLen = int(unsafe.Sizeof(unix.Cmsghdr{}))

// cmsgAlign rounds l up as CMSG_ALIGN does, to the size of a long.
func cmsgAlign(l int) int { return (l + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1) }

// cmsgData returns the data of the first control message of level and typ
// in oob, or nil. It reads the headers field by field, so oob needs no
// alignment, and stops at the first malformed one.
func cmsgData(oob []byte, level, typ int32) []byte {
	for len(oob) >= cmsgHdrLen {
		var l int
		if unix.SizeofPtr == 8 {
			l = int(min(binary.NativeEndian.Uint64(oob), uint64(len(oob)+1)))
		} else {
			l = int(binary.NativeEndian.Uint32(oob))
		}
		if l < cmsgHdrLen || l > len(oob) {
			return nil
		}
		lv := int32(binary.NativeEndian.Uint32(oob[unix.SizeofPtr:]))
		ty := int32(binary.NativeEndian.Uint32(oob[unix.SizeofPtr+4:]))
		if lv == level && ty == typ {
			return oob[cmsgHdrLen:l]
		}
		next := cmsgAlign(l)
		if next >= len(oob) {
			return nil
		}
		oob = oob[next:]
	}
	return nil
}

// putCmsgU32 writes one control message carrying a 32-bit value into b,
// which must hold unix.CmsgSpace(4) bytes, and returns its length.
func putCmsgU32(b []byte, level, typ int32, v uint32) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], v)
	return unix.CmsgSpace(4)
}

// extendedErr is struct sock_extended_err, what an error queue's
// IP_RECVERR (or PACKET_TX_TIMESTAMP) control message carries, with the
// address of the offender that follows it (SO_EE_OFFENDER).
type extendedErr struct {
	errno     uint32
	origin    uint8 // SO_EE_ORIGIN_*: ICMP, TIMESTAMPING, ...
	typ, code uint8 // the ICMP type and code, with SO_EE_ORIGIN_ICMP
	// info and data: with SO_EE_ORIGIN_TIMESTAMPING, the stamp's kind
	// (SCM_TSTAMP_SND, ...) and its ID.
	info, data uint32
	// offender sent the ICMP error: invalid unless an AF_INET or AF_INET6
	// sockaddr follows the structure.
	offender netip.Addr
}

// parseExtendedErr reads the data of an IP_RECVERR or PACKET_TX_TIMESTAMP
// control message: errno u32, origin u8, type u8, code u8, pad u8, info
// u32, data u32, then the offender's sockaddr. It reports false when b is
// too short for the structure.
func parseExtendedErr(b []byte) (extendedErr, bool) {
	if len(b) < 16 {
		return extendedErr{}, false
	}
	e := extendedErr{
		errno:  binary.NativeEndian.Uint32(b),
		origin: b[4], typ: b[5], code: b[6],
		info: binary.NativeEndian.Uint32(b[8:]),
		data: binary.NativeEndian.Uint32(b[12:]),
	}
	// sockaddr_in: family (host order), port, address; sockaddr_in6:
	// family, port, flow info, address, scope.
	switch {
	case len(b) >= 16+8 && binary.NativeEndian.Uint16(b[16:]) == unix.AF_INET:
		e.offender = netip.AddrFrom4([4]byte(b[20:24]))
	case len(b) >= 16+24 && binary.NativeEndian.Uint16(b[16:]) == unix.AF_INET6:
		e.offender = netip.AddrFrom16([16]byte(b[24:40]))
	}
	return e, true
}
