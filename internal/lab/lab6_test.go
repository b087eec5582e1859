//go:build linux

package lab

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testTopo6 is testTopo with the big host answering a /112 as well.
func testTopo6() Topology {
	t := testTopo()
	t.node("big").Prefix6 = BigPrefix6
	return t
}

// dial6 connects over IPv6 from the prober's namespace with the kernel's
// own TCP.
func dial6(l *Lab, a netip.Addr, port uint16, timeout time.Duration) (c *net.TCPConn, err error) {
	err = l.Do(ProberName, func() error {
		conn, err := net.DialTimeout("tcp6", netip.AddrPortFrom(a, port).String(), timeout)
		if err == nil {
			c = conn.(*net.TCPConn)
		}
		return err
	})
	return c, err
}

func TestMap6(t *testing.T) {
	for in, want := range map[string]string{
		"198.18.10.10": "2001:2:0:a::a",
		"198.18.1.1":   "2001:2:0:1::1",
		"198.18.255.1": "2001:2:0:ff::1",
		"198.19.0.2":   "2001:2:0:100::2",
		"198.19.17.10": "2001:2:0:111::a",
	} {
		if got := Map6(ip(in)); got != ip(want) {
			t.Errorf("Map6(%s) = %v, want %s", in, got, want)
		}
	}
	for _, out := range []string{"10.0.0.1", "198.20.0.1", "2001:2::1"} {
		if got := Map6(ip(out)); got.IsValid() {
			t.Errorf("Map6(%s) = %v, want none", out, got)
		}
	}
	if !LabRange6.Contains(BigPrefix6.Addr()) || BigPrefix6.Bits() != 112 {
		t.Errorf("BigPrefix6 %v", BigPrefix6)
	}
	topo := testTopo6()
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	topo.node("big").Prefix6 = pfx("2001:2:0:a::/112") // web's link
	if err := topo.Validate(); err == nil {
		t.Errorf("a Prefix6 inside a link's /64 validated")
	}
}

// TestLab6 checks the lab's IPv6 half against the kernel's own stack, as
// TestLab does the IPv4 one.
func TestLab6(t *testing.T) {
	l := startT(t, testTopo6())

	t.Run("every node answers ping -6", func(t *testing.T) {
		hlim := regexp.MustCompile(`ttl=(\d+)`)
		for _, n := range l.Topo.Nodes {
			a := n.Addr6()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			// Three echoes 0.2 s apart: the lossy link loses one in
			// five, so one reply of three is what every node gives.
			out, err := l.Command(ctx, ProberName, "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", a.String()).CombinedOutput()
			cancel()
			if err != nil {
				t.Errorf("%s: ping -6 %v: %v\n%s", n.Name, a, err, out)
				continue
			}
			m := hlim.FindSubmatch(out)
			if m == nil {
				t.Errorf("%s: no hop limit in ping's output:\n%s", n.Name, out)
				continue
			}
			got, _ := strconv.Atoi(string(m[1]))
			if e := l.Topo.Expect(n.Name); n.Role == RoleTarget && got != e.ReplyTTL {
				t.Errorf("%s: echo reply hop limit %d, Expect says %d", n.Name, got, e.ReplyTTL)
			}
		}
	})

	t.Run("open and closed", func(t *testing.T) {
		for _, n := range l.Topo.Nodes {
			for _, p := range n.OpenPorts {
				if st, _ := l.Topo.PortState(n.Name, p); st != "open" {
					continue
				}
				c, err := dial6(l, n.Addr6(), p, 5*time.Second)
				if err != nil {
					t.Errorf("%s [%v]:%d: %v", n.Name, n.Addr6(), p, err)
					continue
				}
				if got := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != n.Addr6() {
					t.Errorf("%s: connected to %v", n.Name, got)
				}
				c.Close()
			}
		}
		if _, err := dial6(l, Map6(ip("198.18.10.10")), 81, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("web's closed port over IPv6: %v, want connection refused", err)
		}
	})

	t.Run("MSS advertised and clamped", func(t *testing.T) {
		for _, c := range []struct {
			node string
			port uint16
			want int
		}{{"win", 445, 1340}, {"clamp", 80, 1180}, {"web", 80, 1440}} {
			conn, err := dial6(l, l.Addr6(c.node), c.port, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			mss, ts := learnedMSS(t, conn)
			conn.Close()
			if ts {
				mss += 12
			}
			if mss != c.want {
				t.Errorf("%s over IPv6: peer MSS %d, want %d", c.node, mss, c.want)
			}
			if e := l.Topo.Expect(c.node); e.MSS6 != mss {
				t.Errorf("%s: Expect says IPv6 MSS %d, the kernel learned %d", c.node, e.MSS6, mss)
			}
		}
	})

	t.Run("firewall", func(t *testing.T) {
		if _, err := dial6(l, l.Addr6("fw"), 22, 700*time.Millisecond); !isTimeout(err) {
			t.Errorf("drop: %v, want a timeout", err)
		}
		for _, c := range []struct {
			port     uint16
			errno    error
			icmpCode int
		}{
			{23, syscall.ECONNREFUSED, -1},
			{25, syscall.ECONNREFUSED, 4}, // port unreachable
			{26, syscall.EHOSTUNREACH, 3}, // address unreachable
			{99, syscall.EACCES, 1},       // administratively prohibited
		} {
			_, by := l.Topo.PortState("rej", c.port)
			if want, ok := RejectICMPv6Code[by]; c.icmpCode >= 0 && (!ok || int(want) != c.icmpCode) {
				t.Errorf("port %d: RejectICMPv6Code[%v] = %d, want %d", c.port, by, want, c.icmpCode)
			}
			code, err := dialWatchingICMPv6(t, l, l.Addr6("rej"), c.port)
			if !errors.Is(err, c.errno) {
				t.Errorf("port %d: %v, want %v", c.port, err, c.errno)
			}
			if code != c.icmpCode {
				t.Errorf("port %d: ICMPv6 unreachable code %d, want %d (-1: none)", c.port, code, c.icmpCode)
			}
		}
	})

	t.Run("a /112 answered by one stack", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 6))
		for range 5 {
			b := BigPrefix6.Addr().As16()
			b[14], b[15] = byte(rng.IntN(256)), byte(rng.IntN(256))
			a := netip.AddrFrom16(b)
			c, err := dial6(l, a, 80, 2*time.Second)
			if err != nil {
				t.Fatalf("[%v]:80: %v", a, err)
			}
			if got := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != a {
				t.Fatalf("connected to %v, want %v", got, a)
			}
			c.Close()
		}
	})

	t.Run("no route out of the lab", func(t *testing.T) {
		for _, dst := range []string{"2001:db8::1", "2606:4700::1", "2001:3::1"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out, err := l.Command(ctx, ProberName, "ip", "-6", "route", "get", dst).CombinedOutput()
			cancel()
			if err == nil {
				t.Errorf("ip -6 route get %s: a route: %s", dst, out)
			}
			err = l.Do(ProberName, func() error {
				c, err := net.DialTimeout("udp6", "["+dst+"]:53", time.Second)
				if err == nil {
					c.Close()
				}
				return err
			})
			if !errors.Is(err, syscall.ENETUNREACH) {
				t.Errorf("%s: %v, want network unreachable", dst, err)
			}
		}
		// And the lab itself is routed: the check above can fail.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if out, err := l.Command(ctx, ProberName, "ip", "-6", "route", "get", l.Addr6("web").String()).CombinedOutput(); err != nil {
			t.Errorf("ip -6 route get web: %v: %s", err, out)
		}
	})
}

// dialWatchingICMPv6 connects to [a]:port over IPv6 while a raw ICMPv6
// socket in the prober's namespace watches for a destination unreachable,
// and returns its code (-1: none) and the connect's error.
func dialWatchingICMPv6(t *testing.T, l *Lab, a netip.Addr, port uint16) (int, error) {
	t.Helper()
	var fd int
	if err := l.Do(ProberName, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6)
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(300 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_, err := dial6(l, a, port, 2*time.Second)
	buf := make([]byte, 1500)
	for {
		n, _, rerr := unix.Recvfrom(fd, buf, 0)
		if rerr != nil {
			return -1, err
		}
		// A raw ICMPv6 socket gets the message without the IPv6 header.
		if n >= 2 && buf[0] == 1 {
			return int(buf[1]), err
		}
	}
}
