//go:build linux

package raw

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// IPv6. Sending is as IPv4's: an AF_INET6 raw socket of protocol
// IPPROTO_RAW with IPV6_HDRINCL takes whole hand-built packets, batched
// through sendmmsg. Receiving is not: an AF_INET6 raw socket hands over
// only what follows the IPv6 header, and what the engine must see (the
// hop limit, traffic class, flow label, the addresses) would have to be
// pieced back together from control messages. So IPv6 comes in through a
// packet socket (AF_PACKET, SOCK_DGRAM, ETH_P_IPV6), which gives each
// packet whole from its IPv6 header on, as it arrived, behind a classic
// BPF filter that passes only what synprobe wants: TCP to its source ports
// and ICMPv6 errors, arriving (not sent) on any interface (or
// Config.Interface). A TCP segment behind extension headers is not
// passed.

// ipv6HdrIncl is IPV6_HDRINCL (Linux 4.5): the IPv6 header comes with the
// data. A socket of protocol IPPROTO_RAW has it on already; it is set
// anyway, so that a kernel that would not is found out at Listen.
const ipv6HdrIncl = unix.IPV6_HDRINCL

// openIPv6 opens the IPv6 send and receive sockets. Where the kernel has
// no IPv6 (EAFNOSUPPORT) it opens none and IPv6 sends fail with
// ErrNotSupported.
func (c *Conn) openIPv6() error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if errors.Is(err, unix.EAFNOSUPPORT) {
		return nil
	}
	if err != nil {
		err = os.NewSyscallError("socket AF_INET6 SOCK_RAW IPPROTO_RAW", err)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return &permissionError{err}
		}
		return err
	}
	c.send6 = os.NewFile(uintptr(fd), "raw-send6")
	if c.send6RC, err = c.send6.SyscallConn(); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, ipv6HdrIncl, 1); err != nil {
		return os.NewSyscallError("setsockopt IPV6_HDRINCL", err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<20)
	}
	if c.cfg.Interface != "" {
		if err := unix.BindToDevice(fd, c.cfg.Interface); err != nil {
			return os.NewSyscallError("setsockopt SO_BINDTODEVICE "+c.cfg.Interface, err)
		}
	}

	// Protocol 0 until the filter is on: nothing unfiltered is queued.
	rfd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		err = os.NewSyscallError("socket AF_PACKET", err)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return &permissionError{err}
		}
		return err
	}
	c.rx6 = os.NewFile(uintptr(rfd), "raw-recv6")
	if c.rx6RC, err = c.rx6.SyscallConn(); err != nil {
		return err
	}
	if err := attachFilter(rfd, rx6Filter(c.cfg.PortLo, c.cfg.PortHi)); err != nil {
		return err
	}
	if unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) != nil {
		unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_RCVBUF, 32<<20)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6)}
	if c.cfg.Interface != "" {
		ifi, err := net.InterfaceByName(c.cfg.Interface)
		if err != nil {
			return fmt.Errorf("raw: interface %s: %w", c.cfg.Interface, err)
		}
		sa.Ifindex = ifi.Index
	}
	if err := unix.Bind(rfd, sa); err != nil {
		return os.NewSyscallError("bind AF_PACKET", err)
	}
	return nil
}

// attachFilter puts a classic BPF program on socket fd.
func attachFilter(fd int, prog []bpf.RawInstruction) error {
	f := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		f[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	return nil
}

// rx6Snap is the most of a packet the IPv6 filter passes: any packet of a
// 64 KiB MTU, whole.
const rx6Snap = 0x40000

// rx6Filter passes arriving IPv6 packets (not the host's own, which a
// packet socket sees too) whose next header is TCP with a destination
// port in [lo, hi], or ICMPv6 with an error type: destination unreachable
// (1), packet too big (2), time exceeded (3), parameter problem (4). A
// SOCK_DGRAM packet socket's filter sees the packet from the IPv6 header
// on.
func rx6Filter(lo, hi uint16) []bpf.RawInstruction {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},                                       // 0
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 11},        // 1
		bpf.LoadAbsolute{Off: 6, Size: 1},                                         // 2: next header
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_TCP, SkipTrue: 4},    // 3
		bpf.LoadAbsolute{Off: 40 + 2, Size: 2},                                    // 4: TCP destination port
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: uint32(lo), SkipTrue: 7},          // 5
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(hi), SkipTrue: 6},       // 6
		bpf.RetConstant{Val: rx6Snap},                                             // 7
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_ICMPV6, SkipTrue: 4}, // 8
		bpf.LoadAbsolute{Off: 40, Size: 1},                                        // 9: ICMPv6 type
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 4, SkipTrue: 2},                // 10
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},                      // 11
		bpf.RetConstant{Val: rx6Snap},                                             // 12
		bpf.RetConstant{Val: 0},                                                   // 13
	})
	if err != nil {
		panic(err) // the program is constant: a failure is a bug here
	}
	return prog
}

// openWait makes the epoll set ReadBatch waits on: every receiving
// socket, level-triggered, in one descriptor that is itself in the
// runtime's poller.
func (c *Conn) openWait() error {
	efd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	add := func(fd int) error {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(efd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
		return nil
	}
	rcs := []func(func(fd int) error) error{sockCtl(c.tcp), sockCtl(c.icmp)}
	if c.rx6 != nil {
		rcs = append(rcs, func(f func(fd int) error) error { return control(c.rx6RC, f) })
	}
	for _, ctl := range rcs {
		if err := ctl(add); err != nil {
			unix.Close(efd)
			return err
		}
	}
	// Non-blocking before os.NewFile, which then puts it in the poller.
	if err := unix.SetNonblock(efd, true); err != nil {
		unix.Close(efd)
		return os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	c.wait = os.NewFile(uintptr(efd), "raw-wait")
	c.waitRC, err = c.wait.SyscallConn()
	return err
}

// scope is the scope ID of a send to dst: its zone's interface index, or
// for a link-local dst without one, Config.Interface's.
func (c *Conn) scope(dst netip.Addr) uint32 {
	name := dst.Zone()
	if name == "" && dst.IsLinkLocalUnicast() {
		name = c.cfg.Interface
	}
	if name == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(name); err == nil {
		return uint32(ifi.Index)
	}
	if n, err := strconv.Atoi(name); err == nil {
		return uint32(n)
	}
	return 0
}
