//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/vishvananda/netlink"
)

// The benchmark's lab: four targets, each straight off the prober on a link
// of its own, so that every tool sends through one veth to one stack.
const (
	nodeSink = "sink" // drops every frame at ingress: figures 1 and 5
	nodeBig  = "big"  // answers 198.19.0.0/16 and 2001:2:0:ffff::/112, port 80 open: figures 2, 4 and 6
	nodeLat  = "lat"  // port 80 open, no delay: figure 3
	nodeSlow = "slow" // port 80 open, 20 ms each way: figure 3
)

func benchTopology() lab.Topology {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	return lab.Topology{Nodes: []lab.Node{
		{Name: nodeSink, Role: lab.RoleTarget, Parent: lab.ProberName, Addr: a("198.18.20.10"), Link: lab.Link{Subnet: p("198.18.20.0/24")},
			Prefix: sinkPrefix, Prefix6: sinkPrefix6, Sink: true, Describe: "drops every frame at netdev ingress: the send-rate sink"},
		{Name: nodeBig, Role: lab.RoleTarget, Parent: lab.ProberName, Addr: a("198.18.21.10"), Link: lab.Link{Subnet: p("198.18.21.0/24")},
			OpenPorts: []uint16{80}, Prefix: bigPrefix, Prefix6: bigPrefix6, Describe: "one stack answering 198.19.0.0/16 and 2001:2:0:ffff::/112, port 80 open"},
		{Name: nodeLat, Role: lab.RoleTarget, Parent: lab.ProberName, Addr: a("198.18.22.10"), Link: lab.Link{Subnet: p("198.18.22.0/24")},
			OpenPorts: []uint16{80}, Describe: "port 80 open, undelayed link"},
		{Name: nodeSlow, Role: lab.RoleTarget, Parent: lab.ProberName, Addr: a("198.18.23.10"),
			Link:      lab.Link{Subnet: p("198.18.23.0/24"), DelayDown: 20 * time.Millisecond, DelayUp: 20 * time.Millisecond},
			OpenPorts: []uint16{80}, Describe: "port 80 open, 20 ms each way"},
	}}
}

// benchLab is the running lab, with what the tools must be told about it.
type benchLab struct {
	*lab.Lab
}

func startLab(ctx context.Context) (*benchLab, error) {
	l, err := lab.Start(ctx, benchTopology())
	if err != nil {
		return nil, err
	}
	return &benchLab{Lab: l}, nil
}

// iface is the prober's interface towards node.
func (b *benchLab) iface(node string) string { return lab.InterfaceTo(node) }

// src is the prober's address on its link to node.
func (b *benchLab) src(node string) netip.Addr {
	for _, n := range b.Topo.Nodes {
		if n.Name == node {
			return n.Link.ParentSide()
		}
	}
	return netip.Addr{}
}

// src6 is the prober's IPv6 address on its link to node.
func (b *benchLab) src6(node string) netip.Addr {
	for _, n := range b.Topo.Nodes {
		if n.Name == node {
			return n.Link.ParentSide6()
		}
	}
	return netip.Addr{}
}

// mac is the hardware address of node's interface towards the prober: the
// next hop's MAC that zmap, masscan and trafgen must be told.
func (b *benchLab) mac(node string) (net.HardwareAddr, error) {
	var hw net.HardwareAddr
	err := b.Do(node, func() error {
		l, err := netlink.LinkByName(lab.UplinkInterface)
		if err != nil {
			return err
		}
		hw = l.Attrs().HardwareAddr
		return nil
	})
	if err == nil && len(hw) != 6 {
		err = fmt.Errorf("%s: no Ethernet address", node)
	}
	return hw, err
}

// ownMAC is the prober's hardware address on its link to node.
func (b *benchLab) ownMAC(node string) (net.HardwareAddr, error) {
	var hw net.HardwareAddr
	err := b.Do(lab.ProberName, func() error {
		l, err := netlink.LinkByName(b.iface(node))
		if err != nil {
			return err
		}
		hw = l.Attrs().HardwareAddr
		return nil
	})
	return hw, err
}
