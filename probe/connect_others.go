//go:build !linux

package probe

import "net"

func tcpMaxSeg(net.Conn) (uint16, bool) { return 0, false }
