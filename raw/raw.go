// Package raw moves IPv4 packets through Linux raw sockets: hand-built
// packets out (IP_HDRINCL, in batches), TCP and ICMP replies in (through a
// classic BPF filter, in batches), with kernel timestamps on both sides and
// a route lookup for the source address. It knows nothing of probes: it
// moves bytes and timestamps.
package raw

import (
	"errors"
	"net/netip"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrPermission: the process may not open raw sockets.
	ErrPermission = errors.New("raw sockets need CAP_NET_RAW: run as root, or give the binary the capability with: sudo setcap cap_net_raw,cap_net_admin+ep $(command -v synprobe)")
	// ErrNotSupported: raw sockets are not supported on this system.
	ErrNotSupported = errors.New("raw sockets are not supported on this system")
	// ErrNoRoute: the kernel has no route to the destination.
	ErrNoRoute = errors.New("no route to destination")
	// ErrFirewall: the local firewall refused to send the packet (EPERM).
	ErrFirewall = errors.New("the local firewall refused the packet (sendmsg: operation not permitted)")
	// ErrTooManyFailures: many sends in a row failed; the run should stop.
	ErrTooManyFailures = errors.New("too many consecutive send failures")
)

// Outgoing is one packet to send: Buf holds the whole IPv4 packet, header
// included; Dst is where the kernel routes it.
type Outgoing struct {
	Buf []byte
	Dst netip.Addr
}

// Incoming is one received packet. The caller owns Buf (its capacity is
// what may be read); N bytes of it are the IPv4 packet, header included.
type Incoming struct {
	Buf    []byte
	N      int
	Time   time.Time // kernel receive time, or user time when !Kernel
	Kernel bool
}

// TxStamp is the time a sent packet left: Buf[:N] is a copy of the start
// of that packet (the IPv4 header and at least 8 bytes after it), by which
// the caller matches it.
type TxStamp struct {
	Buf    []byte
	N      int
	Time   time.Time
	Kernel bool
}

// Route is what the kernel would use to reach a destination.
type Route struct {
	Src     netip.Addr
	Ifindex int
	Ifname  string
	Gateway netip.Addr // invalid when the destination is on-link
}

// Config configures Listen. A nil *Config means defaults.
type Config struct {
	// PortLo..PortHi is synprobe's source-port range: the receive filter
	// passes only TCP segments to these ports. Zero means 32768..61000.
	PortLo, PortHi uint16
	// Source fixes the source address; otherwise Route chooses it.
	Source netip.Addr
	// Interface fixes the outgoing interface (SO_BINDTODEVICE).
	Interface string
	// NoTimestamps turns off kernel timestamps (user time is used).
	NoTimestamps bool
	// MaxConsecutiveFailures stops a run after this many failed sends in
	// a row (default 1000).
	MaxConsecutiveFailures int
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.PortLo == 0 && out.PortHi == 0 {
		out.PortLo, out.PortHi = 32768, 61000
	}
	if out.MaxConsecutiveFailures == 0 {
		out.MaxConsecutiveFailures = 1000
	}
	return out
}
