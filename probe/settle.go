package probe

import (
	"net/netip"
	"time"

	"github.com/synprobe/synprobe/raw"
)

// How a scan settles its probes: each once, by the best answer. A SYN-ACK
// or RST settles a probe for good; an ICMP error settles it too, but is
// held back for one timeout (holdQueue) since a SYN-ACK or RST for the
// same probe outranks it; a send the local kernel refused settles it as
// filtered; at the end, every probe sent and never answered is
// filtered/no-response. The receiving goroutine does all of it but
// refused, which the senders call.

// onReply settles the probe rp answers.
func (s *scanner) onReply(rp *reply, m *raw.Incoming) {
	if t, _, ok := s.rx.tx.get(rp.key); ok {
		s.replies.reply(t)
	}
	if rp.icmp {
		s.onICMP(rp, m)
		return
	}
	r := rp.r
	if !s.led.settle(rp.idx) {
		// Already settled: by an ICMP error still held (a SYN-ACK or RST
		// outranks it), or by an earlier reply (a duplicate).
		p, ok := s.held.take(rp.idx)
		if !ok {
			s.prog.Duplicates.Add(1)
			return
		}
		if p.k != rp.key {
			s.rx.tx.del(p.k)
		}
		s.prog.Filtered.Add(^uint64(0))
		// No probe went out after the ICMP error settled it.
		r.Tries = max(p.r.Tries, rp.try+1)
	} else {
		r.Tries = s.triesFor(rp.idx, r.Addr, r.Port, rp.try)
	}
	r.Time = time.Now()
	s.rx.latency(&r, rp.key, m)
	s.rx.tx.del(rp.key) // final: no later reply needs it
	if r.State == StateOpen {
		s.prog.Open.Add(1)
	} else {
		s.prog.Closed.Add(1)
	}
	s.doEmit(r)
}

func (s *scanner) onICMP(rp *reply, m *raw.Incoming) {
	if !s.led.settle(rp.idx) {
		s.prog.Duplicates.Add(1)
		s.held.duplicate(rp.idx)
		return
	}
	r := rp.r
	r.Tries, r.Time = s.triesFor(rp.idx, r.Addr, r.Port, rp.try), time.Now()
	s.rx.latency(&r, rp.key, m)
	s.prog.Filtered.Add(1)
	s.held.hold(rp.idx, held{r: r, k: rp.key, try: rp.try, expires: time.Now().Add(s.cfg.Timeout)})
}

// refused settles probe idx, whose send (try) the local kernel refused:
// it has no route to the target (ReasonNoRoute) or its firewall dropped
// the packet (ReasonLocalFirewall). It is not retried. A reply to an
// earlier try that settled idx in the meantime stands.
func (s *scanner) refused(idx uint64, try int, reason Reason) {
	if !s.led.settle(idx) {
		return
	}
	switch reason {
	case ReasonNoRoute:
		s.prog.NoRoute.Add(1)
		s.routes.refused(time.Now())
	case ReasonLocalFirewall:
		s.prog.LocalFirewall.Add(1)
	}
	s.prog.Filtered.Add(1)
	dst, port := s.m.probeOf(idx)
	s.doEmit(Result{Addr: dst, Port: port, State: StateFiltered, Reason: reason, Tries: try + 1, Time: time.Now()})
}

func (s *scanner) doEmit(r Result) {
	s.emitMu.Lock()
	s.emit(r)
	s.emitMu.Unlock()
}

// triesFor is how many probes of dst:dport have gone out when a reply to
// try t settles it: t+1, and one more for each later pass that has walked
// past it. A finished pass sent it again, since it was unanswered until
// now; the pass walking now did if the transmit time of its probe has been
// read. (A retry still waiting in the sender's batch is missed; the reply
// to it, if any, is counted as a duplicate.) Receiving goroutine only.
func (s *scanner) triesFor(idx uint64, dst netip.Addr, dport uint16, t int) int {
	n := t + 1
	done := int(s.passesDone.Load())
	if done > t+1 {
		n += done - (t + 1)
	}
	if p := int(s.passNow.Load()); p >= done && p > t {
		if s.rx.tx.has(key(idx, s.m.sport(&s.rx.x, dst, dport, p))) {
			n++
		}
	}
	return n
}

// checkSettled closes s.settled once the first pass has been walked and
// every probe of it has its final result: answered, refused, or settled
// by an ICMP error that is no longer held back for a SYN-ACK or RST that
// would outrank it. Receiver only; it counts at most every 10 ms (the
// count reads the whole ledger).
func (s *scanner) checkSettled(now time.Time) {
	if !s.walked.Load() || s.held.len() > 0 || now.Sub(s.lastSettled) < 10*time.Millisecond {
		return
	}
	s.lastSettled = now
	if isClosed(s.settled) {
		return
	}
	if s.led.count() == s.firstPass {
		close(s.settled)
	}
}
