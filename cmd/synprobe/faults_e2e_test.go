//go:build linux

package main

import (
	"bufio"
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
)

// TestRouteLostMidScanExits3: the route to a /16 under scan is deleted,
// or the interface it goes through taken down, once 5,000 results are
// out. Every probe still has its result (the rest no-route), and the scan
// says on one line what went away and when, and exits 3, "could not probe
// fully", not 0.
func TestRouteLostMidScanExits3(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault []string // run in the prober's namespace
	}{
		{"route deleted", []string{"ip", "route", "del", "198.19.0.0/16"}},
		{"interface down", []string{"ip", "link", "set", "dev", "to-big", "down"}},
	} {
		t.Run(c.name, func(t *testing.T) { routeLost(t, c.fault) })
	}
}

func routeLost(t *testing.T, fault []string) {
	privileged.Require(t)
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	l := labtest.Start(t, lab.Topology{Nodes: []lab.Node{
		{Name: "big", Role: lab.RoleTarget, Parent: lab.ProberName, Addr: a("198.18.21.10"), Link: lab.Link{Subnet: p("198.18.21.0/24")},
			OpenPorts: []uint16{80}, Prefix: p("198.19.0.0/16")},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := l.Command(ctx, lab.ProberName, synprobeBin(t), "scan", "198.19.0.0/16", "-p", "80", "--rate", "20000",
		"--retries", "0", "--timeout", "500ms", "-o", "jsonl")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines, open, noRoute := 0, 0, 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines++
		switch {
		case strings.Contains(sc.Text(), `"state":"open"`):
			open++
		case strings.Contains(sc.Text(), `"reason":"no-route"`):
			noRoute++
		}
		if lines == 5000 {
			if out, err := l.Command(ctx, lab.ProberName, fault[0], fault[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v: %s", fault, err, out)
			}
		}
	}
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	msg := strings.TrimSpace(stderr.String())
	t.Logf("%d results: %d open, %d no-route; exit %d; %s", lines, open, noRoute, code, msg)
	if lines != 65536 || open < 5000 || noRoute == 0 || open+noRoute != 65536 {
		t.Errorf("%d results, %d open, %d no-route: want 65,536, every one open or no-route, both", lines, open, noRoute)
	}
	if code != exitNoProbe || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "the route to 198.19.") || !strings.Contains(msg, "s into it") {
		t.Errorf("exit %d, stderr %q: want 3 and one line saying which route went away, and when", code, msg)
	}
}
