//go:build linux

// Package labscripts holds the tests of the lab's provisioning scripts
// (lab/*.sh) and of the Vagrantfile; the scripts themselves are shell.
package labscripts

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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

// vmTopology is the Vagrantfile's network in namespaces: addresses only,
// as Vagrant assigns them; everything else is up to the scripts.
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

// TestProvisioningInNamespaces runs router.sh, target.sh and prober.sh in
// namespaces shaped like the VMs and checks with synprobe's engine that
// the network shows what docs/LAB.md says (everything but netem, which
// this kernel lacks), and with the kernel's own TCP that the router's
// nftables MSS clamp works.
func TestProvisioningInNamespaces(t *testing.T) {
	privileged.Require(t)
	tool(t, "nft")
	tool(t, "tc")
	tool(t, "python3")
	l := labtest.Start(t, vmTopology())
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
	if !strings.Contains(out, "MSS clamped to 1200 for 198.18.16.0/24") {
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
	// learns is 1200 (less 12 for timestamps); web's, through the same
	// router, is not clamped.
	for addr, want := range map[string]int{"198.18.16.10:80": 1200, "198.18.10.10:80": 1460} {
		var mss int
		err := l.Do(lab.ProberName, func() error {
			c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
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
