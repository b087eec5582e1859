//go:build linux

package probe

import (
	"sync"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
)

// TestOffloadedChecksumsCount: a target one veth away with TX checksum
// offload on (as a container on this machine has it) sends its SYN-ACKs
// with only the pseudo-header sum in the checksum field, and the prober's
// kernel accepts them. synprobe must too, while still rejecting real
// corruption (TestBadChecksumsAreMalformed). The test checks that the
// SYN-ACK really arrived unfinished, so it proves the case it is about.
func TestOffloadedChecksumsCount(t *testing.T) {
	l := labtest.Start(t, lab.Topology{Nodes: []lab.Node{{Name: "near", Role: lab.RoleTarget, Parent: lab.ProberName,
		Addr: mustAddr("198.18.20.10"), Link: lab.Link{Subnet: mustPrefix("198.18.20.0/24")}, OpenPorts: []uint16{80}}}})
	if err := l.Do("near", func() error { return lab.SetTxChecksumOffload(lab.UplinkInterface, true) }); err != nil {
		t.Fatal(err)
	}
	conn := openInLab(t, l)
	var mu sync.Mutex
	unfinished := 0
	capture := func(dir Direction, b []byte, _ time.Time) {
		var p craft.Packet
		if dir == Received && p.Decode(b) == nil && p.IP.Protocol == craft.ProtocolTCP && p.TCP.Flags == craft.FlagSYN|craft.FlagACK && !p.TCPChecksumOK {
			mu.Lock()
			unfinished++
			mu.Unlock()
		}
	}
	c, prog := scan(t, conn, ScanConfig{Targets: targets(t, "198.18.20.10"), Ports: []uint16{80, 81}, Capture: capture})
	if unfinished == 0 {
		t.Fatal("no SYN-ACK arrived with an unfinished checksum: the test proves nothing")
	}
	if r := c.only(t, "198.18.20.10", 80); r.State != StateOpen {
		t.Errorf("port 80: %v/%v, want open", r.State, r.Reason)
	}
	if r := c.only(t, "198.18.20.10", 81); r.State != StateClosed {
		t.Errorf("port 81: %v/%v, want closed", r.State, r.Reason)
	}
	if prog.Malformed.Load() != 0 {
		t.Errorf("%d malformed", prog.Malformed.Load())
	}
}
