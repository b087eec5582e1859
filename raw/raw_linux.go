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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Conn is a set of raw sockets opened in the network namespace of the
// thread that called Listen: one IP_HDRINCL socket to send, with TxPacket
// also an AF_PACKET socket to send Ethernet frames (see packet_linux.go),
// and a packet tap for their transmit stamps (see tap_linux.go; where the
// kernel gives no tap, software timestamps on their error queues, tagged
// with each packet's ID where the kernel can); one raw TCP and one raw
// ICMP socket to receive, each behind a BPF filter; and a netlink handle
// for route lookups. After Listen it may be used from any
// goroutine: WriteBatch from several at once (Config.Writers of them
// without waiting for one another), ReadBatch and ReadTxTimestamps each
// from one at a time.
type Conn struct {
	cfg Config

	send   *os.File // the IP_HDRINCL socket; out of the poller (see openSend)
	sendRC syscall.RawConn
	tcp    *net.IPConn
	tcpRC  syscall.RawConn
	icmp   *net.IPConn
	icmpRC syscall.RawConn
	nl     *netlink.Handle
	pk     *packetTx // the fast path; nil with TxRaw
	// send6 is the IPv6 send socket (AF_INET6, IPPROTO_RAW, with
	// IPV6_HDRINCL); rx6 receives IPv6 TCP and ICMPv6 errors whole
	// (see rx6_linux.go). Both are nil where the kernel has no IPv6.
	send6   *os.File
	send6RC syscall.RawConn
	rx6     *os.File
	rx6RC   syscall.RawConn
	// wait is an epoll set of the receiving sockets, in the runtime
	// poller: ReadBatch waits on it for any of them, so a packet of
	// either family wakes it (and SetReadDeadline applies to it).
	wait   *os.File
	waitRC syscall.RawConn
	// tap stamps what the send sockets send (see tap_linux.go); nil
	// when the kernel gives no tap, and their error queues stamp
	// instead.
	tap *txTap

	stamps   stampMode // how transmit times come back on error queues
	kernelRx bool      // SO_TIMESTAMPNS is on

	// writers holds the free writers: WriteBatch takes one for a call
	// and gives it back, so that each sendmmsg is built in buffers of its
	// own while the sockets are shared.
	writers chan *writer
	rm      *mmsg // recvmmsg state for TCP
	r6m     *mmsg // recvmmsg state for IPv6
	rb      readBatch
	im, em  *mmsg // ICMP and error-queue receive state
	// escratch takes the (empty) payload of a tagged stamp read into a
	// TxStamp without a buffer.
	escratch [64]byte

	// userTx holds user-space transmit times when the kernel gives none.
	umu       sync.Mutex
	userTx    []userStamp
	userTxLen int

	// sentRaw and sentPacket count the packets sent by each path.
	sentRaw, sentPacket atomic.Uint64

	errPacketFirst bool // ReadTxTimestamps alternates between error queues
}

const batchMax = 256

// fullWait is how long WriteBatch waits for room in a full socket buffer
// before it returns the kernel's error: about what 1000 tries with its
// back-off took.
const fullWait = 10 * time.Second

// writer is what one WriteBatch call builds its batch in: the sendmmsg
// state of the raw socket and, with TxPacket, the frames and the route
// and neighbour caches of the packet path over the shared AF_PACKET
// socket.
type writer struct {
	wm   *mmsg
	wm6  *mmsg // for the IPv6 socket
	pk   *packetTx
	path [batchMax]uint8 // the path each packet of the batch takes
}

// stampMode is how a Conn learns when its packets left.
type stampMode uint8

const (
	// stampUser: no kernel timestamps; the time before each sendmmsg,
	// recorded with each packet's ID.
	stampUser stampMode = iota
	// stampTagged: kernel software timestamps, each tagged with its
	// packet's Outgoing.ID (SOF_TIMESTAMPING_OPT_ID with a per-message
	// SCM_TS_OPT_ID, Linux 6.13) and without a copy of the packet
	// (OPT_TSONLY): the kernel clones nothing and copies nothing back.
	stampTagged
	// stampCopy: kernel software timestamps, each with a copy of its
	// packet, on kernels that cannot tag them.
	stampCopy
	// stampTap: kernel times from the packet tap, each with a copy of
	// the start of its packet (see tap_linux.go). It replaces the error
	// queues, whose mode Conn.stamps keeps: Conn.stamps is never
	// stampTap.
	stampTap
)

func (m stampMode) String() string {
	switch m {
	case stampUser:
		return "user"
	case stampTagged:
		return "tagged"
	case stampCopy:
		return "copy"
	case stampTap:
		return "tap"
	}
	return fmt.Sprintf("stampMode(%d)", uint8(m))
}

// scmTsOptID is SCM_TS_OPT_ID from <asm-generic/socket.h> (Linux 6.13):
// a control message that sets the ID of a packet's transmit stamps.
const scmTsOptID = 81

// msgProbe is MSG_PROBE from <linux/socket.h>: route and check, never send.
const msgProbe = 0x10

type userStamp struct {
	id uint32
	t  time.Time
}

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
	if conn.send, err = openSend(); err != nil {
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
	sendCtl := func(f func(fd int) error) error { return control(conn.sendRC, f) }
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
	for _, ctl := range []func(func(fd int) error) error{sendCtl, sockCtl(conn.tcp), sockCtl(conn.icmp)} {
		if ctl(func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) }) != nil {
			ctl(func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 32<<20) })
		}
		if ctl(func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20) }) != nil {
			ctl(func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<20) })
		}
		if cfg.Interface != "" {
			if err := ctl(func(fd int) error { return unix.BindToDevice(fd, cfg.Interface) }); err != nil {
				return nil, os.NewSyscallError("setsockopt SO_BINDTODEVICE "+cfg.Interface, err)
			}
		}
	}
	if err := conn.openIPv6(); err != nil {
		return nil, err
	}
	if conn.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("raw: netlink: %w", err)
	}
	if cfg.Tx == TxPacket {
		if conn.pk, err = openPacketTx(&cfg, conn.nl); err != nil {
			return nil, err
		}
	}
	if !cfg.NoTimestamps {
		conn.stamps = conn.enableTxStamps()
		rxOK := true
		for _, ic := range []*net.IPConn{conn.tcp, conn.icmp} {
			rxOK = rxOK && setsock(ic, func(fd int) error {
				return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			}) == nil
		}
		if conn.rx6 != nil {
			rxOK = rxOK && control(conn.rx6RC, func(fd int) error {
				return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			}) == nil
		}
		conn.kernelRx = rxOK
	}
	if err := conn.openWait(); err != nil {
		return nil, err
	}
	conn.rm, conn.im, conn.em, conn.r6m = newMmsg(false), newMmsg(false), newMmsg(false), newMmsg(false)
	conn.rb.fn = func(uintptr) bool {
		r := &conn.rb
		r.n, r.err = conn.readReady(r.msgs)
		return r.n > 0 || r.err != nil
	}
	nw := max(cfg.Writers, 1)
	conn.writers = make(chan *writer, nw)
	for i := range nw {
		w := &writer{wm: newMmsg(true), wm6: newMmsg(true), pk: conn.pk}
		w.wm6.addrs6 = new([batchMax]unix.RawSockaddrInet6)
		if conn.pk != nil && i > 0 {
			w.pk = conn.pk.clone()
		}
		conn.writers <- w
	}
	if conn.stamps == stampUser {
		conn.userTx = make([]userStamp, 4096)
	}
	ok = true
	return conn, nil
}

func listenIP(network string) (*net.IPConn, error) {
	c, err := net.ListenPacket(network, "0.0.0.0")
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, &permissionError{err}
		}
		return nil, fmt.Errorf("raw: open %s socket: %w", network, err)
	}
	return c.(*net.IPConn), nil
}

// openSend opens the IP_HDRINCL socket (IPPROTO_RAW implies IP_HDRINCL).
// Like the packet socket it stays in blocking mode, out of Go's poller,
// and every call on it passes MSG_DONTWAIT: in the poller's epoll set,
// every transmit stamp queued on its error queue woke the poller
// (sock_def_error_report), which took 11% of a scan's CPU time.
func openSend() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		err = os.NewSyscallError("socket SOCK_RAW IPPROTO_RAW", err)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, &permissionError{err}
		}
		return nil, err
	}
	return os.NewFile(uintptr(fd), "raw-send"), nil
}

// control runs f on rc's descriptor.
func control(rc syscall.RawConn, f func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// sockCtl is control for c's descriptor.
func sockCtl(c *net.IPConn) func(func(fd int) error) error {
	return func(f func(fd int) error) error { return setsock(c, f) }
}

func setsock(c *net.IPConn, f func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	return control(rc, f)
}

// enableTxStamps sets up kernel transmit stamps: software timestamps on
// the send sockets' error queues, tagged with each packet's ID where the
// kernel can, and then, where the kernel gives one, a packet tap in their
// place, which stamps what both sockets send (the packet socket's frames
// then go through the queueing layer: see packetTx.setBypass). It reports
// how error-queue stamps come back. Kernel stamps from one socket and user
// times from another would not compare: without error-queue stamps there
// is no tap either.
func (c *Conn) enableTxStamps() stampMode {
	copied := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE
	tagged := copied | unix.SOF_TIMESTAMPING_OPT_ID | unix.SOF_TIMESTAMPING_OPT_TSONLY
	mode, flags := stampTagged, tagged
	switch {
	case c.setTxStamping(tagged) == nil && c.takesOptID(scmTsOptID):
	case c.setTxStamping(copied) == nil:
		mode, flags = stampCopy, copied
	default:
		c.setTxStamping(0)
		return stampUser
	}
	t, err := openTap(c.cfg.Interface, c.cfg.PortLo, c.cfg.PortHi)
	if err != nil {
		return mode
	}
	c.tap = t
	if c.setTxStamping(0) != nil || (c.pk != nil && c.pk.setBypass(false) != nil) {
		c.closeTap()
		c.setTxStamping(flags)
	}
	return mode
}

// closeTap stops the tap: stamps come from the error queues again, once
// setTxStamping has turned them on, and the packet socket's frames skip
// the queueing layer again.
func (c *Conn) closeTap() {
	if c.tap == nil {
		return
	}
	c.tap.close()
	c.tap = nil
	if c.pk != nil {
		c.pk.setBypass(true)
	}
}

// setTxStamping sets SO_TIMESTAMPING to flags on every send socket.
func (c *Conn) setTxStamping(flags int) error {
	err := control(c.sendRC, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags) })
	if err == nil && c.send6 != nil {
		err = control(c.send6RC, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags) })
	}
	if err == nil && c.pk != nil {
		err = c.pk.setTimestamping(flags)
	}
	return err
}

// takesOptID reports whether the kernel accepts a control message of type
// typ (SCM_TS_OPT_ID) on the send socket. It asks with MSG_PROBE, which
// parses the control messages and routes, then stops without sending
// anything; a kernel before 6.13 refuses the unknown type with EINVAL.
func (c *Conn) takesOptID(typ int32) bool {
	var hdr [20]byte
	hdr[0], hdr[9] = 0x45, unix.IPPROTO_RAW
	copy(hdr[16:], []byte{127, 0, 0, 1})
	var oob [24]byte
	putCmsgU32(oob[:], unix.SOL_SOCKET, typ, 0)
	err := control(c.sendRC, func(fd int) error {
		return unix.Sendmsg(fd, hdr[:], oob[:], &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, msgProbe|unix.MSG_DONTWAIT)
	})
	return !errors.Is(err, unix.EINVAL)
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
// many were sent: the first n, in order. A full socket buffer (ENOBUFS,
// EAGAIN) is waited out with a short back-off, for up to fullWait; then
// its error ends the call. A destination without a route fails that
// packet with ErrNoRoute (the caller may skip it and go on); EPERM is
// ErrFirewall; any other error is the kernel's, wrapped. Whether failures
// end a run is the caller's to decide: WriteBatch counts none.
//
// With TxPacket each packet takes the packet path when its next hop is
// resolved, else the raw path; consecutive packets on the same path go out
// in one sendmmsg. A packet the AF_PACKET socket refuses for any reason
// but a full buffer (interface down or gone, frame too big) is sent again
// through the raw socket, so errors are the kernel's, as with TxRaw.
func (c *Conn) WriteBatch(pkts []Outgoing) (int, error) {
	w := <-c.writers
	defer func() { c.writers <- w }()
	if len(pkts) > batchMax {
		pkts = pkts[:batchMax]
	}
	var clock int64
	if w.pk != nil {
		clock = w.pk.clock()
	}
	// The tap stamps packets by their copies: no tags.
	tag := c.stamps == stampTagged && c.tap == nil
	for i, p := range pkts {
		if w.pk != nil && w.pk.stage(i, p, clock) {
			w.path[i] = pathPacket
			if tag {
				w.pk.pm.setTag(i, p.ID)
			}
			continue
		}
		if p.Dst.Is6() && !p.Dst.Is4In6() {
			w.path[i] = pathRaw6
			w.wm6.setSend6(i, p.Buf, p.Dst, c.scope(p.Dst))
			if tag {
				w.wm6.setTag(i, p.ID)
			}
			continue
		}
		w.path[i] = pathRaw
		w.wm.setSend(i, p.Buf, p.Dst.As4())
		if tag {
			w.wm.setTag(i, p.ID)
		}
	}
	sent := 0
	backoff := 50 * time.Microsecond
	var full time.Time // when the buffer was first found full, if it is
	for sent < len(pkts) {
		path, end := w.path[sent], sent+1
		for end < len(pkts) && w.path[end] == path {
			end++
		}
		now := time.Now()
		var n int
		var err error
		switch {
		case path == pathPacket:
			n, err = w.pk.sendmmsg(sent, end)
		case path == pathRaw6 && c.send6 == nil:
			return sent, fmt.Errorf("raw: send to %v: IPv6: %w", pkts[sent].Dst, ErrNotSupported)
		case path == pathRaw6:
			n, err = w.wm6.sendNow(c.send6RC, sent, end)
		default:
			n, err = w.wm.sendNow(c.sendRC, sent, end)
		}
		if n > 0 {
			full = time.Time{}
			if path == pathPacket {
				c.sentPacket.Add(uint64(n))
			} else {
				c.sentRaw.Add(uint64(n))
			}
			if c.stamps == stampUser {
				c.recordUserTx(pkts[sent:sent+n], now)
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
			w.pk.invalidate()
			w.path[sent] = pathRaw
			w.wm.setSend(sent, pkts[sent].Buf, pkts[sent].Dst.As4())
			if tag {
				w.wm.setTag(sent, pkts[sent].ID)
			}
			continue
		}
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			// One target's failure, reported for that target.
			return sent, fmt.Errorf("raw: send to %v: %w", pkts[sent].Dst, ErrNoRoute)
		}
		switch {
		case errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN):
			if full.IsZero() {
				full = now
			} else if now.Sub(full) >= fullWait {
				return sent, os.NewSyscallError("sendmmsg", err)
			}
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

// Stats returns how many packets WriteBatch has sent through each path,
// and how many stamps the tap has lost.
func (c *Conn) Stats() TxStats {
	st := TxStats{Raw: c.sentRaw.Load(), Packet: c.sentPacket.Load()}
	if c.tap != nil {
		st.StampsLost = c.tap.lost()
	}
	return st
}

// recordUserTx records t as the transmit time of pkts.
func (c *Conn) recordUserTx(pkts []Outgoing, t time.Time) {
	c.umu.Lock()
	defer c.umu.Unlock()
	for _, p := range pkts {
		if c.userTxLen == len(c.userTx) {
			return // the caller is not reading stamps; drop the newest news
		}
		c.userTx[c.userTxLen] = userStamp{p.ID, t}
		c.userTxLen++
	}
}

// SetReadDeadline bounds ReadBatch.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.wait.SetReadDeadline(t) }

// ReadBatch fills msgs with received packets, each whole, header
// included, IPv4 or IPv6: ICMP errors waiting first, then IPv6 TCP
// segments and ICMPv6 errors, then IPv4 TCP segments, blocking until at
// least one arrives or the read deadline passes (an error for which
// os.IsTimeout is true). It waits on every receiving socket at once.
func (c *Conn) ReadBatch(msgs []Incoming) (int, error) {
	r := &c.rb
	r.msgs, r.n, r.err = msgs, 0, nil
	err := c.waitRC.Read(r.fn)
	n, rerr := r.n, r.err
	r.msgs = nil
	if n > 0 {
		return n, nil
	}
	if rerr != nil {
		return 0, rerr
	}
	return 0, err
}

// readBatch is ReadBatch's state for the function it gives the poller,
// made once (a closure per call would allocate).
type readBatch struct {
	msgs []Incoming
	n    int
	err  error
	fn   func(uintptr) bool
}

// readReady reads what is waiting on every receiving socket into msgs,
// without blocking.
func (c *Conn) readReady(msgs []Incoming) (int, error) {
	n := 0
	for n < len(msgs) {
		got, err := c.readICMP(&msgs[n])
		if err != nil {
			return n, err
		}
		if !got {
			break
		}
		n++
	}
	if c.rx6 != nil && n < len(msgs) {
		k, err := c.recvNow(c.r6m, c.rx6RC, msgs[n:])
		if err != nil {
			return n, err
		}
		n += k
	}
	if n < len(msgs) {
		k, err := c.recvNow(c.rm, c.tcpRC, msgs[n:])
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// recvNow receives into msgs (at most batchMax) through m from rc's
// socket with one recvmmsg, without blocking.
func (c *Conn) recvNow(m *mmsg, rc syscall.RawConn, msgs []Incoming) (int, error) {
	if len(msgs) > batchMax {
		msgs = msgs[:batchMax]
	}
	for i := range msgs {
		m.setRecv(i, msgs[i].Buf[:cap(msgs[i].Buf)])
	}
	m.start, m.count, m.flags, m.n, m.errno = 0, len(msgs), unix.MSG_DONTWAIT, 0, 0
	if err := rc.Read(m.now); err != nil {
		return 0, err
	}
	switch {
	case m.errno == unix.EAGAIN:
		return 0, nil
	case m.errno != 0:
		return 0, os.NewSyscallError("recvmmsg", m.errno)
	}
	for i := 0; i < m.n; i++ {
		msgs[i].N = int(m.hdrs[i].n)
		msgs[i].Time, msgs[i].Kernel = c.rxTime(m.control(i))
	}
	return m.n, nil
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

// ReadTxTimestamps returns the transmit times waiting in the tap's ring
// (kernel times, each with a copy of the start of its packet) or, without
// a tap, on the send sockets' error queues (kernel software timestamps,
// each tagged with its packet's ID or, on kernels before 6.13, with a copy
// of the start of its packet), or the user-space times recorded at send
// when the kernel gives none. It never blocks.
func (c *Conn) ReadTxTimestamps(out []TxStamp) (int, error) {
	if c.stamps == stampUser {
		c.umu.Lock()
		defer c.umu.Unlock()
		n := 0
		for n < len(out) && n < c.userTxLen {
			u := c.userTx[n]
			out[n].N, out[n].ID, out[n].HasID = 0, u.id, true
			out[n].Time, out[n].Kernel = u.t, false
			n++
		}
		copy(c.userTx, c.userTx[n:c.userTxLen])
		c.userTxLen -= n
		return n, nil
	}
	if c.tap != nil {
		return c.tap.read(out), nil
	}
	if c.send6 != nil {
		// The IPv6 socket's queue first: it is the rarer, and so
		// never waits behind the other.
		n, err := c.readErrQueue(c.send6RC, out)
		if err != nil || n == len(out) {
			return n, err
		}
		m, err := c.readTxQueues(out[n:])
		return n + m, err
	}
	return c.readTxQueues(out)
}

// readTxQueues reads the IPv4 send sockets' error queues.
func (c *Conn) readTxQueues(out []TxStamp) (int, error) {
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

// readErrQueue reads transmit stamps from the error queue of rc's socket,
// up to 256 in one recvmmsg. A copied packet from the packet socket
// carries the whole frame, Ethernet header included, which ipStart skips.
func (c *Conn) readErrQueue(rc syscall.RawConn, out []TxStamp) (int, error) {
	n := 0
	em := c.em
	for n < len(out) {
		// Message i lands in out[n+i].Buf; a stamp that is kept moves
		// down to out[n] when one before it was not.
		first, k := n, min(len(out)-n, batchMax)
		for i := range k {
			b := out[first+i].Buf[:cap(out[first+i].Buf)]
			if len(b) == 0 {
				b = c.escratch[:]
			}
			em.setRecv(i, b)
		}
		em.start, em.count, em.flags, em.n, em.errno = 0, k, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT, 0, 0
		if err := rc.Read(em.now); err != nil {
			return n, err
		}
		switch {
		case em.errno == unix.EAGAIN || (em.errno == 0 && em.n == 0):
			return n, nil
		case em.errno != 0:
			return n, os.NewSyscallError("recvmmsg MSG_ERRQUEUE", em.errno)
		}
		got := em.n
		for i := range got {
			var payload []byte
			if b := out[first+i].Buf; cap(b) > 0 {
				payload = b[:min(int(em.hdrs[i].n), cap(b))]
			}
			if c.stampOf(em.control(i), payload, &out[n]) {
				n++
			}
		}
		if got < k {
			return n, nil
		}
	}
	return n, nil
}

// stampOf fills st from one error-queue message: its control messages oob
// and the packet copy it carried (payload, in a buffer of the caller's),
// and reports whether it was a transmit stamp.
func (c *Conn) stampOf(oob, payload []byte, st *TxStamp) bool {
	d := cmsgData(oob, unix.SOL_SOCKET, unix.SO_TIMESTAMPING)
	if len(d) < 16 {
		return false
	}
	if c.stamps == stampTagged {
		b := cmsgData(oob, unix.SOL_IP, unix.IP_RECVERR)
		if b == nil {
			b = cmsgData(oob, unix.SOL_IPV6, unix.IPV6_RECVERR)
		}
		if b == nil {
			b = cmsgData(oob, unix.SOL_PACKET, unix.PACKET_TX_TIMESTAMP)
		}
		// The stamp's kind is in info, its ID in data.
		ee, ok := parseExtendedErr(b)
		if !ok || ee.origin != unix.SO_EE_ORIGIN_TIMESTAMPING || ee.info != unix.SCM_TSTAMP_SND {
			return false
		}
		st.N, st.ID, st.HasID = 0, ee.data, true
	} else {
		pkt := ipStart(payload)
		if pkt == nil {
			return false
		}
		st.N, st.ID, st.HasID = copy(st.Buf[:cap(st.Buf)], pkt), 0, false
	}
	st.Time, st.Kernel = tsTime(d), true
	return true
}

// ipStart finds the IPv4 header in a looped-back transmitted frame: the
// kernel returns it with its link-layer header (14 bytes of Ethernet on
// veth and loopback, none on tun). Ethernet is tried first: a MAC address
// can begin with a byte that looks like an IPv4 version and IHL.
func ipStart(b []byte) []byte {
	if len(b) >= 34 && b[12] == 0x08 && b[13] == 0x00 && b[14]>>4 == 4 && b[14]&0xf >= 5 {
		return b[14:]
	}
	if len(b) >= 54 && b[12] == 0x86 && b[13] == 0xdd && b[14]>>4 == 6 {
		return b[14:]
	}
	if len(b) >= 40 && b[0]>>4 == 6 {
		return b
	}
	if len(b) >= 20 && b[0]>>4 == 4 && b[0]&0xf >= 5 {
		return b
	}
	return nil
}

func tsTime(d []byte) time.Time {
	sec := int64(binary.NativeEndian.Uint64(d[0:]))
	nsec := int64(binary.NativeEndian.Uint64(d[8:]))
	return time.Unix(sec, nsec)
}

// Route asks the kernel which source address and interface it would use
// to reach dst; a configured Source or Interface takes precedence.
func (c *Conn) Route(dst netip.Addr) (Route, error) {
	dst = dst.Unmap()
	var opt netlink.RouteGetOptions
	if z := dst.Zone(); z != "" {
		opt.Oif = z // a link-local destination's interface
	} else if dst.Is6() && dst.IsLinkLocalUnicast() && c.cfg.Interface != "" {
		opt.Oif = c.cfg.Interface
	}
	rs, err := c.nl.RouteGetWithOptions(dst.WithZone("").AsSlice(), &opt)
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
		if out.Gateway.IsLinkLocalUnicast() && out.Gateway.Is6() {
			if ifi, err := net.InterfaceByIndex(r.LinkIndex); err == nil {
				out.Gateway = out.Gateway.WithZone(ifi.Name)
			}
		}
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
func (c *Conn) KernelTimestamps() (tx, rx bool) { return c.stamps != stampUser, c.kernelRx }

// Close closes every socket.
func (c *Conn) Close() error {
	var errs []error
	for _, f := range []*os.File{c.send, c.send6, c.rx6, c.wait} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	for _, ic := range []*net.IPConn{c.tcp, c.icmp} {
		if ic != nil {
			errs = append(errs, ic.Close())
		}
	}
	if c.pk != nil {
		errs = append(errs, c.pk.close())
	}
	if c.tap != nil {
		// Not closeTap: a reader may be in ReadTxTimestamps, which reads
		// c.tap; the tap itself makes a read after close return nothing.
		c.tap.close()
	}
	if c.nl != nil {
		c.nl.Close()
	}
	return errors.Join(errs...)
}
