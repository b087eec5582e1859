package probe

import (
	"errors"
	"net/netip"

	"github.com/synprobe/synprobe/craft"
)

// matcher is the one place that decides whether a packet answers one of
// synprobe's probes, which one, and what it says. It keeps no state per
// probe: a probe's sequence number is a keyed hash of its 4-tuple
// (cookies), and its try number is encoded in its source port, so a reply
// is matched by recomputing both. Its methods are safe for concurrent
// use, each goroutine with its own AES scratch.
type matcher struct {
	ck        *cookies
	src       sources
	targets   *TargetSet
	ports     []uint16
	portIndex []int32 // port → index in ports, -1 when not probed
	portLo    uint32
	portRange uint32
	tries     int
}

// sources are a scan's source addresses, one a family; the one of a
// family without targets is the zero Addr.
type sources struct{ v4, v6 netip.Addr }

// of is the source of the probes to dst.
func (s sources) of(dst netip.Addr) netip.Addr {
	if dst.Is4() {
		return s.v4
	}
	return s.v6
}

func (s sources) String() string {
	switch {
	case !s.v4.IsValid():
		return s.v6.String()
	case !s.v6.IsValid():
		return s.v4.String()
	}
	return s.v4.String() + "," + s.v6.String()
}

// newMatcher matches replies to the probes src sends to targets x ports,
// tries times each, from source ports lo..hi.
func newMatcher(src sources, targets *TargetSet, ports []uint16, lo, hi uint16, tries int) (*matcher, error) {
	if err := checkSourcePorts(lo, hi, tries); err != nil {
		return nil, err
	}
	m := &matcher{src: src, targets: targets, ports: ports, portIndex: make([]int32, 65536),
		portLo: uint32(lo), portRange: uint32(hi) - uint32(lo) + 1, tries: tries}
	for i := range m.portIndex {
		m.portIndex[i] = -1
	}
	for i, p := range ports {
		if m.portIndex[p] >= 0 {
			return nil, configErrorf("port %d listed twice", p)
		}
		m.portIndex[p] = int32(i)
	}
	var err error
	if m.ck, err = newCookies(); err != nil {
		return nil, err
	}
	return m, nil
}

// probes is the number of target:port pairs.
func (m *matcher) probes() uint64 { return m.targets.Len() * uint64(len(m.ports)) }

// probeOf is the target:port of probe idx.
func (m *matcher) probeOf(idx uint64) (netip.Addr, uint16) {
	n := uint64(len(m.ports))
	return m.targets.At(idx / n), m.ports[idx%n]
}

// sport is the source port of try of dst:dport.
func (m *matcher) sport(x *scratch, dst netip.Addr, dport uint16, try int) uint16 {
	return uint16(m.portLo + (m.ck.portBase(x, dst, dport)+uint32(try))%m.portRange)
}

// isn is the sequence number of the probe from sport to dst:dport.
func (m *matcher) isn(x *scratch, dst netip.Addr, sport, dport uint16) uint32 {
	return m.ck.isn(x, m.src.of(dst), dst, sport, dport)
}

// tryOf reads back the try number from the source port a reply came to,
// or -1 when the port is not one synprobe used for this target:port.
func (m *matcher) tryOf(x *scratch, dst netip.Addr, dport, sport uint16) int {
	if uint32(sport) < m.portLo || uint32(sport)-m.portLo >= m.portRange {
		return -1
	}
	k := (uint32(sport) - m.portLo + m.portRange - m.ck.portBase(x, dst, dport)%m.portRange) % m.portRange
	if k >= uint32(m.tries) {
		return -1
	}
	return int(k)
}

// isProbe reports whether ss, the start of a SYN the host sent (as a
// packet tap sees it), is one of synprobe's probes: it carries the cookie.
func (m *matcher) isProbe(x *scratch, ss *craft.SegmentStart) bool {
	return ss.Flags&craft.FlagSYN != 0 && ss.Seq == m.ck.isn(x, ss.Src, ss.Dst, ss.SrcPort, ss.DstPort)
}

// key identifies one try of a probe in a scan: the probe's index (its
// target's index in the TargetSet x ports + its port's index, below 2^48:
// newOrder refuses more probes) and the try's source port. Two probes in
// flight in one scan have distinct indices, so no two tries share a key,
// whatever the family of their targets; a key means nothing outside its
// scan (each has its own tables).
func key(idx uint64, sport uint16) uint64 {
	return idx<<16 | uint64(sport)
}

// probeIndex is the index of the probe to dst:dport, if it is one.
func (m *matcher) probeIndex(dst netip.Addr, dport uint16) (uint64, bool) {
	ti, ok := m.targets.Index(dst)
	pi := m.portIndex[dport]
	if !ok || pi < 0 {
		return 0, false
	}
	return ti*uint64(len(m.ports)) + uint64(pi), true
}

// verdict is what the matcher made of a packet.
type verdict uint8

const (
	ignored   verdict = iota // neither TCP nor ICMP
	malformed                // does not decode, or a checksum fails
	unmatched                // valid, but no answer to a probe of ours
	matched                  // answers a probe: see reply
)

// reply is a packet that answers a probe.
type reply struct {
	idx   uint64 // the probe: target index x ports + port index
	try   int    // which try of it
	key   uint64 // that try's key
	icmp  bool   // an ICMP error, which a SYN-ACK or RST outranks
	ack   uint32 // a SYN-ACK's acknowledgment number, for the RST
	r     Result // what the packet says; Tries, Time and RTT are the caller's
	sport uint16
}

// match decodes b into pk and decides what it is. A match fills rp.
func (m *matcher) match(x *scratch, pk *craft.Packet, b []byte, rp *reply) verdict {
	if err := pk.Decode(b); err != nil && !errors.Is(err, craft.ErrWScaleClamped) {
		return malformed
	}
	if !checksumsOK(pk) {
		return malformed
	}
	switch pk.IP.Protocol {
	case craft.ProtocolTCP:
		return m.matchTCP(x, pk, rp)
	case craft.ProtocolICMP, craft.ProtocolICMPv6:
		return m.matchICMP(x, pk, rp)
	}
	return ignored
}

// checksumsOK reports whether the checksums of a decoded reply verify. A
// corrupted reply must not settle a result, any more than the kernel would
// accept it. One exception: a TCP segment sent by a stack on this machine
// through a veth or bridge with checksum offload on arrives with only the
// pseudo-header sum in its checksum field (CHECKSUM_PARTIAL, which the
// kernel trusts and never finishes), so that exact value is accepted too;
// a corrupted segment matches it only by chance (about 1 in 65,536); the
// same holds for IPv6, whose pseudo-header counts the segment's length
// after the extension headers (TransportLen). ICMP and ICMPv6 have no
// such offload: Linux checksums its ICMP errors in full.
func checksumsOK(pk *craft.Packet) bool {
	if !pk.IPChecksumOK {
		return false
	}
	switch pk.IP.Protocol {
	case craft.ProtocolTCP:
		if pk.TCPChecksumOK {
			return true
		}
		return pk.TCP.Checksum == craft.Fold(craft.PseudoHeaderSum(pk.IP.Src, pk.IP.Dst, craft.ProtocolTCP, uint16(pk.TransportLen)))
	case craft.ProtocolICMP, craft.ProtocolICMPv6:
		return pk.ICMPChecksumOK
	}
	return false
}

// locate finds the probe target:tport from sport: its index and try, or
// false when it is none of ours.
func (m *matcher) locate(x *scratch, target netip.Addr, tport, sport uint16) (idx uint64, try int, ok bool) {
	idx, ok = m.probeIndex(target, tport)
	try = m.tryOf(x, target, tport, sport)
	if !ok || try < 0 {
		return 0, 0, false
	}
	return idx, try, true
}

// matchTCP: a SYN-ACK (open) or RST (closed) that acknowledges the
// probe's ISN+1. Anything else (spoofed, stale, someone else's traffic)
// changes nothing.
func (m *matcher) matchTCP(x *scratch, pk *craft.Packet, rp *reply) verdict {
	t := &pk.TCP
	target, tport, sport := pk.IP.Src, t.SrcPort, t.DstPort
	if pk.IP.Dst != m.src.of(target) {
		return unmatched
	}
	idx, try, ok := m.locate(x, target, tport, sport)
	if !ok || t.Flags&craft.FlagACK == 0 || t.Ack != m.isn(x, target, sport, tport)+1 {
		return unmatched
	}
	*rp = reply{idx: idx, try: try, key: key(idx, sport), ack: t.Ack, sport: sport}
	r := &rp.r
	switch {
	case t.Flags&(craft.FlagSYN|craft.FlagRST) == craft.FlagSYN:
		r.State, r.Reason = StateOpen, ReasonSynAck
	case t.Flags&craft.FlagRST != 0:
		r.State, r.Reason = StateClosed, ReasonRST
	default:
		return unmatched
	}
	r.Addr, r.Port = target, tport
	fillIP(r, pk)
	r.Has |= HasWindow
	r.Window = t.Window
	o := &t.Options
	if o.HasMSS {
		r.Has |= HasMSS
		r.MSS = o.MSS
	}
	if o.HasWScale {
		r.Has |= HasWScale
		r.WScale = o.WScale
	}
	r.SACKPermitted = o.SACKPermitted
	if o.HasTimestamps {
		r.Has |= HasTimestamps
		r.TSval, r.TSecr = o.TSval, o.TSecr
	}
	return matched
}

// matchICMP: an ICMP or ICMPv6 error quoting a probe, whole enough to
// check its cookie.
func (m *matcher) matchICMP(x *scratch, pk *craft.Packet, rp *reply) verdict {
	ic := &pk.ICMP
	q := &ic.Quote
	target, tport, sport := q.Dst, ic.QuotedDstPort, ic.QuotedSrcPort
	if q.Src != m.src.of(target) || q.Protocol != craft.ProtocolTCP || ic.V6 != target.Is6() {
		return unmatched
	}
	idx, try, ok := m.locate(x, target, tport, sport)
	if !ok || ic.QuotedSeq != m.isn(x, target, sport, tport) {
		return unmatched
	}
	*rp = reply{idx: idx, try: try, key: key(idx, sport), icmp: true, sport: sport,
		r: Result{Addr: target, Port: tport, State: StateFiltered, Reason: Reason(ic.Name()),
			ICMPType: ic.Type, ICMPCode: ic.Code, ICMPFrom: pk.IP.Src}}
	fillIP(&rp.r, pk)
	return matched
}

// fillIP reports the reply's TTL, or an IPv6 reply's hop limit, which
// stacks start from the same values (Linux 64, Windows 128, many routers
// 255), so InitialTTL infers both alike; and an IPv4 reply's IP ID and DF
// flag. IPv6 has neither: no ID outside a fragment header, and no DF bit
// (its routers never fragment), so HasIPID stays clear and neither is
// reported rather than a DF invented.
func fillIP(r *Result, pk *craft.Packet) {
	r.Has |= HasTTL
	r.TTL = pk.IP.TTL
	r.InitialTTL, r.Hops = InitialTTL(pk.IP.TTL)
	if pk.HasIPID() {
		r.Has |= HasIPID
		r.IPID, r.DF = pk.IP.ID, pk.IP.DF()
	}
}
