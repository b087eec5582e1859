// Package raw moves IPv4 and IPv6 packets through Linux raw sockets: hand-built
// packets out (IP_HDRINCL, in batches), TCP and ICMP replies in (through a
// classic BPF filter, in batches), with kernel timestamps on both sides and
// a route lookup for the source address. For a process without raw
// sockets, Connect is the kernel's own TCP handshake, with what the kernel
// tells of it (errno, the ICMP error it queued, the MSS). It knows nothing
// of probes: it moves bytes and timestamps, and reports what the kernel
// said.
package raw

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrPermission: the process may not open raw sockets (it lacks
	// CAP_NET_RAW). errors.Is matches it, and the errors that are it,
	// with os.ErrPermission too.
	ErrPermission error = &permissionError{}
	// ErrNotSupported: raw sockets are not supported on this system.
	ErrNotSupported = errors.New("raw sockets are not supported on this system")
	// ErrNoRoute: the kernel has no route to the destination.
	ErrNoRoute = errors.New("no route to destination")
	// ErrFirewall: the local firewall refused to send the packet (EPERM).
	ErrFirewall = errors.New("the local firewall refused the packet (sendmsg: operation not permitted)")
)

// permissionError is ErrPermission, and with err, the system's refusal
// that made it so.
type permissionError struct{ err error }

func (e *permissionError) Error() string {
	if e.err == nil {
		return "raw sockets need CAP_NET_RAW"
	}
	return "raw sockets need CAP_NET_RAW: " + e.err.Error()
}

func (e *permissionError) Is(target error) bool {
	return target == ErrPermission || target == os.ErrPermission
}

func (e *permissionError) Unwrap() error { return e.err }

// DefaultPortLo and DefaultPortHi bound the source ports when a Config
// gives none: Linux's own ephemeral range (net.ipv4.ip_local_port_range).
const DefaultPortLo, DefaultPortHi uint16 = 32768, 61000

// Outgoing is one packet to send: Buf holds the whole IPv4 or IPv6
// packet, header included; Dst is where the kernel routes it, and its
// family picks the socket (an IPv6 Dst goes through the IPV6_HDRINCL
// socket, also with TxPacket; a link-local one takes its zone, or
// Config.Interface, as its scope). ID tags the packet's
// transmit stamp: ReadTxTimestamps returns it with the time, so the caller
// can tell which packet left when without a copy of it (see TxStamp).
type Outgoing struct {
	Buf []byte
	Dst netip.Addr
	ID  uint32
}

// Incoming is one received packet. The caller owns Buf (its capacity is
// what may be read); N bytes of it are the whole packet as it arrived,
// IPv4 or IPv6 (by its version nibble), header included: an IPv6 one with
// its true hop limit, traffic class and flow label.
type Incoming struct {
	Buf    []byte
	N      int
	Time   time.Time // kernel receive time, or user time when !Kernel
	Kernel bool
}

// TxStamp is the time a sent packet left. With HasID, ID is the packet's
// Outgoing.ID: the kernel tagged the stamp with it (Linux 6.13 and later,
// SCM_TS_OPT_ID) or the stamp is a user-space time recorded at send.
// Without, the stamp comes with a copy of the start of its packet, by which
// the caller matches it: HasID is false and Buf[:N] holds the IP header
// and the TCP header up to its flags, at least (craft.SegmentStart reads
// them; the tap keeps 64 bytes: an IPv4 start with up to 12 bytes of
// options needs 48, an IPv6 one craft.SegmentStartLen6, 54; give Buf a
// capacity of 64). The packet tap's stamps come so, and so do error-queue stamps
// on kernels before 6.13. The tap sees every matching SYN the host sends,
// another program's too: the caller keeps only its own.
type TxStamp struct {
	Buf    []byte
	N      int
	ID     uint32
	HasID  bool
	Time   time.Time
	Kernel bool
}

// Route is what the kernel would use to reach a destination, of either
// family; a link-local IPv6 Gateway carries its interface as its zone.
type Route struct {
	Src     netip.Addr
	Ifindex int
	Ifname  string
	Gateway netip.Addr // invalid when the destination is on-link
}

// Config configures Listen. A nil *Config means defaults.
type Config struct {
	// PortLo..PortHi is synprobe's source-port range: the receive filter
	// passes only TCP segments to these ports. Zero means
	// DefaultPortLo..DefaultPortHi.
	PortLo, PortHi uint16
	// Source fixes the source address; otherwise Route chooses it.
	Source netip.Addr
	// Interface fixes the outgoing interface (SO_BINDTODEVICE).
	Interface string
	// NoTimestamps turns off kernel timestamps (user time is used).
	NoTimestamps bool
	// Tx selects how WriteBatch puts packets on the wire; the zero value
	// is TxRaw. TxPacket writes Ethernet frames through an AF_PACKET
	// socket, past the kernel's routing, neighbour and queueing code, and
	// so also past netfilter: the local OUTPUT and POSTROUTING chains
	// (iptables, nftables) never see those packets, and neither filter
	// nor NAT nor connection tracking applies to them. A packet the fast
	// path cannot take (no usable neighbour entry for its next hop, an
	// interface that is not Ethernet, a local or broadcast destination)
	// still goes through the raw socket, so the kernel resolves and
	// filters it as it would with TxRaw.
	Tx TxPath
	// Writers is how many goroutines may be in WriteBatch at once without
	// waiting for one another (default 1): each has its own batch buffers
	// and, with TxPacket, its own route and neighbour caches.
	Writers int
}

// TxPath is a transmit path for WriteBatch.
type TxPath uint8

const (
	// TxRaw sends every packet through an IP_HDRINCL raw socket: the
	// kernel routes it, resolves the next hop's MAC (ARP), runs the
	// netfilter OUTPUT and POSTROUTING hooks and the interface's queueing
	// discipline. The default: nothing the local firewall forbids leaves.
	TxRaw TxPath = iota
	// TxPacket sends to next hops the kernel has already resolved as
	// Ethernet frames through an AF_PACKET socket (which bypasses the
	// queueing discipline, PACKET_QDISC_BYPASS, only where the kernel
	// gives no packet tap for the transmit stamps), with routes and
	// neighbours looked up over netlink and cached; everything else goes
	// through the raw socket as with TxRaw. Faster per packet, at the cost
	// of bypassing netfilter (see Config.Tx).
	TxPacket
)

// String is the name --tx takes.
func (t TxPath) String() string {
	switch t {
	case TxRaw:
		return "raw"
	case TxPacket:
		return "packet"
	}
	return fmt.Sprintf("TxPath(%d)", uint8(t))
}

// ParseTxPath parses a transmit path name: "raw" or "packet".
func ParseTxPath(s string) (TxPath, error) {
	switch s {
	case "raw":
		return TxRaw, nil
	case "packet":
		return TxPacket, nil
	}
	return 0, fmt.Errorf("transmit path %q: want raw or packet", s)
}

// TxStats counts the packets WriteBatch has sent, by the path they took,
// and the transmit stamps the kernel could not keep.
type TxStats struct {
	Raw    uint64 // through the IP_HDRINCL raw socket
	Packet uint64 // as Ethernet frames through the AF_PACKET socket
	// StampsLost counts packets sent without a stamp because the packet
	// tap's ring was full: ReadTxTimestamps was not called often enough
	// for the rate.
	StampsLost uint64
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.PortLo == 0 && out.PortHi == 0 {
		out.PortLo, out.PortHi = DefaultPortLo, DefaultPortHi
	}
	return out
}
