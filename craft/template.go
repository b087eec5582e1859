package craft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// SYNConfig describes the SYN a scan sends. Zero values take the defaults
// noted on each field.
type SYNConfig struct {
	// Src and Dst are template values, which Write replaces; their family
	// is the template's. Both IPv4 or both IPv6 (not IPv4-mapped); a zero
	// one is 0.0.0.0, so an IPv6 template needs both (the unspecified
	// address :: will do).
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // template values; Write replaces them
	Seq              uint32 // template value; Write replaces it
	TTL              uint8  // DefaultTTL when zero; IPv6: the hop limit
	Window           uint16 // DefaultWindow when zero
	MSS              uint16 // DefaultMSS when zero
	// WScale is the window scale shift to advertise; zero means the
	// layout's usual value (7 for linux, 8 for windows).
	WScale uint8
	Layout Layout // LayoutLinux when zero
	TOS    uint8  // IPv6: the traffic class
	DF     bool   // IPv4 only: IPv6 has no such flag (routers never fragment)
	TSval  uint32 // timestamp value for layouts that carry one
	ID     uint16 // template IP ID; Write replaces it. IPv4 only
	// FlowLabel is the IPv6 flow label (the low 20 bits). Write leaves it
	// as it is: every probe of a template is one flow to the routers that
	// balance load on it (RFC 6438), which a traceroute needs to keep its
	// path (Paris traceroute).
	FlowLabel uint32
}

// SYNTemplate is a prebuilt IPv4+TCP or IPv6+TCP SYN. Write copies it and
// rewrites the addresses, ports, sequence number and (IPv4) IP ID, updating
// the checksums incrementally (RFC 1624) instead of summing the headers
// again: the scan's per-packet work is a copy and a few additions.
type SYNTemplate struct {
	buf     [IPv6HeaderLen + TCPMaxHeaderLen]byte
	n       int
	ihl     int
	ipCheck uint16
	tcpSum  uint16
	src     uint32
	dst     uint32
	sport   uint16
	dport   uint16
	seq     uint32
	id      uint16

	// IPv6: the TCP checksum's complement plus the complement of every
	// word Write replaces (addresses, ports, sequence number), so that
	// Write adds only the new words (RFC 1624 eqn. 3 over all of them).
	v6    bool
	base6 uint32
}

// NewSYNTemplate builds the template packet described by cfg.
func NewSYNTemplate(cfg SYNConfig) (*SYNTemplate, error) {
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MSS == 0 {
		cfg.MSS = DefaultMSS
	}
	if cfg.Layout == 0 {
		cfg.Layout = LayoutLinux
	}
	if cfg.WScale == 0 {
		cfg.WScale = 7
		if cfg.Layout == LayoutWindows {
			cfg.WScale = 8
		}
	}
	if !cfg.Src.IsValid() {
		cfg.Src = netip.IPv4Unspecified()
	}
	if !cfg.Dst.IsValid() {
		cfg.Dst = netip.IPv4Unspecified()
	}
	v6 := is6(cfg.Src) && is6(cfg.Dst)
	if !v6 && (!cfg.Src.Is4() || !cfg.Dst.Is4()) {
		return nil, fmt.Errorf("SYN template %v > %v: %w", cfg.Src, cfg.Dst, ErrAddress)
	}
	t := &SYNTemplate{}
	tcp := TCP{SrcPort: cfg.SrcPort, DstPort: cfg.DstPort, Seq: cfg.Seq, Flags: FlagSYN, Window: cfg.Window}
	n, err := PutLayout(tcp.RawOptions[:], cfg.Layout, cfg.MSS, cfg.WScale, cfg.TSval)
	if err != nil {
		return nil, err
	}
	tcp.OptionsLen = uint8(n)
	if v6 {
		ip := IPv6{TrafficClass: cfg.TOS, FlowLabel: cfg.FlowLabel, HopLimit: cfg.TTL, Src: cfg.Src, Dst: cfg.Dst}
		if t.n, err = BuildTCP6(t.buf[:], &ip, &tcp); err != nil {
			return nil, err
		}
		t.v6, t.ihl, t.tcpSum = true, IPv6HeaderLen, tcp.Checksum
		// The complement of a sum is the sum of the complements, word by
		// word, in one's complement arithmetic: ^Fold(Sum(x)) adds what
		// removing x's words takes.
		old := uint32(^Fold(Sum(t.buf[8:IPv6HeaderLen], 0))) + // addresses
			uint32(^Fold(Sum(t.buf[IPv6HeaderLen:IPv6HeaderLen+8], 0))) // ports, sequence number
		t.base6 = uint32(^t.tcpSum) + old
		return t, nil
	}
	ip := IPv4{TOS: cfg.TOS, ID: cfg.ID, TTL: cfg.TTL, Src: cfg.Src, Dst: cfg.Dst}
	if cfg.DF {
		ip.Flags = FlagDF
	}
	if t.n, err = BuildTCP(t.buf[:], &ip, &tcp); err != nil {
		return nil, err
	}
	t.ihl = ip.HeaderLen()
	t.ipCheck, t.tcpSum = ip.Checksum, tcp.Checksum
	t.src, t.dst = binary.BigEndian.Uint32(t.buf[12:]), binary.BigEndian.Uint32(t.buf[16:])
	t.sport, t.dport, t.seq, t.id = cfg.SrcPort, cfg.DstPort, cfg.Seq, cfg.ID
	return t, nil
}

// Len is the length of the packets Write produces.
func (t *SYNTemplate) Len() int { return t.n }

// Bytes is the template packet itself (do not modify).
func (t *SYNTemplate) Bytes() []byte { return t.buf[:t.n] }

// Write puts a copy of the template into dst with the given addresses,
// ports, sequence number and IP ID, and returns its length. It allocates
// nothing. The addresses must be of the template's family (ErrAddress);
// an IPv6 template ignores ipid, as IPv6 has no IP ID, and keeps its flow
// label.
func (t *SYNTemplate) Write(dst []byte, src, dstAddr netip.Addr, sport, dport uint16, seq uint32, ipid uint16) (int, error) {
	if len(dst) < t.n {
		return 0, ErrShortBuffer
	}
	if t.v6 {
		return t.write6(dst, src, dstAddr, sport, dport, seq)
	}
	if !src.Is4() || !dstAddr.Is4() {
		return 0, ErrAddress
	}
	s4, d4 := src.As4(), dstAddr.As4()
	s, d := binary.BigEndian.Uint32(s4[:]), binary.BigEndian.Uint32(d4[:])
	copy(dst, t.buf[:t.n])

	// One running sum per header: ~HC + sum(~m + m') over changed words,
	// folded once at the end (RFC 1624 eqn. 3 applied to all words).
	ip := uint32(^t.ipCheck) + delta32(t.src, s) + delta32(t.dst, d) + delta16(t.id, ipid)
	tc := uint32(^t.tcpSum) + delta32(t.src, s) + delta32(t.dst, d) +
		delta16(t.sport, sport) + delta16(t.dport, dport) + delta32(t.seq, seq)

	binary.BigEndian.PutUint16(dst[4:], ipid)
	binary.BigEndian.PutUint16(dst[10:], ^Fold(ip))
	binary.BigEndian.PutUint32(dst[12:], s)
	binary.BigEndian.PutUint32(dst[16:], d)
	th := dst[t.ihl:]
	binary.BigEndian.PutUint16(th[0:], sport)
	binary.BigEndian.PutUint16(th[2:], dport)
	binary.BigEndian.PutUint32(th[4:], seq)
	binary.BigEndian.PutUint16(th[16:], ^Fold(tc))
	return t.n, nil
}

func (t *SYNTemplate) write6(dst []byte, src, dstAddr netip.Addr, sport, dport uint16, seq uint32) (int, error) {
	if !is6(src) || !is6(dstAddr) {
		return 0, ErrAddress
	}
	s, d := src.As16(), dstAddr.As16()
	copy(dst, t.buf[:t.n])
	copy(dst[8:24], s[:])
	copy(dst[24:40], d[:])
	th := dst[IPv6HeaderLen:]
	binary.BigEndian.PutUint16(th[0:], sport)
	binary.BigEndian.PutUint16(th[2:], dport)
	binary.BigEndian.PutUint32(th[4:], seq)
	// The new words: addresses (as they now are in dst), ports and
	// sequence number, on top of the template's base.
	tc := Sum(dst[8:IPv6HeaderLen], t.base6) + uint32(sport) + uint32(dport) + seq>>16 + seq&0xffff
	binary.BigEndian.PutUint16(th[16:], ^Fold(tc))
	return t.n, nil
}

func delta16(old, new uint16) uint32 { return uint32(^old) + uint32(new) }

func delta32(old, new uint32) uint32 {
	return uint32(^uint16(old>>16)) + uint32(uint16(new>>16)) + uint32(^uint16(old)) + uint32(uint16(new))
}
