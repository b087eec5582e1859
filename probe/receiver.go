package probe

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// receiver reads replies and transmit stamps: it keeps each probe's
// transmit time (txTable) from its stamp, hands every packet read to the
// capture and to the matcher, counts what is malformed or unmatched, has
// the resetter end each half-open connection a SYN-ACK starts, and gives
// every reply that answers a probe to onReply, which decides what it
// settles (scan and ping decide differently). One goroutine only.
type receiver struct {
	conn    Conn
	m       *matcher
	tx      *txTable
	sent    []*sentLog // the senders' logs: a tagged stamp's ID finds its probe there
	prog    *Progress
	capture CaptureFunc
	resets  *resetter // nil: no RSTs (--no-reset)
	onReply func(rp *reply, m *raw.Incoming)

	x      scratch // AES scratch
	pk     craft.Packet
	rp     reply
	msgs   []raw.Incoming
	stamps []raw.TxStamp
	ss     craft.SegmentStart
	// unstamped counts transmit stamps whose probe had left the sent log;
	// foreign those of packets that are not this run's probes.
	unstamped, foreign uint64
}

func newReceiver(conn Conn, m *matcher, tx *txTable, sent []*sentLog, prog *Progress, capture CaptureFunc,
	resets *resetter, nMsgs, nStamps int) *receiver {
	rc := &receiver{conn: conn, m: m, tx: tx, sent: sent, prog: prog, capture: capture, resets: resets,
		msgs: make([]raw.Incoming, nMsgs), stamps: make([]raw.TxStamp, nStamps)}
	for i := range rc.msgs {
		rc.msgs[i].Buf = make([]byte, 2048)
	}
	for i := range rc.stamps {
		rc.stamps[i].Buf = make([]byte, 128) // the IP (IPv4 or IPv6) and TCP headers of a probe
	}
	return rc
}

// poll reads one batch of replies, waiting until deadline at most, and
// handles each; the transmit stamps are read before, and after a batch
// (those of the probes it answers).
func (rc *receiver) poll(deadline time.Time) error {
	rc.drainTx()
	rc.conn.SetReadDeadline(deadline)
	n, err := rc.conn.ReadBatch(rc.msgs)
	if err != nil && !os.IsTimeout(err) && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("receive: %w", err)
	}
	if n > 0 {
		rc.drainTx()
	}
	for i := range rc.msgs[:n] {
		rc.handle(&rc.msgs[i])
	}
	if rc.resets != nil {
		rc.resets.flush()
	}
	return nil
}

func (rc *receiver) handle(m *raw.Incoming) {
	// Every packet received goes to the capture, malformed ones too:
	// they are what a pcap is read for.
	if rc.capture != nil {
		rc.capture(Received, m.Buf[:m.N], m.Time)
	}
	switch rc.m.match(&rc.x, &rc.pk, m.Buf[:m.N], &rc.rp) {
	case malformed:
		rc.prog.Malformed.Add(1)
	case unmatched:
		rc.prog.Unmatched.Add(1)
	case matched:
		rp := &rc.rp
		rc.prog.Replies.Add(1)
		if rp.r.State == StateOpen && rc.resets != nil {
			rc.resets.add(rp.r.Addr, rp.r.Port, rp.sport, rp.ack)
		}
		rc.onReply(rp, m)
	}
}

// latency sets r's RTT from the transmit time of the try keyed k to m's
// receive time. The transmit time stays: an ICMP-settled result is not
// final, and a SYN-ACK or RST that outranks it needs the same time for
// its own latency. Whoever makes a result final forgets it (tx.del).
func (rc *receiver) latency(r *Result, k uint64, m *raw.Incoming) {
	t, kernel, ok := rc.tx.get(k)
	if !ok {
		return
	}
	r.Has |= HasRTT
	r.RTT = m.Time.Sub(t)
	r.Clock = ClockUser
	if kernel && m.Kernel {
		r.Clock = ClockKernel
	}
}

// drainTx reads every transmit stamp waiting and records its probe's
// transmit time.
func (rc *receiver) drainTx() {
	for {
		n, err := rc.conn.ReadTxTimestamps(rc.stamps)
		for i := range rc.stamps[:n] {
			rc.stamp(&rc.stamps[i])
		}
		if err != nil || n < len(rc.stamps) {
			return
		}
	}
}

func (rc *receiver) stamp(st *raw.TxStamp) {
	var k uint64
	switch {
	case st.HasID && st.ID == 0:
		return // a RST's
	case st.HasID:
		var ok bool
		if k, ok = sentKey(rc.sent, st.ID); !ok {
			rc.unstamped++
			return
		}
	default:
		// A stamp from the packet tap, or from a kernel that cannot tag
		// stamps, comes with a copy of the start of the packet: the
		// probe's key is in it. The tap sees every SYN the host sends
		// from synprobe's port range, another program's too: only a SYN
		// carrying this run's cookie is a probe of this run.
		if rc.ss.Decode(st.Buf[:st.N]) != nil || !rc.m.isProbe(&rc.x, &rc.ss) {
			rc.foreign++
			return
		}
		idx, ok := rc.m.probeIndex(rc.ss.Dst, rc.ss.DstPort)
		if !ok {
			rc.foreign++
			return
		}
		k = key(idx, rc.ss.SrcPort)
	}
	rc.tx.put(k, st.Time, st.Kernel)
	if st.Kernel {
		rc.prog.TxKernel.Add(1)
	} else {
		rc.prog.TxUser.Add(1)
	}
}
