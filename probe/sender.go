package probe

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/rs/zerolog"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// maxPacingLag is how far behind its schedule a sender may fall and still
// catch up: stalls up to this long cost no probes over the second they
// fall in.
const maxPacingLag = 250 * time.Millisecond

// sendShared is what the senders of one scan share.
type sendShared struct {
	conn    Conn
	m       *matcher
	tpl     templates
	order   *order
	led     *ledger
	prog    *Progress
	fails   *failureLimit
	capture CaptureFunc
	log     zerolog.Logger
	clock   func() timeSource // nil: the real clock
	// refused settles probe idx, whose send (try) the kernel refused.
	refused func(idx uint64, try int, reason Reason)
}

// sender is one sending goroutine of a scan: it walks a contiguous
// stretch of the keyed order once per pass, builds each unsettled probe's
// SYN from the template, and sends them in batches paced at its share of
// the rate. It records each send in its sent log, whose ID tags the
// packet's transmit stamp.
type sender struct {
	sh        *sendShared
	from, to  uint64 // the positions it walks
	sentTo    uint64 // the first pass sent [from, sentTo)
	firstPass uint64 // probes of its first pass (sent or refused)
	err       error
	log       *sentLog
	x         scratch // AES scratch
	bufs      [][]byte
	out       []raw.Outgoing
	outIdx    []uint64 // the probe of each packet in out
	pace      *pacer
	sent      uint64
	try       int
	// Once the kernel has refused a send for want of a route, the route
	// to each next probe's target is looked up before it is sent, until
	// one has a route: a block of unroutable targets costs route lookups,
	// not a run of failed sends (which count towards the limit that stops
	// a run).
	checkRoutes bool
	// Refusals since the last batch went out, logged once per batch.
	refusedNoRoute, refusedFirewall, lookedUp int
	firstRefused                              netip.Addr
}

// newSender is sender k of n, sending at rate probes a second.
func newSender(sh *sendShared, log *sentLog, k, n, rate int) *sender {
	batchSize := min(max(rate/200, 1), 64)
	count := sh.order.count
	sd := &sender{sh: sh, from: count * uint64(k) / uint64(n), to: count * uint64(k+1) / uint64(n),
		log: log, bufs: make([][]byte, batchSize), out: make([]raw.Outgoing, 0, batchSize),
		outIdx: make([]uint64, 0, batchSize)}
	sd.sentTo = sd.from
	for i := range sd.bufs {
		sd.bufs[i] = make([]byte, sh.tpl.maxLen())
	}
	interval := time.Second / time.Duration(rate)
	var clock timeSource
	if sh.clock != nil {
		clock = sh.clock()
	}
	sd.pace = newPacer(clock, interval, max(maxPacingLag, time.Duration(2*batchSize)*interval))
	return sd
}

// senderRates splits rate over n senders: the remainder one each to the
// first, so that they add up to rate.
func senderRates(rate, n int) []int {
	rates := make([]int, n)
	for k := range rates {
		rates[k] = rate / n
		if k < rate%n {
			rates[k]++
		}
	}
	return rates
}

// pass walks the sender's stretch of the order once, for try.
func (sd *sender) pass(ctx context.Context, try int) {
	sh := sd.sh
	sd.try = try
	cancelled := false
	walked := sh.order.walkTo(sd.from, sd.to, func(idx uint64) bool {
		if ctx.Err() != nil {
			cancelled = true
			return false
		}
		if try == 0 {
			sd.firstPass++
		} else {
			if sh.led.settled(idx) {
				return true
			}
			sh.prog.Retransmitted.Add(1)
		}
		dst, dport := sh.m.probeOf(idx)
		if sd.checkRoutes {
			if sd.unroutable(dst) {
				sd.refuse(idx, ReasonNoRoute, true)
				return true
			}
			sd.checkRoutes = false
		}
		sport := sh.m.sport(&sd.x, dst, dport, try)
		b := sd.bufs[len(sd.out)]
		n, err := sh.tpl.of(dst).Write(b, sh.m.src.of(dst), dst, sport, dport, sh.m.isn(&sd.x, dst, sport, dport), uint16(sd.sent))
		if err != nil {
			sd.err = err
			return false
		}
		sd.out = append(sd.out, raw.Outgoing{Buf: b[:n], Dst: dst, ID: sd.log.add(key(idx, sport))})
		sd.outIdx = append(sd.outIdx, idx)
		if len(sd.out) == len(sd.bufs) {
			return sd.flush()
		}
		return true
	})
	if try == 0 {
		sd.sentTo = walked
		if cancelled {
			sd.sentTo-- // the position that saw the cancellation
		}
	}
	// What was batched is sent even after a cancellation: it counts as
	// walked.
	if sd.err == nil {
		sd.flush()
	}
}

// unroutable reports whether the kernel has no route to dst.
func (sd *sender) unroutable(dst netip.Addr) bool {
	_, err := sd.sh.conn.Route(dst)
	return errors.Is(err, raw.ErrNoRoute)
}

func (sd *sender) refuse(idx uint64, reason Reason, byLookup bool) {
	if sd.refusedNoRoute+sd.refusedFirewall == 0 {
		sd.firstRefused, _ = sd.sh.m.probeOf(idx)
	}
	if reason == ReasonNoRoute {
		sd.refusedNoRoute++
	} else {
		sd.refusedFirewall++
	}
	if byLookup {
		sd.lookedUp++
	}
	sd.sh.refused(idx, sd.try, reason)
}

func (sd *sender) logRefused() {
	if sd.refusedNoRoute+sd.refusedFirewall == 0 {
		return
	}
	sd.sh.log.Debug().Int("pass", sd.try+1).Int("no_route", sd.refusedNoRoute).Int("no_route_looked_up", sd.lookedUp).
		Int("local_firewall", sd.refusedFirewall).Stringer("first", sd.firstRefused).Msg("sends refused")
	sd.refusedNoRoute, sd.refusedFirewall, sd.lookedUp = 0, 0, 0
}

func (sd *sender) flush() bool {
	ok := sd.flushBatch()
	sd.logRefused()
	return ok
}

// flushBatch sends the batch when it is due. A refused packet settles its
// probe and the rest of the batch goes on; any other error stops the run.
func (sd *sender) flushBatch() bool {
	sh, out := sd.sh, sd.out
	if len(out) == 0 {
		return true
	}
	// The sleep is not cut short by a cancellation: what was batched
	// goes out at its time.
	sd.pace.wait(context.Background(), sd.sent)
	i := 0
	for i < len(out) {
		n, err := transmit(sh.conn, out[i:], sh.capture, sd.pace.now())
		i += n
		sh.prog.Sent.Add(uint64(n))
		sd.sent += uint64(n)
		sh.fails.sent(n)
		if ferr := sh.fails.failed(err); ferr != nil {
			sd.err = ferr
			return false
		}
		reason, refused := refusal(err)
		switch {
		case err == nil && n == 0:
			sd.err = errors.New("send: no packet sent and no error")
			return false
		case err == nil:
		case i < len(out) && refused:
			sd.refuse(sd.outIdx[i], reason, false)
			i++
			if reason == ReasonNoRoute {
				for i < len(out) && sd.unroutable(out[i].Dst) {
					sd.refuse(sd.outIdx[i], ReasonNoRoute, true)
					i++
				}
				sd.checkRoutes = i == len(out)
			}
		default:
			// An error that is not about one packet: the run stops.
			sd.err = err
			return false
		}
	}
	sd.out, sd.outIdx = sd.out[:0], sd.outIdx[:0]
	return true
}

// transmit writes pkts in one batch and shows those sent to capture, with
// the time before the send: a pcap never shows a reply (kernel receive
// time) before its probe.
func transmit(conn Conn, pkts []raw.Outgoing, capture CaptureFunc, now time.Time) (int, error) {
	n, err := conn.WriteBatch(pkts)
	if capture != nil {
		for _, p := range pkts[:n] {
			capture(Sent, p.Buf, now)
		}
	}
	return n, err
}

// refusal says whether err is the local kernel refusing one packet, and
// the reason that gives its probe: no route to the target, or the local
// firewall.
func refusal(err error) (Reason, bool) {
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, raw.ErrNoRoute):
		return ReasonNoRoute, true
	case errors.Is(err, raw.ErrFirewall):
		return ReasonLocalFirewall, true
	}
	return "", false
}

// templates are a scan's SYN templates, one a family; the one of a family
// without targets is nil.
type templates struct{ v4, v6 *craft.SYNTemplate }

// newTemplates builds the templates of cfg for the families src has: an
// IPv4 SYN with DF set, and an IPv6 SYN (no DF: IPv6 has none).
func newTemplates(src sources, cfg craft.SYNConfig) (templates, error) {
	var t templates
	var err error
	if src.v4.IsValid() {
		c := cfg
		c.Src, c.DF = src.v4, true
		if t.v4, err = craft.NewSYNTemplate(c); err != nil {
			return t, err
		}
	}
	if src.v6.IsValid() {
		c := cfg
		c.Src, c.Dst, c.DF = src.v6, netip.IPv6Unspecified(), false
		if t.v6, err = craft.NewSYNTemplate(c); err != nil {
			return t, err
		}
	}
	return t, nil
}

// of is the template of the probes to dst.
func (t templates) of(dst netip.Addr) *craft.SYNTemplate {
	if dst.Is4() {
		return t.v4
	}
	return t.v6
}

// maxLen is the length of the longest packet the templates write.
func (t templates) maxLen() int {
	n := 0
	for _, tp := range []*craft.SYNTemplate{t.v4, t.v6} {
		if tp != nil {
			n = max(n, tp.Len())
		}
	}
	return n
}
