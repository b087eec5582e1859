package main

import (
	"bytes"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The testdata files are what each tool printed in the benchmark's lab
// (198.19.0.0/29 with port 80 open and 81 closed; 200 µs-class pings to
// 198.18.22.10:80); the *6.out files likewise over IPv6, for
// 2001:2:0:ffff::/125.

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseOpen(t *testing.T) {
	slash29 := netip.MustParsePrefix("198.19.0.0/29")
	for _, c := range []struct {
		file  string
		parse func(*os.File) (openSet, error)
	}{
		{"zmap.out", func(f *os.File) (openSet, error) { return parseZmap(f) }},
		{"nmap.out", func(f *os.File) (openSet, error) { return parseNmap(f) }},
		{"synprobe-scan.out", func(f *os.File) (openSet, error) { return parseSynprobeOpen(f) }},
	} {
		set, err := c.parse(open(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		// Every address of the /29 has 80 open; 81 (closed) adds nothing.
		if got := set.within(slash29); got != 8 || len(set.addrs) != 8 || set.dups != 0 {
			t.Errorf("%s: %d in the /29, %d in all, %d dups; want 8, 8, 0", c.file, got, len(set.addrs), set.dups)
		}
	}
}

func TestParseOpen6(t *testing.T) {
	slash125 := netip.MustParsePrefix("2001:2:0:ffff::/125")
	for _, c := range []struct {
		file  string
		parse func(*os.File) (openSet, error)
	}{
		{"nmap6.out", func(f *os.File) (openSet, error) { return parseNmap(f) }},
		{"synprobe-scan6.out", func(f *os.File) (openSet, error) { return parseSynprobeOpen(f) }},
	} {
		set, err := c.parse(open(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if got := set.within(slash125); got != 8 || len(set.addrs) != 8 || set.dups != 0 || set.within(bigPrefix6) != 8 {
			t.Errorf("%s: %d in the /125, %d in all, %d dups; want 8, 8, 0", c.file, got, len(set.addrs), set.dups)
		}
	}
}

func TestParseMasscan(t *testing.T) {
	// masscan's -oL list format, as its documentation gives it.
	in := "#masscan\nopen tcp 80 198.19.0.1 1764060000\nopen tcp 80 198.19.0.1 1764060001\nclosed tcp 81 198.19.0.2 1764060000\nopen tcp 80 10.0.0.1 1764060000\n# end\nopen tcp 80 198"
	set, err := parseMasscan(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if set.within(netip.MustParsePrefix("198.19.0.0/16")) != 1 || set.dups != 1 || len(set.addrs) != 2 {
		t.Fatalf("got %v dups %d", set.addrs, set.dups)
	}
	// masscan 1.3 puts an IPv6 address in the same field. (Not captured
	// from the lab: masscan writes -oL when it exits, and here it does not
	// exit after its --wait, so a small scan's list is lost when it is
	// stopped; a large one's is mostly flushed on the way.)
	in6 := "#masscan\nopen tcp 80 2001:2:0:ffff::1 1764060000\nopen tcp 80 2001:2:0:ffff::1 1764060001\nclosed tcp 81 2001:2:0:ffff::2 1764060000\nopen tcp 80 2001:2:0:ffff:: 1764060000\nopen tcp 80 2001:2:0:14::a 1764060000\nopen tcp 80 2001:2:0:ff"
	set, err = parseMasscan(strings.NewReader(in6))
	if err != nil {
		t.Fatal(err)
	}
	if set.within(bigPrefix6) != 2 || set.dups != 1 || len(set.addrs) != 3 {
		t.Fatalf("IPv6: got %v dups %d", set.addrs, set.dups)
	}
}

func TestParseRTTs(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, c := range []struct {
		file  string
		parse func(*os.File) ([]probeRTT, error)
		want  []time.Duration
	}{
		{"hping3.out", func(f *os.File) ([]probeRTT, error) { return parseHping(f) }, []time.Duration{ms(0.3), ms(4.2), ms(0.5), ms(0.4), ms(0.2)}},
		// RCVD minus SENT of the lines nping printed.
		{"nping.out", func(f *os.File) ([]probeRTT, error) { return parseNping(f) }, []time.Duration{ms(0.2), ms(0.2)}},
		{"synprobe-ping.out", func(f *os.File) ([]probeRTT, error) { return parseSynprobePing(f) }, []time.Duration{ms(0.036), ms(0.045)}},
	} {
		got, err := c.parse(open(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if len(got) < len(c.want) {
			t.Fatalf("%s: %d probes, want at least %d", c.file, len(got), len(c.want))
		}
		for i, w := range c.want {
			if got[i].Seq != i || (got[i].RTT-w).Abs() > time.Microsecond {
				t.Errorf("%s: probe %d = %+v, want seq %d rtt %v", c.file, i, got[i], i, w)
			}
		}
	}
}

// TestReadHandshakes builds a capture with gopacket: a tool that reuses its
// 4-tuple and ISN (as nping does), one unanswered SYN, a reply to a probe
// never sent, and the prober's own RST.
func TestReadHandshakes(t *testing.T) {
	me, them := net.IP{198, 18, 22, 1}, net.IP{198, 18, 22, 10}
	t0 := time.Unix(1764060000, 0)
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	pkt := func(at time.Duration, src, dst net.IP, sport, dport uint16, seq, ack uint32, syn, ackf, rst bool) {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, SYN: syn, ACK: ackf, RST: rst, Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
			t.Fatal(err)
		}
		b := sb.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(at), CaptureLength: len(b), Length: len(b)}, b); err != nil {
			t.Fatal(err)
		}
	}
	us := time.Microsecond
	pkt(0, me, them, 4481, 80, 1000, 0, true, false, false)         // probe 0
	pkt(70*us, them, me, 80, 4481, 555, 1001, true, true, false)    // its SYN-ACK: 70 µs
	pkt(80*us, me, them, 4481, 80, 1001, 0, false, false, true)     // the prober's RST: ignored
	pkt(50000*us, me, them, 4481, 80, 1000, 0, true, false, false)  // probe 1, same tuple and ISN
	pkt(50123*us, them, me, 80, 4481, 777, 1001, true, true, false) // answers probe 1: 123 µs
	pkt(100000*us, me, them, 4482, 80, 2000, 0, true, false, false) // probe 2: unanswered
	pkt(100010*us, them, me, 80, 9999, 1, 5001, true, true, false)  // answers nothing sent
	pkt(150000*us, me, them, 4483, 81, 3000, 0, true, false, false) // probe 3
	pkt(150020*us, them, me, 81, 4483, 0, 3001, false, true, true)  // RST+ACK: 20 µs
	pkt(150030*us, them, me, 81, 4483, 0, 3001, false, true, true)  // a duplicate: ignored

	hs, err := readHandshakes(&buf, netip.MustParseAddr("198.18.22.1"))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		answered bool
		rtt      time.Duration
	}{{true, 70 * us}, {true, 123 * us}, {false, 0}, {true, 20 * us}}
	if len(hs) != len(want) {
		t.Fatalf("%d handshakes, want %d", len(hs), len(want))
	}
	for i, w := range want {
		if hs[i].answered != w.answered || hs[i].rtt != w.rtt {
			t.Errorf("handshake %d: answered %v rtt %v, want %v %v", i, hs[i].answered, hs[i].rtt, w.answered, w.rtt)
		}
	}
	errs, missing := latencyErrors([]probeRTT{{0, 100 * us}, {1, 100 * us}, {2, 5 * us}, {3, 20 * us}, {7, us}}, hs)
	if missing != 2 || len(errs) != 3 || errs[0] != 30*us || errs[1] != 23*us || errs[2] != 0 {
		t.Fatalf("errors %v missing %d", errs, missing)
	}
}

func TestSendRate(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int, n uint64) sample { return sample{t0.Add(time.Duration(ms) * time.Millisecond), n} }
	// Nothing for 100 ms (start-up), 1,000 packets over 500 ms, then idle.
	rate, n := sendRate([]sample{at(0, 50), at(50, 50), at(100, 50), at(350, 550), at(600, 1050), at(650, 1050), at(900, 1050)})
	if n != 1000 || math.Abs(rate-2000) > 1e-9 {
		t.Fatalf("rate %v over %d packets, want 2000 over 1000", rate, n)
	}
	if r, n := sendRate([]sample{at(0, 5), at(10, 5)}); r != 0 || n != 0 {
		t.Fatalf("nothing sent: %v %d", r, n)
	}
}

func TestStats(t *testing.T) {
	if m := median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Fatalf("median %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Fatal("median of nothing")
	}
	ds := []time.Duration{5, 1, 4, 2, 3}
	if percentile(ds, 50) != 3 || percentile(ds, 99) != 5 || percentile(ds, 1) != 1 {
		t.Fatalf("percentiles %v %v %v", percentile(ds, 50), percentile(ds, 99), percentile(ds, 1))
	}
}

func TestJudge6(t *testing.T) {
	r := &report{}
	r.Send = []sendRun{{Tool: "synprobe", PPS: 1000}, {Tool: "synprobe --senders 2", PPS: 2000}}
	r.Send6 = []sendRun{{Tool: "synprobe", PPS: 950}, {Tool: "synprobe --senders 2", PPS: 1900}}
	r.judge([2]int{1 << 16, 1 << 24})
	if len(r.Targets) != 1 || r.Targets[0].Met == nil || !*r.Targets[0].Met || !strings.Contains(r.Targets[0].Result, "lowest 0.95x") {
		t.Fatalf("0.95x should be met: %+v", r.Targets)
	}
	r.Send6[1].PPS = 1700 // 0.85x on one setting
	r.judge([2]int{1 << 16, 1 << 24})
	if *r.Targets[0].Met {
		t.Fatalf("0.85x should not be met: %+v", r.Targets)
	}
	r.merged = []string{"1"} // figure 1 from an earlier run
	r.judge([2]int{1 << 16, 1 << 24})
	if r.Targets[0].Met != nil {
		t.Fatalf("figures from different runs should not be judged: %+v", r.Targets)
	}
}

func TestJudge(t *testing.T) {
	r := &report{}
	r.Send = []sendRun{{Tool: "synprobe", PPS: 700}, {Tool: "zmap", PPS: 300}, {Tool: "masscan", PPS: 350}}
	r.judge([2]int{1 << 16, 1 << 24})
	if len(r.Targets) != 1 || r.Targets[0].Met == nil || !*r.Targets[0].Met {
		t.Fatalf("700 >= 2 x 350 should be met: %+v", r.Targets)
	}
	r.Send[0].PPS = 699
	r.judge([2]int{1 << 16, 1 << 24})
	if *r.Targets[0].Met {
		t.Fatalf("699 < 2 x 350 should not be met: %+v", r.Targets)
	}
}
