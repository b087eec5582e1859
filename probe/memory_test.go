package probe

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// echoConn answers every SYN with a SYN-ACK at once, in memory, as a
// listening kernel would: enough to run the whole engine at full speed
// without a network. Replies wait in a fixed ring (a socket buffer); a
// full ring holds the sender back, as a busy link would, so the fake's own
// memory is constant and allocation-free.
type echoConn struct {
	mu         sync.Mutex
	ring       [1 << 16][64]byte
	lens       [1 << 16]uint8
	head, tail uint64
	pkt        craft.Packet
}

func (e *echoConn) WriteBatch(pkts []raw.Outgoing) (int, error) {
	for i := 0; i < len(pkts); {
		e.mu.Lock()
		for ; i < len(pkts) && e.tail-e.head < uint64(len(e.ring)); i++ {
			p := pkts[i]
			if e.pkt.Decode(p.Buf) != nil || e.pkt.TCP.Flags != craft.FlagSYN {
				continue
			}
			ip := craft.IPv4{TTL: 64, Src: e.pkt.IP.Dst, Dst: e.pkt.IP.Src, Flags: craft.FlagDF}
			tcp := craft.TCP{SrcPort: e.pkt.TCP.DstPort, DstPort: e.pkt.TCP.SrcPort, Seq: 1, Ack: e.pkt.TCP.Seq + 1,
				Flags: craft.FlagSYN | craft.FlagACK, Window: 65160}
			slot := e.tail % uint64(len(e.ring))
			n, _ := craft.BuildTCP(e.ring[slot][:], &ip, &tcp)
			e.lens[slot] = uint8(n)
			e.tail++
		}
		e.mu.Unlock()
		if i < len(pkts) {
			time.Sleep(50 * time.Microsecond)
		}
	}
	return len(pkts), nil
}

func (e *echoConn) ReadBatch(msgs []raw.Incoming) (int, error) {
	e.mu.Lock()
	n := 0
	for n < len(msgs) && e.head < e.tail {
		slot := e.head % uint64(len(e.ring))
		msgs[n].N = copy(msgs[n].Buf, e.ring[slot][:e.lens[slot]])
		msgs[n].Kernel = false
		e.head++
		n++
	}
	e.mu.Unlock()
	if n == 0 {
		time.Sleep(time.Millisecond)
		return 0, os.ErrDeadlineExceeded
	}
	now := time.Now()
	for i := range msgs[:n] {
		msgs[i].Time = now
	}
	return n, nil
}

func (e *echoConn) ReadTxTimestamps([]raw.TxStamp) (int, error) { return 0, nil }
func (e *echoConn) SetReadDeadline(time.Time) error             { return nil }
func (e *echoConn) Route(netip.Addr) (raw.Route, error) {
	return raw.Route{Src: netip.MustParseAddr("198.18.1.1")}, nil
}
func (e *echoConn) Close() error { return nil }

// TestMemoryFlat: the peak RSS of a 16,777,216-probe scan (/16 x 256
// ports) is at most 1.2x that of a 65,536-probe scan (/16 x 1 port). Each
// runs in a child process, which reports its VmHWM.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("16,777,216 probes")
	}
	if os.Getenv("SYNPROBE_MEMORY_CHILD") != "" {
		return
	}
	peak := func(ports int) (int, uint64) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SYNPROBE_MEMORY_CHILD="+strconv.Itoa(ports))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		var kb int
		var open uint64
		for _, l := range strings.Split(string(out), "\n") {
			if s, ok := strings.CutPrefix(l, "peak-kb "); ok {
				fmt.Sscan(s, &kb, &open)
			}
		}
		if kb == 0 {
			t.Fatalf("no report from child:\n%s", out)
		}
		return kb, open
	}
	small, openSmall := peak(1)
	big, openBig := peak(256)
	t.Logf("peak RSS: %d KiB for 65,536 probes, %d KiB for 16,777,216 (%.2fx)", small, big, float64(big)/float64(small))
	if openSmall != 65536 || openBig != 1<<24 {
		t.Fatalf("open results %d and %d", openSmall, openBig)
	}
	if float64(big) > 1.2*float64(small) {
		t.Fatalf("peak RSS %d KiB vs %d KiB: more than 1.2x", big, small)
	}
}

func TestMemoryChild(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SYNPROBE_MEMORY_CHILD"))
	if n == 0 {
		t.Skip("run by TestMemoryFlat")
	}
	ports := make([]uint16, n)
	for i := range ports {
		ports[i] = uint16(1000 + i)
	}
	ts, _ := NewTargetSet([]AddrRange{RangeOf(netip.MustParsePrefix("198.19.0.0/16"))}, nil)
	var prog Progress
	var open uint64
	// A generous cooldown: on a loaded machine the receiver may still be
	// draining the fake's queue when the last SYN has gone.
	err := Scan(context.Background(), ScanConfig{Targets: ts, Ports: ports, Rate: 50_000_000, Timeout: 2 * time.Second,
		Cooldown: 2 * time.Second, NoReset: true}, &echoConn{}, func(r Result) {
		if r.State == StateOpen {
			open++
		}
	}, &prog)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if s, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "kB")))
			fmt.Printf("peak-kb %d %d\n", kb, open)
		}
	}
}

// TestScanAllocatesNothingPerProbe runs the whole engine (pacing, SYN
// template, cookies, decoding and validating replies, emitting results)
// over 262,144 probes and counts heap allocations.
func TestScanAllocatesNothingPerProbe(t *testing.T) {
	ts, _ := NewTargetSet([]AddrRange{RangeOf(netip.MustParsePrefix("198.19.0.0/16"))}, nil)
	const probes = 1 << 18
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	var open int
	err := Scan(context.Background(), ScanConfig{Targets: ts, Ports: []uint16{1, 2, 3, 4}, Rate: 50_000_000,
		Timeout: 2 * time.Second, Cooldown: 2 * time.Second, NoReset: true}, &echoConn{},
		func(r Result) {
			if r.State == StateOpen {
				open++
			}
		}, nil)
	runtime.ReadMemStats(&m1)
	if err != nil || open != probes {
		t.Fatalf("%d open, %v", open, err)
	}
	per := float64(m1.Mallocs-m0.Mallocs) / probes
	t.Logf("%.4f allocations per probe (%d in all)", per, m1.Mallocs-m0.Mallocs)
	if per > 0.01 {
		t.Fatalf("%.4f allocations per probe", per)
	}
}
