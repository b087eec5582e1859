//go:build linux

package probe

import (
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
)

// TestRecallThroughLoss scans a /16 behind a link that loses 10% of the
// packets each way: with three retries, at least 99.9% must be found open,
// each exactly once, and nothing may be reported open that is not.
func TestRecallThroughLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("65,536 probes through a lossy link")
	}
	l := labtest.Start(t, lab.Topology{Nodes: []lab.Node{
		{Name: "r1", Role: lab.RoleRouter, Parent: lab.ProberName, Addr: mustAddr("198.18.1.2"), Link: lab.Link{Subnet: mustPrefix("198.18.1.0/24")}},
		{Name: "big", Role: lab.RoleTarget, Parent: "r1", Addr: mustAddr("198.18.17.10"),
			Link:      lab.Link{Subnet: mustPrefix("198.18.17.0/24"), LossDown: 0.10, LossUp: 0.10},
			OpenPorts: []uint16{80}, Prefix: mustPrefix("198.19.0.0/16")},
	}})
	conn := openInLab(t, l)
	// The timeout is longer than the target's first SYN-ACK retransmission
	// (1 s), as a real stack's answer to a lost SYN-ACK is part of what a
	// scanner should catch.
	c, prog := scan(t, conn, ScanConfig{Targets: targets(t, "198.19.0.0/16", "198.18.17.10"), Ports: []uint16{80, 81},
		Rate: 20000, Retries: 3, Timeout: 1200 * time.Millisecond})
	open, closed, seen := 0, 0, map[string]bool{}
	for _, r := range c.rs {
		k := r.AddrPort().String()
		if seen[k] {
			t.Fatalf("%s reported twice", k)
		}
		seen[k] = true
		switch {
		case r.State == StateOpen && r.Port == 80:
			open++
		case r.State == StateOpen:
			t.Errorf("%v reported open", r.AddrPort())
		case r.State == StateClosed:
			closed++
		}
	}
	total := 65537
	t.Logf("port 80: %d of %d open (%.3f%%); port 81: %d closed; %d retransmitted", open, total, 100*float64(open)/float64(total),
		closed, prog.Retransmitted.Load())
	if len(c.rs) != 2*total {
		t.Fatalf("%d results for %d probes", len(c.rs), 2*total)
	}
	if float64(open) < 0.999*float64(total) {
		t.Fatalf("recall %d of %d: below 99.9%%", open, total)
	}
}
