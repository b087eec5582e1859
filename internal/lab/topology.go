// Package lab builds synprobe's network-namespace lab: real Linux TCP
// stacks whose behaviour is known in advance, so that every figure synprobe
// reports can be checked against the truth.
//
// A lab is a tree of network namespaces rooted at the prober. Every other
// node (router or target) hangs off a parent through a Link, a veth pair
// with its own /24; a Link with delay or loss gets a "wire" namespace in the
// middle that forwards frames after the delay (see docs/NETLAB.md). Every
// address is in 198.18.0.0/15, the range RFC 2544 reserves for
// benchmarking, and the prober's namespace has routes to the lab and to
// nothing else, so a bug cannot send a packet off the machine.
package lab

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ProberName is the name of the root node, where synprobe runs.
const ProberName = "prober"

// Topology describes a lab. The prober is implicit; Nodes are routers and
// targets, each attached to a parent ("prober" or a router).
// The prober's address on each of its links is that link's .1.
type Topology struct {
	Nodes []Node
}

// Role is what a node does.
type Role uint8

const (
	RoleTarget Role = iota + 1 // answers on its ports
	RoleRouter                 // forwards, taking one off the TTL
)

// Action is what a firewall rule does to a SYN it matches. Accept (the
// zero Action) lets a port through ahead of a whole-host rule.
type Action uint8

const (
	Accept                Action = iota
	Drop                         // silently drop
	RejectRST                    // answer with a TCP RST
	RejectPortUnreach            // ICMP port unreachable (3/3)
	RejectHostUnreach            // ICMP host unreachable (3/1)
	RejectAdminProhibited        // ICMP communication administratively prohibited (3/13)
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	case RejectRST:
		return "reject with tcp reset"
	case RejectPortUnreach:
		return "reject with icmp port-unreachable"
	case RejectHostUnreach:
		return "reject with icmp host-unreachable"
	case RejectAdminProhibited:
		return "reject with icmp admin-prohibited"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Rule is one firewall rule on a target: Port 0 matches every port. Rules
// with a port come before the whole-host rule.
type Rule struct {
	Port   uint16
	Action Action
}

// Link is the connection from a node to its parent. Delays and losses are
// one-way, per direction: Down is parent→node (towards the target), Up is
// node→parent.
type Link struct {
	// Subnet is the link's /24 in 198.18.0.0/15: the parent takes .1, the
	// node its Addr (which must be inside it).
	Subnet             netip.Prefix
	DelayDown, DelayUp time.Duration
	LossDown, LossUp   float64 // probability 0..1
	// ClampMSS, when non-zero, makes the parent (a router) rewrite the
	// MSS option of SYNs crossing this link in either direction to at
	// most this value, as `tcp option maxseg size set` does.
	ClampMSS uint16
}

// Node is a router or a target.
type Node struct {
	Name   string // short, unique: names the namespace too
	Role   Role
	Parent string // ProberName or a router's Name
	Addr   netip.Addr
	Link   Link

	// Target knobs.
	OpenPorts  []uint16     // real listening sockets
	InitialTTL uint8        // net.ipv4.ip_default_ttl; 0 keeps Linux's 64
	AdvMSS     uint16       // MSS the target advertises; 0 keeps the kernel's choice from the MTU
	Firewall   []Rule       // on SYNs to this target
	Prefix     netip.Prefix // also answer for every address in this prefix (local route on lo)
	// Prefix6 is Prefix's IPv6 counterpart: a prefix of LabRange6 (at
	// least a /64's worth of bits, outside every link's /64) the node
	// answers for through a local route on lo, as Prefix.
	Prefix6 netip.Prefix
	// TCPRmem, when set, is net.ipv4.tcp_rmem inside the target's
	// namespace ("min default max", bytes): its receive buffer, and so
	// the window of its SYN-ACKs and their window scale. A SYN-ACK's
	// window is about half the default, rounded down to a multiple of
	// the MSS, and at most 65535 (the window of a SYN is never scaled);
	// the scale is log2 of the larger of the maximum and
	// net.core.rmem_max, less 15. "4096 262144 8388608" gives window
	// 65535 and scale 8 (with rmem_max at most 8 MiB), as Windows
	// servers send; Linux's defaults give 65160 for an MSS of 1460.
	TCPRmem string
	// Sink drops every frame that arrives on the node's link at the
	// netdev ingress hook, before IP sees it, so the node costs the sender
	// nothing and answers nothing: what a send-rate measurement needs. The
	// interface's receive counter (RxPackets) still counts every frame.
	Sink bool

	// Describe says in one line what synprobe should find here (for
	// `synprobe lab up` and the docs).
	Describe string
}

// LabRange is the only address range a lab uses.
var LabRange = netip.MustParsePrefix("198.18.0.0/15")

// LabRange6 is the only IPv6 range a lab uses: 2001:2::/48, the range
// RFC 5180 reserves for benchmarking. Every lab address maps into it
// (Map6).
var LabRange6 = netip.MustParsePrefix("2001:2::/48")

// Map6 is the IPv6 address of the lab's IPv4 address a: 198.18.X.Y is
// 2001:2:0:X::Y (the third octet names the /64, the fourth the host, both
// in hex: 198.18.10.10 is 2001:2:0:a::a) and 198.19.X.Y is
// 2001:2:0:1XX::Y (0x100 + X). An address outside LabRange maps to the
// zero Addr.
func Map6(a netip.Addr) netip.Addr {
	if !LabRange.Contains(a) {
		return netip.Addr{}
	}
	v4 := a.As4()
	b := LabRange6.Addr().As16()
	sub := uint16(v4[1]-18)<<8 | uint16(v4[2])
	b[6], b[7] = byte(sub>>8), byte(sub)
	b[15] = v4[3]
	return netip.AddrFrom16(b)
}

// Subnet6 is the link's /64: Map6 of its /24.
func (l Link) Subnet6() netip.Prefix {
	return netip.PrefixFrom(Map6(l.Subnet.Masked().Addr()), 64)
}

// ParentSide6 is the parent's IPv6 address on a link: Map6 of ParentSide,
// ::1 of Subnet6.
func (l Link) ParentSide6() netip.Addr { return Map6(l.ParentSide()) }

// Addr6 is the node's IPv6 address: Map6(Addr).
func (n Node) Addr6() netip.Addr { return Map6(n.Addr) }

// ParentSide is the parent's address on a link: .1 of its subnet.
func (l Link) ParentSide() netip.Addr {
	a := l.Subnet.Masked().Addr().As4()
	a[3] = 1
	return netip.AddrFrom4(a)
}

func (t *Topology) node(name string) *Node {
	for i := range t.Nodes {
		if t.Nodes[i].Name == name {
			return &t.Nodes[i]
		}
	}
	return nil
}

// Validate checks names, parents and that every address is in the lab range.
func (t *Topology) Validate() error {
	seen := map[string]bool{ProberName: true}
	for _, n := range t.Nodes {
		if n.Name == "" || len(n.Name) > 12 || seen[n.Name] {
			return fmt.Errorf("lab: node name %q empty, longer than 12 or repeated", n.Name)
		}
		seen[n.Name] = true
	}
	for _, n := range t.Nodes {
		if p := t.node(n.Parent); n.Parent != ProberName && (p == nil || p.Role != RoleRouter) {
			return fmt.Errorf("lab: %s: parent %q is not the prober or a router", n.Name, n.Parent)
		}
		if n.Role != RoleTarget && n.Role != RoleRouter {
			return fmt.Errorf("lab: %s: no role", n.Name)
		}
		if !LabRange.Contains(n.Addr) || !n.Link.Subnet.IsValid() || n.Link.Subnet.Bits() != 24 ||
			!LabRange.Contains(n.Link.Subnet.Addr()) || !n.Link.Subnet.Contains(n.Addr) || n.Addr == n.Link.ParentSide() {
			return fmt.Errorf("lab: %s: address %v must be in a /24 of %v other than .1 (link %v)", n.Name, n.Addr, LabRange, n.Link.Subnet)
		}
		if n.Prefix.IsValid() && (!LabRange.Contains(n.Prefix.Addr()) || n.Prefix.Bits() < 15) {
			return fmt.Errorf("lab: %s: prefix %v outside %v", n.Name, n.Prefix, LabRange)
		}
		if n.Prefix6.IsValid() && (!LabRange6.Contains(n.Prefix6.Addr()) || n.Prefix6.Bits() < 64 || t.onLink6(n.Prefix6)) {
			return fmt.Errorf("lab: %s: prefix %v must be a /64 or longer of %v, outside every link's /64", n.Name, n.Prefix6, LabRange6)
		}
		if n.TCPRmem != "" && !validRmem(n.TCPRmem) {
			return fmt.Errorf("lab: %s: TCPRmem %q is not three byte counts, min <= default <= max", n.Name, n.TCPRmem)
		}
		if n.Link.LossDown < 0 || n.Link.LossDown > 1 || n.Link.LossUp < 0 || n.Link.LossUp > 1 {
			return fmt.Errorf("lab: %s: loss must be 0..1", n.Name)
		}
	}
	// No cycles: every parent chain reaches the prober.
	for _, n := range t.Nodes {
		cur, steps := n.Parent, 0
		for cur != ProberName {
			if steps++; steps > len(t.Nodes) {
				return fmt.Errorf("lab: %s: parent chain loops", n.Name)
			}
			cur = t.node(cur).Parent
		}
	}
	return nil
}

// onLink6 reports whether p lies in any link's /64.
func (t *Topology) onLink6(p netip.Prefix) bool {
	for _, n := range t.Nodes {
		if n.Link.Subnet6().Overlaps(p) {
			return true
		}
	}
	return false
}

// Hops is the number of routers between the prober and node name.
func (t *Topology) Hops(name string) int {
	h := 0
	for n := t.node(name); n != nil && n.Parent != ProberName; n = t.node(n.Parent) {
		h++
	}
	return h
}

// descendants lists the addresses and prefixes reachable below node name
// (its own included), for the routes its parent needs.
func (t *Topology) routedBelow(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range t.Nodes {
		for cur := &n; ; cur = t.node(cur.Parent) {
			if cur.Name == name {
				out = append(out, n.Link.Subnet.Masked(), n.Link.Subnet6())
				if n.Prefix.IsValid() {
					out = append(out, n.Prefix.Masked())
				}
				if n.Prefix6.IsValid() {
					out = append(out, n.Prefix6.Masked())
				}
				break
			}
			if cur.Parent == ProberName {
				break
			}
		}
	}
	return out
}

// InterfaceTo is the name of parent's interface on the link to child (the
// child's own end is always "up"). The prober's interface towards r1, for
// example, is InterfaceTo("r1"): what a capture on the prober listens on.
func InterfaceTo(child string) string { return ifDown(child) }

// UplinkInterface is the name of every node's interface towards its parent.
const UplinkInterface = "up"

func ifDown(child string) string { return "to-" + child }

// ProberInterface is the prober's interface on the path to node (for a
// packet capture or --interface).
func (t *Topology) ProberInterface(node string) string {
	n := t.node(node)
	for n != nil && n.Parent != ProberName {
		n = t.node(n.Parent)
	}
	if n == nil {
		return ""
	}
	return InterfaceTo(n.Name)
}

// Expectation is what a correct prober must find at a target, derived from
// the topology alone (not measured): the truth the lab's self-tests check
// against the kernel and the engine's tests check synprobe against.
type Expectation struct {
	Hops       int           // routers between the prober and the target
	InitialTTL int           // the target's net.ipv4.ip_default_ttl
	ReplyTTL   int           // TTL of its replies at the prober: InitialTTL - Hops
	MSS        int           // MSS option the prober receives: AdvMSS, or 1460 on a 1500 MTU, after every clamp on the path
	RTT        time.Duration // added round-trip delay on the path (sum of both directions' delays)
	// Unanswered is the probability that a single SYN gets no SYN-ACK
	// because of loss on the path: 1 - product of (1-loss) both ways.
	Unanswered float64
	// MSS6 is the MSS option the prober receives over IPv6: MSS less 20,
	// the IPv6 header's extra bytes (1440 on a 1500 MTU; AdvMSS and
	// ClampMSS are applied less 20 on IPv6 routes and clamps). The hop
	// limit of IPv6 replies is ReplyTTL: InitialTTL sets both families.
	MSS6 int
}

// Expect is the expectation for target name.
func (t *Topology) Expect(name string) Expectation {
	n := t.node(name)
	if n == nil {
		return Expectation{}
	}
	e := Expectation{Hops: t.Hops(name), InitialTTL: 64, MSS: 1460}
	if n.InitialTTL != 0 {
		e.InitialTTL = int(n.InitialTTL)
	}
	e.ReplyTTL = e.InitialTTL - e.Hops
	if n.AdvMSS != 0 {
		e.MSS = int(n.AdvMSS)
	}
	through := 1.0
	for cur := n; cur != nil; cur = t.node(cur.Parent) {
		k := cur.Link
		if k.ClampMSS != 0 && int(k.ClampMSS) < e.MSS {
			e.MSS = int(k.ClampMSS)
		}
		e.RTT += k.DelayDown + k.DelayUp
		through *= (1 - k.LossDown) * (1 - k.LossUp)
		if cur.Parent == ProberName {
			break
		}
	}
	e.Unanswered = 1 - through
	e.MSS6 = e.MSS - ipv6Extra
	return e
}

// ipv6Extra is how much larger an IPv6 header is than an IPv4 one: every
// MSS the lab sets (AdvMSS, ClampMSS) is this much smaller on IPv6.
const ipv6Extra = 20

// PortState is what a SYN to a port of a target meets: "open" (SYN-ACK),
// "closed" (RST) or "filtered"; Action says which firewall rule decided it
// (Accept when none did).
func (t *Topology) PortState(name string, port uint16) (state string, by Action) {
	n := t.node(name)
	if n == nil {
		return "", Accept
	}
	act, ruled := Accept, false
	for _, r := range n.Firewall { // port rules first, as the ruleset orders them
		if r.Port == port {
			act, ruled = r.Action, true
			break
		}
	}
	if !ruled {
		for _, r := range n.Firewall {
			if r.Port == 0 {
				act = r.Action
				break
			}
		}
	}
	switch act {
	case Accept:
		for _, p := range n.OpenPorts {
			if p == port {
				return "open", Accept
			}
		}
		return "closed", Accept
	case RejectRST:
		return "closed", act
	}
	return "filtered", act
}

// validRmem: three positive byte counts in order, as net.ipv4.tcp_rmem takes.
func validRmem(s string) bool {
	f := strings.Fields(s)
	if len(f) != 3 {
		return false
	}
	prev := 1
	for _, x := range f {
		n, err := strconv.Atoi(x)
		if err != nil || n < prev {
			return false
		}
		prev = n
	}
	return true
}
