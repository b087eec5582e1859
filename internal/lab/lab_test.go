//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/synprobe/synprobe/internal/privileged"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// testTopo: prober — r1 — r2 — most targets; slow and lossy hang off r1.
func testTopo() Topology {
	return Topology{Nodes: []Node{
		{Name: "r1", Role: RoleRouter, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}},
		{Name: "r2", Role: RoleRouter, Parent: "r1", Addr: ip("198.18.2.2"), Link: Link{Subnet: pfx("198.18.2.0/24")}},
		{Name: "web", Role: RoleTarget, Parent: "r2", Addr: ip("198.18.10.10"), Link: Link{Subnet: pfx("198.18.10.0/24")}, OpenPorts: []uint16{22, 80, 443}},
		{Name: "win", Role: RoleTarget, Parent: "r2", Addr: ip("198.18.11.10"), Link: Link{Subnet: pfx("198.18.11.0/24")}, OpenPorts: []uint16{445}, InitialTTL: 128, AdvMSS: 1360, TCPRmem: "4096 262144 8388608"},
		{Name: "fw", Role: RoleTarget, Parent: "r2", Addr: ip("198.18.12.10"), Link: Link{Subnet: pfx("198.18.12.0/24")}, OpenPorts: []uint16{22}, Firewall: []Rule{{0, Drop}}},
		{Name: "rej", Role: RoleTarget, Parent: "r2", Addr: ip("198.18.13.10"), Link: Link{Subnet: pfx("198.18.13.0/24")},
			Firewall: []Rule{{23, RejectRST}, {25, RejectPortUnreach}, {26, RejectHostUnreach}, {0, RejectAdminProhibited}}},
		{Name: "slow", Role: RoleTarget, Parent: "r1", Addr: ip("198.18.14.10"), Link: Link{Subnet: pfx("198.18.14.0/24"), DelayDown: 20 * time.Millisecond, DelayUp: 20 * time.Millisecond}, OpenPorts: []uint16{80}},
		{Name: "lossy", Role: RoleTarget, Parent: "r1", Addr: ip("198.18.15.10"), Link: Link{Subnet: pfx("198.18.15.0/24"), LossDown: 0.10, LossUp: 0.10}, OpenPorts: []uint16{80}},
		{Name: "clamp", Role: RoleTarget, Parent: "r2", Addr: ip("198.18.16.10"), Link: Link{Subnet: pfx("198.18.16.0/24"), ClampMSS: 1200}, OpenPorts: []uint16{80}},
		{Name: "big", Role: RoleTarget, Parent: "r2", Addr: ip("198.18.17.10"), Link: Link{Subnet: pfx("198.18.17.0/24")}, OpenPorts: []uint16{80}, Prefix: pfx("198.19.0.0/16")},
	}}
}

// dial connects from the prober's namespace with the kernel's own TCP.
func dial(l *Lab, addr string, timeout time.Duration) (c *net.TCPConn, err error) {
	err = l.Do(ProberName, func() error {
		conn, err := net.DialTimeout("tcp4", addr, timeout)
		if err == nil {
			c = conn.(*net.TCPConn)
		}
		return err
	})
	return c, err
}

func TestLab(t *testing.T) {
	l := startT(t, testTopo())
	if l.WireMode != WireNetem && l.WireMode != WireUser {
		t.Fatalf("links with delay but WireMode %q", l.WireMode)
	}
	t.Logf("delay and loss made by: %s", l.WireMode)

	t.Run("open and closed", func(t *testing.T) {
		c, err := dial(l, "198.18.10.10:80", 2*time.Second)
		if err != nil {
			t.Fatalf("open port: %v", err)
		}
		c.Close()
		if _, err := dial(l, "198.18.10.10:81", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("closed port: %v, want connection refused", err)
		}
	})

	t.Run("TTL two hops away", func(t *testing.T) {
		for _, c := range []struct {
			node string
			want int
		}{{"web", 62}, {"win", 126}} {
			if got := udpEchoTTL(t, l, c.node); got != c.want {
				t.Errorf("%s: reply TTL %d, want %d", c.node, got, c.want)
			}
			if e := l.Topo.Expect(c.node); e.ReplyTTL != c.want {
				t.Errorf("%s: Expect says reply TTL %d, the kernel %d", c.node, e.ReplyTTL, c.want)
			}
		}
	})

	t.Run("MSS advertised and clamped", func(t *testing.T) {
		for _, c := range []struct {
			addr string
			want int
		}{{"198.18.11.10:445", 1360}, {"198.18.16.10:80", 1200}, {"198.18.10.10:80", 1460}} {
			conn, err := dial(l, c.addr, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			mss, ts := learnedMSS(t, conn)
			conn.Close()
			// TCP_MAXSEG is the peer's MSS less the 12 bytes a
			// timestamps option takes in every segment.
			if ts {
				mss += 12
			}
			if mss != c.want {
				t.Errorf("%s: peer MSS %d, want %d", c.addr, mss, c.want)
			}
			node := map[string]string{"198.18.11.10": "win", "198.18.16.10": "clamp", "198.18.10.10": "web"}[strings.Split(c.addr, ":")[0]]
			if e := l.Topo.Expect(node); e.MSS != mss {
				t.Errorf("%s: Expect says MSS %d, the kernel learned %d", node, e.MSS, mss)
			}
		}
	})

	t.Run("window of the SYN-ACK", func(t *testing.T) {
		// Read off the wire with gopacket, from SYN-ACKs answering the
		// kernel's own connects: the TTL-128 host's receive buffer
		// (TCPRmem) makes it advertise another window than plain Linux.
		web, _ := synAckSeen(t, l, "198.18.10.10:80")
		win, winScale := synAckSeen(t, l, "198.18.11.10:445")
		t.Logf("SYN-ACK windows: web %d, win %d (scale %d)", web.Window, win.Window, winScale)
		if win.Window != 65535 {
			t.Errorf("win: SYN-ACK window %d, want 65535", win.Window)
		}
		if web.Window == win.Window || web.Window >= 65535 {
			t.Errorf("web: SYN-ACK window %d, want Linux's default, below 65535 and unlike win's %d", web.Window, win.Window)
		}
		// The scale follows the larger of tcp_rmem's maximum (8 MiB
		// here) and the machine-wide net.core.rmem_max.
		if b, err := os.ReadFile("/proc/sys/net/core/rmem_max"); err == nil {
			var rmemMax int
			fmt.Sscan(string(b), &rmemMax)
			if rmemMax <= 8<<20 && winScale != 8 {
				t.Errorf("win: window scale %d, want 8 (rmem_max %d)", winScale, rmemMax)
			}
		}
	})

	t.Run("delay 20ms each way", func(t *testing.T) {
		var rtts []time.Duration
		for range 9 {
			// Timed inside the namespace, around the connect alone.
			var took time.Duration
			err := l.Do(ProberName, func() error {
				start := time.Now()
				c, err := net.DialTimeout("tcp4", "198.18.14.10:80", 5*time.Second)
				took = time.Since(start)
				if err == nil {
					c.Close()
				}
				return err
			})
			if err != nil {
				down, up, _ := l.WireCounts("slow")
				t.Fatalf("connect over the delayed link: %v (after %v; wire down %+v, up %+v)", err, rtts, down, up)
			}
			rtts = append(rtts, took)
		}
		// The first connect crosses no ARP exchange (static neighbours):
		// an ARP round trip over the wire would add 40 ms to it.
		if rtts[0] > 60*time.Millisecond {
			t.Errorf("first connect took %v: did ARP cross the wire?", rtts[0])
		}
		slices.Sort(rtts)
		med := rtts[len(rtts)/2]
		t.Logf("connect times over 20ms+20ms (%s wire): %v", l.WireMode, rtts)
		if med < 40*time.Millisecond || med > 44*time.Millisecond {
			t.Fatalf("median connect time %v over 20ms+20ms, want 40ms within 4ms (all %v)", med, rtts)
		}
	})

	t.Run("loss 10 percent", func(t *testing.T) {
		// Each direction on its own: Binomial(1000, 0.1) has mean 100
		// and sd 9.5, so 60..140 is over 4 sd either side.
		for _, d := range [][2]string{{ProberName, "lossy"}, {"lossy", ProberName}} {
			lost := udpLoss(t, l, d[0], d[1], 1000)
			t.Logf("%s → %s: %d of 1000 lost", d[0], d[1], lost)
			if lost < 60 || lost > 140 {
				t.Errorf("%s → %s: %d of 1000 lost, want about 100", d[0], d[1], lost)
			}
		}
		if l.WireMode == WireUser {
			down, up, ok := l.WireCounts("lossy")
			if !ok || down.Dropped < 60 || up.Dropped < 60 || down.Failed+up.Failed != 0 {
				t.Errorf("wire counts: down %+v, up %+v (ok %v)", down, up, ok)
			}
			t.Logf("wire counts: down %+v, up %+v", down, up)
		}
		// The undelayed, lossless web host loses nothing.
		if lost := udpLoss(t, l, ProberName, "web", 200); lost != 0 {
			t.Errorf("prober → web: %d of 200 lost on a clean path", lost)
		}
	})

	t.Run("firewall", func(t *testing.T) {
		if _, err := dial(l, "198.18.12.10:22", 700*time.Millisecond); !isTimeout(err) {
			t.Errorf("drop: %v, want a timeout", err)
		}
		if _, err := dial(l, "198.18.13.10:23", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("reject with RST: %v", err)
		}
		for _, c := range []struct {
			port     int
			errno    error
			icmpCode int
			mustICMP bool
		}{
			{25, syscall.ECONNREFUSED, 3, true},
			{26, syscall.EHOSTUNREACH, 1, true},
			{99, syscall.EHOSTUNREACH, 13, true},
			{23, syscall.ECONNREFUSED, -1, false},
		} {
			if st, _ := l.Topo.PortState("rej", uint16(c.port)); st != map[bool]string{true: "filtered", false: "closed"}[c.mustICMP] {
				t.Errorf("port %d: PortState says %s", c.port, st)
			}
			code, err := dialWatchingICMP(t, l, fmt.Sprintf("198.18.13.10:%d", c.port))
			if !errors.Is(err, c.errno) {
				t.Errorf("port %d: %v, want %v", c.port, err, c.errno)
			}
			if code != c.icmpCode {
				t.Errorf("port %d: ICMP unreachable code %d, want %d (-1: none)", c.port, code, c.icmpCode)
			}
		}
	})

	t.Run("prefix answered by one stack", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 1))
		for range 5 {
			a := fmt.Sprintf("198.19.%d.%d:80", rng.IntN(256), rng.IntN(256))
			c, err := dial(l, a, 2*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			if got := c.RemoteAddr().String(); got != a {
				t.Fatalf("connected to %s, want %s", got, a)
			}
			c.Close()
		}
	})

	t.Run("no route out of the lab", func(t *testing.T) {
		for _, dst := range []string{"8.8.8.8:53", "10.0.0.1:80", "127.0.0.2:1"} {
			err := l.Do(ProberName, func() error {
				c, err := net.DialTimeout("udp4", dst, time.Second)
				if err == nil {
					// UDP connect does the route lookup without sending.
					c.Close()
				}
				return err
			})
			if strings.HasPrefix(dst, "127.") {
				continue // loopback inside the namespace is fine
			}
			if !errors.Is(err, syscall.ENETUNREACH) {
				t.Errorf("%s: %v, want network unreachable", dst, err)
			}
		}
	})
}

// synAckSeen connects to addr with the kernel's TCP while a packet socket
// on the prober's uplink captures, and decodes the SYN-ACK that answered
// with gopacket: its TCP layer and its window scale option (-1: none).
func synAckSeen(t *testing.T, l *Lab, addr string) (*layers.TCP, int) {
	t.Helper()
	dst := netip.MustParseAddrPort(addr)
	var fd int
	if err := l.Do(ProberName, func() error {
		ifi, err := net.InterfaceByName(l.Topo.ProberInterface("web"))
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	c, err := dial(l, addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().(*net.TCPAddr).Port
	c.Close()
	buf := make([]byte, 2048)
	for range 200 { // bounded: the SYN-ACK is among the first frames
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			break
		}
		p := gopacket.NewPacket(buf[:n], layers.LayerTypeEthernet, gopacket.Default)
		ip4, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip4 == nil || tcp == nil || !tcp.SYN || !tcp.ACK || ip4.SrcIP.String() != dst.Addr().String() ||
			int(tcp.SrcPort) != int(dst.Port()) || int(tcp.DstPort) != local {
			continue
		}
		scale := -1
		for _, o := range tcp.Options {
			if o.OptionType == layers.TCPOptionKindWindowScale && len(o.OptionData) == 1 {
				scale = int(o.OptionData[0])
			}
		}
		return tcp, scale
	}
	t.Fatalf("%s: no SYN-ACK captured on the prober", addr)
	return nil, 0
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func learnedMSS(t *testing.T, c *net.TCPConn) (mss int, timestamps bool) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) {
		mss, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG)
		if serr != nil {
			return
		}
		var info *unix.TCPInfo
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if serr == nil {
			timestamps = info.Options&tcpiOptTimestamps != 0
		}
	})
	if serr != nil {
		t.Fatal(serr)
	}
	return mss, timestamps
}

// udpEchoTTL runs a UDP echo in node's namespace and reads the TTL of the
// echo as the prober's kernel reports it (IP_RECVTTL).
func udpEchoTTL(t *testing.T, l *Lab, node string) int {
	t.Helper()
	var srv net.PacketConn
	if err := l.Do(node, func() (err error) { srv, err = net.ListenPacket("udp4", ":7"); return }); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 64)
		n, from, err := srv.ReadFrom(buf)
		if err == nil {
			srv.WriteTo(buf[:n], from)
		}
	}()
	var cl net.PacketConn
	if err := l.Do(ProberName, func() (err error) { cl, err = net.ListenPacket("udp4", ":0"); return }); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p := ipv4.NewPacketConn(cl)
	if err := p.SetControlMessage(ipv4.FlagTTL, true); err != nil {
		t.Fatal(err)
	}
	dst := &net.UDPAddr{IP: l.Addr(node).AsSlice(), Port: 7}
	if _, err := p.WriteTo([]byte("ttl?"), nil, dst); err != nil {
		t.Fatal(err)
	}
	p.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	_, cm, _, err := p.ReadFrom(buf)
	if err != nil || cm == nil {
		t.Fatalf("echo from %s: %v", node, err)
	}
	return cm.TTL
}

// udpLoss sends n datagrams from node from to node to and counts how many
// distinct ones a plain UDP socket there receives. Warm-up datagrams go
// first until one arrives, so that ARP over a lossy link (whose first try
// may be lost, and retried only after a second) is settled before counting.
// End marks follow until one arrives: the path keeps order (one flow from
// one socket; a wire is a FIFO), so by then every datagram sent before it
// has arrived or been lost.
func udpLoss(t *testing.T, l *Lab, from, node string, n int) int {
	t.Helper()
	var srv net.PacketConn
	if err := l.Do(node, func() (err error) { srv, err = net.ListenPacket("udp4", ":9"); return }); err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, n)
	warm, end := make(chan struct{}), make(chan struct{}) // closed at the first warm-up, the first end mark
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		var warmed, ended bool
		for {
			m, _, err := srv.ReadFrom(buf)
			if err != nil {
				return // closed below
			}
			var i int
			switch msg := string(buf[:m]); {
			case msg == "w":
				if !warmed {
					warmed = true
					close(warm)
				}
			case msg == "e":
				if !ended {
					ended = true
					close(end)
				}
			default:
				if _, err := fmt.Sscanf(msg, "d%d", &i); err == nil && i >= 0 && i < n {
					seen[i] = true
				}
			}
		}
	}()
	var cl net.Conn
	if err := l.Do(from, func() (err error) {
		cl, err = net.Dial("udp4", net.JoinHostPort(l.Addr(node).String(), "9"))
		return
	}); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	defer cl.Close()
	// until sends msg every 20 ms (any one may be lost) until one arrives,
	// for at most 5 s.
	until := func(msg string, arrived <-chan struct{}, what string) {
		t.Helper()
		every := time.NewTicker(20 * time.Millisecond)
		defer every.Stop()
		limit := time.NewTimer(5 * time.Second)
		defer limit.Stop()
		for {
			fmt.Fprint(cl, msg)
			select {
			case <-arrived:
				return
			case <-every.C:
			case <-limit.C:
				srv.Close()
				t.Fatalf("%s → %s: no %s arrived in 5 s", from, node, what)
			}
		}
	}
	until("w", warm, "warm-up datagram")
	for i := range n { // bounded: n datagrams, about 1 ms apart
		fmt.Fprintf(cl, "d%d", i)
		// Pacing, not a wait: sent at once they would overflow the
		// queues on the way, and the count would measure those.
		time.Sleep(time.Millisecond)
	}
	until("e", end, "end mark")
	srv.Close()
	<-done
	lost := 0
	for _, ok := range seen {
		if !ok {
			lost++
		}
	}
	return lost
}

// dialWatchingICMP connects while a raw ICMP socket (the kernel's, not
// synprobe's) in the prober's namespace watches for destination-unreachable
// messages, and returns the code of the first one (-1: none) with the
// connect error.
func dialWatchingICMP(t *testing.T, l *Lab, addr string) (int, error) {
	t.Helper()
	var fd int
	if err := l.Do(ProberName, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(300 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_, err := dial(l, addr, 2*time.Second)
	buf := make([]byte, 1500)
	for {
		n, _, rerr := unix.Recvfrom(fd, buf, 0)
		if rerr != nil {
			return -1, err
		}
		if n < 22 {
			continue
		}
		ihl := int(buf[0]&0xf) * 4
		if n >= ihl+2 && buf[ihl] == 3 {
			return int(buf[ihl+1]), err
		}
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	l := startT(t, Topology{Nodes: []Node{
		{Name: "r", Role: RoleRouter, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}},
		{Name: "t", Role: RoleTarget, Parent: "r", Addr: ip("198.18.2.10"), Link: Link{Subnet: pfx("198.18.2.0/24"), DelayDown: time.Millisecond, ClampMSS: 1000},
			OpenPorts: []uint16{80}, Firewall: []Rule{{22, Drop}}},
	}})
	var names []string
	for _, n := range l.names {
		names = append(names, n)
	}
	if c, err := dial(l, "198.18.2.10:80", 2*time.Second); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	// While up, the target has its firewall table and the router its clamp table.
	for node, table := range map[string]string{"t": FirewallTable, "r": ClampTable} {
		if err := l.Do(node, func() error {
			c, err := nftables.New()
			if err != nil {
				return err
			}
			tables, err := c.ListTables()
			if err != nil {
				return err
			}
			for _, tb := range tables {
				if tb.Name == table {
					return nil
				}
			}
			return fmt.Errorf("no table %s among %d", table, len(tables))
		}); err != nil {
			t.Errorf("%s: %v", node, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.Contains(e.Name(), l.ID) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	for _, n := range names {
		if err := InNamespace(n, func() error { return nil }); err == nil {
			t.Errorf("namespace %s still enterable", n)
		}
	}
	// veths and nftables tables live in the namespaces; with the
	// namespaces gone the root namespace must have none of ours.
	links, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, li := range links {
		if strings.HasPrefix(li.Name, "to-") || li.Name == ifUp {
			t.Errorf("interface %s leaked into the root namespace", li.Name)
		}
	}
	// Nor any nftables table of ours (the lab never puts one there).
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == FirewallTable || tb.Name == ClampTable {
			t.Errorf("nftables table %s in the root namespace", tb.Name)
		}
	}
	// Nor its owner file.
	if _, err := os.Stat(ownerPath(l.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner file of lab %s left: %v", l.ID, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestValidate(t *testing.T) {
	bad := []Topology{
		{Nodes: []Node{{Name: "a", Role: RoleTarget, Parent: ProberName, Addr: ip("10.0.0.2"), Link: Link{Subnet: pfx("10.0.0.0/24")}}}},
		{Nodes: []Node{{Name: "a", Role: RoleTarget, Parent: "nobody", Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}}}},
		{Nodes: []Node{{Name: "a", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.1"), Link: Link{Subnet: pfx("198.18.1.0/24")}}}},
		{Nodes: []Node{{Name: "a", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}, Prefix: pfx("8.8.0.0/16")}}},
		{Nodes: []Node{{Name: "a", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24"), LossUp: 1.5}}}},
		{Nodes: []Node{{Name: "averyverylongname", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}}}},
		{Nodes: []Node{{Name: "a", Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}}}}, // no role
		{Nodes: []Node{ // a target as a parent
			{Name: "a", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}},
			{Name: "b", Role: RoleTarget, Parent: "a", Addr: ip("198.18.2.2"), Link: Link{Subnet: pfx("198.18.2.0/24")}},
		}},
		{Nodes: []Node{ // a loop of routers
			{Name: "a", Role: RoleRouter, Parent: "b", Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}},
			{Name: "b", Role: RoleRouter, Parent: "a", Addr: ip("198.18.2.2"), Link: Link{Subnet: pfx("198.18.2.0/24")}},
		}},
		{Nodes: []Node{{Name: "a", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.0.0/16")}}}},                                // not a /24
		{Nodes: []Node{{Name: "a", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}, TCPRmem: "262144"}}},             // one value
		{Nodes: []Node{{Name: "a", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}, TCPRmem: "4096 262144 131072"}}}, // max below default
	}
	for i, topo := range bad {
		if err := topo.Validate(); err == nil {
			t.Errorf("topology %d accepted", i)
		}
	}
	for _, good := range []Topology{testTopo(), Demo()} {
		if err := good.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

// tcpiOptTimestamps is TCPI_OPT_TIMESTAMPS from linux/tcp.h.
const tcpiOptTimestamps = 1

// TestLeftoversSparesLiveLabs: a lab whose owner runs is not a leftover, so
// `synprobe lab down` during another package's tests does not break them;
// a lab whose owner is gone is.
func TestLeftoversSparesLiveLabs(t *testing.T) {
	l := startT(t, Topology{Nodes: []Node{
		{Name: "t", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}},
	}})
	if !slices.Contains(Namespaces(), l.Namespace("t")) {
		t.Fatalf("Namespaces() = %v, lacks %s", Namespaces(), l.Namespace("t"))
	}
	if slices.Contains(Leftovers(), l.Namespace("t")) {
		t.Fatalf("live lab %s listed as a leftover", l.ID)
	}
	// Pretend the owner died: a PID that cannot exist; or our own PID
	// reused by a process that started at another time.
	for _, owner := range []string{"2147483647", fmt.Sprintf("%d 1", os.Getpid())} {
		if err := os.WriteFile(ownerPath(l.ID), []byte(owner), 0o644); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(Leftovers(), l.Namespace("t")) {
			t.Fatalf("lab %s with owner %q not listed as a leftover", l.ID, owner)
		}
	}
}

func TestExpect(t *testing.T) {
	topo := Demo()
	for _, c := range []struct {
		node                   string
		hops, initTTL, ttl, ms int
		rtt                    time.Duration
		unanswered             float64
	}{
		{"web", 2, 64, 62, 1460, 0, 0},
		{"win", 2, 128, 126, 1360, 0, 0},
		{"edge", 1, 255, 254, 1460, 0, 0},
		{"clamp", 2, 64, 62, 1200, 0, 0},
		{"slow", 1, 64, 63, 1460, 40 * time.Millisecond, 0},
		{"lossy", 1, 64, 63, 1460, 0, 0.19},
	} {
		e := topo.Expect(c.node)
		if e.Hops != c.hops || e.InitialTTL != c.initTTL || e.ReplyTTL != c.ttl || e.MSS != c.ms || e.RTT != c.rtt ||
			e.Unanswered < c.unanswered-1e-9 || e.Unanswered > c.unanswered+1e-9 {
			t.Errorf("Expect(%s) = %+v", c.node, e)
		}
	}
	for _, c := range []struct {
		node  string
		port  uint16
		state string
		by    Action
	}{
		{"web", 80, "open", Accept}, {"web", 81, "closed", Accept},
		{"fw", 22, "filtered", Drop},
		{"reject", 80, "open", Accept}, {"reject", 23, "closed", RejectRST},
		{"reject", 25, "filtered", RejectPortUnreach}, {"reject", 26, "filtered", RejectHostUnreach},
		{"reject", 8080, "filtered", RejectAdminProhibited},
	} {
		if st, by := topo.PortState(c.node, c.port); st != c.state || by != c.by {
			t.Errorf("PortState(%s, %d) = %s, %v; want %s, %v", c.node, c.port, st, by, c.state, c.by)
		}
	}
	if got := topo.ProberInterface("web"); got != "to-r1" {
		t.Errorf("ProberInterface(web) = %q", got)
	}
}

// TestMain doubles as the helper process of TestDownRemovesCrashedLab
// and as the daemon of TestDownLabSparesOthers:
// with SYNPROBE_LAB_CRASH_HELPER=1 the test binary builds a lab (and starts
// a process inside it), says so, and waits to be killed without cleaning up.
func TestMain(m *testing.M) {
	if os.Getenv("SYNPROBE_LAB_CRASH_HELPER") == "1" {
		crashHelper()
		return
	}
	if os.Getenv("SYNPROBE_LAB_DAEMON_HELPER") == "1" {
		// A lab daemon, as `synprobe lab daemon` is (TestDownLabSparesOthers).
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := Serve(ctx, Topology{Nodes: []Node{
			{Name: "t", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}, OpenPorts: []uint16{80}},
		}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// startSleeper starts sleep for secs seconds in node's namespace and
// returns once it runs there: ip netns exec enters the namespace, then runs
// a shell that says so on its standard output before it becomes sleep (the
// same process).
func startSleeper(ctx context.Context, l *Lab, node string, secs int) (*exec.Cmd, error) {
	cmd := l.Command(ctx, node, "sh", "-c", fmt.Sprintf("echo ready; exec sleep %d", secs))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	said := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		said <- line
	}()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case line := <-said:
		if line == "ready\n" {
			return cmd, nil
		}
		err = fmt.Errorf("sleep in %s: the shell said %q, not ready", node, line)
	case <-timer.C:
		err = fmt.Errorf("sleep in %s: not running after 5 s", node)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, err
}

// pollIn waits up to d for fd to be readable; n is 0 if it was not.
func pollIn(fd int, d time.Duration) (n int, err error) {
	for {
		n, err = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(d/time.Millisecond))
		if err != unix.EINTR {
			return n, err
		}
	}
}

func crashHelper() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := Start(ctx, Topology{Nodes: []Node{
		{Name: "r", Role: RoleRouter, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}},
		{Name: "t", Role: RoleTarget, Parent: "r", Addr: ip("198.18.2.10"), OpenPorts: []uint16{80},
			Link: Link{Subnet: pfx("198.18.2.0/24"), DelayDown: time.Millisecond, ClampMSS: 1000}, Firewall: []Rule{{22, Drop}}},
	}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	sleeper, err := startSleeper(ctx, l, "t", 60)
	if err != nil {
		fmt.Println("error", err)
		l.Close()
		os.Exit(1)
	}
	fmt.Printf("ready %s %d\n", l.ID, sleeper.Process.Pid)
	<-ctx.Done() // killed long before; if not, clean up after all
	l.Close()
	os.Exit(1)
}

// TestDownRemovesCrashedLab: a process that built a lab (under a random
// ID) is killed with SIGKILL; DownLab, as Down does for every leftover,
// finds its namespaces as leftovers, kills the process still inside one
// and removes them all, and nothing of any other lab.
func TestDownRemovesCrashedLab(t *testing.T) {
	privileged.Require(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SYNPROBE_LAB_CRASH_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var id string
	var sleeper int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "ready %s %d", &id, &sleeper); err == nil {
			break
		}
	}
	if id == "" {
		t.Fatal("helper never got its lab ready")
	}
	// Readable once sleep has exited (a zombie of init counts).
	pidfd, err := unix.PidfdOpen(sleeper, 0)
	if err != nil {
		t.Fatalf("pidfd of the sleep in the crashed lab: %v", err)
	}
	defer unix.Close(pidfd)
	cmd.Process.Kill()
	cmd.Wait()
	var left []string
	for _, n := range Leftovers() {
		if labID(n) == id {
			left = append(left, n)
		}
	}
	if len(left) < 4 { // prober, r, t, t-w
		t.Fatalf("leftovers of crashed lab %s: %v", id, left)
	}
	// make test's check (LeftBehind) lists them and the process inside,
	// as left by a run started no later than this test; a run that
	// started after the crash did not leave them.
	res, err := LeftBehind(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range left {
		if !slices.Contains(res.Namespaces, n) {
			t.Errorf("LeftBehind lacks %s:\n%s", n, res)
		}
	}
	if !slices.ContainsFunc(res.Processes, func(p string) bool { return strings.HasPrefix(p, fmt.Sprint(sleeper, " ")) }) {
		t.Errorf("LeftBehind lacks process %d inside the crashed lab:\n%s", sleeper, res)
	}
	later := exec.Command("sleep", "10")
	if err := later.Start(); err != nil {
		t.Fatal(err)
	}
	res, err = LeftBehind(later.Process.Pid)
	later.Process.Kill()
	later.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range left {
		if slices.Contains(res.Namespaces, n) {
			t.Errorf("LeftBehind(a process started after the crash) lists %s", n)
		}
	}
	// Only this lab: other runs' leftovers are theirs to remove.
	removed, err := DownLab(id, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range removed {
		if labID(n) != id {
			t.Errorf("DownLab(%s) removed %s", id, n)
		}
	}
	for _, n := range left {
		if !slices.Contains(removed, n) {
			t.Errorf("DownLab did not remove %s (removed %v)", n, removed)
		}
	}
	for _, n := range Namespaces() {
		if labID(n) == id {
			t.Errorf("namespace %s still there", n)
		}
	}
	// The process left inside the target's namespace is gone too (it may
	// linger a moment as a zombie of init): its pidfd says when it exits.
	if n, err := pollIn(pidfd, 5*time.Second); err != nil || n == 0 {
		t.Errorf("process %d inside the crashed lab still runs 5 s after DownLab (%v)", sleeper, err)
	}
	if _, err := os.Stat(ownerPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner file of crashed lab %s left: %v", id, err)
	}
}

// TestDemoDescriptions: what `synprobe lab up` prints about each demo target
// agrees with what Expect derives from the topology.
func TestDemoDescriptions(t *testing.T) {
	topo := Demo()
	for _, n := range topo.Nodes {
		if n.Role != RoleTarget {
			continue
		}
		e := topo.Expect(n.Name)
		if strings.Contains(n.Describe, "TTL") && !strings.Contains(n.Describe, fmt.Sprintf("TTL %d (initial %d, %d hop", e.ReplyTTL, e.InitialTTL, e.Hops)) {
			t.Errorf("%s: %q does not say TTL %d (initial %d, %d hops)", n.Name, n.Describe, e.ReplyTTL, e.InitialTTL, e.Hops)
		}
		if n.TCPRmem != "" && !strings.Contains(n.Describe, "window ") {
			t.Errorf("%s: %q does not say which window its receive buffer (%s) gives", n.Name, n.Describe, n.TCPRmem)
		}
		if strings.Contains(n.Describe, "MSS") && !strings.Contains(n.Describe, fmt.Sprintf("MSS %d", e.MSS)) {
			t.Errorf("%s: %q does not say MSS %d", n.Name, n.Describe, e.MSS)
		}
		for _, p := range n.OpenPorts {
			if st, _ := topo.PortState(n.Name, p); st != "open" && len(n.Firewall) == 0 {
				t.Errorf("%s: open port %d is %s", n.Name, p, st)
			}
		}
	}
}

// TestSink: a Sink's link counts every frame sent to it and nothing
// answers, not even a closed port's RST (the kernel never sees the SYN).
func TestSink(t *testing.T) {
	l := startT(t, Topology{Nodes: []Node{
		{Name: "sink", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.20.10"), Link: Link{Subnet: pfx("198.18.20.0/24")},
			OpenPorts: []uint16{80}, Prefix: pfx("198.19.0.0/16"), Sink: true},
	}})
	before, err := l.RxPackets("sink")
	if err != nil {
		t.Fatal(err)
	}
	const tries = 5
	for i := range tries {
		addr := fmt.Sprintf("198.19.0.%d:80", i+1)
		if c, err := dial(l, addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("connect to %s through a sink succeeded", addr)
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect to %s through a sink was refused: something answered", addr)
		}
	}
	after, err := l.RxPackets("sink")
	if err != nil {
		t.Fatal(err)
	}
	// Each dial sends at least its SYN (a retransmission may follow).
	if got := after - before; got < tries {
		t.Fatalf("sink counted %d frames, want at least %d", got, tries)
	}
}

// TestShareMountDir: the lab makes /run/netns a shared mount point the way
// `ip netns add` would, so that a later `ip netns add` does not bind it over
// the lab's namespaces (hiding their mounts, which then can never be
// deleted); and it leaves a directory with mounts already below it alone.
// Run in a private mount namespace of one thread, on temporary directories.
func TestShareMountDir(t *testing.T) {
	privileged.Require(t)
	fresh, busy := t.TempDir(), t.TempDir()
	if err := os.WriteFile(busy+"/ns", nil, 0o444); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its mount namespace
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if err := unix.Mount("", "/", "none", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return err
			}
			if err := shareMountDir(fresh); err != nil {
				return fmt.Errorf("fresh directory: %w", err)
			}
			if opt, ok := mountOf(fresh); !ok || !strings.Contains(opt, "shared:") {
				return fmt.Errorf("%s: mounted %v, optional fields %q: want a shared mount point", fresh, ok, opt)
			}
			if err := shareMountDir(fresh); err != nil { // again: already one
				return fmt.Errorf("second time: %w", err)
			}
			// A "namespace" already mounted below: no bind over it.
			if err := unix.Mount("/proc/thread-self/ns/net", busy+"/ns", "", unix.MS_BIND, ""); err != nil {
				return err
			}
			if err := shareMountDir(busy); err == nil {
				return fmt.Errorf("%s with a mount below it was bound over", busy)
			}
			if _, ok := mountOf(busy); ok {
				return fmt.Errorf("%s became a mount point over the mount below it", busy)
			}
			return nil
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// mountOf finds dir among this thread's mounts and returns its optional
// fields (shared:N, master:N).
func mountOf(dir string) (string, bool) {
	b, _ := os.ReadFile("/proc/thread-self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 6 && f[4] == dir {
			var opt []string
			for _, x := range f[6:] {
				if x == "-" {
					break
				}
				opt = append(opt, x)
			}
			return strings.Join(opt, " "), true
		}
	}
	return "", false
}

// TestLeftBehind: make test's leftover check does not count a live lab,
// and does count a process that outlived its lab's namespace (one that
// Close deleted while the process still ran in it).
func TestLeftBehind(t *testing.T) {
	l := startT(t, Topology{Nodes: []Node{
		{Name: "t", Role: RoleTarget, Parent: ProberName, Addr: ip("198.18.1.2"), Link: Link{Subnet: pfx("198.18.1.0/24")}},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stray, err := startSleeper(ctx, l, "t", 30)
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Wait()
	defer stray.Process.Kill()
	mine := func(r Residue) (out []string) {
		for _, n := range r.Namespaces {
			if labID(n) == l.ID {
				out = append(out, n)
			}
		}
		for _, p := range r.Processes {
			if strings.HasPrefix(p, fmt.Sprint(stray.Process.Pid, " ")) {
				out = append(out, p)
			}
		}
		return out
	}
	res, err := LeftBehind(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m := mine(res); len(m) > 0 {
		t.Errorf("live lab %s counted as left behind: %v", l.ID, m)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err = LeftBehind(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m := mine(res); len(m) != 1 || !strings.Contains(m[0], "unnamed network namespace") {
		t.Errorf("after Close, the process left in its namespace: LeftBehind says %v\n%s", m, res)
	}
	stray.Process.Kill()
	stray.Wait()
	if res, err = LeftBehind(os.Getpid()); err != nil || len(mine(res)) > 0 {
		t.Errorf("after the process ended: %v, %v", mine(res), err)
	}
}

// TestDownLabSparesOthers: two runs under one lab ID with their own state
// directories (as two checkouts running lab/doc_test.go would have had):
// the cleanup of the one whose lab never came up must not stop the other's
// daemon, though the lab's owner file names it; the daemon's own run stops
// it even with its state file lost.
func TestDownLabSparesOthers(t *testing.T) {
	privileged.Require(t)
	id := "dl" + randomID()[:6]
	mine, other := t.TempDir(), t.TempDir()
	t.Setenv("SYNPROBE_LAB_DAEMON_HELPER", "1")
	t.Setenv("SYNPROBE_LAB_ID", id)
	t.Setenv("SYNPROBE_LAB_DIR", mine)
	st, err := Up(os.Args[0], "lab", "daemon") // "lab daemon": what isLabDaemon looks for
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DownLab(id, mine) })
	ours := func() (ns []string) {
		for _, n := range Namespaces() {
			if labID(n) == id {
				ns = append(ns, n)
			}
		}
		return ns
	}
	if len(ours()) != 2 {
		t.Fatalf("lab %s: namespaces %v", id, ours())
	}
	if removed, err := DownLab(id, other); err != nil || len(removed) > 0 {
		t.Errorf("DownLab(%s, another directory) = %v, %v", id, removed, err)
	}
	if !st.Alive() || len(ours()) != 2 {
		t.Fatalf("another run's cleanup stopped the daemon (alive %v) or removed %v", st.Alive(), ours())
	}
	// The state file lost: the owner file still leads to the daemon,
	// which was started with this directory.
	if err := os.Remove(filepath.Join(mine, "lab.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := DownLab(id, mine); err != nil {
		t.Fatal(err)
	}
	if st.Alive() && !zombie(st.PID) {
		t.Errorf("daemon %d still runs after DownLab of its own directory", st.PID)
	}
	if left := ours(); len(left) > 0 {
		t.Errorf("namespaces %v remain", left)
	}
	if _, err := os.Stat(ownerPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner file of lab %s left: %v", id, err)
	}
}
