//go:build linux

package raw

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkTapRead: the user-space cost of a stamp from the tap's ring,
// 256 at a time, over a ring filled in memory as the kernel fills it (a
// TPACKET_V2 header, the packet's start at tp_net, the status word last).
func BenchmarkTapRead(b *testing.B) {
	t := &txTap{ring: make([]byte, tapFrames*tapFrameSize)}
	pkt := syn(b, ip("198.18.1.1"), ip("198.19.0.1"), 40000, 80, 1)
	fill := func() {
		for i := range tapFrames {
			f := t.ring[i*tapFrameSize : (i+1)*tapFrameSize]
			h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&f[0]))
			h.Net, h.Mac = 80, 80
			h.Snaplen = uint32(copy(f[80:], pkt))
			h.Len, h.Sec, h.Nsec = uint32(len(pkt)), 1, uint32(i)
			h.Status = unix.TP_STATUS_USER
		}
	}
	out := make([]TxStamp, 256)
	for i := range out {
		out[i].Buf = make([]byte, 128)
	}
	fill()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if t.read(out) != len(out) {
			b.StopTimer()
			fill()
			b.StartTimer()
			continue
		}
		n += len(out)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(n, 1)), "ns/stamp")
}
