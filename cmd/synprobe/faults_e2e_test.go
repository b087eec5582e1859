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

// TestFaultMidScanExits3: once 5,000 results of a /16 scan are out, the
// route to the /16 is deleted, the interface it goes through taken down,
// or the target taken away (its own interface down, so the probes still
// leave but nothing answers). Every probe still has its result (the rest
// no-route, or no-response), and the scan says on one line what went
// away and when, and exits 3, "could not probe fully", not 0.
func TestFaultMidScanExits3(t *testing.T) {
	for _, c := range []struct {
		name   string
		node   string   // where the fault is made
		fault  []string // the command that makes it
		reason string   // of the results after it
		says   string
	}{
		{"route deleted", lab.ProberName, []string{"ip", "route", "del", "198.19.0.0/16"}, "no-route", "the route to 198.19."},
		{"interface down", lab.ProberName, []string{"ip", "link", "set", "dev", "to-big", "down"}, "no-route", "the route to 198.19."},
		{"target gone", "big", []string{"ip", "link", "set", "dev", lab.UplinkInterface, "down"}, "no-response", "replies stopped"},
	} {
		t.Run(c.name, func(t *testing.T) { faultMidScan(t, c.node, c.fault, c.reason, c.says) })
	}
}

func faultMidScan(t *testing.T, node string, fault []string, reason, says string) {
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
	lines, open, noRoute, silent := 0, 0, 0, 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines++
		switch {
		case strings.Contains(sc.Text(), `"state":"open"`):
			open++
		case strings.Contains(sc.Text(), `"reason":"`+reason+`"`):
			noRoute++
		case strings.Contains(sc.Text(), `"reason":"no-response"`):
			silent++
		}
		if lines == 5000 {
			if out, err := l.Command(ctx, node, fault[0], fault[1:]...).CombinedOutput(); err != nil {
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
	t.Logf("%d results: %d open, %d %s; exit %d; %s", lines, open, noRoute, reason, code, msg)
	// The probes on the wire when the fault came may get no reply: a few
	// no-response, no more.
	if lines != 65536 || open < 5000 || noRoute == 0 || open+noRoute < 65536-256 || open+noRoute+silent != 65536 {
		t.Errorf("%d results, %d open, %d %s, %d no-response: want 65,536, all open or %s but a few no-response", lines, open, noRoute, reason, silent, reason)
	}
	if code != exitNoProbe || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, says) || !strings.Contains(msg, "s into it") {
		t.Errorf("exit %d, stderr %q: want 3 and one line saying %q, and when", code, msg, says)
	}
}
