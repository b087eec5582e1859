//go:build linux

package lab

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Firewalls and MSS clamps are nftables rules built with google/nftables
// and sent over netlink into the node's namespace: no nft binary is needed.
// Each rule is what the nft line in its comment compiles to (compare with
// `nft --debug=netlink`). The tables live in the node's namespace and
// vanish with it.

// FirewallTable and ClampTable name the lab's nftables tables (family ip)
// in a target and in a clamping router.
const (
	FirewallTable = "synprobe"
	ClampTable    = "synprobe-clamp"
	SinkTable     = "synprobe-sink" // family netdev
)

// rejectICMPCode is the ICMP destination-unreachable code of each ICMP
// reject (RFC 792, RFC 1812).
var rejectICMPCode = map[Action]uint8{
	RejectPortUnreach:     3,
	RejectHostUnreach:     1,
	RejectAdminProhibited: 13,
}

// RejectICMPv6Code is the ICMPv6 destination-unreachable code (RFC 4443)
// each ICMP reject answers an IPv6 SYN with, in the target's ip6 table:
// port unreachable 4, address unreachable 3 (IPv6's host unreachable),
// administratively prohibited 1.
var RejectICMPv6Code = map[Action]uint8{
	RejectPortUnreach:     4,
	RejectHostUnreach:     3,
	RejectAdminProhibited: 1,
}

// verdict is the statement that ends a rule with action a.
func verdict(a Action) []expr.Any { return verdictFamily(a, false) }

// verdictFamily is verdict for an ip table (v6 false) or an ip6 one, whose
// reject answers with ICMPv6 (reject with icmpv6 type <code>).
func verdictFamily(a Action, v6 bool) []expr.Any {
	if v6 && a != Accept && a != Drop && a != RejectRST {
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: RejectICMPv6Code[a]}}
	}
	switch a {
	case Accept:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	case Drop:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	case RejectRST: // reject with tcp reset
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}
	}
	// reject with icmp type <code>
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: rejectICMPCode[a]}}
}

// isTCP: meta l4proto tcp
func isTCP() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// dport: tcp dport <port>
func dport(port uint16) []expr.Any {
	return append(isTCP(),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(port)},
	)
}

// firewallRules is a target's input chain: rules for a port first, then
// the rule for the whole host (TCP only, so that UDP and ICMP checks of
// the lab still work).
func firewallRules(n *Node) [][]expr.Any { return firewallRulesFamily(n, false) }

// firewallRulesFamily is firewallRules for the ip table (v6 false) or the
// ip6 one, whose ICMP rejects are ICMPv6 (RejectICMPv6Code).
func firewallRulesFamily(n *Node, v6 bool) [][]expr.Any {
	var out [][]expr.Any
	for _, r := range n.Firewall {
		if r.Port != 0 {
			out = append(out, append(dport(r.Port), verdictFamily(r.Action, v6)...)) // tcp dport P <action>
		}
	}
	for _, r := range n.Firewall {
		if r.Port == 0 {
			out = append(out, append(isTCP(), verdictFamily(r.Action, v6)...)) // meta l4proto tcp <action>
		}
	}
	return out
}

// ifname is an interface name as meta iifname/oifname loads it.
func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

// clampRules rewrite, in the parent router of a link with ClampMSS, the
// MSS option of SYNs (and SYN-ACKs) forwarded into or out of the link:
//
//	oifname "to-X" tcp flags syn tcp option maxseg size > M tcp option maxseg size set M
//	iifname "to-X" tcp flags syn tcp option maxseg size > M tcp option maxseg size set M
func clampRules(n *Node) [][]expr.Any {
	if n.Link.ClampMSS == 0 {
		return nil
	}
	return clampRulesMSS(n, n.Link.ClampMSS)
}

// clampRulesMSS is clampRules to mss (ClampMSS less 20 in the ip6 table).
func clampRulesMSS(n *Node, mss uint16) [][]expr.Any {
	m := be16(mss)
	var out [][]expr.Any
	for _, key := range []expr.MetaKey{expr.MetaKeyOIFNAME, expr.MetaKeyIIFNAME} {
		r := []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(ifDown(n.Name))},
		}
		r = append(r, isTCP()...)
		r = append(r,
			// tcp flags syn
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x02}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0}},
			// tcp option maxseg size > M (absent option: no match)
			&expr.Exthdr{DestRegister: 1, Op: expr.ExthdrOpTcpopt, Type: 2, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpGt, Register: 1, Data: m},
			// tcp option maxseg size set M (the kernel fixes the checksum)
			&expr.Immediate{Register: 1, Data: m},
			&expr.Exthdr{SourceRegister: 1, Op: expr.ExthdrOpTcpopt, Type: 2, Offset: 2, Len: 2},
		)
		out = append(out, r)
	}
	return out
}

// nftChain creates table/chain (family ip) at hook and priority in node's
// namespace and adds rules to it, in one netlink transaction.
func (l *Lab) nftChain(node, table string, hook *nftables.ChainHook, prio *nftables.ChainPriority, rules [][]expr.Any) error {
	return l.nftChainOn(node, &nftables.Table{Family: nftables.TableFamilyIPv4, Name: table}, "", hook, prio, rules)
}

// nftChain6 is nftChain in family ip6.
func (l *Lab) nftChain6(node, table string, hook *nftables.ChainHook, prio *nftables.ChainPriority, rules [][]expr.Any) error {
	return l.nftChainOn(node, &nftables.Table{Family: nftables.TableFamilyIPv6, Name: table}, "", hook, prio, rules)
}

// nftChainOn is nftChain for any table family; dev names the interface of
// a netdev chain.
func (l *Lab) nftChainOn(node string, table *nftables.Table, dev string, hook *nftables.ChainHook, prio *nftables.ChainPriority, rules [][]expr.Any) error {
	ns, err := netns.GetFromName(l.names[node])
	if err != nil {
		return err
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", node, err)
	}
	t := c.AddTable(table)
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name: "lab", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: hook, Priority: prio, Policy: &policy, Device: dev,
	})
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s in %s: %w", table.Name, node, err)
	}
	return nil
}

// firewall loads n's firewall into its namespace and its MSS clamp into
// its parent's, each as an ip table and an ip6 one of the same name.
func (l *Lab) firewall(n *Node) error {
	if rules := firewallRules(n); len(rules) > 0 {
		if err := l.nftChain(n.Name, FirewallTable, nftables.ChainHookInput, nftables.ChainPriorityFilter, rules); err != nil {
			return err
		}
		if err := l.nftChain6(n.Name, FirewallTable, nftables.ChainHookInput, nftables.ChainPriorityFilter, firewallRulesFamily(n, true)); err != nil {
			return err
		}
	}
	if n.Sink {
		// table netdev synprobe-sink { chain lab { type filter hook ingress device "up" priority filter; drop } }
		drop := [][]expr.Any{{&expr.Verdict{Kind: expr.VerdictDrop}}}
		t := &nftables.Table{Family: nftables.TableFamilyNetdev, Name: SinkTable}
		if err := l.nftChainOn(n.Name, t, ifUp, nftables.ChainHookIngress, nftables.ChainPriorityFilter, drop); err != nil {
			return err
		}
	}
	if rules := clampRules(n); len(rules) > 0 {
		if err := l.nftChain(n.Parent, ClampTable, nftables.ChainHookForward, nftables.ChainPriorityMangle, rules); err != nil {
			return err
		}
		rules6 := clampRulesMSS(n, n.Link.ClampMSS-ipv6Extra)
		if err := l.nftChain6(n.Parent, ClampTable, nftables.ChainHookForward, nftables.ChainPriorityMangle, rules6); err != nil {
			return err
		}
	}
	return nil
}
