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
// route lookups. After Listen it may be used from any goroutine: WriteBatch
// from several at once (it locks per batch), ReadBatch and ReadTxTimestamps
// each from one at a time.
type Conn struct {
	cfg Config

	send   *net.IPConn
	sendP  *ipv4.PacketConn
	sendRC syscall.RawConn
	tcp    *net.IPConn
	tcpP   *ipv4.PacketConn
	icmp   *net.IPConn
	icmpRC syscall.RawConn
	nl     *netlink.Handle

	kernelTx bool // SO_TIMESTAMPING is on: tx stamps come from the kernel
	kernelRx bool // SO_TIMESTAMPNS is on

	wmsgs  []ipv4.Message
	waddrs []net.IPAddr
	wips   [][4]byte
	rmsgs  []ipv4.Message
	roob   [][]byte
	eoob   []byte
	ebuf   []byte

	// userTx holds user-space transmit times when the kernel gives none.
	wmu       sync.Mutex // WriteBatch may be called from several goroutines
	userTx    []TxStamp
	userTxLen int
	failures  int
}

const batchMax = 256

// Listen opens every socket synprobe needs, in the calling thread's network
// namespace.
func Listen(c *Config) (*Conn, error) {
	cfg := c.withDefaults()
	if cfg.PortLo > cfg.PortHi {
		return nil, fmt.Errorf("raw: source port range %d-%d is inverted", cfg.PortLo, cfg.PortHi)
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
	conn.sendP = ipv4.NewPacketConn(conn.send)
	conn.tcpP = ipv4.NewPacketConn(conn.tcp)
	if conn.sendRC, err = conn.send.SyscallConn(); err != nil {
		return nil, err
	}
	if conn.icmpRC, err = conn.icmp.SyscallConn(); err != nil {
		return nil, err
	}
	if err := conn.tcpP.SetBPF(tcpFilter(cfg.PortLo, cfg.PortHi)); err != nil {
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
	conn.wmsgs = make([]ipv4.Message, batchMax)
	conn.waddrs = make([]net.IPAddr, batchMax)
	conn.wips = make([][4]byte, batchMax)
	conn.rmsgs = make([]ipv4.Message, batchMax)
	conn.roob = make([][]byte, batchMax)
	for i := range conn.rmsgs {
		conn.roob[i] = make([]byte, 128)
		conn.rmsgs[i].Buffers = make([][]byte, 1)
	}
	conn.eoob = make([]byte, 512)
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
// many were sent. ENOBUFS is retried with a short back-off; a destination
// without a route fails that packet with ErrNoRoute (the caller may skip
// it and go on); EPERM is ErrFirewall; after MaxConsecutiveFailures failed
// sends in a row, ErrTooManyFailures.
func (c *Conn) WriteBatch(pkts []Outgoing) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(pkts) > batchMax {
		pkts = pkts[:batchMax]
	}
	ms := c.wmsgs[:len(pkts)]
	for i, p := range pkts {
		c.wips[i] = p.Dst.As4()
		c.waddrs[i].IP = c.wips[i][:]
		if ms[i].Buffers == nil {
			ms[i].Buffers = make([][]byte, 1)
		}
		ms[i].Buffers[0] = p.Buf
		ms[i].Addr = &c.waddrs[i]
	}
	sent := 0
	backoff := 50 * time.Microsecond
	for sent < len(ms) {
		now := time.Now()
		n, err := c.sendP.WriteBatch(ms[sent:], 0)
		if n > 0 {
			c.failures = 0
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
		case errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH):
			return sent, fmt.Errorf("raw: send to %v: %w", pkts[sent].Dst, ErrNoRoute)
		}
		return sent, os.NewSyscallError("sendmmsg", err)
	}
	return sent, nil
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
	rm := c.rmsgs[:len(rest)]
	for i := range rm {
		rm[i].Buffers[0] = rest[i].Buf[:cap(rest[i].Buf)]
		rm[i].OOB = c.roob[i]
	}
	if n > 0 {
		// ICMP already gives the caller something to do: do not wait.
		c.tcp.SetReadDeadline(time.Now())
		defer c.tcp.SetReadDeadline(time.Time{})
	}
	k, err := c.tcpP.ReadBatch(rm, 0)
	for i := 0; i < k; i++ {
		rest[i].N = rm[i].N
		rest[i].Time, rest[i].Kernel = c.rxTime(rm[i].OOB[:rm[i].NN])
	}
	n += k
	if n > 0 {
		return n, nil
	}
	return 0, err
}

func (c *Conn) readICMP(m *Incoming) (bool, error) {
	var n, oobn int
	var rerr error
	buf := m.Buf[:cap(m.Buf)]
	err := c.icmpRC.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, c.eoob, unix.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return false, err
	}
	if rerr != nil {
		if errors.Is(rerr, unix.EAGAIN) {
			return false, nil
		}
		return false, os.NewSyscallError("recvmsg", rerr)
	}
	m.N = n
	m.Time, m.Kernel = c.rxTime(c.eoob[:oobn])
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

// ReadTxTimestamps returns the transmit times waiting on the send socket's
// error queue (kernel software timestamps, each with a copy of the start of
// its packet), or the user-space times recorded at send when the kernel
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
	n := 0
	for n < len(out) {
		var k, oobn int
		var rerr error
		err := c.sendRC.Read(func(fd uintptr) bool {
			k, oobn, _, _, rerr = unix.Recvmsg(int(fd), c.ebuf, c.eoob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			return true
		})
		if err != nil {
			return n, err
		}
		if rerr != nil {
			if errors.Is(rerr, unix.EAGAIN) {
				return n, nil
			}
			return n, os.NewSyscallError("recvmsg MSG_ERRQUEUE", rerr)
		}
		d := cmsgData(c.eoob[:oobn], unix.SOL_SOCKET, unix.SO_TIMESTAMPING)
		if len(d) < 16 {
			continue
		}
		pkt := ipStart(c.ebuf[:k])
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
	if c.nl != nil {
		c.nl.Close()
	}
	return errors.Join(errs...)
}
