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
	src       netip.Addr
	targets   *TargetSet
	ports     []uint16
	portIndex []int32 // port → index in ports, -1 when not probed
	portLo    uint32
	portRange uint32
	tries     int
}

// newMatcher matches replies to the probes src sends to targets x ports,
// tries times each, from source ports lo..hi.
func newMatcher(src netip.Addr, targets *TargetSet, ports []uint16, lo, hi uint16, tries int) (*matcher, error) {
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
	return m.ck.isn(x, m.src, dst, sport, dport)
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

// key identifies one try of a probe: its target, port and source port.
func key(dst netip.Addr, dport, sport uint16) uint64 {
	return uint64(u32(dst))<<32 | uint64(dport)<<16 | uint64(sport)
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
	case craft.ProtocolICMP:
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
// a corrupted segment matches it only by chance (about 1 in 65,536). ICMP
// has no such offload: Linux checksums its ICMP errors in full.
func checksumsOK(pk *craft.Packet) bool {
	if !pk.IPChecksumOK {
		return false
	}
	switch pk.IP.Protocol {
	case craft.ProtocolTCP:
		if pk.TCPChecksumOK {
			return true
		}
		seg := int(pk.IP.TotalLen) - int(pk.IP.IHL)*4
		return pk.TCP.Checksum == craft.Fold(craft.PseudoHeaderSum(pk.IP.Src, pk.IP.Dst, craft.ProtocolTCP, uint16(seg)))
	case craft.ProtocolICMP:
		return pk.ICMPChecksumOK
	}
	return false
}

// locate finds the probe target:tport from sport: its index and try, or
// false when it is none of ours.
func (m *matcher) locate(x *scratch, target netip.Addr, tport, sport uint16) (idx uint64, try int, ok bool) {
	ti, ok := m.targets.Index(target)
	pi := m.portIndex[tport]
	try = m.tryOf(x, target, tport, sport)
	if !ok || pi < 0 || try < 0 {
		return 0, 0, false
	}
	return ti*uint64(len(m.ports)) + uint64(pi), try, true
}

// matchTCP: a SYN-ACK (open) or RST (closed) that acknowledges the
// probe's ISN+1. Anything else (spoofed, stale, someone else's traffic)
// changes nothing.
func (m *matcher) matchTCP(x *scratch, pk *craft.Packet, rp *reply) verdict {
	t := &pk.TCP
	if pk.IP.Dst != m.src {
		return unmatched
	}
	target, tport, sport := pk.IP.Src, t.SrcPort, t.DstPort
	idx, try, ok := m.locate(x, target, tport, sport)
	if !ok || t.Flags&craft.FlagACK == 0 || t.Ack != m.isn(x, target, sport, tport)+1 {
		return unmatched
	}
	*rp = reply{idx: idx, try: try, key: key(target, tport, sport), ack: t.Ack, sport: sport}
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

// matchICMP: an ICMP error quoting a probe, whole enough to check its
// cookie.
func (m *matcher) matchICMP(x *scratch, pk *craft.Packet, rp *reply) verdict {
	ic := &pk.ICMP
	q := &ic.Quote
	if q.Src != m.src || q.Protocol != craft.ProtocolTCP {
		return unmatched
	}
	target, tport, sport := q.Dst, ic.QuotedDstPort, ic.QuotedSrcPort
	idx, try, ok := m.locate(x, target, tport, sport)
	if !ok || ic.QuotedSeq != m.isn(x, target, sport, tport) {
		return unmatched
	}
	*rp = reply{idx: idx, try: try, key: key(target, tport, sport), icmp: true, sport: sport,
		r: Result{Addr: target, Port: tport, State: StateFiltered, Reason: Reason(ic.Name()),
			ICMPType: ic.Type, ICMPCode: ic.Code, ICMPFrom: pk.IP.Src}}
	fillIP(&rp.r, pk)
	return matched
}

func fillIP(r *Result, pk *craft.Packet) {
	r.Has |= HasTTL | HasIPID
	r.TTL = pk.IP.TTL
	r.InitialTTL, r.Hops = InitialTTL(pk.IP.TTL)
	r.IPID, r.DF = pk.IP.ID, pk.IP.DF()
}
