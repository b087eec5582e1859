//go:build linux

package main

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
)

// TestEndToEndMemoryFlat: the real command's peak RSS, as the kernel
// counts it (the child's ru_maxrss), for a /16 x 256-port scan
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
		cmd := l.Command(ctx, lab.ProberName, synprobeBin(t), "scan", "198.19.0.0/16", "-p", ports, "--rate", "200000",
			"--retries", "0", "--timeout", "2s", "--cooldown", "2s", "--open", "-o", "jsonl", "-q")
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = f, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if stopAfter > 0 {
			// `ip netns exec` execs the command: the PID is synprobe's.
			timer := time.AfterFunc(stopAfter, func() { cmd.Process.Signal(syscall.SIGINT) })
			defer timer.Stop()
		}
		err = cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if (stopAfter == 0 && err != nil) || (stopAfter > 0 && code != 0 && code != exitInterrupt) {
			t.Fatalf("scan -p %s: %v: %s", ports, err, stderr.String())
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok || ru.Maxrss == 0 {
			t.Fatal("no rusage for the child")
		}
		f.Seek(0, 0)
		open := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"state":"open"`) {
				open++
			}
		}
		return ru.Maxrss, open
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
