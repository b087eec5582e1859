//go:build linux

package probe

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connectOnce connects a non-blocking socket with IP_RECVERR and
// IP_RECVTTL set, waits (in the runtime's poller) until the handshake
// completes, fails, or an ICMP error is queued, and reads what the kernel
// knows: SO_ERROR, the queued ICMP error, TCP_MAXSEG.
func connectOnce(ctx context.Context, dst netip.AddrPort, timeout time.Duration) connectOutcome {
	if err := ctx.Err(); err != nil {
		return connectOutcome{err: err}
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return connectOutcome{err: os.NewSyscallError("socket", err), immediate: true}
	}
	// Best effort: without them, the reasons are connect()'s errnos.
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
	start := time.Now()
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().Unmap().As4()})
	if err != nil && err != unix.EINPROGRESS {
		// The kernel refused at once (no route, say); on loopback the
		// whole handshake, RST included, can also happen inside connect().
		o := connectOutcome{err: err, immediate: err != unix.ECONNREFUSED, rtt: time.Since(start)}
		o.icmp = readICMPError(fd, start)
		unix.Close(fd)
		return o
	}
	f := os.NewFile(uintptr(fd), "connect "+dst.String())
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return connectOutcome{err: err}
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
	var o connectOutcome
	werr := rc.Write(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if n, err := unix.Poll(p, 0); err != nil || n == 0 {
			return false
		}
		if p[0].Revents&unix.POLLERR != 0 && o.icmp == nil {
			o.icmp = readICMPError(int(fd), start)
		}
		soErr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			o.err = os.NewSyscallError("getsockopt", err)
		case soErr != 0:
			o.err = syscall.Errno(soErr)
		case p[0].Revents&unix.POLLOUT != 0:
			if mss, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG); err == nil && mss > 0 && mss < 1<<16 {
				o.mss, o.hasMSS = uint16(mss), true
			}
		default:
			// An ICMP error the kernel does not abort the connect for:
			// a SYN-ACK may still come, and would outrank it.
			return false
		}
		return true
	})
	o.rtt = time.Since(start)
	mu.Lock()
	over = true
	mu.Unlock()
	if werr != nil {
		o.err = werr
		if ctx.Err() != nil {
			o.err = ctx.Err()
		}
		if o.icmp == nil {
			rc.Control(func(fd uintptr) { o.icmp = readICMPError(int(fd), start) })
		}
	}
	return o
}

// readICMPError drains fd's error queue and returns the first ICMP error
// on it, or nil.
func readICMPError(fd int, start time.Time) *connectICMP {
	var found *connectICMP
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
		found = parseErrQueue(oob[:oobn])
		if found != nil {
			found.rtt = time.Since(start)
		}
	}
	return found
}

// parseErrQueue reads the control messages of one error-queue message:
// IP_RECVERR's sock_extended_err with the offender's sockaddr_in after
// it, and IP_TTL. It returns nil unless the error came from ICMP.
func parseErrQueue(oob []byte) *connectICMP {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var e *connectICMP
	var ttl int
	hasTTL := false
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_IP {
			continue
		}
		switch m.Header.Type {
		case unix.IP_RECVERR:
			// struct sock_extended_err: errno u32, origin u8, type u8,
			// code u8, pad u8, info u32, data u32; then the offender.
			if len(m.Data) < 16 || m.Data[4] != unix.SO_EE_ORIGIN_ICMP {
				continue
			}
			e = &connectICMP{typ: m.Data[5], code: m.Data[6]}
			if len(m.Data) >= 16+8 && binary.NativeEndian.Uint16(m.Data[16:]) == unix.AF_INET {
				e.from = netip.AddrFrom4([4]byte(m.Data[20:24]))
			}
		case unix.IP_TTL:
			if len(m.Data) >= 4 {
				ttl, hasTTL = int(int32(binary.NativeEndian.Uint32(m.Data))), true
			}
		}
	}
	if e != nil && hasTTL && ttl > 0 && ttl < 256 {
		e.ttl, e.hasTTL = uint8(ttl), true
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

// kernelQueuesICMP reports whether this kernel queues the ICMP errors of a
// connect in progress on an IP_RECVERR socket: Linux 5.8 and later.
func kernelQueuesICMP() bool { return queuesICMP() }

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
