//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
)

// TestEndToEndMemoryFlat: the real command's peak RSS, as the kernel
// counts it (ru_maxrss, through GNU time), for a /16 x 256-port scan
// (16,777,216 probes) is at most 1.2x that of a /16 x 1-port scan
// (65,536 probes) and under 32 MB, against one real stack that answers the
// whole /16. The big scan is interrupted after bigFor, as figure 4 of the
// benchmark stops it after a minute: by then every table sized from the
// rate is full and every page of the answered bitmap has been touched, so
// anything that grows with the probes sent shows (the code before the
// bounded transmit-time table and JSON writer measured 27.5 and 46.0 MB
// here). The fake-conn TestMemoryFlat in probe/ cannot see this: the fake
// gives no transmit timestamps, has no kernel queues and writes no output.
func TestEndToEndMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("a 15 s scan")
	}
	privileged.Require(t)
	const bigFor = 15 * time.Second
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	l := labtest.Start(t, lab.Topology{Nodes: []lab.Node{
		{Name: "big", Role: lab.RoleTarget, Parent: lab.ProberName, Addr: a("198.18.21.10"), Link: lab.Link{Subnet: p("198.18.21.0/24")},
			OpenPorts: []uint16{80}, Prefix: p("198.19.0.0/16")},
	}})

	// run scans the /16 and returns the child's peak RSS in KiB and the
	// open results it wrote; stopAfter > 0 interrupts it then.
	run := func(ports string, stopAfter time.Duration) (int64, int) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "scan.jsonl")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd, rss := timedCommand(t, l, ctx, "scan", "198.19.0.0/16", "-p", ports, "--rate", "200000",
			"--retries", "0", "--timeout", "2s", "--cooldown", "2s", "--open", "-o", "jsonl", "-q")
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = f, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if stopAfter > 0 {
			// The interrupt goes to synprobe, time's child: time itself
			// ignores it while it waits.
			timer := time.AfterFunc(stopAfter, func() { signalChild(cmd.Process.Pid, syscall.SIGINT) })
			defer timer.Stop()
		}
		err = cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if (stopAfter == 0 && err != nil) || (stopAfter > 0 && code != 0 && code != exitInterrupt) {
			t.Fatalf("scan -p %s: %v: %s", ports, err, stderr.String())
		}
		f.Seek(0, 0)
		open := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"state":"open"`) {
				open++
			}
		}
		return rss(), open
	}

	// The small scan's figure varies by some hundreds of KiB from run to
	// run (the big one's adds the 2 MiB answered bitmap to it): the mean
	// of two runs.
	small1, openSmall := run("80", 0)
	small2, _ := run("80", 0)
	small := (small1 + small2) / 2
	big, openBig := run("1-256", bigFor)
	t.Logf("peak RSS %.1f MB for 65,536 probes, %.1f MB for 16,777,216 stopped after %v (%.2fx); %d and %d open",
		float64(small)/1024, float64(big)/1024, bigFor, float64(big)/float64(small), openSmall, openBig)
	// Every address answers on port 80; the big scan visits the ports in
	// a pseudo-random order, so in 15 s at up to 200,000/s it finds a
	// share of them: more than a thousand unless it stalled.
	if openSmall != 65536 {
		t.Errorf("65,536-probe scan: %d open, want 65,536", openSmall)
	}
	if openBig < 1000 {
		t.Errorf("16,777,216-probe scan: %d open after %v: it hardly ran, so its memory says nothing", openBig, bigFor)
	}
	if float64(big) > 1.2*float64(small) {
		t.Errorf("peak RSS %d KiB at 16,777,216 probes vs %d KiB at 65,536: more than 1.2x", big, small)
	}
	if big >= 32*1024 {
		t.Errorf("peak RSS %d KiB at 16,777,216 probes: not under 32 MB", big)
	}
}

// TestPingMemoryFlat: a ping keeps only what its summary needs (8 bytes a
// probe answered) and allocates next to nothing per probe, so the real
// command's peak RSS (ru_maxrss, through GNU time) for 60,000 probes is within 1.2x of that
// for 2,000, against one real stack. (Before, every Result was kept twice:
// 19.0 MB for 2,000 and 86.1 MB for 60,000 here; with the Results gone
// but garbage per probe, the Go heap's growth to its first collections
// still made it 14.3 and 20.4 MB.)
func TestPingMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("a 60,000-probe ping")
	}
	privileged.Require(t)
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	l := labtest.Start(t, lab.Topology{Nodes: []lab.Node{
		{Name: "web", Role: lab.RoleTarget, Parent: lab.ProberName, Addr: a("198.18.22.10"), Link: lab.Link{Subnet: p("198.18.22.0/24")},
			OpenPorts: []uint16{80}},
	}})
	run := func(count int) int64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd, rss := timedCommand(t, l, ctx, "ping", "198.18.22.10:80", "-c", strconv.Itoa(count), "-i", "100us", "-q")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("ping -c %d: %v: %s", count, err, stderr.String())
		}
		want := fmt.Sprintf("%d probes sent, %d answered", count, count)
		if !strings.Contains(stdout.String(), want) {
			t.Fatalf("ping -c %d: summary does not say %q:\n%s", count, want, stdout.String())
		}
		return rss()
	}
	small := run(2000)
	big := run(60000)
	t.Logf("peak RSS %.1f MB for 2,000 probes, %.1f MB for 60,000 (%.2fx)", float64(small)/1024, float64(big)/1024, float64(big)/float64(small))
	if float64(big) > 1.2*float64(small) {
		t.Errorf("peak RSS %d KiB for 60,000 probes vs %d KiB for 2,000: more than 1.2x", big, small)
	}
}

// timedCommand is synprobe with args in the lab's prober namespace, run
// by GNU time, and a func that returns its peak RSS in KiB once it has
// ended. The rusage of a child the test starts itself would not do: Go
// starts children with vfork, and the kernel carries the peak RSS of the
// process that execs (the test binary, some tens of MB in a full run)
// into the new program's ru_maxrss, so it would report the larger of the
// two. GNU time forks synprobe from a process of its own.
func timedCommand(t *testing.T, l *lab.Lab, ctx context.Context, args ...string) (*exec.Cmd, func() int64) {
	t.Helper()
	gnuTime, err := exec.LookPath("time") // not the shell's keyword: the program
	if err != nil {
		privileged.Skip(t, "GNU time is not installed (apt-get install time)")
	}
	out := filepath.Join(t.TempDir(), "rss")
	cmd := l.Command(ctx, lab.ProberName, gnuTime, append([]string{"-o", out, "-f", "%M", synprobeBin(t)}, args...)...)
	return cmd, func() int64 {
		t.Helper()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("GNU time wrote no peak RSS: %v", err)
		}
		// The last line: before it, time says how the command ended.
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		kib, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
		if err != nil || kib <= 0 {
			t.Fatalf("GNU time's peak RSS %q", b)
		}
		return kib
	}
}

// signalChild sends sig to the children of process pid.
func signalChild(pid int, sig syscall.Signal) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			syscall.Kill(c, sig)
		}
	}
}
