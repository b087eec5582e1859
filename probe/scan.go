package probe

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// ScanConfig describes a scan. Zero values take the defaults noted.
type ScanConfig struct {
	Targets *TargetSet
	Ports   []uint16

	Rate     int           // packets per second; required
	Retries  int           // extra tries for unanswered probes
	Timeout  time.Duration // wait after each pass before retrying; 1s
	Cooldown time.Duration // wait after the last send; Timeout
	Shard    int           // 1-based shard of Shards; 1
	Shards   int           // 1
	Seed     uint64

	Source                     netip.Addr // from the route to the first target when invalid
	SourcePortLo, SourcePortHi uint16     // 32768..61000 when zero
	TTL                        uint8      // 64
	MSS                        uint16     // 1460
	Window                     uint16     // 64240
	Layout                     craft.Layout
	NoReset                    bool
	// Senders is how many goroutines send, each a contiguous stretch of
	// the order at its share of Rate (1 to 8; 1 when zero). More than
	// one pays where the kernel's per-packet work is what limits the
	// rate; give the Conn as many writers (raw.Config.Writers) and one
	// more for the RSTs.
	Senders int

	// Logger gets debug-level events, never one per packet: the start,
	// the source address, sends the kernel refused (per batch), each
	// retry pass, the cooldown and the counters at the end. The zero
	// Logger is silent.
	Logger  zerolog.Logger
	Capture CaptureFunc
}

// Progress counts what a scan has done so far; read it with atomic loads
// while the scan runs.
type Progress struct {
	// Total is the number of probes of the first pass for an unsharded
	// scan (targets x ports). For a shard it counts the positions of the
	// shard's walk, which can exceed its probes by a few (at most the gap
	// between targets x ports and the next prime, over the shards).
	Total                  uint64
	Sent, Replies, Open    atomic.Uint64
	Closed, Filtered       atomic.Uint64
	Duplicates, Malformed  atomic.Uint64
	Unmatched, Resets      atomic.Uint64
	TxKernel, TxUser       atomic.Uint64
	NoRoute, Retransmitted atomic.Uint64
	LocalFirewall          atomic.Uint64 // probes the local firewall refused
}

// Scan probes every target x port of cfg and calls emit once for each with
// its settled Result, from one goroutine at a time. It returns when every
// probe is settled, or after ctx is cancelled, the cooldown waited out and
// every result already known emitted. prog, if not nil, is updated as the
// scan goes.
func Scan(ctx context.Context, cfg ScanConfig, conn Conn, emit func(Result), prog *Progress) error {
	s, err := newScanner(cfg, conn, func(r Result, _ int) { emit(r) }, prog)
	if err != nil {
		return err
	}
	return s.run(ctx)
}

type scanner struct {
	cfg   ScanConfig
	conn  Conn
	emit  func(r Result, try int) // try: the probe that settled r (0 first)
	prog  *Progress
	log   zerolog.Logger
	ck    *cookies
	tpl   *craft.SYNTemplate
	order *order
	src   netip.Addr
	tries int

	nPorts    uint64
	portIndex []int32 // port → index in cfg.Ports, -1 when not scanned
	answered  []atomic.Uint64
	n         uint64

	portLo, portRange uint32
	senders           int
	sentRanges        []posRange // positions of the first pass that were sent, per sender
	firstPass         uint64     // probes of the first pass (sent or refused); written by send only
	// passesDone counts the passes over the order that were walked to
	// the end; passNow is the pass walking now (-1 before the first),
	// which has finished when passNow < passesDone. The receiver reads
	// both to count the probes sent for a target:port.
	passesDone, passNow atomic.Int32
	// walked is set once the first pass has been walked (to its end or
	// to a cancellation): firstPass is final from then on. The receiver
	// then closes settled when every probe of it has its final result,
	// which ends the wait for a retry pass or the cooldown at once.
	walked      atomic.Bool
	settled     chan struct{}
	lastSettled time.Time // when the receiver last counted; receiver only

	// sent maps the IDs that tag transmit stamps to probes, one log per
	// sender: written by it, read by the receiver (see txtimes.go).
	sent []*sentLog
	// Receiver state: touched only by the receiving goroutine (and by the
	// final flush after it stopped).
	tx        *txTable
	unstamped uint64 // transmit stamps whose probe had left the sent log
	foreignTx uint64 // transmit stamps of packets that are not this scan's probes
	// pending holds ICMP-settled results back; pendingQ is the order they
	// came in (so the order they expire in), a ring of at most pendingMax.
	pending       map[uint64]pendingICMP
	pendingQ      []uint64
	pqHead, pqLen int
	settleICMPNow bool // ping: an ICMP error settles its probe at once
	rxPkt         craft.Packet
	// AES scratch of the sending and of the receiving goroutine.
	txScratch, rxScratch scratch
	// RSTs for the SYN-ACKs of one receive batch, sent together.
	rstBufs [64][64]byte
	rsts    []raw.Outgoing
	emitMu  sync.Mutex
}

// pendingMax bounds the ICMP-settled results held back at once: past it,
// the oldest is let go early. A firewall that answers every probe of a
// fast scan with an ICMP error costs no more memory than a slow one.
const pendingMax = 4096

// pendingICMP is a result an ICMP error settled, held back for one
// timeout because a SYN-ACK or RST for the same target:port outranks it.
// k keys the transmit time of the probe it answers, kept until the
// result is final.
type pendingICMP struct {
	r       Result
	k       uint64
	try     int
	expires time.Time
}

func newScanner(cfg ScanConfig, conn Conn, emit func(Result, int), prog *Progress) (*scanner, error) {
	if cfg.Targets == nil || cfg.Targets.Len() == 0 {
		return nil, errors.New("no targets")
	}
	if len(cfg.Ports) == 0 {
		return nil, errors.New("no ports")
	}
	if cfg.Rate <= 0 {
		return nil, errors.New("rate must be positive")
	}
	if cfg.Retries < 0 {
		return nil, errors.New("retries must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = cfg.Timeout
	}
	if cfg.Shards == 0 {
		cfg.Shards, cfg.Shard = 1, 1
	}
	if cfg.SourcePortLo == 0 && cfg.SourcePortHi == 0 {
		cfg.SourcePortLo, cfg.SourcePortHi = 32768, 61000
	}
	if cfg.TTL == 0 {
		cfg.TTL = 64
	}
	if cfg.SourcePortHi < cfg.SourcePortLo {
		return nil, fmt.Errorf("source port range %d-%d is inverted", cfg.SourcePortLo, cfg.SourcePortHi)
	}
	if prog == nil {
		prog = &Progress{}
	}
	s := &scanner{cfg: cfg, conn: conn, emit: emit, prog: prog, log: cfg.Logger, tries: cfg.Retries + 1,
		portLo: uint32(cfg.SourcePortLo), portRange: uint32(cfg.SourcePortHi) - uint32(cfg.SourcePortLo) + 1,
		senders: min(max(cfg.Senders, 1), maxSenders, cfg.Rate), tx: newTxTable(cfg.Rate, cfg.Timeout+cfg.Cooldown),
		pending: map[uint64]pendingICMP{}, pendingQ: make([]uint64, pendingMax), settled: make(chan struct{})}
	for k := range s.senders {
		s.sent = append(s.sent, newSentLog(k, s.senders))
	}
	if uint32(s.tries) > s.portRange {
		return nil, fmt.Errorf("%d tries need as many source ports; the range has %d", s.tries, s.portRange)
	}
	s.nPorts = uint64(len(cfg.Ports))
	s.portIndex = make([]int32, 65536)
	for i := range s.portIndex {
		s.portIndex[i] = -1
	}
	for i, p := range cfg.Ports {
		if s.portIndex[p] >= 0 {
			return nil, fmt.Errorf("port %d listed twice", p)
		}
		s.portIndex[p] = int32(i)
	}
	s.n = cfg.Targets.Len() * s.nPorts
	var err error
	if s.order, err = newOrder(s.n, cfg.Seed, cfg.Shard-1, cfg.Shards); err != nil {
		return nil, err
	}
	s.answered = make([]atomic.Uint64, (s.n+63)/64)
	if s.ck, err = newCookies(); err != nil {
		return nil, err
	}
	s.src = cfg.Source
	if s.src.IsValid() {
		s.log.Debug().Stringer("source", s.src).Msg("source address given")
	} else {
		var via netip.Addr
		if s.src, via, err = sourceFor(conn, cfg.Targets); err != nil {
			return nil, err
		}
		s.log.Debug().Stringer("source", s.src).Stringer("route_to", via).Msg("source address from the route to a target")
	}
	if !s.src.Is4() {
		return nil, fmt.Errorf("source address %v is not IPv4", s.src)
	}
	s.tpl, err = craft.NewSYNTemplate(craft.SYNConfig{Src: s.src, TTL: cfg.TTL, MSS: cfg.MSS, Window: cfg.Window,
		Layout: cfg.Layout, DF: true, TSval: uint32(time.Now().UnixMilli())})
	if err != nil {
		return nil, err
	}
	prog.Total = s.order.count
	if cfg.Shards == 1 {
		prog.Total = s.n // the walk skips the values past n
	}
	s.passNow.Store(-1)
	return s, nil
}

// sourceFor picks the source address from the route to a target: every
// target in turn when there are at most 64, else 64 spread evenly over
// the set (the first and the last included); the first with a route
// wins, and via is that target. A target without a route is reported as
// no-route when its probe is refused; only when none of those tried has a
// route can the scan not start.
func sourceFor(conn Conn, ts *TargetSet) (src, via netip.Addr, err error) {
	const samples = 64
	n := ts.Len()
	tried := min(n, samples)
	var first error
	for i := uint64(0); i < tried; i++ {
		j := i
		if n > samples {
			j = i * (n - 1) / (samples - 1) // distinct: the step exceeds 1
		}
		dst := ts.At(j)
		r, err := conn.Route(dst)
		if err == nil && r.Src.IsValid() {
			return r.Src, dst, nil
		}
		if first == nil {
			if err == nil {
				err = fmt.Errorf("the route to %v has no source address", dst)
			}
			first = err
		}
	}
	return netip.Addr{}, netip.Addr{}, fmt.Errorf("no source address: none of the %d targets tried has a route: %w", tried, first)
}

// unroutable reports whether the kernel has no route to dst.
func (s *scanner) unroutable(dst netip.Addr) bool {
	_, err := s.conn.Route(dst)
	return errors.Is(err, raw.ErrNoRoute)
}

func (s *scanner) isAnswered(idx uint64) bool {
	return s.answered[idx/64].Load()&(1<<(idx%64)) != 0
}

// markAnswered sets idx's bit and reports whether it was clear.
func (s *scanner) markAnswered(idx uint64) bool {
	bit := uint64(1) << (idx % 64)
	return s.answered[idx/64].Or(bit)&bit == 0
}

func (s *scanner) probeOf(idx uint64) (netip.Addr, uint16) {
	return s.cfg.Targets.At(idx / s.nPorts), s.cfg.Ports[idx%s.nPorts]
}

// sport is the source port of try of dst:dport, computed with the AES
// scratch x of the calling goroutine.
func (s *scanner) sport(x *scratch, dst netip.Addr, dport uint16, try int) uint16 {
	return uint16(s.portLo + (s.ck.portBase(x, dst, dport)+uint32(try))%s.portRange)
}

// tryOf reads back the try number from the source port a reply came to,
// or -1 when the port is not one synprobe used for this target:port.
func (s *scanner) tryOf(dst netip.Addr, dport, sport uint16) int {
	if uint32(sport) < s.portLo || uint32(sport)-s.portLo >= s.portRange {
		return -1
	}
	k := (uint32(sport) - s.portLo + s.portRange - s.ck.portBase(&s.rxScratch, dst, dport)%s.portRange) % s.portRange
	if k >= uint32(s.tries) {
		return -1
	}
	return int(k)
}

func key(dst netip.Addr, dport, sport uint16) uint64 {
	return uint64(u32(dst))<<32 | uint64(dport)<<16 | uint64(sport)
}

func (s *scanner) run(ctx context.Context) error {
	began := time.Now()
	s.log.Debug().Uint64("targets", s.cfg.Targets.Len()).Int("ports", len(s.cfg.Ports)).Uint64("probes", s.prog.Total).
		Int("shard", s.cfg.Shard).Int("shards", s.cfg.Shards).Int("rate", s.cfg.Rate).Int("tries", s.tries).
		Dur("timeout", s.cfg.Timeout).Dur("cooldown", s.cfg.Cooldown).Stringer("source", s.src).
		Bool("reset", !s.cfg.NoReset).Msg("scan start")
	stop := make(chan struct{})
	rxDone := make(chan error, 1)
	go func() { rxDone <- s.receive(stop) }()

	sendErr := s.send(ctx)
	if sendErr != nil {
		s.log.Debug().Err(sendErr).Msg("sending stopped")
	}

	// Cooldown: late replies still count. Cancellation does not skip it:
	// what is already on the wire is still worth reading. It ends early
	// when every probe has its final result: nothing is left to wait for
	// but duplicates.
	s.log.Debug().Dur("cooldown", s.cfg.Cooldown).Uint64("unanswered", s.firstPass-s.answeredCount()).Msg("cooldown")
	cool := time.NewTimer(s.cfg.Cooldown)
	select {
	case <-cool.C:
	case <-s.settled:
		cool.Stop()
		s.log.Debug().Msg("every probe settled: cooldown ended early")
	}
	close(stop)
	rxErr := <-rxDone
	s.flush()
	p := s.prog
	s.log.Debug().Uint64("sent", p.Sent.Load()).Uint64("retransmitted", p.Retransmitted.Load()).
		Uint64("replies", p.Replies.Load()).Uint64("open", p.Open.Load()).Uint64("closed", p.Closed.Load()).
		Uint64("filtered", p.Filtered.Load()).Uint64("no_route", p.NoRoute.Load()).Uint64("local_firewall", p.LocalFirewall.Load()).
		Uint64("duplicates", p.Duplicates.Load()).Uint64("malformed", p.Malformed.Load()).Uint64("unmatched", p.Unmatched.Load()).
		Uint64("resets", p.Resets.Load()).Uint64("tx_kernel", p.TxKernel.Load()).Uint64("tx_user", p.TxUser.Load()).
		Uint64("tx_unmatched", s.unstamped).Uint64("tx_foreign", s.foreignTx).Uint64("tx_evicted", s.tx.evicted).Dur("elapsed", time.Since(began)).AnErr("send_error", sendErr).AnErr("receive_error", rxErr).Msg("scan done")
	if s.unstamped > 0 {
		s.log.Warn().Uint64("stamps", s.unstamped).Msg("transmit stamps came back too late to find their probes, whose latencies are missing: " +
			"the receiving goroutine fell behind; a lower --rate or fewer --senders keeps every one")
	}
	if sendErr != nil {
		return sendErr
	}
	if rxErr != nil {
		return rxErr
	}
	return nil
}

// maxPacingLag is how far behind its schedule the sender may fall and still
// catch up: stalls up to this long cost no probes over the second they
// fall in.
const maxPacingLag = 250 * time.Millisecond

// send walks the order once per try, pacing batches to cfg.Rate. Each
// pass is shared by s.senders goroutines, each walking its own contiguous
// stretch of the order at its share of the rate: the kernel's work for a
// packet, which is most of it, is then done on as many CPUs.
func (s *scanner) send(ctx context.Context) error {
	senders := make([]*sender, s.senders)
	for k := range senders {
		senders[k] = s.newSender(k, len(senders))
	}
	var sendErr error
	for try := 0; try < s.tries; try++ {
		if try > 0 {
			// Give the previous pass's replies time to come back, or
			// less if every probe has its answer by then.
			if !sleepCtx(ctx, s.cfg.Timeout, s.settled) {
				break
			}
			unanswered := s.firstPass - s.answeredCount()
			if unanswered == 0 {
				s.log.Debug().Int("pass", try+1).Msg("every probe answered: no retry pass")
				break
			}
			s.log.Debug().Int("pass", try+1).Int("of", s.tries).Uint64("unanswered", unanswered).Msg("retry pass")
		}
		s.passNow.Store(int32(try))
		var wg sync.WaitGroup
		for _, sd := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sd.pass(ctx, try)
			}()
		}
		wg.Wait()
		for _, sd := range senders {
			if sd.err != nil && sendErr == nil {
				sendErr = sd.err
			}
		}
		if try == 0 {
			for _, sd := range senders {
				s.firstPass += sd.firstPass
			}
			s.walked.Store(true)
		}
		if sendErr != nil || ctx.Err() != nil {
			break
		}
		s.passesDone.Store(int32(try + 1))
	}
	s.sentRanges = s.sentRanges[:0]
	for _, sd := range senders {
		s.sentRanges = append(s.sentRanges, posRange{sd.from, sd.sentTo})
	}
	return sendErr
}

// posRange is the positions [from, to) of the order.
type posRange struct{ from, to uint64 }

// sender is one sending goroutine's state: its stretch of the order, its
// buffers, its pace and its sent log.
type sender struct {
	s                *scanner
	from, to         uint64 // the positions it walks
	sentTo           uint64 // the first pass sent [from, sentTo)
	firstPass        uint64 // probes of its first pass (sent or refused)
	err              error
	log              *sentLog
	x                scratch // AES scratch
	bufs             [][]byte
	out              []raw.Outgoing
	outIdx           []uint64 // the probe of each packet in out
	interval, maxLag time.Duration
	start            time.Time
	sent             uint64
	try              int
	// Once the kernel has refused a send for want of a route, the route
	// to each next probe's target is looked up before it is sent, until
	// one has a route: a block of unroutable targets costs route lookups,
	// not a run of failed sends (which raw.Conn counts towards the limit
	// that stops a run).
	checkRoutes bool
	// Refusals since the last batch went out, logged once per batch.
	refusedNoRoute, refusedFirewall, lookedUp int
	firstRefused                              netip.Addr
}

func (s *scanner) newSender(k, n int) *sender {
	rate := s.cfg.Rate / n // the remainder goes one each to the first senders
	if k < s.cfg.Rate%n {
		rate++
	}
	batchSize := min(max(rate/200, 1), 64)
	sd := &sender{s: s, from: s.order.count * uint64(k) / uint64(n), to: s.order.count * uint64(k+1) / uint64(n),
		log: s.sent[k], bufs: make([][]byte, batchSize), out: make([]raw.Outgoing, 0, batchSize),
		outIdx: make([]uint64, 0, batchSize), interval: time.Second / time.Duration(rate)}
	sd.sentTo = sd.from
	for i := range sd.bufs {
		sd.bufs[i] = make([]byte, s.tpl.Len())
	}
	sd.maxLag = max(maxPacingLag, time.Duration(2*batchSize)*sd.interval)
	sd.start = time.Now()
	return sd
}

// pass walks the sender's stretch of the order once, for try.
func (sd *sender) pass(ctx context.Context, try int) {
	s := sd.s
	sd.try = try
	cancelled := false
	walked := s.order.walkTo(sd.from, sd.to, func(idx uint64) bool {
		if ctx.Err() != nil {
			cancelled = true
			return false
		}
		if try == 0 {
			sd.firstPass++
		} else {
			if s.isAnswered(idx) {
				return true
			}
			s.prog.Retransmitted.Add(1)
		}
		dst, dport := s.probeOf(idx)
		if sd.checkRoutes {
			if s.unroutable(dst) {
				sd.refuse(idx, ReasonNoRoute, true)
				return true
			}
			sd.checkRoutes = false
		}
		sport := s.sport(&sd.x, dst, dport, try)
		b := sd.bufs[len(sd.out)]
		n, err := s.tpl.Write(b, s.src, dst, sport, dport, s.ck.isn(&sd.x, s.src, dst, sport, dport), uint16(sd.sent))
		if err != nil {
			sd.err = err
			return false
		}
		sd.out = append(sd.out, raw.Outgoing{Buf: b[:n], Dst: dst, ID: sd.log.add(key(dst, dport, sport))})
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

func (sd *sender) refuse(idx uint64, reason Reason, byLookup bool) {
	if sd.refusedNoRoute+sd.refusedFirewall == 0 {
		sd.firstRefused, _ = sd.s.probeOf(idx)
	}
	if reason == ReasonNoRoute {
		sd.refusedNoRoute++
	} else {
		sd.refusedFirewall++
	}
	if byLookup {
		sd.lookedUp++
	}
	sd.s.refused(idx, sd.try, reason)
}

func (sd *sender) logRefused() {
	if sd.refusedNoRoute+sd.refusedFirewall == 0 {
		return
	}
	sd.s.log.Debug().Int("pass", sd.try+1).Int("no_route", sd.refusedNoRoute).Int("no_route_looked_up", sd.lookedUp).
		Int("local_firewall", sd.refusedFirewall).Stringer("first", sd.firstRefused).Msg("sends refused")
	sd.refusedNoRoute, sd.refusedFirewall, sd.lookedUp = 0, 0, 0
}

func (sd *sender) flush() bool {
	ok := sd.flushBatch()
	sd.logRefused()
	return ok
}

func (sd *sender) flushBatch() bool {
	s, out := sd.s, sd.out
	if len(out) == 0 {
		return true
	}
	// Pace on an absolute schedule: the k'th packet leaves at start +
	// k/rate. A sender held up (a busy CPU, a slow wakeup) catches up at
	// full speed, so the count over a second stays right; but it never
	// owes more than maxLag, so a long stall is not made up by a flood
	// afterwards.
	due := sd.start.Add(time.Duration(sd.sent) * sd.interval)
	if wait := time.Until(due); wait > 0 {
		time.Sleep(wait)
	} else if -wait > sd.maxLag {
		sd.start = sd.start.Add(-wait - sd.maxLag)
	}
	i := 0
	for i < len(out) {
		// Captured sent packets carry the time before the send, so a
		// pcap never shows a reply (kernel receive time) before its
		// probe.
		now := time.Now()
		n, err := s.conn.WriteBatch(out[i:])
		for _, p := range out[i : i+n] {
			if s.cfg.Capture != nil {
				s.cfg.Capture(Sent, p.Buf, now)
			}
		}
		i += n
		s.prog.Sent.Add(uint64(n))
		sd.sent += uint64(n)
		switch {
		case err == nil && n == 0:
			sd.err = errors.New("send: no packet sent and no error")
			return false
		case err == nil:
		case i < len(out) && errors.Is(err, raw.ErrNoRoute):
			// This target, not the scan: settle its probe and go on.
			sd.refuse(sd.outIdx[i], ReasonNoRoute, false)
			i++
			for i < len(out) && s.unroutable(out[i].Dst) {
				sd.refuse(sd.outIdx[i], ReasonNoRoute, true)
				i++
			}
			sd.checkRoutes = i == len(out)
		case i < len(out) && errors.Is(err, raw.ErrFirewall):
			sd.refuse(sd.outIdx[i], ReasonLocalFirewall, false)
			i++
		default:
			// raw.ErrTooManyFailures, or an error that is not about
			// one packet: the run stops.
			sd.err = err
			return false
		}
	}
	sd.out, sd.outIdx = sd.out[:0], sd.outIdx[:0]
	return true
}

// answeredCount is the number of probes settled so far. Only this
// shard's probes are ever sent, so only they can be settled: after the
// first pass, every probe is when the count reaches firstPass.
func (s *scanner) answeredCount() uint64 {
	var n int
	for i := range s.answered {
		n += bits.OnesCount64(s.answered[i].Load())
	}
	return uint64(n)
}

// checkSettled closes s.settled once the first pass has been walked and
// every probe of it has its final result: answered, refused, or settled
// by an ICMP error that is no longer held back for a SYN-ACK or RST that
// would outrank it. Receiver only; it counts at most every 10 ms (the
// count reads the whole answered bitmap).
func (s *scanner) checkSettled(now time.Time) {
	if !s.walked.Load() || len(s.pending) > 0 || now.Sub(s.lastSettled) < 10*time.Millisecond {
		return
	}
	s.lastSettled = now
	select {
	case <-s.settled:
		return
	default:
	}
	if s.answeredCount() == s.firstPass {
		close(s.settled)
	}
}

// sleepCtx waits d, or less if wake is closed first (a nil wake never
// is); false if ctx was cancelled first.
func sleepCtx(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
		return false
	}
	return true
}

// refused settles probe idx, whose send (try) the local kernel refused:
// it has no route to the target (ReasonNoRoute) or its firewall dropped
// the packet (ReasonLocalFirewall). It is not retried. A reply to an
// earlier try that settled idx in the meantime stands.
func (s *scanner) refused(idx uint64, try int, reason Reason) {
	if !s.markAnswered(idx) {
		return
	}
	switch reason {
	case ReasonNoRoute:
		s.prog.NoRoute.Add(1)
	case ReasonLocalFirewall:
		s.prog.LocalFirewall.Add(1)
	}
	s.prog.Filtered.Add(1)
	dst, port := s.probeOf(idx)
	s.doEmit(Result{Addr: dst, Port: port, State: StateFiltered, Reason: reason, Tries: try + 1, Time: time.Now()}, try)
}

func (s *scanner) doEmit(r Result, try int) {
	s.emitMu.Lock()
	s.emit(r, try)
	s.emitMu.Unlock()
}

// triesFor is how many probes of dst:dport have gone out when a reply to
// try t settles it: t+1, and one more for each later pass that has walked
// past it. A finished pass sent it again, since it was unanswered until
// now; the pass walking now did if the transmit time of its probe has been
// read. (A retry still waiting in the sender's batch is missed; the reply
// to it, if any, is counted as a duplicate.) Receiving goroutine only.
func (s *scanner) triesFor(dst netip.Addr, dport uint16, t int) int {
	n := t + 1
	done := int(s.passesDone.Load())
	if done > t+1 {
		n += done - (t + 1)
	}
	if p := int(s.passNow.Load()); p >= done && p > t {
		if s.tx.has(key(dst, dport, s.sport(&s.rxScratch, dst, dport, p))) {
			n++
		}
	}
	return n
}

// rxBuffers allocates, once per run, the buffers replies and transmit
// timestamps are read into.
func rxBuffers(nMsgs, nStamps int) ([]raw.Incoming, []raw.TxStamp) {
	msgs := make([]raw.Incoming, nMsgs)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	stamps := make([]raw.TxStamp, nStamps)
	for i := range stamps {
		stamps[i].Buf = make([]byte, 128) // the IPv4 and TCP headers of a probe
	}
	return msgs, stamps
}

// receive reads replies until stop is closed.
func (s *scanner) receive(stop <-chan struct{}) error {
	msgs, stamps := rxBuffers(64, 256)
	lastSweep := time.Now()
	for {
		select {
		case <-stop:
			s.drainTx(stamps)
			return nil
		default:
		}
		s.drainTx(stamps)
		s.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := s.conn.ReadBatch(msgs)
		if err != nil && !os.IsTimeout(err) && !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("receive: %w", err)
		}
		if n > 0 {
			s.drainTx(stamps) // stamps of the probes these answer
		}
		for i := range msgs[:n] {
			s.handle(&msgs[i])
		}
		s.flushResets()
		now := time.Now()
		if now.Sub(lastSweep) > 250*time.Millisecond {
			s.sweep(now)
			lastSweep = now
		}
		s.checkSettled(now)
	}
}

func (s *scanner) drainTx(stamps []raw.TxStamp) {
	var ss craft.SegmentStart
	for {
		n, err := s.conn.ReadTxTimestamps(stamps)
		for _, st := range stamps[:n] {
			var k uint64
			switch {
			case st.HasID && st.ID == 0:
				continue // a RST's
			case st.HasID:
				var ok bool
				if k, ok = s.sentKey(st.ID); !ok {
					s.unstamped++
					continue
				}
			default:
				// A stamp from the packet tap, or from a kernel that
				// cannot tag stamps, comes with a copy of the start of
				// the packet: the probe's key is in it. The tap sees
				// every SYN the host sends from synprobe's port range,
				// another program's too: only a SYN carrying this
				// scan's cookie is a probe of this scan.
				if ss.Decode(st.Buf[:st.N]) != nil || ss.Flags&craft.FlagSYN == 0 ||
					ss.Seq != s.ck.isn(&s.rxScratch, ss.Src, ss.Dst, ss.SrcPort, ss.DstPort) {
					s.foreignTx++
					continue
				}
				k = key(ss.Dst, ss.DstPort, ss.SrcPort)
			}
			s.tx.put(k, st.Time, st.Kernel)
			if st.Kernel {
				s.prog.TxKernel.Add(1)
			} else {
				s.prog.TxUser.Add(1)
			}
		}
		if err != nil || n < len(stamps) {
			return
		}
	}
}

// sweep emits the ICMP-settled results whose wait for a better answer is
// over. (Transmit times need no sweeping: txTable makes room by itself.)
func (s *scanner) sweep(now time.Time) {
	for s.pqLen > 0 {
		p, ok := s.pending[s.pendingQ[s.pqHead]]
		if ok && !now.After(p.expires) {
			return
		}
		s.releaseOldest()
	}
}

// hold keeps the ICMP-settled result p of probe idx back until it expires,
// letting the oldest held go first when pendingMax are held.
func (s *scanner) hold(idx uint64, p pendingICMP) {
	if s.pqLen == len(s.pendingQ) {
		s.releaseOldest()
	}
	s.pendingQ[(s.pqHead+s.pqLen)%len(s.pendingQ)] = idx
	s.pqLen++
	s.pending[idx] = p
}

// releaseOldest takes the oldest entry off the queue and emits its result
// unless a SYN-ACK or RST has replaced it.
func (s *scanner) releaseOldest() {
	idx := s.pendingQ[s.pqHead]
	s.pqHead = (s.pqHead + 1) % len(s.pendingQ)
	s.pqLen--
	if p, ok := s.pending[idx]; ok {
		delete(s.pending, idx)
		s.tx.del(p.k)
		s.doEmit(p.r, p.try)
	}
}

func (s *scanner) handle(m *raw.Incoming) {
	// Every packet received goes to the capture, malformed ones too:
	// they are what a pcap is read for.
	if s.cfg.Capture != nil {
		s.cfg.Capture(Received, m.Buf[:m.N], m.Time)
	}
	pk := &s.rxPkt
	if err := pk.Decode(m.Buf[:m.N]); err != nil && !errors.Is(err, craft.ErrWScaleClamped) {
		s.prog.Malformed.Add(1)
		return
	}
	if !checksumsOK(pk) {
		s.prog.Malformed.Add(1)
		return
	}
	switch pk.IP.Protocol {
	case craft.ProtocolTCP:
		s.handleTCP(pk, m)
	case craft.ProtocolICMP:
		s.handleICMP(pk, m)
	}
}

// checksumsOK reports whether the checksums of a decoded reply verify. A
// corrupted reply must not settle a result, any more than the kernel would
// accept it. One exception: a TCP segment sent by a stack on this machine
// through a veth or bridge with checksum offload on arrives with only the
// pseudo-header sum in its checksum field (CHECKSUM_PARTIAL, which the
// kernel trusts and never finishes), so that exact value is accepted too;
// a corrupted segment matches it only by chance (about 1 in 65,536). ICMP
// has no such offload: Linux checksums its ICMP errors in full.
func checksumsOK(pk *craft.Packet) bool {
	if !pk.IPChecksumOK {
		return false
	}
	switch pk.IP.Protocol {
	case craft.ProtocolTCP:
		if pk.TCPChecksumOK {
			return true
		}
		seg := int(pk.IP.TotalLen) - int(pk.IP.IHL)*4
		return pk.TCP.Checksum == craft.Fold(craft.PseudoHeaderSum(pk.IP.Src, pk.IP.Dst, craft.ProtocolTCP, uint16(seg)))
	case craft.ProtocolICMP:
		return pk.ICMPChecksumOK
	}
	return false
}

func (s *scanner) handleTCP(pk *craft.Packet, m *raw.Incoming) {
	t := &pk.TCP
	if pk.IP.Dst != s.src {
		s.prog.Unmatched.Add(1)
		return
	}
	target, tport, sport := pk.IP.Src, t.SrcPort, t.DstPort
	ti, ok := s.cfg.Targets.Index(target)
	pi := s.portIndex[tport]
	try := s.tryOf(target, tport, sport)
	if !ok || pi < 0 || try < 0 || t.Flags&craft.FlagACK == 0 || t.Ack != s.ck.isn(&s.rxScratch, s.src, target, sport, tport)+1 {
		// Not an answer to any probe of ours: spoofed, stale, or
		// someone else's traffic. It changes nothing.
		s.prog.Unmatched.Add(1)
		return
	}
	var r Result
	switch {
	case t.Flags&(craft.FlagSYN|craft.FlagRST) == craft.FlagSYN:
		r.State, r.Reason = StateOpen, ReasonSynAck
	case t.Flags&craft.FlagRST != 0:
		r.State, r.Reason = StateClosed, ReasonRST
	default:
		s.prog.Unmatched.Add(1)
		return
	}
	s.prog.Replies.Add(1)
	idx := ti*s.nPorts + uint64(pi)
	k := key(target, tport, sport)
	if r.State == StateOpen && !s.cfg.NoReset {
		s.reset(target, tport, sport, t.Ack)
	}
	if !s.markAnswered(idx) {
		// Already settled: by an ICMP error still pending (a SYN-ACK or
		// RST outranks it), or by an earlier reply (a duplicate).
		p, ok := s.pending[idx]
		if !ok {
			s.prog.Duplicates.Add(1)
			return
		}
		delete(s.pending, idx)
		if p.k != k {
			s.tx.del(p.k)
		}
		s.prog.Filtered.Add(^uint64(0))
		// No probe went out after the ICMP error settled it.
		r.Tries = max(p.r.Tries, try+1)
	} else {
		r.Tries = s.triesFor(target, tport, try)
	}
	r.Addr, r.Port, r.Time = target, tport, time.Now()
	fillIP(&r, pk)
	r.Has |= HasWindow
	r.Window = t.Window
	o := &t.Options
	if o.HasMSS {
		r.Has |= HasMSS
		r.MSS = o.MSS
	}
	if o.HasWScale {
		r.Has |= HasWScale
		r.WScale = o.WScale
	}
	r.SACKPermitted = o.SACKPermitted
	if o.HasTimestamps {
		r.Has |= HasTimestamps
		r.TSval, r.TSecr = o.TSval, o.TSecr
	}
	s.setRTT(&r, k, m)
	s.tx.del(k) // final: no later reply needs it
	if r.State == StateOpen {
		s.prog.Open.Add(1)
	} else {
		s.prog.Closed.Add(1)
	}
	s.doEmit(r, try)
}

func fillIP(r *Result, pk *craft.Packet) {
	r.Has |= HasTTL | HasIPID
	r.TTL = pk.IP.TTL
	r.InitialTTL, r.Hops = InitialTTL(pk.IP.TTL)
	r.IPID, r.DF = pk.IP.ID, pk.IP.DF()
}

// setRTT sets r's latency from the transmit time of the probe keyed k to
// m's receive time. The transmit time stays: an ICMP-settled result is
// not final, and a SYN-ACK or RST that outranks it needs the same time
// for its own latency. Whoever makes a result final forgets it.
func (s *scanner) setRTT(r *Result, k uint64, m *raw.Incoming) {
	t, kernel, ok := s.tx.get(k)
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

func (s *scanner) handleICMP(pk *craft.Packet, m *raw.Incoming) {
	ic := &pk.ICMP
	q := &ic.Quote
	if q.Src != s.src || q.Protocol != craft.ProtocolTCP {
		s.prog.Unmatched.Add(1)
		return
	}
	target, tport, sport := q.Dst, ic.QuotedDstPort, ic.QuotedSrcPort
	ti, ok := s.cfg.Targets.Index(target)
	pi := s.portIndex[tport]
	try := s.tryOf(target, tport, sport)
	if !ok || pi < 0 || try < 0 || ic.QuotedSeq != s.ck.isn(&s.rxScratch, s.src, target, sport, tport) {
		s.prog.Unmatched.Add(1)
		return
	}
	s.prog.Replies.Add(1)
	idx := ti*s.nPorts + uint64(pi)
	if !s.markAnswered(idx) {
		s.prog.Duplicates.Add(1)
		if p, ok := s.pending[idx]; ok {
			p.r.Duplicates++
			s.pending[idx] = p
		}
		return
	}
	r := Result{Addr: target, Port: tport, State: StateFiltered, Reason: Reason(ic.Name()), Tries: s.triesFor(target, tport, try), Time: time.Now(),
		ICMPType: ic.Type, ICMPCode: ic.Code, ICMPFrom: pk.IP.Src}
	fillIP(&r, pk)
	k := key(target, tport, sport)
	s.setRTT(&r, k, m)
	s.prog.Filtered.Add(1)
	if s.settleICMPNow {
		s.tx.del(k)
		s.doEmit(r, try)
		return
	}
	// Hold it: a SYN-ACK or RST for the same probe still outranks it.
	s.hold(idx, pendingICMP{r: r, k: k, try: try, expires: time.Now().Add(s.cfg.Timeout)})
}

// reset ends the half-open connection a SYN-ACK started. The local kernel,
// which has no socket for it, answers the SYN-ACK with a RST of its own as
// well; that second RST is harmless (the target drops a RST for a
// connection it has already closed) and is why --no-reset still leaves no
// half-open connection behind on a Linux prober.
func (s *scanner) reset(dst netip.Addr, dport, sport uint16, seq uint32) {
	if s.rsts == nil {
		s.rsts = make([]raw.Outgoing, 0, len(s.rstBufs))
	}
	if len(s.rsts) == len(s.rstBufs) {
		s.flushResets()
	}
	buf := s.rstBufs[len(s.rsts)][:]
	ip := craft.IPv4{TTL: s.cfg.TTL, Src: s.src, Dst: dst, Flags: craft.FlagDF}
	tcp := craft.TCP{SrcPort: sport, DstPort: dport, Seq: seq, Flags: craft.FlagRST}
	n, err := craft.BuildTCP(buf, &ip, &tcp)
	if err != nil {
		return
	}
	s.rsts = append(s.rsts, raw.Outgoing{Buf: buf[:n], Dst: dst})
}

// flushResets sends the RSTs queued by reset in one batch.
func (s *scanner) flushResets() {
	out := s.rsts
	for len(out) > 0 {
		now := time.Now()
		n, err := s.conn.WriteBatch(out)
		for _, p := range out[:n] {
			s.prog.Resets.Add(1)
			if s.cfg.Capture != nil {
				s.cfg.Capture(Sent, p.Buf, now)
			}
		}
		if err != nil {
			n++ // skip the one that failed: a RST is a courtesy
		}
		out = out[min(n, len(out)):]
	}
	s.rsts = s.rsts[:0]
}

// flush emits what is still pending and, for every probe sent but never
// answered, a filtered/no-response result.
func (s *scanner) flush() {
	for s.pqLen > 0 {
		s.releaseOldest()
	}
	tries := max(int(s.passesDone.Load()), 1)
	now := time.Now()
	// Only probes that were sent have a result: after a cancellation in
	// the first pass, that is the positions walked so far.
	for _, r := range s.sentRanges {
		s.order.walkTo(r.from, r.to, func(idx uint64) bool {
			if s.isAnswered(idx) {
				return true
			}
			dst, port := s.probeOf(idx)
			s.prog.Filtered.Add(1)
			s.doEmit(Result{Addr: dst, Port: port, State: StateFiltered, Reason: ReasonNoResponse, Tries: tries, Time: now}, tries-1)
			return true
		})
	}
}
