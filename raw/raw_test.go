//go:build linux

package raw

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"golang.org/x/sys/unix"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// A small lab: prober 198.18.1.1 — r (198.18.1.2) — web, reject, slow, big.
func testLab(t *testing.T) *lab.Lab {
	return labtest.Start(t, lab.Topology{Nodes: []lab.Node{
		{Name: "r", Role: lab.RoleRouter, Parent: lab.ProberName, Addr: ip("198.18.1.2"), Link: lab.Link{Subnet: pfx("198.18.1.0/24")}},
		{Name: "web", Role: lab.RoleTarget, Parent: "r", Addr: ip("198.18.10.10"), Link: lab.Link{Subnet: pfx("198.18.10.0/24")}, OpenPorts: []uint16{80}},
		{Name: "reject", Role: lab.RoleTarget, Parent: "r", Addr: ip("198.18.13.10"), Link: lab.Link{Subnet: pfx("198.18.13.0/24")},
			Firewall: []lab.Rule{{Port: 25, Action: lab.RejectPortUnreach}}},
		{Name: "slow", Role: lab.RoleTarget, Parent: lab.ProberName, Addr: ip("198.18.14.10"),
			Link: lab.Link{Subnet: pfx("198.18.14.0/24"), DelayDown: 10 * time.Millisecond, DelayUp: 10 * time.Millisecond}, OpenPorts: []uint16{80}},
		{Name: "big", Role: lab.RoleTarget, Parent: "r", Addr: ip("198.18.17.10"), Link: lab.Link{Subnet: pfx("198.18.17.0/24")}, OpenPorts: []uint16{80}, Prefix: pfx("198.19.0.0/16")},
	}})
}

func listen(t *testing.T, l *lab.Lab, cfg *Config) *Conn {
	t.Helper()
	var c *Conn
	if err := l.Do(lab.ProberName, func() (err error) { c, err = Listen(cfg); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// syn builds a SYN with gopacket, an encoder independent of synprobe's.
func syn(t testing.TB, src, dst netip.Addr, sport, dport uint16, seq uint32) []byte {
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Flags: layers.IPv4DontFragment}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, SYN: true, Window: 64240,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}
	tcp.SetNetworkLayerForChecksum(ip4)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ip4, tcp); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), sb.Bytes()...)
}

type reply struct {
	src    netip.Addr
	tcp    *layers.TCP
	icmp   *layers.ICMPv4
	inner  []byte
	at     time.Time
	kernel bool
}

// readReplies reads replies until want of them were kept or d passed:
// keep decodes each, and says whether it counts.
func readReplies(t *testing.T, c *Conn, want int, d time.Duration, keep func(m *Incoming) bool) {
	t.Helper()
	msgs := make([]Incoming, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	got := 0
	deadline := time.Now().Add(d)
	for got < want && time.Now().Before(deadline) {
		c.SetReadDeadline(deadline)
		n, err := c.ReadBatch(msgs)
		if err != nil && !os.IsTimeout(err) {
			t.Fatal(err)
		}
		for i := range msgs[:n] {
			if keep(&msgs[i]) {
				got++
			}
		}
	}
}

// collect reads replies until want of them arrived or the deadline,
// decoding each with gopacket.
func collect(t *testing.T, c *Conn, want int, d time.Duration) []reply {
	t.Helper()
	var out []reply
	readReplies(t, c, want, d, func(m *Incoming) bool {
		p := gopacket.NewPacket(m.Buf[:m.N], layers.LayerTypeIPv4, gopacket.Default)
		r := reply{at: m.Time, kernel: m.Kernel}
		if l := p.Layer(layers.LayerTypeIPv4); l != nil {
			r.src, _ = netip.AddrFromSlice(l.(*layers.IPv4).SrcIP.To4())
		}
		if l := p.Layer(layers.LayerTypeTCP); l != nil {
			r.tcp = l.(*layers.TCP)
		}
		if l := p.Layer(layers.LayerTypeICMPv4); l != nil {
			r.icmp = l.(*layers.ICMPv4)
			r.inner = r.icmp.Payload
		}
		out = append(out, r)
		return true
	})
	return out
}

func TestHandshakeThroughRawSockets(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	src := l.Addr(lab.ProberName)
	web := l.Addr("web")
	pkts := []Outgoing{
		{syn(t, src, web, 40001, 80, 1000), web, 0},                               // open: SYN-ACK
		{syn(t, src, web, 40002, 81, 2000), web, 0},                               // closed: RST
		{syn(t, src, web, 1000, 80, 3000), web, 0},                                // outside the port range: filtered by BPF
		{syn(t, src, ip("198.18.13.10"), 40003, 25, 4000), ip("198.18.13.10"), 0}, // ICMP port unreachable
	}
	if n, err := c.WriteBatch(pkts); n != len(pkts) || err != nil {
		t.Fatalf("WriteBatch: %d %v", n, err)
	}
	got := collect(t, c, 3, 2*time.Second)
	// Give the out-of-range reply time to arrive, and make sure it doesn't.
	got = append(got, collect(t, c, 1, 300*time.Millisecond)...)
	var synack, rst, icmp bool
	for _, r := range got {
		switch {
		case r.tcp != nil && r.tcp.DstPort == 1000:
			t.Errorf("BPF let through a segment to port 1000")
		case r.tcp != nil && r.tcp.SYN && r.tcp.ACK && r.tcp.DstPort == 40001:
			synack = r.tcp.Ack == 1001
		case r.tcp != nil && r.tcp.RST && r.tcp.DstPort == 40002:
			rst = r.tcp.Ack == 2001
		case r.icmp != nil:
			icmp = r.icmp.TypeCode.Type() == 3 && r.icmp.TypeCode.Code() == 3 && r.src == ip("198.18.13.10")
		}
		if !r.kernel {
			t.Errorf("reply without a kernel receive timestamp")
		}
	}
	if !synack || !rst || !icmp {
		t.Fatalf("SYN-ACK %v, RST %v, ICMP port-unreachable %v (got %d replies)", synack, rst, icmp, len(got))
	}
}

func TestTimestamps(t *testing.T) {
	l := testLab(t)
	for _, mode := range []stampMode{stampTap, stampTagged, stampCopy} {
		t.Run(mode.String(), func(t *testing.T) { timestamps(t, l, mode) })
	}
}

func timestamps(t *testing.T, l *lab.Lab, mode stampMode) {
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	if tx, rx := c.KernelTimestamps(); !tx || !rx {
		t.Fatalf("kernel timestamps tx %v rx %v", tx, rx)
	}
	useStamps(t, c, mode)
	src := l.Addr(lab.ProberName)
	for _, tc := range []struct {
		dst      netip.Addr
		min, max time.Duration
	}{
		{l.Addr("web"), 0, 2 * time.Millisecond},
		{l.Addr("slow"), 19 * time.Millisecond, 24 * time.Millisecond},
	} {
		// Warm up: the first packet each way waits for ARP, which crosses
		// the delayed link too.
		c.WriteBatch([]Outgoing{{syn(t, src, tc.dst, 40011, 80, 1), tc.dst, 0}})
		collect(t, c, 1, 2*time.Second)
		if got := txStamps(t, c, 1, 2*time.Second); len(got) != 1 { // out of the way of the one measured
			t.Fatalf("warm-up to %v: %d tx stamps, want 1", tc.dst, len(got))
		}
		before := time.Now()
		if _, err := c.WriteBatch([]Outgoing{{syn(t, src, tc.dst, 40010, 80, 77), tc.dst, 77}}); err != nil {
			t.Fatal(err)
		}
		rs := collect(t, c, 1, 2*time.Second)
		after := time.Now()
		stamps := make([]TxStamp, 8)
		for i := range stamps {
			stamps[i].Buf = make([]byte, 128)
		}
		n, err := c.ReadTxTimestamps(stamps)
		if err != nil || n != 1 || len(rs) != 1 {
			t.Fatalf("%v: %d tx stamps (%v), %d replies", tc.dst, n, err, len(rs))
		}
		st := stamps[0]
		// The stamp carries its tag, or a copy of its packet: the SYN we
		// sent, as an independent decoder reads it.
		if mode != stampTagged {
			p := gopacket.NewPacket(st.Buf[:st.N], layers.LayerTypeIPv4, gopacket.Default)
			tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if st.HasID || tcp == nil || tcp.Seq != 77 || !tcp.SYN || !st.Kernel {
				t.Fatalf("tx stamp packet %x kernel %v", st.Buf[:st.N], st.Kernel)
			}
		} else if !st.HasID || st.ID != 77 || st.N != 0 || !st.Kernel {
			t.Fatalf("tx stamp tagged %v %d, %d bytes copied, kernel %v; want the tag 77 and no copy", st.HasID, st.ID, st.N, st.Kernel)
		}
		rtt := rs[0].at.Sub(st.Time)
		if st.Time.Before(before.Add(-time.Millisecond)) || rs[0].at.After(after.Add(time.Millisecond)) {
			t.Errorf("kernel times outside the call: tx %v rx %v, user %v..%v", st.Time, rs[0].at, before, after)
		}
		if rtt < tc.min || rtt > tc.max || rtt > after.Sub(before) {
			t.Errorf("%v: kernel RTT %v, want %v..%v and at most the user-space %v", tc.dst, rtt, tc.min, tc.max, after.Sub(before))
		}
	}
}

// The kernel's answer to the per-message stamp ID decides the stamp mode:
// this kernel (6.13 or later) takes SCM_TS_OPT_ID, and a control message
// it does not know is refused, as SCM_TS_OPT_ID is on older kernels, which
// then get stamps with packet copies. Tagged stamps also reach many at a
// time: 300 sends (more than one recvmmsg takes) come back with their 300
// tags, each once. (The raw socket's stamps come from the tap unless the
// test turns it off: the kernel takes SCM_TS_OPT_ID only on a socket with
// SOF_TIMESTAMPING_OPT_ID set.)
func TestStampModes(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	if c.tap == nil {
		t.Fatal("no packet tap for the raw socket's stamps")
	}
	useStamps(t, c, stampTagged)
	if !c.takesOptID(scmTsOptID) || c.stamps != stampTagged {
		t.Fatalf("SCM_TS_OPT_ID refused (mode %d): this kernel is 6.13 or later", c.stamps)
	}
	if c.takesOptID(200) {
		t.Fatal("an unknown control message type was taken: the probe cannot tell an old kernel")
	}
	src, dst := l.Addr(lab.ProberName), ip("198.19.2.1")
	batch := make([]Outgoing, 150)
	for i := range batch {
		batch[i] = Outgoing{syn(t, src, dst, uint16(40000+i), 9, 1), dst, uint32(1000 + i)}
	}
	for range 2 {
		if n, err := c.WriteBatch(batch); n != len(batch) || err != nil {
			t.Fatalf("WriteBatch: %d %v", n, err)
		}
		for i := range batch {
			batch[i].ID += uint32(len(batch))
		}
	}
	// Every SYN answered has left, and its stamp was queued as it left
	// (in the sending call: the link has no queue).
	if got := collect(t, c, 2*len(batch), 2*time.Second); len(got) != 2*len(batch) {
		t.Fatalf("%d replies to %d SYNs", len(got), 2*len(batch))
	}
	stamps := make([]TxStamp, 400) // no buffers: tagged stamps need none
	n, err := c.ReadTxTimestamps(stamps)
	if err != nil || n != 300 {
		t.Fatalf("%d stamps (%v), want 300", n, err)
	}
	seen := map[uint32]bool{}
	for _, s := range stamps[:n] {
		if !s.HasID || s.ID < 1000 || s.ID >= 1300 || seen[s.ID] || !s.Kernel {
			t.Fatalf("stamp %+v (seen before: %v)", s, seen[s.ID])
		}
		seen[s.ID] = true
	}
}

func TestBatchOf64(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	src := l.Addr(lab.ProberName)
	pkts := synsToSlash16(t, src)
	if n, err := c.WriteBatch(pkts); n != 64 || err != nil {
		t.Fatalf("WriteBatch: %d %v", n, err)
	}
	got := collect(t, c, 64, 3*time.Second)
	seen := map[netip.Addr]bool{}
	for _, r := range got {
		if r.tcp != nil && r.tcp.SYN && r.tcp.ACK && r.tcp.Ack == uint32(r.tcp.DstPort-40100)+1 {
			seen[r.src] = true
		}
	}
	if len(seen) != 64 {
		t.Fatalf("%d of 64 SYN-ACKs", len(seen))
	}
}

func TestRoute(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, nil)
	r, err := c.Route(l.Addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Src != l.Addr(lab.ProberName) || r.Ifname != "to-r" || r.Gateway != ip("198.18.1.2") {
		t.Fatalf("route %+v", r)
	}
	// Nothing outside the lab is routable from the prober.
	if _, err := c.Route(ip("192.0.2.1")); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("route outside the lab: %v", err)
	}
	if _, err := c.WriteBatch([]Outgoing{{syn(t, ip("198.18.1.1"), ip("192.0.2.1"), 40000, 80, 1), ip("192.0.2.1"), 0}}); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("send outside the lab: %v", err)
	}
	// A destination without a route is that destination's failure:
	// however many in a row, each is ErrNoRoute (the kernel refuses them;
	// nothing leaves), and the next routable one goes out.
	for i := range 10 {
		_, err := c.WriteBatch([]Outgoing{{syn(t, ip("198.18.1.1"), ip("192.0.2.1"), 40000+uint16(i), 80, 1), ip("192.0.2.1"), 0}})
		if !errors.Is(err, ErrNoRoute) || errors.Is(err, ErrFirewall) {
			t.Fatalf("unroutable send %d: %v, want only %v", i+1, err, ErrNoRoute)
		}
	}
	if n, err := c.WriteBatch([]Outgoing{{syn(t, ip("198.18.1.1"), l.Addr("web"), 40010, 80, 1), l.Addr("web"), 0}}); n != 1 || err != nil {
		t.Fatalf("routable send after them: %d %v", n, err)
	}
}

func TestWithoutCapNetRaw(t *testing.T) {
	l := testLab(t)
	err := l.Do(lab.ProberName, func() error {
		// Capabilities are per thread: drop CAP_NET_RAW from this one
		// (Do's thread is never reused) and try to open the sockets.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		runtime.LockOSThread()
		_, err := Listen(nil)
		return err
	})
	if !errors.Is(err, ErrPermission) || !errors.Is(err, os.ErrPermission) || !errors.Is(err, unix.EPERM) {
		t.Fatalf("Listen without CAP_NET_RAW: %v", err)
	}
	// What happened, on one line; what to do about it is the command's
	// to say.
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "raw sockets need CAP_NET_RAW: ") || !strings.Contains(msg, "operation not permitted") ||
		strings.Contains(msg, "setcap") || strings.Contains(msg, "run as root") {
		t.Fatalf("message %q", msg)
	}
}

func TestAllocations(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	src := l.Addr(lab.ProberName)
	dst := ip("198.19.1.1")
	batch := make([]Outgoing, 64)
	for i := range batch {
		batch[i] = Outgoing{syn(t, src, dst, uint16(40000+i), 9, 1), dst, uint32(i)}
	}
	msgs := make([]Incoming, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 1500)
	}
	stamps := make([]TxStamp, 64)
	for i := range stamps {
		stamps[i].Buf = make([]byte, 128)
	}
	// The replies first: one in means the batch has left, and each SYN's
	// stamp was taken on its way out, so the stamps are there to read.
	a := testing.AllocsPerRun(20, func() {
		c.WriteBatch(batch)
		// A deadline long enough for a loaded machine: a read that times
		// out builds its error, an allocation this test is not about.
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.ReadBatch(msgs)
		c.ReadTxTimestamps(stamps)
	})
	t.Logf("%.1f allocations per batch of 64 sends, 64 tx stamps, and a receive batch", a)
	if a != 0 {
		t.Errorf("%.1f allocations per batch", a)
	}
}

func TestIPStart(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 1, 1, 198, 18, 10, 10}
	// A frame whose destination MAC begins with 0x46, which is also a
	// plausible IPv4 version/IHL byte.
	eth := append([]byte{0x46, 1, 2, 3, 4, 5, 0x4e, 1, 2, 3, 4, 5, 0x08, 0x00}, ip...)
	if got := ipStart(eth); len(got) != 20 || got[12] != 198 {
		t.Fatalf("ethernet frame: %x", got)
	}
	if got := ipStart(ip); len(got) != 20 {
		t.Fatalf("bare packet: %x", got)
	}
	if got := ipStart([]byte{1, 2, 3}); got != nil {
		t.Fatalf("garbage: %x", got)
	}
}

// TestConcurrentWriters: four goroutines call WriteBatch at once on a Conn
// with four writers, 4 x 4 batches of 64 SYNs to the /16 behind the lab's
// routers. Every SYN is answered (each SYN-ACK acknowledges its own SYN,
// as gopacket decodes it), every packet gets one kernel transmit stamp,
// from the tap with a copy of the packet or from the error queue tagged
// with its ID, and Stats counts every packet.
func TestConcurrentWriters(t *testing.T) {
	l := testLab(t)
	for _, mode := range []stampMode{stampTap, stampTagged} {
		t.Run(mode.String(), func(t *testing.T) { concurrentWriters(t, l, mode) })
	}
}

func concurrentWriters(t *testing.T, l *lab.Lab, mode stampMode) {
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999, Writers: 4})
	useStamps(t, c, mode)
	src := l.Addr(lab.ProberName)
	const writers, batches = 4, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				pkts := make([]Outgoing, 64)
				for i := range pkts {
					id := uint32(w*batches*64 + b*64 + i + 1)
					dst := netip.AddrFrom4([4]byte{198, 19, byte(id >> 8), byte(id)})
					pkts[i] = Outgoing{syn(t, src, dst, uint16(40000+id%1000), 80, id), dst, id}
				}
				if n, err := c.WriteBatch(pkts); n != len(pkts) || err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %d sent: %v", w, b, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = writers * batches * 64
	got := collect(t, c, total, 5*time.Second)
	answered := map[uint32]bool{}
	for _, r := range got {
		if r.tcp != nil && r.tcp.SYN && r.tcp.ACK {
			id := r.tcp.Ack - 1
			if want := netip.AddrFrom4([4]byte{198, 19, byte(id >> 8), byte(id)}); r.src == want {
				answered[id] = true
			}
		}
	}
	if len(answered) != total {
		t.Errorf("%d of %d SYNs answered", len(answered), total)
	}
	ids := map[uint32]int{}
	for _, st := range txStamps(t, c, total, 3*time.Second) {
		if st.Kernel {
			ids[stampSeq(t, st, mode)]++ // each SYN's sequence number is its ID
		}
	}
	for id := uint32(1); id <= total; id++ {
		if ids[id] != 1 {
			t.Fatalf("ID %d: %d kernel stamps, want 1 (%d IDs stamped)", id, ids[id], len(ids))
		}
	}
	if st := c.Stats(); st.Raw != total || st.Packet != 0 {
		t.Errorf("stats %+v, want %d raw", st, total)
	}
}

// segment builds a TCP segment with gopacket, flags set by set.
func segment(t testing.TB, src, dst netip.Addr, sport, dport uint16, seq uint32, set func(*layers.TCP)) []byte {
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: 1, Window: 64240}
	set(tcp)
	tcp.SetNetworkLayerForChecksum(ip4)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ip4, tcp); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), sb.Bytes()...)
}

// TestTapStampsOnlySYNsFromTheRange: the tap stamps the outgoing SYNs
// whose source port is in the Conn's range, first and last port included,
// and nothing else: not SYNs from just outside the range, not a RST or a
// SYN-ACK from inside it, not the target's SYN-ACKs coming in, not the
// RSTs the kernel sends back to those. A SYN the kernel's own TCP sends
// from a port in the range is stamped too, which is why the engine keeps
// only stamps carrying its cookie. Each stamp carries its packet, as
// gopacket decodes it, and a kernel time inside the sending call.
func TestTapStampsOnlySYNsFromTheRange(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	useStamps(t, c, stampTap)
	src, dst := l.Addr(lab.ProberName), l.Addr("web")
	rst := func(tcp *layers.TCP) { tcp.RST = true }
	synAck := func(tcp *layers.TCP) { tcp.SYN, tcp.ACK = true, true }
	before := time.Now()
	pkts := []Outgoing{
		{syn(t, src, dst, 40000, 80, 101), dst, 0},
		{syn(t, src, dst, 39999, 80, 102), dst, 0},
		{syn(t, src, dst, 41000, 80, 103), dst, 0},
		{segment(t, src, dst, 40002, 80, 104, rst), dst, 0},
		{segment(t, src, dst, 40003, 80, 105, synAck), dst, 0},
		{syn(t, src, dst, 40999, 80, 106), dst, 0},
	}
	if n, err := c.WriteBatch(pkts); n != len(pkts) || err != nil {
		t.Fatalf("WriteBatch: %d %v", n, err)
	}
	sent := time.Now()
	var kernelPort int
	if err := l.Do(lab.ProberName, func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice(), Port: 40500}, Timeout: 2 * time.Second}
		conn, err := d.Dial("tcp", netip.AddrPortFrom(dst, 80).String())
		if err != nil {
			return err
		}
		kernelPort = conn.LocalAddr().(*net.TCPAddr).Port
		return conn.Close()
	}); err != nil {
		t.Fatal(err)
	}
	collect(t, c, 2, time.Second) // the SYN-ACKs to 40000 and 40999
	// Each stamp the tap takes is in its ring before its packet leaves:
	// the answered SYNs' are there now. Stamps that must not come (the
	// RST, the SYN-ACK, the ports outside the range) get 300 ms more:
	// txStamps waits that long for 10 and 3 should come.
	got := map[uint16]uint32{}
	for _, st := range txStamps(t, c, 10, 300*time.Millisecond) {
		p := gopacket.NewPacket(st.Buf[:st.N], layers.LayerTypeIPv4, gopacket.Default)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if st.HasID || !st.Kernel || tcp == nil || !tcp.SYN || tcp.ACK || tcp.RST {
			t.Fatalf("stamp %+v: packet %x", st, st.Buf[:st.N])
		}
		if _, dup := got[uint16(tcp.SrcPort)]; dup {
			t.Fatalf("port %d stamped twice", tcp.SrcPort)
		}
		got[uint16(tcp.SrcPort)] = tcp.Seq
		if uint16(tcp.SrcPort) != uint16(kernelPort) && (st.Time.Before(before) || st.Time.After(sent)) {
			t.Errorf("port %d: stamp %v outside the call %v..%v", tcp.SrcPort, st.Time, before, sent)
		}
	}
	if len(got) != 3 || got[40000] != 101 || got[40999] != 106 || kernelPort != 40500 {
		t.Errorf("stamped ports and sequence numbers %v, want 40000:101 40999:106 and the kernel's SYN from %d", got, kernelPort)
	} else if _, ok := got[40500]; !ok {
		t.Errorf("the kernel's SYN from 40500 was not stamped: %v", got)
	}
}

// TestTapStampsLost: a tap whose ring nobody reads fills up. Of 40,000
// SYNs the ring keeps one stamp per frame, the kernel counts the others
// dropped (PACKET_STATISTICS), Stats reports them, and the stamps read and
// lost add up to the SYNs sent.
func TestTapStampsLost(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	useStamps(t, c, stampTap)
	src := l.Addr(lab.ProberName)
	send := func(from, to int) {
		t.Helper()
		pkts := make([]Outgoing, 0, batchMax)
		for i := from; i < to; {
			pkts = pkts[:0]
			for ; len(pkts) < batchMax && i < to; i++ {
				dst := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
				pkts = append(pkts, Outgoing{syn(t, src, dst, uint16(40000+i%1000), 80, uint32(i)), dst, 0})
			}
			for sent := 0; sent < len(pkts); {
				n, err := c.WriteBatch(pkts[sent:])
				if err != nil {
					t.Fatal(err)
				}
				sent += n
			}
		}
	}
	// The router's MAC first: a packet waiting for ARP reaches no tap.
	send(0, 1)
	if got := txStamps(t, c, 1, time.Second); len(got) != 1 {
		t.Fatalf("%d stamps for the first SYN", len(got))
	}
	const total = 40000
	send(1, 1+total)
	// No wait: the tap copies each SYN into its ring, or counts it
	// dropped, in the sending call (the link has no queue), so the ring
	// holds all it will once send returns.
	read := len(txStamps(t, c, total, time.Second))
	lost := c.Stats().StampsLost
	if read != tapFrames || uint64(read)+lost != total {
		t.Errorf("%d stamps read and %d lost for %d SYNs, want %d read (the ring's frames) and the rest lost", read, lost, total, tapFrames)
	}
}

// TestCloseWhileReadingStamps: Close while another goroutine reads
// transmit stamps from the tap, as a command's second Ctrl-C does while
// the engine still receives. The read under way finishes, later reads
// return nothing, and nothing panics (it did: the ring was unmapped
// under the read, "slice bounds out of range"); run with -race too.
func TestCloseWhileReadingStamps(t *testing.T) {
	l := testLab(t)
	c := listen(t, l, &Config{PortLo: 40000, PortHi: 40999})
	useStamps(t, c, stampTap)
	src := l.Addr(lab.ProberName)
	done := make(chan int)
	var reads atomic.Int64
	go func() {
		buf := make([]TxStamp, 64)
		for i := range buf {
			buf[i].Buf = make([]byte, 128)
		}
		got := 0
		for {
			n, err := c.ReadTxTimestamps(buf)
			got += n
			if reads.Add(1) > 1000 && n == 0 && err == nil && c.closedForTest() {
				done <- got
				return
			}
		}
	}()
	for i := range 2000 {
		dst := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		if _, err := c.WriteBatch([]Outgoing{{syn(t, src, dst, uint16(40000+i%1000), 80, uint32(i)), dst, 0}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		t.Logf("%d stamps read before and while closing", got)
	case <-time.After(10 * time.Second):
		t.Fatal("the reading goroutine did not see the close")
	}
}

// synsToSlash16 is 64 SYNs from src to 64 addresses of 198.19.0.0/16, to
// port 80 from ports 40100 to 40163, each with its number as sequence
// number and as ID.
func synsToSlash16(t *testing.T, src netip.Addr) []Outgoing {
	var pkts []Outgoing
	for i := range 64 {
		dst := netip.AddrFrom4([4]byte{198, 19, byte(i), byte(3 * i)})
		pkts = append(pkts, Outgoing{syn(t, src, dst, uint16(40100+i), 80, uint32(i)), dst, uint32(i)})
	}
	return pkts
}
