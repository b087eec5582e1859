package lab

import (
	"net/netip"
	"time"
)

// BigPrefix6 is the IPv6 /112 the demo's big host answers for: 65,536
// addresses, as 198.19.0.0/16, outside every link's /64.
var BigPrefix6 = netip.MustParsePrefix("2001:2:0:ffff::/112")

// Demo is the ready-made lab of `synprobe lab up`, `make demo` and
// docs/NETLAB.md. The prober is 198.18.1.1; r1 is one hop away, r2 two.
//
//	prober 198.18.1.1 ── r1 ──┬── r2 ──┬── web, win, fw, reject, clamp, big (+198.19.0.0/16)
//	                          ├── edge (router-like, 1 hop)
//	                          ├── slow (20 ms each way)
//	                          └── lossy (10 % each way)
func Demo() Topology {
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	target := func(name, parent, addr, subnet string) Node {
		return Node{Name: name, Role: RoleTarget, Parent: parent, Addr: a(addr), Link: Link{Subnet: p(subnet)}}
	}
	web := target("web", "r2", "198.18.10.10", "198.18.10.0/24")
	web.OpenPorts = []uint16{22, 80, 443}
	web.Describe = "plain Linux: 22, 80, 443 open, the rest closed; TTL 62 (initial 64, 2 hops), MSS 1460"

	win := target("win", "r2", "198.18.11.10", "198.18.11.0/24")
	win.OpenPorts = []uint16{135, 139, 445, 3389}
	win.InitialTTL, win.AdvMSS, win.TCPRmem = 128, 1360, "4096 262144 8388608"
	win.Describe = "looks like Windows: 135, 139, 445, 3389 open; TTL 126 (initial 128, 2 hops), MSS 1360, window 65535"

	fw := target("fw", "r2", "198.18.12.10", "198.18.12.0/24")
	fw.OpenPorts = []uint16{22}
	fw.Firewall = []Rule{{0, Drop}}
	fw.Describe = "firewall drops every SYN: all ports filtered (no-response)"

	rej := target("reject", "r2", "198.18.13.10", "198.18.13.0/24")
	rej.OpenPorts = []uint16{80}
	rej.Firewall = []Rule{{80, Accept}, {23, RejectRST}, {25, RejectPortUnreach}, {26, RejectHostUnreach}, {0, RejectAdminProhibited}}
	rej.Describe = "80 open; 23 reset (closed); 25 port-unreachable, 26 host-unreachable, all else admin-prohibited (filtered)"

	clamp := target("clamp", "r2", "198.18.16.10", "198.18.16.0/24")
	clamp.OpenPorts = []uint16{80}
	clamp.Link.ClampMSS = 1200
	clamp.Describe = "80 open behind r2, which clamps the MSS to 1200 both ways: MSS 1200"

	big := target("big", "r2", "198.18.17.10", "198.18.17.0/24")
	big.OpenPorts = []uint16{80}
	big.Prefix = p("198.19.0.0/16")
	big.Prefix6 = BigPrefix6
	big.Describe = "one stack answering all of 198.19.0.0/16 and 2001:2:0:ffff::/112: port 80 open on 65,536 addresses each"

	edge := target("edge", "r1", "198.18.3.10", "198.18.3.0/24")
	edge.OpenPorts = []uint16{22, 179}
	edge.InitialTTL = 255
	edge.Describe = "router-like: 22, 179 open; TTL 254 (initial 255, 1 hop)"

	slow := target("slow", "r1", "198.18.14.10", "198.18.14.0/24")
	slow.OpenPorts = []uint16{80}
	slow.Link.DelayDown, slow.Link.DelayUp = 20*time.Millisecond, 20*time.Millisecond
	slow.Describe = "80 open, 20 ms each way: handshake latency about 40 ms"

	lossy := target("lossy", "r1", "198.18.15.10", "198.18.15.0/24")
	lossy.OpenPorts = []uint16{80}
	lossy.Link.LossDown, lossy.Link.LossUp = 0.10, 0.10
	lossy.Describe = "80 open, 10 % loss each way: about 19 % of single probes unanswered"

	return Topology{Nodes: []Node{
		{Name: "r1", Role: RoleRouter, Parent: ProberName, Addr: a("198.18.1.2"), Link: Link{Subnet: p("198.18.1.0/24")},
			Describe: "first router"},
		{Name: "r2", Role: RoleRouter, Parent: "r1", Addr: a("198.18.2.2"), Link: Link{Subnet: p("198.18.2.0/24")},
			Describe: "second router; clamps the MSS towards clamp"},
		web, win, fw, rej, clamp, big, edge, slow, lossy,
	}}
}
