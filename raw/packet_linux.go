//go:build linux

package raw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The fast transmit path (Config.Tx == TxPacket). IP_HDRINCL costs a route
// lookup, a neighbour lookup, the netfilter hooks and the queueing
// discipline for every packet; a scan sends millions of packets to a
// handful of next hops. Here the route and the next hop's MAC are looked up
// once, over netlink, and cached; each packet is copied behind an Ethernet
// header into a preallocated frame and the batch goes out with one
// sendmmsg on an AF_PACKET socket that skips the qdisc.
//
// The caches are sized for a scan, not for its targets: routes are cached
// per prefix (the kernel's matching route, narrowed so that it contains no
// more specific route), neighbours per next hop, so a /16 behind a gateway
// is one route and one neighbour. Everything is re-read after cacheAge, so
// route, link and neighbour changes are noticed within a second.
//
// Whatever the cache cannot vouch for goes through the raw socket instead,
// where the kernel does what it always does: a next hop with no usable
// neighbour entry (the kernel then resolves it, and a later batch finds it
// in the table), an interface that is not Ethernet (tun, lo), a local,
// broadcast, multicast or multipath route, an oversized packet, a packet
// whose header the kernel would still have to fill in.

const (
	ethHeaderLen = 14
	// frameMax is an Ethernet header and a 1500-byte packet: probes are
	// far smaller, and a larger packet takes the raw path.
	frameMax = ethHeaderLen + 1500
	// cacheAge bounds how long a route, link or neighbour table read
	// is trusted.
	cacheAge = time.Second
	// missRetry is how soon a next hop missing from a neighbour table
	// just read is looked for again: the raw path's packet has made the
	// kernel resolve it, which takes a round trip. Until then its packets
	// go raw, and an on-link scan (every target its own next hop) reads
	// each table at most ten times a second.
	missRetry = 100 * time.Millisecond
	// Route lookups (two netlink round trips each) are limited to
	// lookupBudget per lookupWindow; past it, packets go raw. This bounds
	// the cost of destinations the cache cannot cover by prefix.
	lookupWindow = 100 * time.Millisecond
	lookupBudget = 32
	maxRoutes    = 16
	maxLinks     = 16
	// maxNeighbours bounds the neighbour cache; the kernel's own table
	// holds 1024 entries by default (gc_thresh3).
	maxNeighbours = 4096
	// maxRouteTable bounds the route prefixes read for narrowing. A host
	// with more (a full BGP table) sends everything through the raw
	// socket: narrowing would cost more than the fast path saves.
	maxRouteTable = 65536
)

// Transmit paths of the packets of a batch.
const (
	pathRaw uint8 = iota
	pathPacket
	pathRaw6 // the IPv6 raw socket
)

// Neighbour states whose MAC the kernel itself would use.
const usableNeigh = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE |
	netlink.NUD_PERMANENT | netlink.NUD_NOARP

// packetTx is the fast path's socket and caches. Each writer has its own
// (see clone), used by one WriteBatch at a time; the socket is shared.
type packetTx struct {
	file   *os.File
	rc     syscall.RawConn
	pm     *mmsg  // sendmmsg state for frames
	frames []byte // batchMax slots of frameMax bytes
	nl     *netlink.Handle
	oif    int // Config.Interface's index: route lookups as SO_BINDTODEVICE makes them
	age    time.Duration
	epoch  time.Time

	routes []routeEntry // at most maxRoutes
	last   int          // the route the previous packet took
	links  []linkEntry  // at most maxLinks
	neigh  map[uint64]neighEntry
	table  []prefix4 // every IPv4 route prefix, every table
	// tableUntil is when table must be read again; tableTooBig says it
	// had more than maxRouteTable routes.
	tableUntil  int64
	tableTooBig bool
	window      int64 // start of the current lookup window
	lookups     int   // route lookups in it
}

// routeEntry is a destination prefix and where its packets go. The prefix
// holds no more specific route, so every address in it takes this route.
type routeEntry struct {
	net, mask uint32
	until     int64 // trusted until (nanoseconds on the packetTx clock)
	fast      bool  // unicast, one next hop: the packet path may take it
	ifindex   int
	gw        uint32 // 0: on-link, the destination is the next hop
	mtu       int    // the route's MTU metric, 0 if none
}

// linkEntry is an interface as the packet path needs it.
type linkEntry struct {
	ifindex int
	mac     [6]byte
	mtu     int
	ether   bool  // up, Ethernet, with a MAC: the packet path may use it
	until   int64 // attributes trusted until
	// neighRead is when its neighbour table was last read, neighUntil
	// when it must be read again.
	neighRead, neighUntil int64
}

// neighEntry is a usable neighbour. nudge is set for a STALE entry: the
// packet path never makes the kernel use it, so the kernel would never
// check it again; the next packet to it goes raw, which starts the
// kernel's STALE → DELAY → PROBE re-confirmation (and notices a moved MAC).
type neighEntry struct {
	mac   [6]byte
	nudge bool
}

type prefix4 struct {
	net  uint32
	bits uint8
}

// reservedPrefixes are never covered by a cached route: the kernel does
// not send to these as to a unicast next hop (this network, loopback,
// multicast, reserved and limited broadcast), whatever route covers them.
var reservedPrefixes = []prefix4{{0x00000000, 8}, {0x7f000000, 8}, {0xe0000000, 3}}

// openPacketTx opens the AF_PACKET socket in the calling thread's network
// namespace. Protocol 0: the socket receives nothing, it only sends (and
// reads its transmit timestamps from its error queue).
//
// The socket stays in blocking mode, which keeps it out of Go's poller
// (os.NewFile registers only non-blocking descriptors): every call on it
// passes MSG_DONTWAIT and never waits, and a socket in the poller's epoll
// set has every freed frame wake the poller (sock_def_write_space), a
// cost per packet measured at several percent.
func openPacketTx(cfg *Config, nl *netlink.Handle) (*packetTx, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		err = os.NewSyscallError("socket AF_PACKET", err)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, &permissionError{err}
		}
		return nil, err
	}
	// A batch of frames is written at once; the error queue holds a
	// copy of each for its timestamp and is charged to the receive
	// buffer. Root may exceed the sysctl limits.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<20)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 32<<20)
	}
	pk := &packetTx{file: os.NewFile(uintptr(fd), "packet"), nl: nl, age: cacheAge, epoch: time.Now()}
	pk.initWriter()
	if pk.rc, err = pk.file.SyscallConn(); err != nil {
		pk.file.Close()
		return nil, err
	}
	// Frames go straight to the driver until the packet tap takes over
	// the stamps.
	if err := pk.setBypass(true); err != nil {
		pk.file.Close()
		return nil, err
	}
	if cfg.Interface != "" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			pk.file.Close()
			return nil, fmt.Errorf("raw: interface %s: %w", cfg.Interface, err)
		}
		pk.oif = ifi.Index
	}
	return pk, nil
}

func (pk *packetTx) close() error { return pk.file.Close() }

// clone is another writer's packet path over the same AF_PACKET socket and
// netlink handle (safe for concurrent use), with buffers and caches of its
// own.
func (pk *packetTx) clone() *packetTx {
	c := &packetTx{file: pk.file, rc: pk.rc, nl: pk.nl, oif: pk.oif, age: pk.age, epoch: pk.epoch}
	c.initWriter()
	return c
}

// initWriter gives pk what each writer has of its own: the sendmmsg state,
// the frames and empty caches.
func (pk *packetTx) initWriter() {
	pk.pm = newMmsg(true)
	pk.pm.lls = new([batchMax]unix.RawSockaddrLinklayer)
	pk.frames = make([]byte, batchMax*frameMax)
	pk.routes = make([]routeEntry, 0, maxRoutes)
	pk.links = make([]linkEntry, 0, maxLinks)
	pk.neigh = make(map[uint64]neighEntry, 64)
}

// setBypass turns PACKET_QDISC_BYPASS on or off. On, frames go straight
// to the driver: the probes are paced already, and a qdisc adds a lock and
// a queue per packet; but they skip the packet taps too, synprobe's own
// (see tap_linux.go) and tcpdump's, so that their stamps must come from
// the error queue. Off, they go through the queueing layer like the raw
// socket's packets, and the tap stamps them: on the reference machine's
// veth (noqueue) that sent faster at every sender count, and let 4
// senders keep every stamp, where error-queue stamps kept up with 2.
func (pk *packetTx) setBypass(on bool) error {
	v := 0
	if on {
		v = 1
	}
	err := control(pk.rc, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, v) })
	return os.NewSyscallError("setsockopt PACKET_QDISC_BYPASS", err)
}

// setTimestamping turns software transmit timestamps on or off.
func (pk *packetTx) setTimestamping(flags int) error {
	return control(pk.rc, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags) })
}

// clock is the time on the caches' clock: monotonic nanoseconds.
func (pk *packetTx) clock() int64 { return int64(time.Since(pk.epoch)) }

// stage builds the frame for packet p in slot i and reports whether it
// can take the packet path; if not, the caller sends p through the raw
// socket. It allocates nothing unless a cache must be (re)filled.
func (pk *packetTx) stage(i int, p Outgoing, now int64) bool {
	b := p.Buf
	if len(b) < 20 || len(b) > frameMax-ethHeaderLen || b[0]>>4 != 4 || !p.Dst.Is4() {
		return false
	}
	ihl := int(b[0]&0xf) * 4
	if ihl < 20 || ihl > len(b) {
		return false
	}
	d4 := p.Dst.As4()
	// With IP_HDRINCL the kernel fills in a zero source address and
	// picks an ID for a zero ID without DF, and its on-link next hop is
	// the header's destination: such packets are left to it.
	if [4]byte(b[16:20]) != d4 || b[12]|b[13]|b[14]|b[15] == 0 || (b[4]|b[5] == 0 && b[6]&0x40 == 0) {
		return false
	}
	d := binary.BigEndian.Uint32(d4[:])
	r := pk.route(d, now)
	if r == nil || !r.fast {
		return false
	}
	l := pk.link(r.ifindex, now)
	if !l.ether || len(b) > l.mtu || (r.mtu > 0 && len(b) > r.mtu) {
		return false
	}
	hop := d
	if r.gw != 0 {
		hop = r.gw
	}
	mac, ok := pk.neighbour(l, hop, now)
	if !ok {
		return false
	}
	f := pk.frames[i*frameMax : i*frameMax+ethHeaderLen+len(b)]
	copy(f[0:6], mac[:])
	copy(f[6:12], l.mac[:])
	f[12], f[13] = 0x08, 0x00 // IPv4
	ip := f[ethHeaderLen:]
	copy(ip, b)
	// What IP_HDRINCL has the kernel do to every packet: set the total
	// length and compute the header checksum.
	binary.BigEndian.PutUint16(ip[2:], uint16(len(b)))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ipv4Checksum(ip[:ihl]))
	pk.pm.setSendLL(i, f, l.ifindex)
	return true
}

// ipv4Checksum is the Internet checksum of an IPv4 header whose checksum
// field is zero.
func ipv4Checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// route returns the cached route for d, looking it up on a miss; nil when
// the lookup budget is spent.
func (pk *packetTx) route(d uint32, now int64) *routeEntry {
	if pk.last < len(pk.routes) {
		if r := &pk.routes[pk.last]; d&r.mask == r.net && now < r.until {
			return r
		}
	}
	for i := range pk.routes {
		if r := &pk.routes[i]; d&r.mask == r.net && now < r.until {
			pk.last = i
			return r
		}
	}
	if now-pk.window >= int64(lookupWindow) {
		pk.window, pk.lookups = now, 0
	}
	if pk.lookups >= lookupBudget {
		return nil
	}
	pk.lookups++
	e := pk.lookupRoute(d, now)
	if e.mask == 0 {
		// One entry for every destination (no route at all, or a
		// table too big to narrow): the others are moot.
		pk.routes = pk.routes[:0]
	}
	slot := len(pk.routes)
	if slot == cap(pk.routes) {
		// Replace the oldest entry (or one that has expired).
		slot = 0
		for i := range pk.routes {
			if pk.routes[i].until < pk.routes[slot].until {
				slot = i
			}
		}
	} else {
		pk.routes = pk.routes[:slot+1]
	}
	pk.routes[slot] = e
	pk.last = slot
	return &pk.routes[slot]
}

// lookupRoute asks the kernel how it routes d (the route it would use, and
// the FIB entry that matched, whose prefix the entry covers), narrowed to
// the largest prefix around d that holds no more specific route.
func (pk *packetTx) lookupRoute(d uint32, now int64) routeEntry {
	e := routeEntry{until: now + int64(pk.age)}
	dst := net.IPv4(byte(d>>24), byte(d>>16), byte(d>>8), byte(d)).To4()
	rs, rerr := pk.nl.RouteGetWithOptions(dst, &netlink.RouteGetOptions{OifIndex: pk.oif})
	fs, ferr := pk.nl.RouteGetWithOptions(dst, &netlink.RouteGetOptions{OifIndex: pk.oif, FIBMatch: true})
	var p prefix4
	switch {
	case ferr == nil && len(fs) > 0:
		if fs[0].Dst != nil {
			ones, _ := fs[0].Dst.Mask.Size()
			p = prefix4{be32(fs[0].Dst.IP.To4()), uint8(ones)}
		}
	case rerr != nil:
		// No route at all: the whole space around d that no route
		// touches has none either.
	default:
		// A route but no FIB entry (an --interface with no route
		// through it, which the kernel treats as on-link): this
		// destination only.
		p = prefix4{d, 32}
	}
	if rerr == nil && ferr == nil && len(rs) > 0 && len(fs) > 0 {
		r := rs[0]
		e.fast = r.Type == unix.RTN_UNICAST && len(fs[0].MultiPath) <= 1 && r.Via == nil && r.LinkIndex > 0
		e.ifindex, e.mtu = r.LinkIndex, r.MTU
		if gw := r.Gw.To4(); gw != nil && !gw.IsUnspecified() {
			e.gw = be32(gw)
		} else if r.Gw != nil {
			e.fast = false
		}
	}
	b, ok := pk.narrow(d, p, now)
	if !ok {
		// Too many routes to narrow safely: everything goes raw.
		e.fast, b = false, 0
		e.net, e.mask = 0, 0
		return e
	}
	e.mask = prefixMask(b)
	e.net = d & e.mask
	return e
}

// narrow returns the length of the largest prefix that contains d, lies
// within p and overlaps no more specific route (in any table) and no
// reserved range; false when the route table is too big to read.
func (pk *packetTx) narrow(d uint32, p prefix4, now int64) (int, bool) {
	if now >= pk.tableUntil {
		pk.readTable(now)
	}
	if pk.tableTooBig {
		return 0, false
	}
	b := int(p.bits)
	pm := prefixMask(b)
	for _, set := range [2][]prefix4{pk.table, reservedPrefixes} {
		for _, q := range set {
			if int(q.bits) <= int(p.bits) || (q.net^p.net)&pm != 0 {
				continue // not strictly inside p
			}
			c := bits.LeadingZeros32(d ^ q.net)
			if c >= int(q.bits) {
				return 32, true // d is inside q, yet the kernel chose p
			}
			b = max(b, c+1)
		}
	}
	return b, true
}

// readTable reads every IPv4 route prefix of every table.
func (pk *packetTx) readTable(now int64) {
	pk.table, pk.tableTooBig = pk.table[:0], false
	pk.tableUntil = now + int64(pk.age)
	err := pk.nl.RouteListFilteredIter(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE,
		func(r netlink.Route) bool {
			if len(pk.table) == maxRouteTable {
				pk.tableTooBig = true
				return false
			}
			if r.Dst != nil {
				if ip := r.Dst.IP.To4(); ip != nil {
					ones, _ := r.Dst.Mask.Size()
					pk.table = append(pk.table, prefix4{be32(ip), uint8(ones)})
				}
			}
			return true
		})
	if err != nil {
		// Without the table no prefix can be vouched for.
		pk.tableTooBig = true
	}
}

// link returns the entry for interface ifindex, (re)reading it when due.
func (pk *packetTx) link(ifindex int, now int64) *linkEntry {
	var l *linkEntry
	for i := range pk.links {
		if pk.links[i].ifindex == ifindex {
			l = &pk.links[i]
			break
		}
	}
	if l == nil {
		if len(pk.links) < cap(pk.links) {
			pk.links = pk.links[:len(pk.links)+1]
			l = &pk.links[len(pk.links)-1]
		} else {
			l = &pk.links[0]
			for i := range pk.links {
				if pk.links[i].until < l.until {
					l = &pk.links[i]
				}
			}
			pk.forgetNeighbours(l.ifindex)
		}
		*l = linkEntry{ifindex: ifindex}
	}
	if now >= l.until {
		pk.readLink(l, now)
	}
	return l
}

func (pk *packetTx) readLink(l *linkEntry, now int64) {
	l.until, l.ether = now+int64(pk.age), false
	link, err := pk.nl.LinkByIndex(l.ifindex)
	if err != nil {
		return
	}
	a := link.Attrs()
	if a.EncapType != "ether" || len(a.HardwareAddr) != 6 || a.Flags&net.FlagUp == 0 {
		return
	}
	copy(l.mac[:], a.HardwareAddr)
	l.mtu, l.ether = a.MTU, true
}

// neighbour returns the MAC of next hop hop on link l, from the cache or
// the kernel's neighbour table.
func (pk *packetTx) neighbour(l *linkEntry, hop uint32, now int64) ([6]byte, bool) {
	if now >= l.neighUntil {
		pk.readNeighbours(l, now)
	}
	key := uint64(l.ifindex)<<32 | uint64(hop)
	e, ok := pk.neigh[key]
	if !ok {
		if now-l.neighRead < int64(missRetry) {
			return [6]byte{}, false
		}
		pk.readNeighbours(l, now)
		if e, ok = pk.neigh[key]; !ok {
			return [6]byte{}, false
		}
	}
	if e.nudge {
		e.nudge = false
		pk.neigh[key] = e
		return [6]byte{}, false
	}
	return e.mac, true
}

// readNeighbours replaces link l's cached neighbours with the usable
// entries of the kernel's table.
func (pk *packetTx) readNeighbours(l *linkEntry, now int64) {
	l.neighRead, l.neighUntil = now, now+int64(pk.age)
	pk.forgetNeighbours(l.ifindex)
	ns, err := pk.nl.NeighList(l.ifindex, unix.AF_INET)
	if err != nil {
		return
	}
	for _, n := range ns {
		ip := n.IP.To4()
		if n.State&usableNeigh == 0 || len(n.HardwareAddr) != 6 || ip == nil || n.LinkIndex != l.ifindex {
			continue
		}
		if len(pk.neigh) >= maxNeighbours {
			break
		}
		e := neighEntry{nudge: n.State&netlink.NUD_STALE != 0}
		copy(e.mac[:], n.HardwareAddr)
		pk.neigh[uint64(l.ifindex)<<32|uint64(be32(ip))] = e
	}
}

func (pk *packetTx) forgetNeighbours(ifindex int) {
	for k := range pk.neigh {
		if int(k>>32) == ifindex {
			delete(pk.neigh, k)
		}
	}
}

// invalidate makes every cached route, link and neighbour table be read
// again before its next use.
func (pk *packetTx) invalidate() {
	for i := range pk.routes {
		pk.routes[i].until = 0
	}
	for i := range pk.links {
		pk.links[i].until, pk.links[i].neighUntil = 0, 0
	}
	pk.tableUntil = 0
}

// sendmmsg sends frames [from, to) without blocking.
func (pk *packetTx) sendmmsg(from, to int) (int, error) { return pk.pm.sendNow(pk.rc, from, to) }

func prefixMask(bits int) uint32 {
	if bits <= 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

func be32(ip net.IP) uint32 {
	if len(ip) != 4 {
		return 0
	}
	return binary.BigEndian.Uint32(ip)
}
