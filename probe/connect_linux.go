//go:build linux

package probe

import (
	"net"

	"golang.org/x/sys/unix"
)

func tcpMaxSeg(c net.Conn) (uint16, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var mss int
	var serr error
	rc.Control(func(fd uintptr) { mss, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) })
	return uint16(mss), serr == nil && mss > 0
}
