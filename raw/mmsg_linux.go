//go:build linux

package raw

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr from <sys/socket.h>.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// mmsg holds everything one sendmmsg or recvmmsg call needs, allocated
// once: headers, I/O vectors, addresses and control buffers. The call
// itself runs through a func value made once too, so a batch of packets
// costs no allocation at all (x/net's batch calls build these per call).
type mmsg struct {
	hdrs  [batchMax]mmsghdr
	iovs  [batchMax]unix.Iovec
	addrs [batchMax]unix.RawSockaddrInet4
	// addrs6 are the IPv6 destinations, allocated only for the IPv6
	// send socket's state.
	addrs6 *[batchMax]unix.RawSockaddrInet6
	oob    [batchMax][128]byte
	// lls are the link-layer addresses of AF_PACKET sends, allocated
	// only for the packet socket's state.
	lls *[batchMax]unix.RawSockaddrLinklayer

	start, count int
	flags        int
	send         bool
	n            int
	errno        syscall.Errno
	// wait retries through the poller on EAGAIN; now never waits.
	wait, now func(fd uintptr) bool
	// ctl is do for RawConn.Control, which unlike RawConn.Write takes
	// no lock on the descriptor: writers on one socket send at once.
	ctl func(fd uintptr)
}

func newMmsg(send bool) *mmsg {
	m := &mmsg{send: send}
	m.wait = m.do
	m.now = func(fd uintptr) bool { m.do(fd); return true }
	m.ctl = func(fd uintptr) { m.do(fd) }
	for i := range m.hdrs {
		m.hdrs[i].hdr.Iov = &m.iovs[i]
		m.hdrs[i].hdr.Iovlen = 1
	}
	return m
}

// do is the func given to syscall.RawConn: it reports false on EAGAIN so
// that the runtime poller waits for the socket (and honours deadlines).
func (m *mmsg) do(fd uintptr) bool {
	trap := uintptr(unix.SYS_RECVMMSG)
	if m.send {
		trap = unix.SYS_SENDMMSG
	}
	r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&m.hdrs[m.start])), uintptr(m.count), uintptr(m.flags), 0, 0)
	m.n, m.errno = int(r), e
	return e != unix.EAGAIN
}

// sendNow sends messages [from, to) through rc without blocking: a full
// socket buffer is ENOBUFS or EAGAIN for the caller's back-off. It goes
// through rc.Control, not rc.Write: the sockets it sends on are outside the
// runtime poller, so Write would only add its per-descriptor write lock,
// which let one sendmmsg at a time into the kernel and made a second
// sending goroutine worthless.
func (m *mmsg) sendNow(rc syscall.RawConn, from, to int) (int, error) {
	m.start, m.count, m.flags = from, to-from, unix.MSG_DONTWAIT
	m.n, m.errno = 0, 0
	if err := rc.Control(m.ctl); err != nil {
		return 0, err
	}
	if m.errno != 0 {
		return 0, m.errno
	}
	return m.n, nil
}

// setSend points message i at packet b for dst, without control
// messages.
func (m *mmsg) setSend(i int, b []byte, dst [4]byte) {
	m.iovs[i].Base = &b[0]
	m.iovs[i].SetLen(len(b))
	m.addrs[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst}
	h := &m.hdrs[i].hdr
	h.Name = (*byte)(unsafe.Pointer(&m.addrs[i]))
	h.Namelen = unix.SizeofSockaddrInet4
	h.Control = nil
	h.SetControllen(0)
}

// setSend6 points message i at IPv6 packet b for dst (sockaddr_in6, port
// 0 as an IPV6_HDRINCL socket takes it; a link-local dst's zone, an
// interface index, is its scope ID). m must have addrs6.
func (m *mmsg) setSend6(i int, b []byte, dst netip.Addr, scope uint32) {
	m.iovs[i].Base = &b[0]
	m.iovs[i].SetLen(len(b))
	m.addrs6[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16(), Scope_id: scope}
	h := &m.hdrs[i].hdr
	h.Name = (*byte)(unsafe.Pointer(&m.addrs6[i]))
	h.Namelen = unix.SizeofSockaddrInet6
	h.Control = nil
	h.SetControllen(0)
}

// setTag gives message i, already set up for sending, the ID its transmit
// stamp carries (SCM_TS_OPT_ID).
func (m *mmsg) setTag(i int, id uint32) {
	h := &m.hdrs[i].hdr
	h.Control = &m.oob[i][0]
	h.SetControllen(putCmsgU32(m.oob[i][:], unix.SOL_SOCKET, scmTsOptID, id))
}

// setSendLL points message i at Ethernet frame b for interface ifindex.
// The frame carries its own header; the address only names the interface
// and the protocol the kernel records for the frame (IPv4).
func (m *mmsg) setSendLL(i int, b []byte, ifindex int) {
	m.iovs[i].Base = &b[0]
	m.iovs[i].SetLen(len(b))
	m.lls[i] = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(unix.ETH_P_IP), Ifindex: int32(ifindex)}
	h := &m.hdrs[i].hdr
	h.Name = (*byte)(unsafe.Pointer(&m.lls[i]))
	h.Namelen = unix.SizeofSockaddrLinklayer
	h.Control = nil
	h.SetControllen(0)
}

// htons puts v in network byte order, as sockaddr_ll.sll_protocol holds it.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// setRecv points message i at buffer b, with room for control messages.
func (m *mmsg) setRecv(i int, b []byte) {
	m.iovs[i].Base = &b[0]
	m.iovs[i].SetLen(len(b))
	h := &m.hdrs[i].hdr
	h.Control = &m.oob[i][0]
	h.SetControllen(len(m.oob[i]))
	h.Flags = 0
	m.hdrs[i].n = 0
}

// control is the control-message block received with message i.
func (m *mmsg) control(i int) []byte { return m.oob[i][:m.hdrs[i].hdr.Controllen] }
