//go:build linux

package raw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Conn is a set of raw sockets opened in the network namespace of the
// thread that called Listen: one IP_HDRINCL socket to send (with software
// transmit timestamps on its error queue), one raw TCP and one raw ICMP
// socket to receive, each behind a BPF filter, and a netlink handle for
// route lookups; with TxPacket also an AF_PACKET socket to send Ethernet
// frames (see packet_linux.go). After Listen it may be used from any
// goroutine: WriteBatch from several at once (it locks per batch),
// ReadBatch and ReadTxTimestamps each from one at a time.
type Conn struct {
	cfg Config

	send   *net.IPConn
	sendRC syscall.RawConn
	tcp    *net.IPConn
	tcpRC  syscall.RawConn
	icmp   *net.IPConn
	icmpRC syscall.RawConn
	nl     *netlink.Handle
	pk     *packetTx // the fast path; nil with TxRaw

	kernelTx bool // SO_TIMESTAMPING is on: tx stamps come from the kernel
	kernelRx bool // SO_TIMESTAMPNS is on

	wm     *mmsg // sendmmsg state, used under wmu
	rm     *mmsg // recvmmsg state for TCP
	im, em *mmsg // ICMP and error-queue receive state
	ebuf   []byte

	// userTx holds user-space transmit times when the kernel gives none.
	wmu       sync.Mutex // WriteBatch may be called from several goroutines
	userTx    []TxStamp
	userTxLen int
	failures  int
	path      [batchMax]uint8 // the path each packet of the batch takes
	stats     TxStats

	errPacketFirst bool // ReadTxTimestamps alternates between error queues
}

const batchMax = 256

// Listen opens every socket synprobe needs, in the calling thread's network
// namespace.
func Listen(c *Config) (*Conn, error) {
	cfg := c.withDefaults()
	if cfg.PortLo > cfg.PortHi {
		return nil, fmt.Errorf("raw: source port range %d-%d is inverted", cfg.PortLo, cfg.PortHi)
	}
	if cfg.Tx != TxRaw && cfg.Tx != TxPacket {
		return nil, fmt.Errorf("raw: unknown transmit path %v", cfg.Tx)
	}
	conn := &Conn{cfg: cfg}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	var err error
	if conn.send, err = listenIP("ip4:255"); err != nil {
		return nil, err
	}
	if conn.tcp, err = listenIP("ip4:tcp"); err != nil {
		return nil, err
	}
	if conn.icmp, err = listenIP("ip4:icmp"); err != nil {
		return nil, err
	}
	if conn.tcpRC, err = conn.tcp.SyscallConn(); err != nil {
		return nil, err
	}
	if conn.sendRC, err = conn.send.SyscallConn(); err != nil {
		return nil, err
	}
	if conn.icmpRC, err = conn.icmp.SyscallConn(); err != nil {
		return nil, err
	}
	if err := ipv4.NewPacketConn(conn.tcp).SetBPF(tcpFilter(cfg.PortLo, cfg.PortHi)); err != nil {
		return nil, os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	if err := ipv4.NewPacketConn(conn.icmp).SetBPF(icmpFilter()); err != nil {
		return nil, os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	// Replies to a fast scan arrive in bursts: ask for big buffers. Root
	// may exceed net.core.rmem_max (SO_RCVBUFFORCE); others get what the
	// limit allows.
	for _, ic := range []*net.IPConn{conn.tcp, conn.icmp, conn.send} {
		if setsock(ic, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) }) != nil {
			ic.SetReadBuffer(32 << 20)
		}
		if setsock(ic, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20) }) != nil {
			ic.SetWriteBuffer(8 << 20)
		}
	}
	if cfg.Interface != "" {
		for _, ic := range []*net.IPConn{conn.send, conn.tcp, conn.icmp} {
			if err := setsock(ic, func(fd int) error { return unix.BindToDevice(fd, cfg.Interface) }); err != nil {
				return nil, os.NewSyscallError("setsockopt SO_BINDTODEVICE "+cfg.Interface, err)
			}
		}
	}
	if !cfg.NoTimestamps {
		flags := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE
		conn.kernelTx = setsock(conn.send, func(fd int) error {
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags)
		}) == nil
		rxOK := true
		for _, ic := range []*net.IPConn{conn.tcp, conn.icmp} {
			rxOK = rxOK && setsock(ic, func(fd int) error {
				return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			}) == nil
		}
		conn.kernelRx = rxOK
	}
	if conn.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("raw: netlink: %w", err)
	}
	if cfg.Tx == TxPacket {
		if conn.pk, err = openPacketTx(&cfg, conn.nl); err != nil {
			return nil, err
		}
		if conn.kernelTx {
			// Stamps from one socket and user times for the other
			// would not compare: both from the kernel, or neither.
			flags := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE
			if conn.pk.setTimestamping(flags) != nil {
				conn.kernelTx = false
				setsock(conn.send, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, 0) })
			}
		}
	}
	conn.wm, conn.rm, conn.im, conn.em = newMmsg(true), newMmsg(false), newMmsg(false), newMmsg(false)
	conn.ebuf = make([]byte, 256)
	conn.userTx = make([]TxStamp, 4096)
	for i := range conn.userTx {
		conn.userTx[i].Buf = make([]byte, 64)
	}
	ok = true
	return conn, nil
}

func listenIP(network string) (*net.IPConn, error) {
	c, err := net.ListenPacket(network, "0.0.0.0")
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, ErrPermission
		}
		return nil, fmt.Errorf("raw: open %s socket: %w", network, err)
	}
	return c.(*net.IPConn), nil
}

func setsock(c *net.IPConn, f func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// tcpFilter passes TCP segments whose destination port is in [lo, hi].
// A raw socket's filter sees the packet from the IPv4 header on.
func tcpFilter(lo, hi uint16) []bpf.RawInstruction {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadMemShift{Off: 0},          // X = IHL*4
		bpf.LoadIndirect{Off: 2, Size: 2}, // A = TCP destination port
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: uint32(lo), SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(hi), SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err) // the program is constant: a failure is a bug here
	}
	return prog
}

// icmpFilter passes ICMP destination-unreachable and time-exceeded.
func icmpFilter() []bpf.RawInstruction {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadMemShift{Off: 0},
		bpf.LoadIndirect{Off: 0, Size: 1}, // A = ICMP type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 3, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 11, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err)
	}
	return prog
}

// WriteBatch sends pkts (at most 256 per call are taken) and returns how
// many were sent: the first n, in order. ENOBUFS is retried with a short
// back-off; a destination without a route fails that packet with
// ErrNoRoute (the caller may skip it and go on); EPERM is ErrFirewall;
// after MaxConsecutiveFailures failed sends in a row, ErrTooManyFailures.
//
// With TxPacket each packet takes the packet path when its next hop is
// resolved, else the raw path; consecutive packets on the same path go out
// in one sendmmsg. A packet the AF_PACKET socket refuses for any reason
// but a full buffer (interface down or gone, frame too big) is sent again
// through the raw socket, so errors are the kernel's, as with TxRaw.
func (c *Conn) WriteBatch(pkts []Outgoing) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(pkts) > batchMax {
		pkts = pkts[:batchMax]
	}
	var clock int64
	if c.pk != nil {
		clock = c.pk.clock()
	}
	for i, p := range pkts {
		if c.pk != nil && c.pk.stage(i, p, clock) {
			c.path[i] = pathPacket
			continue
		}
		c.path[i] = pathRaw
		c.wm.setSend(i, p.Buf, p.Dst.As4())
	}
	sent := 0
	backoff := 50 * time.Microsecond
	for sent < len(pkts) {
		path, end := c.path[sent], sent+1
		for end < len(pkts) && c.path[end] == path {
			end++
		}
		now := time.Now()
		var n int
		var err error
		if path == pathPacket {
			n, err = c.pk.sendmmsg(sent, end)
		} else {
			n, err = c.sendmmsg(sent, end)
		}
		if n > 0 {
			c.failures = 0
			if path == pathPacket {
				c.stats.Packet += uint64(n)
			} else {
				c.stats.Raw += uint64(n)
			}
			if !c.kernelTx {
				for _, p := range pkts[sent : sent+n] {
					c.recordUserTx(p.Buf, now)
				}
			}
			sent += n
			continue
		}
		if err == nil {
			continue
		}
		if path == pathPacket && !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
			// What the fast path knew is out of date: read it all
			// again, and let the kernel send (or refuse) this one.
			c.pk.invalidate()
			c.path[sent] = pathRaw
			c.wm.setSend(sent, pkts[sent].Buf, pkts[sent].Dst.As4())
			continue
		}
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			// One target's failure, reported for that target: it does
			// not count towards stopping the run.
			return sent, fmt.Errorf("raw: send to %v: %w", pkts[sent].Dst, ErrNoRoute)
		}
		c.failures++
		if c.failures >= c.cfg.MaxConsecutiveFailures {
			return sent, fmt.Errorf("%w (%d); last: %v", ErrTooManyFailures, c.failures, err)
		}
		switch {
		case errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN):
			time.Sleep(backoff)
			backoff = min(2*backoff, 10*time.Millisecond)
			continue
		case errors.Is(err, unix.EPERM):
			return sent, fmt.Errorf("raw: send to %v: %w", pkts[sent].Dst, ErrFirewall)
		}
		return sent, os.NewSyscallError("sendmmsg", err)
	}
	return sent, nil
}

// Stats returns how many packets WriteBatch has sent through each path.
func (c *Conn) Stats() TxStats {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.stats
}

// sendmmsg sends messages [from, to) of c.wm without blocking.
func (c *Conn) sendmmsg(from, to int) (int, error) { return c.wm.sendNow(c.sendRC, from, to) }

// recvmmsg receives up to count messages into c.rm, waiting through the
// runtime poller (so deadlines apply) unless c.rm.flags says not to.
func (c *Conn) recvmmsg(count int) (int, error) {
	m := c.rm
	m.start, m.count, m.n, m.errno = 0, count, 0, 0
	var err error
	if m.flags&unix.MSG_DONTWAIT != 0 {
		err = c.tcpRC.Read(m.now)
	} else {
		m.flags = unix.MSG_DONTWAIT
		err = c.tcpRC.Read(m.wait)
	}
	if err != nil {
		return 0, err
	}
	if m.errno == unix.EAGAIN {
		return 0, nil
	}
	if m.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", m.errno)
	}
	return m.n, nil
}

func (c *Conn) recordUserTx(pkt []byte, t time.Time) {
	if c.userTxLen == len(c.userTx) {
		return // the caller is not reading stamps; drop the oldest news
	}
	s := &c.userTx[c.userTxLen]
	s.N = copy(s.Buf, pkt)
	s.Time, s.Kernel = t, false
	c.userTxLen++
}

// SetReadDeadline bounds ReadBatch.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tcp.SetReadDeadline(t) }

// ReadBatch fills msgs with received packets: ICMP errors waiting first,
// then TCP segments, blocking until at least one arrives or the read
// deadline passes (an error for which os.IsTimeout is true).
func (c *Conn) ReadBatch(msgs []Incoming) (int, error) {
	n := 0
	for n < len(msgs) {
		got, err := c.readICMP(&msgs[n])
		if err != nil || !got {
			break
		}
		n++
	}
	if n == len(msgs) {
		return n, nil
	}
	rest := msgs[n:]
	if len(rest) > batchMax {
		rest = rest[:batchMax]
	}
	for i := range rest {
		c.rm.setRecv(i, rest[i].Buf[:cap(rest[i].Buf)])
	}
	if n > 0 {
		// ICMP already gives the caller something to do: do not wait.
		c.rm.flags = unix.MSG_DONTWAIT
	} else {
		c.rm.flags = 0
	}
	k, err := c.recvmmsg(len(rest))
	for i := 0; i < k; i++ {
		rest[i].N = int(c.rm.hdrs[i].n)
		rest[i].Time, rest[i].Kernel = c.rxTime(c.rm.control(i))
	}
	n += k
	if n > 0 {
		return n, nil
	}
	return 0, err
}

func (c *Conn) readICMP(m *Incoming) (bool, error) {
	im := c.im
	im.setRecv(0, m.Buf[:cap(m.Buf)])
	im.start, im.count, im.flags, im.n, im.errno = 0, 1, unix.MSG_DONTWAIT, 0, 0
	if err := c.icmpRC.Read(im.now); err != nil {
		return false, err
	}
	switch {
	case im.errno == unix.EAGAIN || (im.errno == 0 && im.n == 0):
		return false, nil
	case im.errno != 0:
		return false, os.NewSyscallError("recvmmsg", im.errno)
	}
	m.N = int(im.hdrs[0].n)
	m.Time, m.Kernel = c.rxTime(im.control(0))
	return true, nil
}

// rxTime reads SCM_TIMESTAMPNS from a control message block, or falls back
// to the time now.
func (c *Conn) rxTime(oob []byte) (time.Time, bool) {
	if c.kernelRx {
		if d := cmsgData(oob, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS); len(d) >= 16 {
			return tsTime(d), true
		}
	}
	return time.Now(), false
}

// ReadTxTimestamps returns the transmit times waiting on the send sockets'
// error queues (kernel software timestamps, each with a copy of the start
// of its packet), or the user-space times recorded at send when the kernel
// gives none. It never blocks.
func (c *Conn) ReadTxTimestamps(out []TxStamp) (int, error) {
	if !c.kernelTx {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		n := 0
		for n < len(out) && n < c.userTxLen {
			out[n].N = copy(out[n].Buf[:cap(out[n].Buf)], c.userTx[n].Buf[:c.userTx[n].N])
			out[n].Time, out[n].Kernel = c.userTx[n].Time, false
			n++
		}
		copy(c.userTx, c.userTx[n:c.userTxLen])
		c.userTxLen -= n
		return n, nil
	}
	if c.pk == nil {
		return c.readErrQueue(c.sendRC, out)
	}
	// Both sockets' queues, the first one alternating, so that neither
	// waits behind the other when out is too small for both.
	first, second := c.sendRC, c.pk.rc
	if c.errPacketFirst {
		first, second = second, first
	}
	c.errPacketFirst = !c.errPacketFirst
	n, err := c.readErrQueue(first, out)
	if err != nil {
		return n, err
	}
	m, err := c.readErrQueue(second, out[n:])
	return n + m, err
}

// readErrQueue reads transmit stamps from the error queue of rc's socket.
// The packet socket's stamps carry the whole frame, Ethernet header
// included, which ipStart skips.
func (c *Conn) readErrQueue(rc syscall.RawConn, out []TxStamp) (int, error) {
	n := 0
	em := c.em
	for n < len(out) {
		// One stamp at a time, into the fixed errqueue buffer: each
		// comes with a copy of its packet, trimmed to what matters.
		em.setRecv(0, c.ebuf)
		em.start, em.count, em.flags, em.n, em.errno = 0, 1, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT, 0, 0
		if err := rc.Read(em.now); err != nil {
			return n, err
		}
		switch {
		case em.errno == unix.EAGAIN || (em.errno == 0 && em.n == 0):
			return n, nil
		case em.errno != 0:
			return n, os.NewSyscallError("recvmmsg MSG_ERRQUEUE", em.errno)
		}
		d := cmsgData(em.control(0), unix.SOL_SOCKET, unix.SO_TIMESTAMPING)
		if len(d) < 16 {
			continue
		}
		pkt := ipStart(c.ebuf[:em.hdrs[0].n])
		if pkt == nil {
			continue
		}
		out[n].N = copy(out[n].Buf[:cap(out[n].Buf)], pkt)
		out[n].Time, out[n].Kernel = tsTime(d), true
		n++
	}
	return n, nil
}

// ipStart finds the IPv4 header in a looped-back transmitted frame: the
// kernel returns it with its link-layer header (14 bytes of Ethernet on
// veth and loopback, none on tun). Ethernet is tried first: a MAC address
// can begin with a byte that looks like an IPv4 version and IHL.
func ipStart(b []byte) []byte {
	if len(b) >= 34 && b[12] == 0x08 && b[13] == 0x00 && b[14]>>4 == 4 && b[14]&0xf >= 5 {
		return b[14:]
	}
	if len(b) >= 20 && b[0]>>4 == 4 && b[0]&0xf >= 5 {
		return b
	}
	return nil
}

// cmsgData returns the data of the first control message of level and typ.
func cmsgData(oob []byte, level, typ int32) []byte {
	const hdr = int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return nil
		}
		if h.Level == level && h.Type == typ {
			return oob[hdr:l]
		}
		next := cmsgAlign(l)
		if next >= len(oob) {
			return nil
		}
		oob = oob[next:]
	}
	return nil
}

func cmsgAlign(l int) int { return (l + 7) &^ 7 }

func tsTime(d []byte) time.Time {
	sec := int64(binary.NativeEndian.Uint64(d[0:]))
	nsec := int64(binary.NativeEndian.Uint64(d[8:]))
	return time.Unix(sec, nsec)
}

// Route asks the kernel which source address and interface it would use
// to reach dst; a configured Source or Interface takes precedence.
func (c *Conn) Route(dst netip.Addr) (Route, error) {
	if !dst.Is4() {
		return Route{}, fmt.Errorf("raw: route to %v: only IPv4", dst)
	}
	rs, err := c.nl.RouteGet(dst.AsSlice())
	if err != nil || len(rs) == 0 {
		if err == nil || errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			return Route{}, fmt.Errorf("raw: %v: %w", dst, ErrNoRoute)
		}
		return Route{}, fmt.Errorf("raw: route to %v: %w", dst, err)
	}
	r := rs[0]
	out := Route{Ifindex: r.LinkIndex}
	if a, ok := netip.AddrFromSlice(r.Src); ok {
		out.Src = a.Unmap()
	}
	if a, ok := netip.AddrFromSlice(r.Gw); ok {
		out.Gateway = a.Unmap()
	}
	if l, err := c.nl.LinkByIndex(r.LinkIndex); err == nil {
		out.Ifname = l.Attrs().Name
	}
	if c.cfg.Source.IsValid() {
		out.Src = c.cfg.Source
	}
	if c.cfg.Interface != "" {
		out.Ifname = c.cfg.Interface
	}
	return out, nil
}

// KernelTimestamps reports whether transmit and receive times come from
// the kernel.
func (c *Conn) KernelTimestamps() (tx, rx bool) { return c.kernelTx, c.kernelRx }

// Close closes every socket.
func (c *Conn) Close() error {
	var errs []error
	for _, ic := range []*net.IPConn{c.send, c.tcp, c.icmp} {
		if ic != nil {
			errs = append(errs, ic.Close())
		}
	}
	if c.pk != nil {
		errs = append(errs, c.pk.close())
	}
	if c.nl != nil {
		c.nl.Close()
	}
	return errors.Join(errs...)
}
