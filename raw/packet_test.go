//go:build linux

package raw

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A lab for the packet path: near is on the prober's own link (the
// destination is the next hop), far and big are behind the router r (the
// router is the next hop); big answers for all of 198.19.0.0/16.
//
//	prober 198.18.1.1 ── r ──┬── far 198.18.10.10
//	       198.18.20.1 ─┐    └── big 198.18.17.10 +198.19.0.0/16
//	                    └── near 198.18.20.10
func packetLab(t *testing.T) *lab.Lab {
	return labtest.Start(t, lab.Topology{Nodes: []lab.Node{
		{Name: "r", Role: lab.RoleRouter, Parent: lab.ProberName, Addr: ip("198.18.1.2"), Link: lab.Link{Subnet: pfx("198.18.1.0/24")}},
		{Name: "far", Role: lab.RoleTarget, Parent: "r", Addr: ip("198.18.10.10"), Link: lab.Link{Subnet: pfx("198.18.10.0/24")}, OpenPorts: []uint16{80}},
		{Name: "big", Role: lab.RoleTarget, Parent: "r", Addr: ip("198.18.17.10"), Link: lab.Link{Subnet: pfx("198.18.17.0/24")}, OpenPorts: []uint16{80}, Prefix: pfx("198.19.0.0/16")},
		{Name: "near", Role: lab.RoleTarget, Parent: lab.ProberName, Addr: ip("198.18.20.10"), Link: lab.Link{Subnet: pfx("198.18.20.0/24")}, OpenPorts: []uint16{80}},
	}})
}

// nearSrc is the prober's address on near's link, the source the kernel
// would choose for it.
var nearSrc = ip("198.18.20.1")

// decoded is a reply as craft's parser reads it.
type decoded struct {
	p      craft.Packet
	at     time.Time
	kernel bool
}

// collectCraft reads replies until want arrived or d passed, decoding each
// with craft.
func collectCraft(t *testing.T, c *Conn, want int, d time.Duration) []decoded {
	t.Helper()
	var out []decoded
	readReplies(t, c, want, d, func(m *Incoming) bool {
		var r decoded
		if err := r.p.Decode(m.Buf[:m.N]); err != nil && !errors.Is(err, craft.ErrWScaleClamped) {
			t.Errorf("reply %x: %v", m.Buf[:m.N], err)
			return false
		}
		r.at, r.kernel = m.Time, m.Kernel
		out = append(out, r)
		return true
	})
	return out
}

// txStamps reads transmit stamps until want arrived or d passed.
func txStamps(t *testing.T, c *Conn, want int, d time.Duration) []TxStamp {
	t.Helper()
	buf := make([]TxStamp, 64)
	for i := range buf {
		buf[i].Buf = make([]byte, 128)
	}
	var out []TxStamp
	for deadline := time.Now().Add(d); len(out) < want && time.Now().Before(deadline); {
		n, err := c.ReadTxTimestamps(buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range buf[:n] {
			s.Buf = append([]byte(nil), s.Buf[:s.N]...)
			out = append(out, s)
		}
		if n == 0 {
			waitStamp(t, c, deadline)
		}
	}
	return out
}

// waitStamp waits until c has a transmit stamp to read, or the deadline.
// ReadTxTimestamps never blocks; this polls (poll(2)) what it reads: the
// tap's ring, readable once the kernel has handed it a frame, or the send
// sockets' error queues (POLLERR once one holds a message). User-space
// stamps are recorded at send: there is nothing to wait for.
func waitStamp(t *testing.T, c *Conn, deadline time.Time) {
	t.Helper()
	var fds []unix.PollFd
	switch {
	case c.stamps == stampUser:
		return
	case c.tap != nil:
		fds = append(fds, unix.PollFd{Fd: int32(c.tap.fd), Events: unix.POLLIN})
	default:
		rcs := []syscall.RawConn{c.sendRC}
		if c.pk != nil {
			rcs = append(rcs, c.pk.rc)
		}
		for _, rc := range rcs {
			rc.Control(func(fd uintptr) { fds = append(fds, unix.PollFd{Fd: int32(fd)}) }) // POLLERR is always asked for
		}
	}
	for {
		ms := (time.Until(deadline) + time.Millisecond - 1) / time.Millisecond
		if ms <= 0 {
			return
		}
		if _, err := unix.Poll(fds, int(ms)); err != unix.EINTR {
			if err != nil {
				t.Fatalf("poll for transmit stamps: %v", err)
			}
			return
		}
	}
}

func stats(t *testing.T, c *Conn, raw, packet uint64) {
	t.Helper()
	if got := c.Stats(); got != (TxStats{Raw: raw, Packet: packet}) {
		t.Fatalf("stats %+v, want raw %d packet %d", got, raw, packet)
	}
}

// SYNs on the packet path reach a target on the prober's link and one
// behind a router; the kernels answer as they would a SYN of their own
// stack's making, every send has a kernel transmit stamp (from the tap,
// through the queueing layer, or from the error queue, past it), and each
// stamp precedes the reply's receive stamp.
func TestPacketPathHandshake(t *testing.T) {
	l := packetLab(t)
	for _, mode := range []stampMode{stampTap, stampTagged, stampCopy} {
		t.Run(mode.String(), func(t *testing.T) { packetHandshake(t, l, mode) })
	}
}

func packetHandshake(t *testing.T, l *lab.Lab, mode stampMode) {
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999, Tx: TxPacket})
	if tx, rx := c.KernelTimestamps(); !tx || !rx {
		t.Fatalf("kernel timestamps tx %v rx %v", tx, rx)
	}
	useStamps(t, c, mode)
	src, near, far := l.Addr(lab.ProberName), l.Addr("near"), l.Addr("far")
	pkts := []Outgoing{ // each tagged with its sequence number
		{syn(t, nearSrc, near, 40001, 80, 1000), near, 1000}, // open
		{syn(t, nearSrc, near, 40002, 81, 2000), near, 2000}, // closed
		{syn(t, src, far, 40003, 80, 3000), far, 3000},       // open, one router away
		{syn(t, src, far, 40004, 81, 4000), far, 4000},       // closed
	}
	before := time.Now()
	if n, err := c.WriteBatch(pkts); n != len(pkts) || err != nil {
		t.Fatalf("WriteBatch: %d %v", n, err)
	}
	replies := collectCraft(t, c, len(pkts), 2*time.Second)
	after := time.Now()
	stats(t, c, 0, uint64(len(pkts)))

	type want struct {
		from  netip.Addr
		flags craft.TCPFlags
		ttl   uint8
	}
	wants := map[uint16]want{
		40001: {near, craft.FlagSYN | craft.FlagACK, 64},
		40002: {near, craft.FlagRST | craft.FlagACK, 64},
		40003: {far, craft.FlagSYN | craft.FlagACK, 63},
		40004: {far, craft.FlagRST | craft.FlagACK, 63},
	}
	rxAt := map[uint32]time.Time{} // by the sequence number acknowledged
	for _, r := range replies {
		p := &r.p
		w, ok := wants[p.TCP.DstPort]
		if !ok || p.IP.Protocol != craft.ProtocolTCP {
			t.Errorf("unexpected reply %+v", p.IP)
			continue
		}
		delete(wants, p.TCP.DstPort)
		seq := uint32(p.TCP.DstPort-40000) * 1000
		if p.IP.Src != w.from || p.TCP.Flags != w.flags || p.TCP.Ack != seq+1 || p.IP.TTL != w.ttl ||
			!p.IPChecksumOK || !p.TCPChecksumOK || !r.kernel {
			t.Errorf("port %d: %v %v ack %d ttl %d checksums %v/%v kernel %v; want %v %v ack %d ttl %d", p.TCP.DstPort,
				p.IP.Src, p.TCP.Flags, p.TCP.Ack, p.IP.TTL, p.IPChecksumOK, p.TCPChecksumOK, r.kernel, w.from, w.flags, seq+1, w.ttl)
		}
		if p.TCP.Flags&craft.FlagSYN != 0 && (!p.TCP.Options.HasMSS || p.TCP.Options.MSS != 1460) {
			t.Errorf("port %d: SYN-ACK MSS %v %d", p.TCP.DstPort, p.TCP.Options.HasMSS, p.TCP.Options.MSS)
		}
		rxAt[seq] = r.at
	}
	if len(wants) != 0 {
		t.Fatalf("no reply for %v", wants)
	}

	stamps := txStamps(t, c, len(pkts), time.Second)
	if len(stamps) != len(pkts) {
		t.Fatalf("%d tx stamps for %d packets", len(stamps), len(pkts))
	}
	for _, s := range stamps {
		seq := stampSeq(t, s, mode)
		rx, ok := rxAt[seq]
		if !ok {
			t.Fatalf("tx stamp for seq %d, which was not sent", seq)
		}
		if !s.Kernel || s.Time.Before(before.Add(-time.Millisecond)) || s.Time.After(after) {
			t.Errorf("seq %d: tx stamp %v kernel %v, outside the call %v..%v", seq, s.Time, s.Kernel, before, after)
		}
		if rtt := rx.Sub(s.Time); rtt <= 0 || rtt > 2*time.Millisecond {
			t.Errorf("seq %d: kernel rx - tx = %v, want a positive lab round trip", seq, rtt)
		}
		delete(rxAt, seq)
	}
}

// stampSeq is the sequence number of the SYN a transmit stamp is for: its
// tag in mode stampTagged (the tests tag each SYN with its sequence
// number), read from the packet copy the stamp carries in mode stampCopy.
func stampSeq(t *testing.T, s TxStamp, mode stampMode) uint32 {
	t.Helper()
	if mode == stampTagged {
		if !s.HasID || s.N != 0 {
			t.Fatalf("tagged mode: stamp without its ID, or with a packet copy (%d bytes)", s.N)
		}
		return s.ID
	}
	if s.HasID {
		t.Fatalf("%v mode: stamp with an ID", mode)
	}
	var p craft.SegmentStart // the tap copies only the start
	if err := p.Decode(s.Buf[:s.N]); err != nil || p.Flags != craft.FlagSYN {
		t.Fatalf("tx stamp packet %x: %v", s.Buf[:s.N], err)
	}
	return p.Seq
}

// useStamps switches c to transmit-stamp mode m: stampTap (the default
// where the kernel gives a tap: the raw socket's stamps from the tap, the
// packet socket's tagged), or error-queue stamps on every socket,
// stampTagged or stampCopy (what a kernel before 6.13 gives). A mode this
// kernel should give and does not fails the test.
func useStamps(t *testing.T, c *Conn, m stampMode) {
	t.Helper()
	if c.stamps != stampTagged {
		t.Fatalf("this kernel does not tag transmit stamps (SCM_TS_OPT_ID): mode %d", c.stamps)
	}
	if m == stampTap {
		if c.tap == nil {
			t.Fatal("no packet tap for the raw socket's stamps")
		}
		return
	}
	c.closeTap()
	flags := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE
	if m == stampTagged {
		flags |= unix.SOF_TIMESTAMPING_OPT_ID | unix.SOF_TIMESTAMPING_OPT_TSONLY
	}
	if err := c.setTxStamping(flags); err != nil {
		t.Fatal(err)
	}
	c.stamps = m
}

// A next hop missing from the kernel's neighbour table is left to the
// kernel: the packet goes raw, the kernel resolves the neighbour (ARP), and
// later packets take the packet path. A STALE neighbour gets one packet
// raw, so that the kernel checks it again. Local destinations (lo has no
// Ethernet) and unroutable ones go raw, with the raw path's errors.
func TestPacketPathFallback(t *testing.T) {
	l := packetLab(t)
	near := l.Addr("near")
	var ifindex int
	neighState := func() (state int, hw net.HardwareAddr) {
		t.Helper()
		if err := l.Do(lab.ProberName, func() error {
			ns, err := netlink.NeighList(ifindex, unix.AF_INET)
			for _, n := range ns {
				if n.IP.Equal(near.AsSlice()) {
					state, hw = n.State, n.HardwareAddr
				}
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return
	}
	// The lab gives every link static neighbours: take near's away.
	if err := l.Do(lab.ProberName, func() error {
		link, err := netlink.LinkByName(lab.InterfaceTo("near"))
		if err != nil {
			return err
		}
		ifindex = link.Attrs().Index
		return netlink.NeighDel(&netlink.Neigh{LinkIndex: ifindex, Family: unix.AF_INET, IP: near.AsSlice()})
	}); err != nil {
		t.Fatal(err)
	}
	if st, _ := neighState(); st != 0 {
		t.Fatalf("neighbour still there, state %#x", st)
	}
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999, Tx: TxPacket})
	send := func(sport uint16, seq uint32) {
		t.Helper()
		if n, err := c.WriteBatch([]Outgoing{{syn(t, nearSrc, near, sport, 80, seq), near, 0}}); n != 1 || err != nil {
			t.Fatalf("WriteBatch: %d %v", n, err)
		}
		rs := collectCraft(t, c, 1, 2*time.Second)
		if len(rs) != 1 || rs[0].p.TCP.Flags != craft.FlagSYN|craft.FlagACK || rs[0].p.TCP.Ack != seq+1 || rs[0].p.TCP.DstPort != sport {
			t.Fatalf("seq %d: %d replies", seq, len(rs))
		}
	}
	send(40001, 100)
	stats(t, c, 1, 0)
	st, hw := neighState()
	if st != netlink.NUD_REACHABLE {
		t.Fatalf("after the raw packet the neighbour is in state %#x, want REACHABLE (%#x)", st, netlink.NUD_REACHABLE)
	}
	// Not a wait for an event: how long a missing neighbour is left to
	// the kernel is what is tested (the next packet after missRetry
	// takes the packet path).
	time.Sleep(missRetry + 20*time.Millisecond)
	send(40002, 200)
	stats(t, c, 1, 1)

	// STALE: one packet raw, which moves the kernel's entry to DELAY;
	// the next one takes the packet path.
	if err := l.Do(lab.ProberName, func() error {
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: ifindex, Family: unix.AF_INET, IP: near.AsSlice(), HardwareAddr: hw, State: netlink.NUD_STALE})
	}); err != nil {
		t.Fatal(err)
	}
	w := <-c.writers
	w.pk.invalidate() // rather than wait out cacheAge
	c.writers <- w
	send(40003, 300)
	stats(t, c, 2, 1)
	if st, _ := neighState(); st != netlink.NUD_DELAY && st != netlink.NUD_REACHABLE {
		t.Errorf("a STALE neighbour after a raw packet is in state %#x, want DELAY", st)
	}
	send(40004, 400)
	stats(t, c, 2, 2)

	// The prober's own address: routed through lo, which has no MAC.
	// The local stack answers the SYN to a closed port with a RST.
	self := l.Addr(lab.ProberName)
	if n, err := c.WriteBatch([]Outgoing{{syn(t, self, self, 40005, 9, 500), self, 0}}); n != 1 || err != nil {
		t.Fatalf("WriteBatch to self: %d %v", n, err)
	}
	if rs := collectCraft(t, c, 1, 2*time.Second); len(rs) != 1 || rs[0].p.TCP.Flags&craft.FlagRST == 0 || rs[0].p.TCP.Ack != 501 {
		t.Fatalf("SYN to self: %d replies", len(rs))
	}
	stats(t, c, 3, 2)

	// Nowhere: the raw path's error.
	nowhere := ip("192.0.2.1")
	if _, err := c.WriteBatch([]Outgoing{{syn(t, self, nowhere, 40006, 80, 1), nowhere, 0}}); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("send outside the lab: %v", err)
	}
	stats(t, c, 3, 2)
}

// 64 SYNs to 64 addresses of a /16 behind a router take the packet path
// (one cached route and one cached neighbour, not 64), all are answered,
// and a batch of 64 sends, their 64 transmit stamps and a receive batch
// allocate nothing.
func TestPacketPathBatchOf64(t *testing.T) {
	l := packetLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999, Tx: TxPacket})
	src := l.Addr(lab.ProberName)
	pkts := synsToSlash16(t, src)
	if n, err := c.WriteBatch(pkts); n != 64 || err != nil {
		t.Fatalf("WriteBatch: %d %v", n, err)
	}
	got := collectCraft(t, c, 64, 3*time.Second)
	seen := map[netip.Addr]bool{}
	for _, r := range got {
		if r.p.TCP.Flags == craft.FlagSYN|craft.FlagACK && r.p.TCP.Ack == uint32(r.p.TCP.DstPort-40100)+1 {
			seen[r.p.IP.Src] = true
		}
	}
	if len(seen) != 64 {
		t.Fatalf("%d of 64 SYN-ACKs", len(seen))
	}
	stats(t, c, 0, 64)
	if len(c.pk.routes) != 1 || len(c.pk.neigh) != 1 || c.pk.routes[0].mask != prefixMask(16) {
		t.Errorf("cached %d routes (%+v) and %d neighbours for one /16 behind one router", len(c.pk.routes), c.pk.routes, len(c.pk.neigh))
	}

	msgs := make([]Incoming, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 1500)
	}
	stamps := make([]TxStamp, 64)
	for i := range stamps {
		stamps[i].Buf = make([]byte, 128)
	}
	// Caches are re-read every cacheAge, which allocates (netlink); the
	// claim is about the batches in between, so no re-read may fall
	// inside the measurement.
	c.pk.age = time.Hour
	c.pk.invalidate()
	c.WriteBatch(pkts)
	// The replies first: one in means the batch has left, and each SYN's
	// stamp was taken on its way out, so the stamps are there to read.
	a := testing.AllocsPerRun(20, func() {
		c.WriteBatch(pkts)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		c.ReadBatch(msgs)
		c.ReadTxTimestamps(stamps)
	})
	t.Logf("%.1f allocations per batch of 64 sends on the packet path, 64 tx stamps, and a receive batch", a)
	if a != 0 {
		t.Errorf("%.1f allocations per batch", a)
	}
	stats(t, c, 0, 64*(1+1+21))
}

func TestNarrow(t *testing.T) {
	a := func(s string) uint32 { return be32(net.ParseIP(s).To4()) }
	pk := &packetTx{tableUntil: 1 << 62, table: []prefix4{
		{0, 0}, // default route
		{a("198.18.1.0"), 24}, {a("198.18.1.1"), 32}, {a("198.18.1.255"), 32},
		{a("198.19.0.0"), 16}, {a("127.0.0.0"), 8},
	}}
	for _, tc := range []struct {
		d    string
		p    prefix4
		want int
	}{
		{"10.1.2.3", prefix4{0, 0}, 5},                     // 8.0.0.0/5 holds no route, nor 0/8 or 127/8
		{"198.18.1.2", prefix4{a("198.18.1.0"), 24}, 31},   // .2/31: clear of .1 and .255
		{"198.18.1.100", prefix4{a("198.18.1.0"), 24}, 26}, // .64/26
		{"198.18.1.128", prefix4{a("198.18.1.0"), 24}, 26}, // .128/26: .128/25 would hold .255
		{"198.18.1.254", prefix4{a("198.18.1.0"), 24}, 32}, // its /31 holds .255
		{"198.18.1.0", prefix4{a("198.18.1.0"), 24}, 32},   // its /31 holds .1
		{"198.18.1.1", prefix4{a("198.18.1.0"), 24}, 32},   // inside a more specific route
		{"198.19.5.5", prefix4{a("198.19.0.0"), 16}, 16},   // nothing more specific
		{"198.18.5.5", prefix4{a("198.18.0.0"), 15}, 22},   // 198.18.4.0/22: clear of 198.18.1.0/24 and 198.19/16
		{"198.18.200.1", prefix4{a("198.18.0.0"), 15}, 17}, // 198.18.128.0/17
		{"192.0.2.1", prefix4{a("192.0.2.0"), 24}, 24},     // a route with nothing inside
		{"127.0.0.1", prefix4{a("127.0.0.0"), 8}, 8},       // the route itself is not more specific
		{"1.2.3.4", prefix4{a("1.2.3.4"), 32}, 32},         // a host route
		{"224.0.0.1", prefix4{0, 0}, 32},                   // multicast
		{"255.255.255.255", prefix4{0, 0}, 32},             // limited broadcast
	} {
		if got, ok := pk.narrow(a(tc.d), tc.p, 0); !ok || got != tc.want {
			t.Errorf("narrow(%s, %#x/%d) = %d %v, want %d", tc.d, tc.p.net, tc.p.bits, got, ok, tc.want)
		}
	}
	pk.tableTooBig = true
	if _, ok := pk.narrow(a("10.0.0.1"), prefix4{0, 0}, 0); ok {
		t.Errorf("narrowed against a table too big to read")
	}
}

// cpuTime is the user and system time the process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestIPv4Checksum(t *testing.T) {
	// A UDP packet's header, checksum field zeroed; its checksum is 0xb861.
	h := []byte{0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7}
	if got := ipv4Checksum(h); got != 0xb861 || got != craft.Checksum(h, 0) {
		t.Fatalf("checksum %#04x, want 0xb861 (craft: %#04x)", got, craft.Checksum(h, 0))
	}
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], htons(unix.ETH_P_IP))
	if b != [2]byte{0x08, 0x00} {
		t.Fatalf("htons(ETH_P_IP) is %x in memory", b)
	}
}

// TestTxRate measures WriteBatch in a tight loop of 256-packet batches on
// each path, for SYNPROBE_TX_RATE (a duration, e.g. 2s) each, twice each,
// alternating. It runs only when asked: it is a measurement, not a check.
//
//	SYNPROBE_TX_RATE=2s go test -run TestTxRate -v ./raw/
//
// The target is one sink on the prober's link, routed a /16, with static
// neighbours (no ARP). On veth the receiving namespace's work runs on the
// sender's CPU, so the sink matters: "ingress" drops every frame in its
// netdev ingress hook, which leaves mostly the sender to measure; "input"
// drops SYNs in its IP input hook, after the whole IP receive path.
func TestTxRate(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SYNPROBE_TX_RATE"))
	if err != nil || d <= 0 || d > time.Minute {
		t.Skip("set SYNPROBE_TX_RATE=2s (at most 1m) to measure")
	}
	for _, sink := range []string{"ingress", "input"} {
		t.Run(sink, func(t *testing.T) { txRate(t, sink, d) })
	}
}

func txRate(t *testing.T, sink string, d time.Duration) {
	node := lab.Node{Name: "sink", Role: lab.RoleTarget, Parent: lab.ProberName, Addr: ip("198.18.1.2"),
		Link: lab.Link{Subnet: pfx("198.18.1.0/24")}, Prefix: pfx("198.19.0.0/16")}
	if sink == "input" {
		node.Firewall = []lab.Rule{{Port: 0, Action: lab.Drop}}
	}
	l := labtest.Start(t, lab.Topology{Nodes: []lab.Node{node}})
	if sink == "ingress" {
		nft := l.Command(context.Background(), "sink", "nft", "-f", "-")
		nft.Stdin = strings.NewReader("table netdev sink {\n\tchain in {\n\t\ttype filter hook ingress device \"up\" priority -500; policy drop;\n\t}\n}\n")
		if out, err := nft.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
	}
	src := l.Addr(lab.ProberName)
	batch := make([]Outgoing, 256)
	for i := range batch {
		dst := netip.AddrFrom4([4]byte{198, 19, byte(i), byte(7 * i)})
		batch[i] = Outgoing{syn(t, src, dst, uint16(40000+i), 80, uint32(i)), dst, uint32(i)}
	}
	rxPackets := func() uint64 {
		var n uint64
		if err := l.Do("sink", func() error {
			link, err := netlink.LinkByName(lab.UplinkInterface)
			if err == nil {
				n = link.Attrs().Statistics.RxPackets
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const maxPackets = 50_000_000 // a bound on count as well as on time
	for _, tx := range []TxPath{TxRaw, TxPacket, TxRaw, TxPacket} {
		// NoTimestamps: the stamps are not read here, and the error
		// queue would only fill up.
		c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999, Tx: tx, NoTimestamps: true})
		c.WriteBatch(batch) // warm the caches
		rx0 := rxPackets()
		var sent uint64
		cpu0 := cpuTime(t)
		start := time.Now()
		for time.Since(start) < d && sent < maxPackets {
			n, err := c.WriteBatch(batch)
			if err != nil {
				t.Fatal(err)
			}
			sent += uint64(n)
		}
		el, cpu := time.Since(start), cpuTime(t)-cpu0
		// No wait for what is in flight: a veth counts a frame as
		// received by its peer as it hands it over, within the sending
		// call (veth_xmit), so the count is whole once WriteBatch returns
		// (it was the same 50 ms later in every run tried).
		rx := rxPackets() - rx0
		// The machine may be shared: CPU time per packet (user and
		// system, the receiving namespace's softirq included) is the
		// steadier figure.
		t.Logf("%-6v %8.0f packets/s sent, %8.0f/s arrived at the target (%d of %d in %v), %.0f ns CPU per packet; %+v",
			tx, float64(sent)/el.Seconds(), float64(rx)/el.Seconds(), rx, sent, el.Round(time.Millisecond),
			float64(cpu.Nanoseconds())/float64(sent), c.Stats())
		c.Close()
	}
}
