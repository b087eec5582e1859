//go:build linux

package raw

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cmsg lays out one control message as the kernel does: a header, data,
// and padding to CMSG_ALIGN.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	if unix.SizeofPtr == 8 {
		binary.NativeEndian.PutUint64(b, uint64(unix.CmsgLen(len(data))))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(unix.CmsgLen(len(data))))
	}
	binary.NativeEndian.PutUint32(b[unix.SizeofPtr:], uint32(level))
	binary.NativeEndian.PutUint32(b[unix.SizeofPtr+4:], uint32(typ))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

// extErr lays out a struct sock_extended_err, and the offender's
// sockaddr_in after it when from is valid.
func extErr(errno uint32, origin, typ, code uint8, info, data uint32, from netip.Addr) []byte {
	b := make([]byte, 16, 32)
	binary.NativeEndian.PutUint32(b, errno)
	b[4], b[5], b[6] = origin, typ, code
	binary.NativeEndian.PutUint32(b[8:], info)
	binary.NativeEndian.PutUint32(b[12:], data)
	if from.IsValid() {
		sa := make([]byte, 16)
		binary.NativeEndian.PutUint16(sa, unix.AF_INET)
		a := from.As4()
		copy(sa[4:], a[:])
		b = append(b, sa...)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func TestCmsgLayout(t *testing.T) {
	// The fields read one by one are where the kernel's struct has them.
	var h unix.Cmsghdr
	if cmsgHdrLen != unix.CmsgLen(0) || int(unsafe.Offsetof(h.Level)) != unix.SizeofPtr || int(unsafe.Offsetof(h.Type)) != unix.SizeofPtr+4 {
		t.Fatalf("cmsghdr: %d bytes, level at %d, type at %d", cmsgHdrLen, unsafe.Offsetof(h.Level), unsafe.Offsetof(h.Type))
	}
	for l := range 40 {
		if cmsgAlign(cmsgHdrLen+l) != unix.CmsgSpace(l) {
			t.Errorf("cmsgAlign(%d) = %d, want %d", cmsgHdrLen+l, cmsgAlign(cmsgHdrLen+l), unix.CmsgSpace(l))
		}
	}
	// What putCmsgU32 writes, cmsgData reads back.
	b := make([]byte, unix.CmsgSpace(4))
	if n := putCmsgU32(b, unix.SOL_SOCKET, scmTsOptID, 77); n != len(b) || !bytes.Equal(b, cmsg(unix.SOL_SOCKET, scmTsOptID, u32(77))) {
		t.Fatalf("putCmsgU32: %d bytes %x", n, b)
	}
}

func TestCmsgData(t *testing.T) {
	stamp := make([]byte, 48) // three timespecs
	stamp[0] = 1
	ee := extErr(0, unix.SO_EE_ORIGIN_TIMESTAMPING, 0, 0, unix.SCM_TSTAMP_SND, 7, netip.Addr{})
	ttl := cmsg(unix.SOL_IP, unix.IP_TTL, u32(62)) // 4 bytes of data: padded
	oob := bytes.Join([][]byte{ttl, cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPING, stamp), cmsg(unix.SOL_IP, unix.IP_RECVERR, ee)}, nil)
	for _, c := range []struct {
		name       string
		oob        []byte
		level, typ int32
		want       []byte
	}{
		{"first", oob, unix.SOL_IP, unix.IP_TTL, u32(62)},
		{"after a padded one", oob, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, stamp},
		{"last", oob, unix.SOL_IP, unix.IP_RECVERR, ee},
		{"absent", oob, unix.SOL_IP, unix.IP_TOS, nil},
		{"same type, other level", oob, unix.SOL_PACKET, unix.IP_TTL, nil},
		{"empty data", cmsg(unix.SOL_IP, unix.IP_TTL, nil), unix.SOL_IP, unix.IP_TTL, []byte{}},
		{"nothing", nil, unix.SOL_IP, unix.IP_TTL, nil},
		{"short header", ttl[:cmsgHdrLen-1], unix.SOL_IP, unix.IP_TTL, nil},
		{"length past the end", ttl[:unix.CmsgLen(4)-1], unix.SOL_IP, unix.IP_TTL, nil},
		{"next one cut off", oob[:len(ttl)+cmsgHdrLen+8], unix.SOL_SOCKET, unix.SO_TIMESTAMPING, nil},
		{"length below the header", func() []byte {
			b := bytes.Clone(oob)
			b[0] = byte(cmsgHdrLen - 1)
			return b
		}(), unix.SOL_SOCKET, unix.SO_TIMESTAMPING, nil},
		{"huge length", func() []byte {
			b := bytes.Clone(oob)
			for i := range unix.SizeofPtr {
				b[i] = 0xff
			}
			return b
		}(), unix.SOL_IP, unix.IP_TTL, nil},
	} {
		got := cmsgData(c.oob, c.level, c.typ)
		if !bytes.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%s: %x, want %x", c.name, got, c.want)
		}
	}
}

func TestParseExtendedErr(t *testing.T) {
	router := netip.MustParseAddr("198.18.2.1")
	for _, c := range []struct {
		name string
		b    []byte
		ok   bool
		want extendedErr
	}{
		{"tagged transmit stamp", extErr(uint32(unix.ENOMSG), unix.SO_EE_ORIGIN_TIMESTAMPING, 0, 0, unix.SCM_TSTAMP_SND, 1234, netip.Addr{}), true,
			extendedErr{errno: uint32(unix.ENOMSG), origin: unix.SO_EE_ORIGIN_TIMESTAMPING, info: unix.SCM_TSTAMP_SND, data: 1234}},
		{"ICMP admin-prohibited", extErr(uint32(unix.EHOSTUNREACH), unix.SO_EE_ORIGIN_ICMP, 3, 13, 0, 0, router), true,
			extendedErr{errno: uint32(unix.EHOSTUNREACH), origin: unix.SO_EE_ORIGIN_ICMP, typ: 3, code: 13, offender: router}},
		{"no offender", extErr(uint32(unix.ECONNREFUSED), unix.SO_EE_ORIGIN_ICMP, 3, 3, 0, 0, netip.Addr{}), true,
			extendedErr{errno: uint32(unix.ECONNREFUSED), origin: unix.SO_EE_ORIGIN_ICMP, typ: 3, code: 3}},
		{"offender not AF_INET", func() []byte {
			b := extErr(uint32(unix.EHOSTUNREACH), unix.SO_EE_ORIGIN_ICMP, 3, 1, 0, 0, router)
			binary.NativeEndian.PutUint16(b[16:], unix.AF_UNSPEC)
			return b
		}(), true, extendedErr{errno: uint32(unix.EHOSTUNREACH), origin: unix.SO_EE_ORIGIN_ICMP, typ: 3, code: 1}},
		{"offender cut short", extErr(0, unix.SO_EE_ORIGIN_ICMP, 11, 0, 0, 0, router)[:23], true,
			extendedErr{origin: unix.SO_EE_ORIGIN_ICMP, typ: 11}},
		{"too short", extErr(0, unix.SO_EE_ORIGIN_ICMP, 3, 3, 0, 0, netip.Addr{})[:15], false, extendedErr{}},
		{"nil", nil, false, extendedErr{}},
	} {
		got, ok := parseExtendedErr(c.b)
		if ok != c.ok || got != c.want {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// FuzzCmsgData: any bytes, any level and type: no panic, and what comes
// back fits in oob after one header.
func FuzzCmsgData(f *testing.F) {
	f.Add(cmsg(unix.SOL_IP, unix.IP_TTL, u32(64)), int32(unix.SOL_IP), int32(unix.IP_TTL))
	f.Add(append(cmsg(unix.SOL_IP, unix.IP_TTL, u32(64)), cmsg(unix.SOL_IP, unix.IP_RECVERR, extErr(0, 2, 3, 3, 0, 0, netip.MustParseAddr("192.0.2.1")))...),
		int32(unix.SOL_IP), int32(unix.IP_RECVERR))
	f.Add(bytes.Repeat([]byte{0xff}, 40), int32(-1), int32(-1)) // a length of 2^64-1
	f.Add(make([]byte, 40), int32(0), int32(0))                 // a length of 0
	f.Fuzz(func(t *testing.T, oob []byte, level, typ int32) {
		d := cmsgData(oob, level, typ)
		if d != nil && len(d) > len(oob)-cmsgHdrLen {
			t.Fatalf("%d bytes of data in a block of %d", len(d), len(oob))
		}
		parseExtendedErr(d)
	})
}
