package probe

import (
	"testing"

	"github.com/synprobe/synprobe/craft"
)

// benchMatcher is a matcher over prefix x 3 ports, as a scan's, with the
// template of its family.
func benchMatcher(b *testing.B, src, prefix string) (*matcher, *craft.SYNTemplate) {
	b.Helper()
	ts, err := NewTargetSet([]AddrRange{RangeOf(mustPrefix(prefix))}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var s sources
	if a := mustAddr(src); a.Is4() {
		s.v4 = a
	} else {
		s.v6 = a
	}
	m, err := newMatcher(s, ts, []uint16{22, 80, 443}, 32768, 60999, 3)
	if err != nil {
		b.Fatal(err)
	}
	tpl, err := newTemplates(s, craft.SYNConfig{})
	if err != nil {
		b.Fatal(err)
	}
	return m, tpl.of(ts.At(0))
}

// BenchmarkMatch decodes and matches a SYN-ACK to its probe: the
// receiver's work per reply.
func BenchmarkMatch(b *testing.B) {
	for _, c := range []struct{ name, src, prefix string }{
		{"IPv4", "198.18.1.1", "198.19.0.0/16"},
		{"IPv6", "2001:2:0:1::1", "2001:2:0:9::/112"},
	} {
		b.Run(c.name, func(b *testing.B) {
			m, tpl := benchMatcher(b, c.src, c.prefix)
			var x scratch
			dst := m.targets.At(1234)
			sport := m.sport(&x, dst, 80, 1)
			buf := make([]byte, tpl.Len())
			n, _ := tpl.Write(buf, m.src.of(dst), dst, sport, 80, m.isn(&x, dst, sport, 80), 1)
			var syn craft.Packet
			if err := syn.Decode(buf[:n]); err != nil {
				b.Fatal(err)
			}
			pkt := synAck(&syn)
			var pk craft.Packet
			var rp reply
			b.ReportAllocs()
			for b.Loop() {
				if m.match(&x, &pk, pkt, &rp) != matched {
					b.Fatal("no match")
				}
			}
		})
	}
}

// BenchmarkBuildSYN is the sender's work per probe: the target:port of a
// probe index, its source port and ISN, and the SYN written from the
// template.
func BenchmarkBuildSYN(b *testing.B) {
	for _, c := range []struct{ name, src, prefix string }{
		{"IPv4", "198.18.1.1", "198.19.0.0/16"},
		{"IPv6", "2001:2:0:1::1", "2001:2:0:9::/112"},
	} {
		b.Run(c.name, func(b *testing.B) {
			m, tpl := benchMatcher(b, c.src, c.prefix)
			var x scratch
			buf := make([]byte, tpl.Len())
			n := m.probes()
			var idx uint64
			b.ReportAllocs()
			for b.Loop() {
				idx = (idx + 7919) % n
				dst, dport := m.probeOf(idx)
				sport := m.sport(&x, dst, dport, 1)
				if _, err := tpl.Write(buf, m.src.of(dst), dst, sport, dport, m.isn(&x, dst, sport, dport), uint16(idx)); err != nil {
					b.Fatal(err)
				}
				_ = key(idx, sport)
			}
		})
	}
}
