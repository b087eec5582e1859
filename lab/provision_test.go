//go:build linux

// Package labscripts holds the tests of the lab's provisioning scripts
// (lab/*.sh) and of the Vagrantfile; the scripts themselves are shell.
package labscripts

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
	"github.com/synprobe/synprobe/probe"
	"golang.org/x/sys/unix"
)

// tool returns the path of an external checker, or skips (fails under
// SYNPROBE_REQUIRE_PRIVILEGED=1, where CI must have installed it).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		privileged.Skip(t, name+" is not installed (apt-get install --no-install-recommends "+name+")")
	}
	return p
}

func TestScriptsShellcheck(t *testing.T) {
	sc := tool(t, "shellcheck")
	scripts, _ := filepath.Glob("*.sh")
	if len(scripts) < 5 {
		t.Fatalf("scripts: %v", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
	// From the repository root, so `source=lab/common.sh` resolves.
	cmd := exec.Command(sc, append([]string{"-x"}, prefixed("lab/", scripts)...)...)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

func TestVagrantfileValidates(t *testing.T) {
	v := tool(t, "vagrant")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// In a copy, so that vagrant's .vagrant/ lands in a temporary folder.
	dir := t.TempDir()
	b, err := os.ReadFile("../Vagrantfile")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Vagrantfile"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, v, "validate", "--ignore-provider")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VAGRANT_CHECKPOINT_DISABLE=1", "VAGRANT_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Vagrantfile validated successfully") {
		t.Fatalf("vagrant validate: %v\n%s", err, out)
	}
}

// vmTopology is the Vagrantfile's network in namespaces: IPv4 addresses
// only, as Vagrant assigns them (vagrantLike takes away the IPv6 side the
// namespace lab adds by itself); everything else is up to the scripts.
func vmTopology() lab.Topology {
	a, p := netip.MustParseAddr, netip.MustParsePrefix
	node := func(name string, role lab.Role, parent, addr, subnet string) lab.Node {
		return lab.Node{Name: name, Role: role, Parent: parent, Addr: a(addr), Link: lab.Link{Subnet: p(subnet)}}
	}
	return lab.Topology{Nodes: []lab.Node{
		node("router", lab.RoleRouter, lab.ProberName, "198.18.1.2", "198.18.1.0/24"),
		node("web", lab.RoleTarget, "router", "198.18.10.10", "198.18.10.0/24"),
		node("win", lab.RoleTarget, "router", "198.18.11.10", "198.18.11.0/24"),
		node("fw", lab.RoleTarget, "router", "198.18.12.10", "198.18.12.0/24"),
	}}
}

type vmExpect struct {
	Target string
	State  probe.State
	Reason probe.Reason
	TTL    uint8  // 0: none expected
	MSS    uint16 // 0: none expected
	Window int    // -1: none expected
}

// vmExpectations reads the table docs/LAB.md shows for the VM lab (one
// router: TTLs one higher than in the two-router namespace demo).
func vmExpectations(t *testing.T) []vmExpect {
	t.Helper()
	b, err := os.ReadFile("../docs/LAB.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, "<!-- vm-expect -->"), strings.Index(s, "<!-- /vm-expect -->")
	if i < 0 || j < i {
		t.Fatal("docs/LAB.md has no vm-expect table")
	}
	var out []vmExpect
	for _, l := range strings.Split(s[i:j], "\n") {
		f := strings.Split(strings.Trim(l, "| "), "|")
		if len(f) != 6 || !strings.Contains(f[0], ":") {
			continue
		}
		for k := range f {
			f[k] = strings.TrimSpace(f[k])
		}
		st, ok := probe.ParseState(f[1])
		if !ok {
			t.Fatalf("docs/LAB.md: state %q", f[1])
		}
		e := vmExpect{Target: f[0], State: st, Reason: probe.Reason(f[2])}
		if n, err := strconv.Atoi(f[3]); err == nil {
			e.TTL = uint8(n)
		}
		if n, err := strconv.Atoi(f[4]); err == nil {
			e.MSS = uint16(n)
		}
		e.Window = -1
		if n, err := strconv.Atoi(f[5]); err == nil {
			e.Window = n
		}
		out = append(out, e)
	}
	if len(out) < 20 {
		t.Fatalf("docs/LAB.md: %d rows in the vm-expect table", len(out))
	}
	return out
}

// vmNodes are the namespaces of vmTopology, the prober's included.
var vmNodes = []string{lab.ProberName, "router", "web", "win", "fw"}

// vagrantLike makes l's namespaces what a VM is before its provisioner
// runs: the namespace lab gives every node IPv6 addresses, routes,
// permanent NDP entries and forwarding on routers; a VM has only the IPv4
// address Vagrant gives each lab interface, IPv6 with Linux's defaults
// (router advertisements accepted, addresses configured from them) and
// ICMP rate limits on. So all the IPv6 the test finds afterwards is the
// scripts' doing. It checks that the prober then has no IPv6 route to web.
func vagrantLike(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, n := range vmNodes {
		sh := `set -e
ip -6 addr flush scope global
ip -6 route flush root 2001:2::/48
ip -6 neigh flush all nud permanent
[ -z "$(ip -6 neigh show nud permanent)" ]
sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv6.icmp.ratelimit=1000 net.ipv4.icmp_ratelimit=1000 net.ipv4.icmp_msgs_per_sec=1000
for c in /proc/sys/net/ipv6/conf/*; do echo 1 >"$c/accept_ra"; echo 1 >"$c/autoconf"; done`
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := l.Command(ctx, n, "bash", "-c", sh).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: making it like a VM: %v\n%s", n, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := l.Command(ctx, lab.ProberName, "ip", "-6", "route", "get", "2001:2:0:a::a").CombinedOutput(); err == nil {
		t.Fatalf("before the scripts, the prober still has an IPv6 route to web: %s", out)
	}
}

// TestProvisioningInNamespaces runs router.sh, target.sh and prober.sh in
// namespaces shaped like the VMs and checks with synprobe's engine that
// the network shows what docs/LAB.md says (everything but netem, which
// this kernel lacks), and with the kernel's own TCP that the router's
// nftables MSS clamp works; and, over IPv6, with the kernel's own stack
// only, that the scripts gave every node its IPv6 twin and the same
// behaviour (TestProvisioningInNamespaces/ipv6).
func TestProvisioningInNamespaces(t *testing.T) {
	privileged.Require(t)
	tool(t, "nft")
	tool(t, "tc")
	tool(t, "python3")
	tool(t, "ping")
	l := labtest.Start(t, vmTopology())
	vagrantLike(t, l)
	run := t.TempDir()
	t.Cleanup(func() { killListeners(t, run) })
	script := func(node string, env []string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := l.Command(ctx, node, "bash", args...)
		cmd.Env = append(append(os.Environ(), "LAB_NAMESPACE_MODE=1", "LAB_RUN_DIR="+run), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %v\n%s", node, args, err, out)
		}
		return string(out)
	}
	// The clamp is on by default; ask for it anyway, so that this test
	// keeps testing it whatever the default becomes.
	out := script("router", []string{"LAB_CLAMP_MSS=1200"}, "router.sh")
	if !strings.Contains(out, "MSS clamped to 1200 for 198.18.16.0/24, to 1180 for 2001:2:0:10::/64") {
		t.Errorf("router.sh did not clamp:\n%s", out)
	}
	// This kernel has no netem: the script must say so, not pretend.
	if !strings.Contains(out, "no netem") && !strings.Contains(out, "netem: ") {
		t.Errorf("router.sh says nothing about delay and loss:\n%s", out)
	}
	t.Logf("router.sh: %s", strings.TrimSpace(out))
	script("web", nil, "target.sh", "linux")
	script("win", nil, "target.sh", "winlike")
	script("fw", nil, "target.sh", "firewalled")
	// No wait for the listeners: target.sh returns once ss shows every
	// one of them listening (wait_listening in common.sh), or fails.
	script(lab.ProberName, nil, "prober.sh")

	// The clamp, seen by the kernel's own TCP: the MSS a connect to clamp
	// learns is 1200 (less 12 for timestamps), 1180 over IPv6; web's,
	// through the same router, is not clamped (1460, 1440 over IPv6);
	// win's IPv6 route advertises 1340.
	for addr, want := range map[string]int{"198.18.16.10:80": 1200, "198.18.10.10:80": 1460,
		"[2001:2:0:10::a]:80": 1180, "[2001:2:0:a::a]:80": 1440, "[2001:2:0:b::a]:445": 1340} {
		var mss int
		err := l.Do(lab.ProberName, func() error {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			rc, _ := c.(*net.TCPConn).SyscallConn()
			var serr error
			rc.Control(func(fd uintptr) {
				mss, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG)
				if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil && info.Options&1 != 0 {
					mss += 12 // TCPI_OPT_TIMESTAMPS: 12 bytes of every segment
				}
			})
			return serr
		})
		if err != nil {
			t.Errorf("%s: %v", addr, err)
		} else if mss != want {
			t.Errorf("%s: the kernel learned MSS %d, want %d", addr, mss, want)
		}
	}

	t.Run("ipv6", func(t *testing.T) { checkIPv6(t, l) })

	var pr *probe.Prober
	if err := l.Do(lab.ProberName, func() (err error) { pr, err = probe.Open(probe.OpenConfig{Mode: probe.ModeRaw}); return }); err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	var ranges []probe.AddrRange
	for _, a := range []string{"198.18.3.10", "198.18.10.10", "198.18.11.10", "198.18.12.10", "198.18.13.10", "198.18.14.10", "198.18.16.10", "198.19.7.7"} {
		ranges = append(ranges, probe.AddrRange{First: netip.MustParseAddr(a), Last: netip.MustParseAddr(a)})
	}
	ts, _ := probe.NewTargetSet(ranges, nil)
	var mu sync.Mutex
	got := map[string]probe.Result{}
	err := pr.Scan(context.Background(), probe.ScanConfig{Targets: ts, Ports: []uint16{22, 23, 25, 26, 80, 179, 443, 445, 3389},
		Rate: 1000, Retries: 1, Timeout: 500 * time.Millisecond}, func(r probe.Result) {
		mu.Lock()
		got[r.AddrPort().String()] = r
		mu.Unlock()
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range vmExpectations(t) {
		r, ok := got[w.Target]
		if !ok {
			t.Errorf("%s: no result", w.Target)
			continue
		}
		if r.State != w.State || r.Reason != w.Reason {
			t.Errorf("%s: %v/%v, want %v/%v", w.Target, r.State, r.Reason, w.State, w.Reason)
		}
		if r.TTL != w.TTL {
			t.Errorf("%s: TTL %d, want %d", w.Target, r.TTL, w.TTL)
		}
		if r.MSS != w.MSS {
			t.Errorf("%s: MSS %d, want %d", w.Target, r.MSS, w.MSS)
		}
		if hasWin := r.Has&probe.HasWindow != 0; hasWin != (w.Window >= 0) || (hasWin && int(r.Window) != w.Window) {
			t.Errorf("%s: window %d (measured %v), want %d (-1: none)", w.Target, r.Window, hasWin, w.Window)
		}
	}
}

func killListeners(t *testing.T, dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "pids"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// checkIPv6 checks, with the kernel's own stack only, the IPv6 side the
// scripts built: sysctls, the prober's routes, connects to open and closed
// ports of every target's IPv6 address, the firewall's drop, the reject
// host's ICMPv6 errors, and big's /112.
func checkIPv6(t *testing.T, l *lab.Lab) {
	sysctl := func(node, key string) string {
		t.Helper()
		var b []byte
		err := l.Do(node, func() (err error) {
			b, err = os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
			return
		})
		if err != nil {
			t.Fatalf("%s: %s: %v", node, key, err)
		}
		return strings.TrimSpace(string(b))
	}
	if v := sysctl("router", "net.ipv6.conf.all.forwarding"); v != "1" {
		t.Errorf("router: IPv6 forwarding %s, want 1", v)
	}
	// The lab interfaces: the prober's towards the router, the uplink of
	// every other node, the router's towards each target.
	ifaces := map[string][]string{
		lab.ProberName: {l.Topo.ProberInterface("router")},
		"router":       {lab.UplinkInterface, lab.InterfaceTo("web"), lab.InterfaceTo("win"), lab.InterfaceTo("fw")},
		"web":          {lab.UplinkInterface}, "win": {lab.UplinkInterface}, "fw": {lab.UplinkInterface},
	}
	for node, ifs := range ifaces {
		for _, ifc := range ifs {
			for _, k := range []string{"accept_ra", "autoconf"} {
				if v := sysctl(node, "net.ipv6.conf."+ifc+"."+k); v != "0" {
					t.Errorf("%s: %s on %s is %s, want 0", node, k, ifc, v)
				}
			}
		}
	}

	cmd := func(node string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := l.Command(ctx, node, args[0], args[1:]...).CombinedOutput()
		return string(out), err
	}
	t.Run("the prober's only IPv6 route is the lab's", func(t *testing.T) {
		for _, dst := range []string{"2001:db8::1", "2606:4700::1", "2001:3::1"} {
			if out, err := cmd(lab.ProberName, "ip", "-6", "route", "get", dst); err == nil {
				t.Errorf("ip -6 route get %s: a route: %s", dst, out)
			}
		}
		out, err := cmd(lab.ProberName, "ip", "-6", "route", "show", "table", "main")
		if err != nil {
			t.Fatalf("ip -6 route: %v\n%s", err, out)
		}
		lab48 := false
		for _, r := range strings.Split(strings.TrimSpace(out), "\n") {
			dst, _, _ := strings.Cut(r, " ")
			p, err := netip.ParsePrefix(dst)
			if err != nil {
				var ad netip.Addr
				if ad, err = netip.ParseAddr(dst); err == nil {
					p = netip.PrefixFrom(ad, 128)
				}
			}
			if err != nil || !(lab.LabRange6.Overlaps(p) && p.Bits() >= 48 || netip.MustParsePrefix("fe80::/64") == p) {
				t.Errorf("the prober has an IPv6 route outside 2001:2::/48: %s", r)
			}
			lab48 = lab48 || strings.HasPrefix(r, "2001:2::/48 via 2001:2:0:1::2 ")
		}
		if !lab48 {
			t.Errorf("no route 2001:2::/48 via 2001:2:0:1::2:\n%s", out)
		}
		// And the lab is routed: the checks above can fail.
		if out, err := cmd(lab.ProberName, "ip", "-6", "route", "get", "2001:2:0:ffff::1"); err != nil {
			t.Errorf("ip -6 route get big's /112: %v: %s", err, out)
		}
	})

	t.Run("hop limits", func(t *testing.T) {
		// An echo reply's hop limit, as ping reads it (IPV6_RECVHOPLIMIT):
		// the target's initial hop limit less the router's one hop.
		ttl := regexp.MustCompile(`ttl=(\d+)`)
		for addr, want := range map[string]string{"2001:2:0:a::a": "63", "2001:2:0:b::a": "127", "2001:2:0:3::a": "254", "2001:2:0:1::2": "64"} {
			out, err := cmd(lab.ProberName, "ping", "-6", "-n", "-c", "1", "-W", "2", addr)
			if m := ttl.FindStringSubmatch(out); err != nil || m == nil || m[1] != want {
				t.Errorf("ping -6 %s: %v, want hop limit %s:\n%s", addr, err, want, out)
			}
		}
	})

	a := netip.MustParseAddr
	t.Run("open and closed", func(t *testing.T) {
		for _, c := range []struct {
			addr  string
			port  uint16
			refus bool
		}{
			{"2001:2:0:a::a", 22, false}, {"2001:2:0:a::a", 80, false}, {"2001:2:0:a::a", 443, false},
			{"2001:2:0:a::a", 25, true}, {"2001:2:0:a::a", 179, true},
			{"2001:2:0:3::a", 22, false}, {"2001:2:0:3::a", 179, false}, {"2001:2:0:3::a", 80, true},
			{"2001:2:0:e::a", 80, false}, {"2001:2:0:e::a", 22, true},
			{"2001:2:0:f::a", 80, false}, {"2001:2:0:f::a", 443, true},
			{"2001:2:0:10::a", 80, false}, {"2001:2:0:10::a", 443, true},
			{"2001:2:0:11::a", 80, false}, {"2001:2:0:11::a", 22, true},
			{"2001:2:0:b::a", 135, false}, {"2001:2:0:b::a", 139, false}, {"2001:2:0:b::a", 445, false},
			{"2001:2:0:b::a", 3389, false}, {"2001:2:0:b::a", 80, true},
			{"2001:2:0:d::a", 80, false}, {"2001:2:0:d::a", 23, true},
		} {
			c6, err := dial6(l, a(c.addr), c.port, 2*time.Second)
			switch {
			case c.refus && !errors.Is(err, syscall.ECONNREFUSED):
				t.Errorf("[%s]:%d: %v, want connection refused", c.addr, c.port, err)
			case !c.refus && err != nil:
				t.Errorf("[%s]:%d: %v, want open", c.addr, c.port, err)
			case err == nil:
				c6.Close()
			}
		}
	})

	t.Run("big answers 2001:2:0:ffff::/112", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(17, 6))
		for range 5 {
			b := lab.BigPrefix6.Addr().As16()
			b[14], b[15] = byte(rng.IntN(256)), byte(rng.IntN(256))
			ad := netip.AddrFrom16(b)
			c, err := dial6(l, ad, 80, 2*time.Second)
			if err != nil {
				t.Errorf("[%v]:80: %v", ad, err)
				continue
			}
			if got := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != ad {
				t.Errorf("connected to %v, want %v", got, ad)
			}
			c.Close()
			if _, err := dial6(l, ad, 22, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("[%v]:22: %v, want connection refused", ad, err)
			}
		}
	})

	t.Run("fw drops, reject rejects with ICMPv6", func(t *testing.T) {
		for _, port := range []uint16{22, 80} {
			if _, err := dial6(l, a("2001:2:0:c::a"), port, 700*time.Millisecond); !isTimeout(err) {
				t.Errorf("[2001:2:0:c::a]:%d: %v, want a timeout (dropped)", port, err)
			}
		}
		for _, c := range []struct {
			port     uint16
			errno    error
			icmpCode int
		}{
			{23, syscall.ECONNREFUSED, -1},
			{25, syscall.ECONNREFUSED, 4}, // port unreachable
			{26, syscall.EHOSTUNREACH, 3}, // address unreachable
			{22, syscall.EACCES, 1},       // administratively prohibited
			{443, syscall.EACCES, 1},
		} {
			code, err := dialWatchingICMPv6(t, l, a("2001:2:0:d::a"), c.port)
			if !errors.Is(err, c.errno) {
				t.Errorf("[2001:2:0:d::a]:%d: %v, want %v", c.port, err, c.errno)
			}
			if code != c.icmpCode {
				t.Errorf("[2001:2:0:d::a]:%d: ICMPv6 unreachable code %d, want %d (-1: none)", c.port, code, c.icmpCode)
			}
		}
	})
}

// dial6 connects over IPv6 from the prober's namespace with the kernel's
// own TCP.
func dial6(l *lab.Lab, a netip.Addr, port uint16, timeout time.Duration) (c *net.TCPConn, err error) {
	err = l.Do(lab.ProberName, func() error {
		conn, err := net.DialTimeout("tcp6", netip.AddrPortFrom(a, port).String(), timeout)
		if err == nil {
			c = conn.(*net.TCPConn)
		}
		return err
	})
	return c, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dialWatchingICMPv6 connects to [a]:port over IPv6 while a raw ICMPv6
// socket in the prober's namespace watches for a destination unreachable,
// and returns its code (-1: none) and the connect's error.
func dialWatchingICMPv6(t *testing.T, l *lab.Lab, a netip.Addr, port uint16) (int, error) {
	t.Helper()
	var fd int
	if err := l.Do(lab.ProberName, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6)
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// Only destination unreachables (type 1): ICMPV6_FILTER blocks the
	// rest (NDP, ...), so the first message read is the one the connect
	// caused; the timeout bounds the wait when none comes.
	var f unix.ICMPv6Filter
	for i := range f.Data {
		f.Data[i] = 0xffffffff
	}
	f.Data[0] &^= 1 << 1
	if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(300 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_, err := dial6(l, a, port, 2*time.Second)
	buf := make([]byte, 1500)
	n, _, rerr := unix.Recvfrom(fd, buf, 0)
	if rerr != nil || n < 2 || buf[0] != 1 {
		return -1, err
	}
	return int(buf[1]), err
}
