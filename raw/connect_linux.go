//go:build linux

package raw

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Connect connects once to dst, from the calling thread's network
// namespace, and reports what the kernel knows of how it went. The socket
// is non-blocking, with IP_RECVERR and IP_RECVTTL set: Connect waits in the
// runtime's poller until the handshake completes, fails, or an ICMP error
// is queued, and reads SO_ERROR, the queued ICMP error and TCP_MAXSEG. It
// gives up at timeout, or when ctx ends; nothing is sent once ctx has
// ended. IPv6 alike, with IPV6_RECVERR and IPV6_RECVHOPLIMIT: an ICMPv6
// error's type and code, and its hop limit as the TTL.
func Connect(ctx context.Context, dst netip.AddrPort, timeout time.Duration) ConnectOutcome {
	o := connect(ctx, dst, timeout)
	o.Err = classify(o.Err)
	return o
}

func connect(ctx context.Context, dst netip.AddrPort, timeout time.Duration) ConnectOutcome {
	if err := ctx.Err(); err != nil {
		return ConnectOutcome{Err: err}
	}
	addr := dst.Addr().Unmap()
	var family int
	var sa unix.Sockaddr
	switch {
	case addr.Is4():
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: addr.As4()}
	case addr.Zone() != "":
		return ConnectOutcome{Err: fmt.Errorf("raw: connect to %v: zones are not supported", dst), Immediate: true}
	default:
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(dst.Port()), Addr: addr.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ConnectOutcome{Err: os.NewSyscallError("socket", err), Immediate: true}
	}
	// Best effort: without them, the errnos are all there is.
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
	} else {
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
	}
	start := time.Now()
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS {
		// The kernel refused at once (no route, say); on loopback the
		// whole handshake, RST included, can also happen inside connect().
		o := ConnectOutcome{Err: os.NewSyscallError("connect", err), Immediate: err != unix.ECONNREFUSED, RTT: time.Since(start)}
		o.ICMP = readICMPError(fd, start)
		unix.Close(fd)
		return o
	}
	f := os.NewFile(uintptr(fd), "connect "+dst.String())
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return ConnectOutcome{Err: err}
	}
	f.SetWriteDeadline(start.Add(timeout))
	var mu sync.Mutex // the deadline is not moved after the wait is over
	over := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !over {
			f.SetWriteDeadline(time.Unix(1, 0))
		}
	})
	defer stop()
	var o ConnectOutcome
	werr := rc.Write(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if n, err := unix.Poll(p, 0); err != nil || n == 0 {
			return false
		}
		if p[0].Revents&unix.POLLERR != 0 && o.ICMP == nil {
			o.ICMP = readICMPError(int(fd), start)
		}
		soErr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			o.Err = os.NewSyscallError("getsockopt SO_ERROR", err)
		case soErr != 0:
			o.Err = os.NewSyscallError("connect", syscall.Errno(soErr))
		case p[0].Revents&unix.POLLOUT != 0:
			if mss, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG); err == nil && mss > 0 && mss < 1<<16 {
				o.MSS, o.HasMSS = uint16(mss), true
			}
		default:
			// An ICMP error the kernel does not abort the connect for:
			// a SYN-ACK may still come, and would outrank it.
			return false
		}
		return true
	})
	o.RTT = time.Since(start)
	mu.Lock()
	over = true
	mu.Unlock()
	if werr != nil {
		o.Err = werr
		if ctx.Err() != nil {
			o.Err = ctx.Err()
		}
		if o.ICMP == nil {
			rc.Control(func(fd uintptr) { o.ICMP = readICMPError(int(fd), start) })
		}
	}
	return o
}

// readICMPError drains fd's error queue and returns the first ICMP error
// on it, or nil.
func readICMPError(fd int, start time.Time) *ConnectICMP {
	var found *ConnectICMP
	var data [64]byte
	var oob [256]byte
	for range 16 { // bounded: one entry per SYN sent, at most
		_, oobn, _, _, err := unix.Recvmsg(fd, data[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			break
		}
		if found != nil {
			continue
		}
		found = icmpError(oob[:oobn])
		if found != nil {
			found.RTT = time.Since(start)
		}
	}
	return found
}

// icmpError reads the control messages of one error-queue message: the
// sock_extended_err of IP_RECVERR (IPV6_RECVERR), with the offender's
// address, and IP_TTL (IPV6_HOPLIMIT). It returns nil unless the error
// came from ICMP or ICMPv6.
func icmpError(oob []byte) *ConnectICMP {
	errLevel, errType, ttlLevel, ttlType, origin := int32(unix.SOL_IP), int32(unix.IP_RECVERR), int32(unix.SOL_IP), int32(unix.IP_TTL), uint8(unix.SO_EE_ORIGIN_ICMP)
	if cmsgData(oob, unix.SOL_IPV6, unix.IPV6_RECVERR) != nil {
		errLevel, errType, ttlLevel, ttlType, origin = unix.SOL_IPV6, unix.IPV6_RECVERR, unix.SOL_IPV6, unix.IPV6_HOPLIMIT, unix.SO_EE_ORIGIN_ICMP6
	}
	ee, ok := parseExtendedErr(cmsgData(oob, errLevel, errType))
	if !ok || ee.origin != origin {
		return nil
	}
	e := &ConnectICMP{Type: ee.typ, Code: ee.code, From: ee.offender}
	if d := cmsgData(oob, ttlLevel, ttlType); len(d) >= 4 {
		if ttl := int32(binary.NativeEndian.Uint32(d)); ttl > 0 && ttl < 256 {
			e.TTL, e.HasTTL = uint8(ttl), true
		}
	}
	return e
}

var queuesICMP = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 8)
})

// KernelQueuesConnectICMP reports whether this kernel queues the ICMP
// errors of a connect in progress on an IP_RECVERR socket (Linux 5.8 and
// later), so that a connect refused with no ICMP error queued was refused
// by a RST.
func KernelQueuesConnectICMP() bool { return queuesICMP() }

// kernelAtLeast compares a kernel release such as "6.1.0-18-amd64" with
// major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	f := strings.FieldsFunc(release, func(r rune) bool { return r < '0' || r > '9' })
	if len(f) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(f[0])
	mi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
