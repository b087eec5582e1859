package probe

import (
	"net/netip"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// resetter ends the half-open connections SYN-ACKs start, with RSTs sent
// in batches: those for one receive batch together. The local kernel,
// which has no socket for such a connection, answers the SYN-ACK with a
// RST of its own as well; that second RST is harmless (the target drops a
// RST for a connection it has already closed) and is why --no-reset still
// leaves no half-open connection behind on a Linux prober. Receiving
// goroutine only.
type resetter struct {
	conn    Conn
	src     sources
	ttl     uint8
	prog    *Progress
	capture CaptureFunc
	fails   *failureLimit
	clock   timeSource
	bufs    [64][64]byte
	out     []raw.Outgoing
}

func newResetter(conn Conn, src sources, ttl uint8, prog *Progress, capture CaptureFunc, fails *failureLimit) *resetter {
	rs := &resetter{conn: conn, src: src, ttl: ttl, prog: prog, capture: capture, fails: fails, clock: &realTime{}}
	rs.out = make([]raw.Outgoing, 0, len(rs.bufs))
	return rs
}

// add queues a RST for the connection sport > dst:dport whose SYN-ACK
// acknowledged seq.
func (rs *resetter) add(dst netip.Addr, dport, sport uint16, seq uint32) {
	if len(rs.out) == len(rs.bufs) {
		rs.flush()
	}
	buf := rs.bufs[len(rs.out)][:]
	tcp := craft.TCP{SrcPort: sport, DstPort: dport, Seq: seq, Flags: craft.FlagRST}
	var n int
	var err error
	if dst.Is4() {
		ip := craft.IPv4{TTL: rs.ttl, Src: rs.src.v4, Dst: dst, Flags: craft.FlagDF}
		n, err = craft.BuildTCP(buf, &ip, &tcp)
	} else {
		ip := craft.IPv6{HopLimit: rs.ttl, Src: rs.src.v6, Dst: dst}
		n, err = craft.BuildTCP6(buf, &ip, &tcp)
	}
	if err != nil {
		return
	}
	rs.out = append(rs.out, raw.Outgoing{Buf: buf[:n], Dst: dst})
}

// flush sends the RSTs queued. A RST is a courtesy: one the kernel
// refuses is skipped.
func (rs *resetter) flush() {
	out := rs.out
	for len(out) > 0 {
		now := rs.clock.Now()
		n, err := rs.conn.WriteBatch(out)
		for _, p := range out[:n] {
			rs.prog.Resets.Add(1)
			if rs.capture != nil {
				rs.capture(Sent, p.Buf, now)
			}
		}
		// A RST's failure counts towards the run's limit, but never
		// stops the RSTs: the senders see the limit.
		rs.fails.sent(n)
		rs.fails.failed(err)
		if err != nil {
			n++
		}
		out = out[min(n, len(out)):]
	}
	rs.out = rs.out[:0]
}
