//go:build linux

package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NamePrefix starts the name of every namespace a lab creates, so that
// `synprobe lab down` can find what a crashed run left behind.
const NamePrefix = "synp-"

// Lab is a running lab. Close removes all of it.
type Lab struct {
	ID   string
	Topo Topology
	// WireMode says how delay and loss were made, if any link has them.
	WireMode WireMode
	names    map[string]string // node → namespace name

	wires   map[string]*wire // node → the user-space wire on its link
	mu      sync.Mutex
	closers []func()
	closed  bool
}

// Start builds topo. On error everything already built is removed.
func Start(ctx context.Context, topo Topology) (_ *Lab, err error) {
	return start(ctx, topo, randomID())
}

func randomID() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func start(ctx context.Context, topo Topology, id string) (_ *Lab, err error) {
	if err := topo.Validate(); err != nil {
		return nil, err
	}
	l := &Lab{ID: id, Topo: topo, names: map[string]string{}}
	if err := registerOwner(id); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l.addCloser(func() { unregisterOwner(id) })
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	nodes := append([]string{ProberName}, names(topo)...)
	for _, n := range nodes {
		l.names[n] = NamePrefix + id + "-" + n
		if err := newNamespace(l.names[n]); err != nil {
			return nil, err
		}
		l.addCloser(func() { netns.DeleteNamed(l.names[n]) })
		if err := l.Do(n, nodeSysctls); err != nil {
			return nil, fmt.Errorf("lab: %s: %w", n, err)
		}
	}
	for i := range topo.Nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := l.link(&topo.Nodes[i]); err != nil {
			return nil, fmt.Errorf("lab: link %s: %w", topo.Nodes[i].Name, err)
		}
	}
	for i := range topo.Nodes {
		if err := l.configure(&topo.Nodes[i]); err != nil {
			return nil, fmt.Errorf("lab: %s: %w", topo.Nodes[i].Name, err)
		}
	}
	if err := l.routes(); err != nil {
		return nil, err
	}
	return l, nil
}

func names(t Topology) []string {
	var out []string
	for _, n := range t.Nodes {
		out = append(out, n.Name)
	}
	return out
}

func (l *Lab) addCloser(f func()) {
	l.mu.Lock()
	l.closers = append(l.closers, f)
	l.mu.Unlock()
}

// Close stops every listener and wire and deletes every namespace (which
// takes their veths, routes and nftables tables with them). It is
// idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	cl := l.closers
	l.closers = nil
	l.mu.Unlock()
	for i := len(cl) - 1; i >= 0; i-- {
		cl[i]()
	}
	var errs []error
	for _, name := range l.names {
		if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
			errs = append(errs, fmt.Errorf("lab: namespace %s still present", name))
		}
	}
	return errors.Join(errs...)
}

// Namespace is the name (under /run/netns) of node's namespace.
func (l *Lab) Namespace(node string) string { return l.names[node] }

// Addr6 is node's IPv6 address, Map6 of its Addr (the prober's is its end
// of its first link, 2001:2:0:1::1 in the demo).
func (l *Lab) Addr6(node string) netip.Addr { return Map6(l.Addr(node)) }

// Addr is node's address; the prober's is its end of its first link.
func (l *Lab) Addr(node string) netip.Addr {
	if node == ProberName {
		for _, n := range l.Topo.Nodes {
			if n.Parent == ProberName {
				return n.Link.ParentSide()
			}
		}
		return netip.Addr{}
	}
	if n := l.Topo.node(node); n != nil {
		return n.Addr
	}
	return netip.Addr{}
}

// Do runs fn on an OS thread inside node's namespace. Sockets fn opens
// stay in that namespace and may be used from any goroutine afterwards.
func (l *Lab) Do(node string, fn func() error) error {
	name, ok := l.names[node]
	if !ok {
		return fmt.Errorf("lab: no node %q", node)
	}
	return InNamespace(name, fn)
}

// InNamespace runs fn on a fresh OS thread that has entered the named
// namespace. The thread is never returned to the scheduler's pool: it dies
// with its goroutine, so no other goroutine ever runs in the wrong namespace.
func InNamespace(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		ns, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("namespace %s: %w", name, err)
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Command runs name with args inside node's namespace (through
// `ip netns exec`, which also gives it the namespace's /sys).
func (l *Lab) Command(ctx context.Context, node, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.names[node], name}, args...)...)
}

// netnsDir is where named namespaces are bind-mounted, as iproute2 does.
const netnsDir = "/run/netns"

var sharedNetnsDir sync.Once

// shareMountDir makes dir a shared mount point, as `ip netns add` makes
// /run/netns the first time it runs, so that a later `ip netns add` finds
// it one already and leaves it be. Otherwise that `ip netns add` binds
// /run/netns recursively onto itself over the lab's namespaces: each
// namespace's mount is copied into the new mount and the original is
// hidden beneath it, so Close and `synprobe lab down` unmount the copy,
// cannot delete the file (the hidden original still uses it), and the
// namespace lives until reboot. If namespaces are already mounted in dir
// it does nothing: a bind now would hide them in just that way.
func shareMountDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "") == nil {
		return nil // already a mount point: now shared
	}
	if mountsBelow(dir) {
		return fmt.Errorf("%s is not a mount point and has mounts below it: left as it is", dir)
	}
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s onto itself: %w", dir, err)
	}
	return unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
}

// mountsBelow reports whether anything is mounted under dir (not on dir).
func mountsBelow(dir string) bool {
	b, _ := os.ReadFile("/proc/thread-self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			return true
		}
	}
	return false
}

func newNamespace(name string) error {
	// Best effort: without it a lab still works, and only a later
	// `ip netns add` can do the harm shareMountDir describes.
	sharedNetnsDir.Do(func() { shareMountDir(netnsDir) })
	return inFreshThread(func() error {
		ns, err := netns.NewNamed(name)
		if err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("lab: create namespace %s: %w (run as root)", name, os.ErrPermission)
			}
			return fmt.Errorf("lab: create namespace %s: %w", name, err)
		}
		ns.Close()
		return nil
	})
}

func inFreshThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // NewNamed switches the thread: let it die
		errc <- fn()
	}()
	return <-errc
}

func writeSysctl(key, val string) error {
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := os.WriteFile(p, []byte(val), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, val, err)
	}
	return nil
}

// nodeSysctls runs in every node's namespace: baseSysctls, then IPv6 on
// with nothing automatic: no router advertisement is accepted and no
// address configured from one (so no route ever appears by itself; the
// prober keeps having no route out of the lab), no duplicate address
// detection (addresses are usable at once, and no DAD probes cross the
// wires), no ICMPv6 rate limit. Link-local addresses stay: NDP needs them.
// The defaults are set before any interface is made, so every veth gets
// them.
func nodeSysctls() error {
	if err := baseSysctls(); err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"net.ipv6.conf.all.accept_ra", "0"},
		{"net.ipv6.conf.default.accept_ra", "0"},
		{"net.ipv6.conf.all.autoconf", "0"},
		{"net.ipv6.conf.default.autoconf", "0"},
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
		{"net.ipv6.conf.all.router_solicitations", "0"},
		{"net.ipv6.conf.default.router_solicitations", "0"},
		{"net.ipv6.conf.all.disable_ipv6", "0"},
		{"net.ipv6.conf.default.disable_ipv6", "0"},
		{"net.ipv6.icmp.ratelimit", "0"},
	} {
		if err := writeSysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// baseSysctls runs in every new namespace: loopback up, IPv6 off (a wire
// namespace keeps it off: it moves frames and has no addresses; a node's
// turns it on again, nodeSysctls), generous queues so that a /16 scan is
// not limited by the lab.
func baseSysctls() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"net.ipv6.conf.all.disable_ipv6", "1"},
		{"net.ipv6.conf.default.disable_ipv6", "1"},
		{"net.core.somaxconn", "65535"},
		{"net.ipv4.tcp_max_syn_backlog", "65535"},
		{"net.ipv4.tcp_syncookies", "1"},
		// Replies to a fast scan must not be rate limited by the lab
		// itself: RSTs and ICMP errors are what is being measured.
		{"net.ipv4.icmp_ratelimit", "0"},
		{"net.ipv4.icmp_msgs_per_sec", "1000000"},
		{"net.ipv4.tcp_invalid_ratelimit", "0"},
	} {
		if err := writeSysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// The link from parent to child is "to-<child>" in the parent and "up" in
// the child (see InterfaceTo).
const ifUp = UplinkInterface

// link creates the veth pair between n and its parent, with a wire
// namespace in the middle when the link has delay or loss.
func (l *Lab) link(n *Node) error {
	parentNS, childNS := l.names[n.Parent], l.names[n.Name]
	if !n.Link.impaired() {
		if err := vethPair(parentNS, ifDown(n.Name), childNS, ifUp); err != nil {
			return err
		}
		// Like a real NIC, every lab link puts finished checksums on the
		// wire: with veth's offload, a capture would show the TCP
		// checksums of replies as "incorrect" (only the pseudo-header
		// sum), which misleads anyone checking them by hand.
		for _, e := range [][2]string{{parentNS, ifDown(n.Name)}, {childNS, ifUp}} {
			if err := InNamespace(e[0], func() error { return noOffload(e[1]) }); err != nil {
				return err
			}
		}
		return nil
	}
	wireNS := l.names[n.Name] + "-w"
	if err := newNamespace(wireNS); err != nil {
		return err
	}
	l.addCloser(func() { netns.DeleteNamed(wireNS) })
	l.names[n.Name+"/wireNS"] = wireNS
	if err := InNamespace(wireNS, baseSysctls); err != nil {
		return err
	}
	if err := vethPair(parentNS, ifDown(n.Name), wireNS, "a"); err != nil {
		return err
	}
	if err := vethPair(wireNS, "b", childNS, ifUp); err != nil {
		return err
	}
	for _, e := range [][2]string{{parentNS, ifDown(n.Name)}, {wireNS, "a"}, {wireNS, "b"}, {childNS, ifUp}} {
		if err := InNamespace(e[0], func() error { return noOffload(e[1]) }); err != nil {
			return err
		}
	}
	if ok, err := netemWire(wireNS, n.Link); err != nil {
		return err
	} else if ok {
		l.WireMode = WireNetem
		return nil
	}
	w, err := startWire(wireNS, "a", "b", n.Link)
	if err != nil {
		return err
	}
	l.WireMode = WireUser
	if l.wires == nil {
		l.wires = make(map[string]*wire)
	}
	l.wires[n.Name] = w
	l.addCloser(w.Close)
	return nil
}

func (k Link) impaired() bool {
	return k.DelayDown > 0 || k.DelayUp > 0 || k.LossDown > 0 || k.LossUp > 0
}

// vethPair creates a veth pair with one end in each namespace, both up.
func vethPair(nsA, nameA, nsB, nameB string) error {
	b, err := netns.GetFromName(nsB)
	if err != nil {
		return err
	}
	defer b.Close()
	err = InNamespace(nsA, func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nameA, TxQLen: 10000}, PeerName: nameB, PeerNamespace: netlink.NsFd(int(b))}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("veth %s/%s: %w", nameA, nameB, err)
		}
		link, err := netlink.LinkByName(nameA)
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(link)
	})
	if err != nil {
		return err
	}
	return InNamespace(nsB, func() error {
		link, err := netlink.LinkByName(nameB)
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(link)
	})
}

// ipNet is p as netlink takes it.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addAddr puts a/bits on ifname; an IPv6 address without duplicate
// address detection (IFA_F_NODAD), usable at once.
func addAddr(ifname string, a netip.Addr, bits int) error {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return err
	}
	na := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, bits))}
	if a.Is6() {
		na.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrAdd(link, na); err != nil {
		return fmt.Errorf("address %v/%d on %s: %w", a, bits, ifname, err)
	}
	return nil
}

// localRoute makes the node answer for every address of p: a local route
// on lo in the local table (for IPv6, `ip -6 route add local P dev lo`,
// the "AnyIP" route).
func localRoute(p netip.Prefix) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	p = p.Masked()
	r := &netlink.Route{
		LinkIndex: lo.Attrs().Index, Dst: ipNet(p),
		Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: netlink.SCOPE_HOST,
	}
	if err := netlink.RouteAdd(r); err != nil {
		return fmt.Errorf("local route %v: %w", p, err)
	}
	return nil
}

// configure puts addresses on n's link, turns on forwarding for routers,
// and applies a target's TTL, receive buffer, prefix, firewall and
// listeners.
func (l *Lab) configure(n *Node) error {
	k := n.Link
	if err := l.Do(n.Parent, func() error {
		if err := addAddr(ifDown(n.Name), k.ParentSide(), 24); err != nil {
			return err
		}
		return addAddr(ifDown(n.Name), k.ParentSide6(), 64)
	}); err != nil {
		return err
	}
	if err := l.Do(n.Name, func() error {
		if err := addAddr(ifUp, n.Addr, 24); err != nil {
			return err
		}
		if err := addAddr(ifUp, n.Addr6(), 64); err != nil {
			return err
		}
		if n.Role == RoleRouter {
			if err := writeSysctl("net.ipv6.conf.all.forwarding", "1"); err != nil {
				return err
			}
			return writeSysctl("net.ipv4.ip_forward", "1")
		}
		if n.InitialTTL != 0 {
			if err := writeSysctl("net.ipv4.ip_default_ttl", fmt.Sprint(n.InitialTTL)); err != nil {
				return err
			}
			// IPv6 takes the hop limit from the outgoing interface's
			// setting (the default too, for any interface made later).
			for _, key := range []string{"net.ipv6.conf.default.hop_limit", "net.ipv6.conf.all.hop_limit", "net.ipv6.conf." + ifUp + ".hop_limit"} {
				if err := writeSysctl(key, fmt.Sprint(n.InitialTTL)); err != nil {
					return err
				}
			}
		}
		if n.TCPRmem != "" {
			// Before the listeners open: a socket takes its buffer
			// size from the sysctl when it is created.
			if err := writeSysctl("net.ipv4.tcp_rmem", n.TCPRmem); err != nil {
				return err
			}
		}
		for _, p := range []netip.Prefix{n.Prefix, n.Prefix6} {
			if p.IsValid() {
				if err := localRoute(p); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := l.staticNeighbours(n); err != nil {
		return err
	}
	if err := l.firewall(n); err != nil {
		return err
	}
	if n.Role == RoleTarget && len(n.OpenPorts) > 0 {
		ls, err := listen(l.names[n.Name], n.OpenPorts)
		if err != nil {
			return err
		}
		l.addCloser(ls.Close)
	}
	return nil
}

// routes gives every node a route to each address below each of its
// children, and every node but the prober one route up for the whole lab
// range, in each family (IPv6 routes go through the IPv6 addresses, with
// every advmss 20 less). Nobody gets a default route.
func (l *Lab) routes() error {
	add := func(node string, dst netip.Prefix, gw netip.Addr, advmss uint16) error {
		if dst.Addr().Is6() {
			gw = Map6(gw)
			if advmss != 0 {
				advmss -= ipv6Extra
			}
		}
		return l.Do(node, func() error {
			r := &netlink.Route{Dst: ipNet(dst), Gw: gw.AsSlice(), AdvMSS: int(advmss)}
			if err := netlink.RouteAdd(r); err != nil {
				return fmt.Errorf("route %v via %v in %s: %w", dst, gw, node, err)
			}
			return nil
		})
	}
	for _, n := range l.Topo.Nodes {
		for _, p := range l.Topo.routedBelow(n.Name) {
			if p == n.Link.Subnet.Masked() || p == n.Link.Subnet6() {
				continue // connected
			}
			if err := add(n.Parent, p, n.Addr, 0); err != nil {
				return err
			}
		}
		if err := add(n.Name, LabRange, n.Link.ParentSide(), n.AdvMSS); err != nil {
			return err
		}
		if err := add(n.Name, LabRange6, n.Link.ParentSide(), n.AdvMSS); err != nil {
			return err
		}
		if n.AdvMSS != 0 {
			// The connected route decides the MSS towards the parent
			// itself; give it the same advmss.
			if err := l.Do(n.Name, func() error {
				if err := setConnectedAdvMSS(ifUp, n.Link.Subnet.Masked(), n.Addr, n.AdvMSS); err != nil {
					return err
				}
				return setConnectedAdvMSS(ifUp, n.Link.Subnet6(), n.Addr6(), n.AdvMSS-ipv6Extra)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

func setConnectedAdvMSS(ifname string, subnet netip.Prefix, src netip.Addr, mss uint16) error {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return err
	}
	r := &netlink.Route{
		LinkIndex: link.Attrs().Index, Dst: ipNet(subnet),
		Src: src.AsSlice(), Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_KERNEL, AdvMSS: int(mss),
	}
	if src.Is6() {
		// An IPv6 route is replaced only with its own metric (the
		// kernel's connected routes have 256), and takes no
		// preferred source.
		r.Src, r.Scope, r.Priority = nil, netlink.SCOPE_UNIVERSE, 256
	}
	return netlink.RouteReplace(r)
}

func lockThread() { runtime.LockOSThread() }

// staticNeighbours gives both ends of n's link a permanent ARP entry for
// the other, and a permanent NDP entry for its IPv6 address, as a test bench would: no ARP crosses a delayed or lossy wire,
// so the first probe of a run sees the same path as every later one (an
// ARP exchange would add a round trip of the wire's delay to it, and a lost
// ARP request a second), and a /16 scan of the prefix target needs no
// resolution at all.
func (l *Lab) staticNeighbours(n *Node) error {
	mac := func(node, ifname string) (hw net.HardwareAddr, err error) {
		err = l.Do(node, func() error {
			link, err := netlink.LinkByName(ifname)
			if err == nil {
				hw = link.Attrs().HardwareAddr
			}
			return err
		})
		return hw, err
	}
	add := func(node, ifname string, ip netip.Addr, hw net.HardwareAddr) error {
		return l.Do(node, func() error {
			link, err := netlink.LinkByName(ifname)
			if err != nil {
				return err
			}
			for _, a := range []netip.Addr{ip, Map6(ip)} {
				family := unix.AF_INET
				if a.Is6() {
					family = unix.AF_INET6
				}
				err = netlink.NeighSet(&netlink.Neigh{
					LinkIndex: link.Attrs().Index, Family: family, State: netlink.NUD_PERMANENT,
					IP: a.AsSlice(), HardwareAddr: hw,
				})
				if err != nil {
					return fmt.Errorf("neighbour %v on %s: %w", a, ifname, err)
				}
			}
			return nil
		})
	}
	parentMAC, err := mac(n.Parent, ifDown(n.Name))
	if err != nil {
		return err
	}
	childMAC, err := mac(n.Name, ifUp)
	if err != nil {
		return err
	}
	if err := add(n.Parent, ifDown(n.Name), n.Addr, childMAC); err != nil {
		return err
	}
	return add(n.Name, ifUp, n.Link.ParentSide(), parentMAC)
}

// WireCount is what one direction of a user-space wire has done so far.
type WireCount struct {
	Forwarded, Dropped, Failed uint64
}

// WireCounts reports the frames the user-space wire on node's link has
// forwarded and dropped, towards the node (down) and away from it (up);
// ok is false when the link has no user-space wire (no delay or loss, or
// netem does the job).
func (l *Lab) WireCounts(node string) (down, up WireCount, ok bool) {
	w := l.wires[node]
	if w == nil {
		return down, up, false
	}
	get := func(s *WireStats) WireCount {
		return WireCount{s.Forwarded.Load(), s.Dropped.Load(), s.Failed.Load()}
	}
	return get(&w.Stats[0]), get(&w.Stats[1]), true
}

// RxPackets is the receive counter of node's link interface (the frames
// that arrived on it, a Sink's dropped ones included), read over netlink.
func (l *Lab) RxPackets(node string) (uint64, error) {
	name, ok := l.names[node]
	if !ok || node == ProberName {
		return 0, fmt.Errorf("lab: no node %q with a link", node)
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		return 0, fmt.Errorf("namespace %s: %w", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return 0, fmt.Errorf("netlink in %s: %w", name, err)
	}
	defer h.Close()
	link, err := h.LinkByName(ifUp)
	if err != nil {
		return 0, fmt.Errorf("%s in %s: %w", ifUp, name, err)
	}
	if s := link.Attrs().Statistics; s != nil {
		return s.RxPackets, nil
	}
	return 0, fmt.Errorf("%s in %s: no statistics", ifUp, name)
}
