package probe

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/synprobe/synprobe/craft"
)

// ScanConfig describes a scan. Zero values take the defaults noted.
type ScanConfig struct {
	Targets *TargetSet
	Ports   []uint16

	Rate     int           // packets per second; required
	Retries  int           // extra tries for unanswered probes
	Timeout  time.Duration // wait after each pass before retrying; DefaultTimeout
	Cooldown time.Duration // wait after the last send; Timeout
	Shard    int           // 1-based shard of Shards; 1
	Shards   int           // 1
	Seed     uint64

	// Source is the source address of the probes to targets of its
	// family; those of the other family (or all, when it is invalid)
	// take theirs from the route to one of them.
	Source                     netip.Addr
	SourcePortLo, SourcePortHi uint16 // DefaultSourcePortLo..Hi when zero
	TTL                        uint8  // DefaultTTL
	MSS                        uint16 // DefaultMSS
	Window                     uint16 // DefaultWindow
	Layout                     craft.Layout
	NoReset                    bool
	// Senders is how many goroutines send, each a contiguous stretch of
	// the order at its share of Rate (1 to MaxSenders; 1 when zero). More
	// than one pays where the kernel's per-packet work is what limits the
	// rate; give the Conn as many writers and one more for the RSTs.
	Senders int
	// MaxFailures consecutive failed sends stop the scan with
	// ErrTooManyFailures (DefaultMaxConsecutiveFailures when zero). A
	// target without a route is that target's failure and does not count.
	MaxFailures int

	// Logger gets debug-level events, never one per packet: the start,
	// the source address, sends the kernel refused (per batch), each
	// retry pass, the cooldown and the counters at the end. The zero
	// Logger is silent.
	Logger  zerolog.Logger
	Capture CaptureFunc

	// clock makes each sender's clock; nil is the real one (tests).
	clock func() timeSource
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
	s, err := newScan(cfg, conn, emit, prog)
	if err != nil {
		return err
	}
	return s.run(ctx)
}

// scanner composes the parts of one scan: senders walk the keyed order in
// passes, a receiver reads replies and stamps, the matcher tells which
// probe a reply answers, and the scan itself settles each probe once
// (settle.go), holding ICMP-settled results back for a SYN-ACK or RST that
// would outrank them.
type scanner struct {
	cfg     ScanConfig
	conn    Conn
	emit    func(Result)
	emitMu  sync.Mutex
	prog    *Progress
	log     zerolog.Logger
	m       *matcher
	order   *order
	led     *ledger
	send    *sendShared
	senders []*sender
	rx      *receiver
	held    *holdQueue
	routes  *routeWatch
	replies *replyWatch

	firstPass uint64 // probes of the first pass (sent or refused); written by the sending side only
	// passesDone counts the passes over the order walked to the end;
	// passNow is the pass walking now (-1 before the first), which has
	// finished when passNow < passesDone. The receiver reads both to
	// count the probes sent for a target:port.
	passesDone, passNow atomic.Int32
	// walked is set once the first pass has been walked (to its end or
	// to a cancellation): firstPass is final from then on. The receiver
	// then closes settled when every probe of it has its final result,
	// which ends the wait for a retry pass or the cooldown at once.
	walked      atomic.Bool
	settled     chan struct{}
	lastSettled time.Time // when the receiver last counted; receiver only
}

func newScan(cfg ScanConfig, conn Conn, emit func(Result), prog *Progress) (*scanner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if prog == nil {
		prog = &Progress{}
	}
	s := &scanner{cfg: cfg, conn: conn, emit: emit, prog: prog, log: cfg.Logger, settled: make(chan struct{}),
		replies: newReplyWatch()}
	src, err := pickSource(s.log, conn, cfg.Source, cfg.Targets)
	if err != nil {
		return nil, err
	}
	if s.m, err = newMatcher(src, cfg.Targets, cfg.Ports, cfg.SourcePortLo, cfg.SourcePortHi, cfg.Retries+1); err != nil {
		return nil, err
	}
	if s.order, err = newOrder(s.m.probes(), cfg.Seed, cfg.Shard-1, cfg.Shards); err != nil {
		return nil, err
	}
	tpl, err := newTemplates(src, craft.SYNConfig{TTL: cfg.TTL, MSS: cfg.MSS, Window: cfg.Window,
		Layout: cfg.Layout, TSval: uint32(time.Now().UnixMilli())})
	if err != nil {
		return nil, err
	}
	s.led = newLedger(s.m.probes())
	s.routes = newRouteWatch(conn, routed(conn, cfg.Targets))
	s.send = &sendShared{conn: conn, m: s.m, tpl: tpl, order: s.order, led: s.led, prog: prog, fails: &failureLimit{max: int64(cfg.MaxFailures)},
		capture: cfg.Capture, log: s.log, clock: cfg.clock, refused: s.refused}
	n := min(cfg.Senders, cfg.Rate)
	logs := make([]*sentLog, n)
	for k, rate := range senderRates(cfg.Rate, n) {
		logs[k] = newSentLog(k, n)
		s.senders = append(s.senders, newSender(s.send, logs[k], k, n, rate))
	}
	var resets *resetter
	if !cfg.NoReset {
		resets = newResetter(conn, src, cfg.TTL, prog, cfg.Capture, s.send.fails)
	}
	s.rx = newReceiver(conn, s.m, newTxTable(cfg.Rate, cfg.Timeout+cfg.Cooldown), logs, prog, cfg.Capture, resets, 64, 256)
	s.rx.onReply = s.onReply
	s.held = newHoldQueue(func(p held) {
		s.rx.tx.del(p.k)
		s.doEmit(p.r)
	})
	prog.Total = s.order.count
	if cfg.Shards == 1 {
		prog.Total = s.m.probes() // the walk skips the values past n
	}
	s.passNow.Store(-1)
	return s, nil
}

// withDefaults fills the zero values and rejects, with an ErrConfig, a
// config that cannot run.
func (cfg ScanConfig) withDefaults() (ScanConfig, error) {
	switch {
	case cfg.Targets == nil || cfg.Targets.Len() == 0:
		return cfg, configErrorf("no targets")
	case len(cfg.Ports) == 0:
		return cfg, configErrorf("no ports")
	case cfg.Rate <= 0:
		return cfg, configErrorf("rate must be positive")
	case cfg.Retries < 0:
		return cfg, configErrorf("retries must not be negative")
	case cfg.Shards < 0 || (cfg.Shards > 0 && (cfg.Shard < 1 || cfg.Shard > cfg.Shards)):
		return cfg, configErrorf("shard %d/%d: want 1 <= K <= N", cfg.Shard, cfg.Shards)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = cfg.Timeout
	}
	if cfg.Shards == 0 {
		cfg.Shards, cfg.Shard = 1, 1
	}
	cfg.SourcePortLo, cfg.SourcePortHi = portRange(cfg.SourcePortLo, cfg.SourcePortHi)
	if err := checkSourcePorts(cfg.SourcePortLo, cfg.SourcePortHi, cfg.Retries+1); err != nil {
		return cfg, err
	}
	synDefaults(&cfg.TTL, &cfg.MSS, &cfg.Window)
	cfg.Senders = min(max(cfg.Senders, 1), maxSenders)
	return cfg, nil
}

func (s *scanner) run(ctx context.Context) error {
	began := time.Now()
	s.log.Debug().Uint64("targets", s.cfg.Targets.Len()).Int("ports", len(s.cfg.Ports)).Uint64("probes", s.prog.Total).
		Int("shard", s.cfg.Shard).Int("shards", s.cfg.Shards).Int("rate", s.cfg.Rate).Int("tries", s.m.tries).
		Dur("timeout", s.cfg.Timeout).Dur("cooldown", s.cfg.Cooldown).Stringer("source", s.m.src).
		Bool("reset", !s.cfg.NoReset).Msg("scan start")
	stop := make(chan struct{})
	rxDone := make(chan error, 1)
	go func() { rxDone <- s.receive(stop) }()

	sendErr := s.sendPasses(ctx)
	if sendErr != nil {
		s.log.Debug().Err(sendErr).Msg("sending stopped")
	}

	// Cooldown: late replies still count. Cancellation does not skip it:
	// what is already on the wire is still worth reading. It ends early
	// when every probe has its final result: nothing is left to wait for
	// but duplicates.
	s.log.Debug().Dur("cooldown", s.cfg.Cooldown).Uint64("unanswered", s.firstPass-s.led.count()).Msg("cooldown")
	if sleepCtx(context.Background(), s.cfg.Cooldown, s.settled) && isClosed(s.settled) {
		s.log.Debug().Msg("every probe settled: cooldown ended early")
	}
	close(stop)
	rxErr := <-rxDone
	s.flush()
	p, rx := s.prog, s.rx
	s.log.Debug().Uint64("sent", p.Sent.Load()).Uint64("retransmitted", p.Retransmitted.Load()).
		Uint64("replies", p.Replies.Load()).Uint64("open", p.Open.Load()).Uint64("closed", p.Closed.Load()).
		Uint64("filtered", p.Filtered.Load()).Uint64("no_route", p.NoRoute.Load()).Uint64("local_firewall", p.LocalFirewall.Load()).
		Uint64("duplicates", p.Duplicates.Load()).Uint64("malformed", p.Malformed.Load()).Uint64("unmatched", p.Unmatched.Load()).
		Uint64("resets", p.Resets.Load()).Uint64("tx_kernel", p.TxKernel.Load()).Uint64("tx_user", p.TxUser.Load()).
		Uint64("tx_unmatched", rx.unstamped).Uint64("tx_foreign", rx.foreign).Uint64("tx_evicted", rx.tx.evicted).
		Dur("elapsed", time.Since(began)).AnErr("send_error", sendErr).AnErr("receive_error", rxErr).Msg("scan done")
	if rx.unstamped > 0 {
		s.log.Warn().Uint64("stamps", rx.unstamped).Msg("transmit stamps came back too late to find their probes, whose latencies are missing: " +
			"the receiving goroutine fell behind; a lower --rate or fewer --senders keeps every one")
	}
	var silence error
	if ctx.Err() == nil && sendErr == nil && s.routes.err() == nil {
		silence = s.replies.err(s.firstSent())
	}
	return errors.Join(sendErr, rxErr, s.routes.err(), silence)
}

// firstSent is how many probes of the first pass have been sent.
func (s *scanner) firstSent() uint64 { return s.prog.Sent.Load() - s.prog.Retransmitted.Load() }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sendPasses walks the order once per try, each pass shared by the
// senders, each walking its own contiguous stretch of the order at its
// share of the rate: the kernel's work for a packet, which is most of it,
// is then done on as many CPUs.
func (s *scanner) sendPasses(ctx context.Context) error {
	var sendErr error
	for try := 0; try < s.m.tries; try++ {
		if try > 0 {
			// Give the previous pass's replies time to come back, or
			// less if every probe has its answer by then.
			if !sleepCtx(ctx, s.cfg.Timeout, s.settled) {
				break
			}
			unanswered := s.firstPass - s.led.count()
			if unanswered == 0 {
				s.log.Debug().Int("pass", try+1).Msg("every probe answered: no retry pass")
				break
			}
			s.log.Debug().Int("pass", try+1).Int("of", s.m.tries).Uint64("unanswered", unanswered).Msg("retry pass")
		}
		s.passNow.Store(int32(try))
		var wg sync.WaitGroup
		for _, sd := range s.senders {
			wg.Go(func() { sd.pass(ctx, try) })
		}
		wg.Wait()
		for _, sd := range s.senders {
			if sd.err != nil && sendErr == nil {
				sendErr = sd.err
			}
		}
		if try == 0 {
			for _, sd := range s.senders {
				s.firstPass += sd.firstPass
			}
			s.walked.Store(true)
		}
		if sendErr != nil || ctx.Err() != nil {
			break
		}
		s.passesDone.Store(int32(try + 1))
	}
	return sendErr
}

// receive reads replies until stop is closed.
func (s *scanner) receive(stop <-chan struct{}) error {
	lastSweep := time.Now()
	for {
		select {
		case <-stop:
			s.rx.drainTx()
			return nil
		default:
		}
		if err := s.rx.poll(time.Now().Add(20 * time.Millisecond)); err != nil {
			return err
		}
		now := time.Now()
		s.replies.sample(now, s.firstSent())
		if now.Sub(lastSweep) > 250*time.Millisecond {
			s.held.expire(now)
			lastSweep = now
		}
		s.checkSettled(now)
	}
}

// flush emits what is still held and, for every probe sent but never
// answered, a filtered/no-response result.
func (s *scanner) flush() {
	s.held.releaseAll()
	tries := max(int(s.passesDone.Load()), 1)
	now := time.Now()
	// Only probes that were sent have a result: after a cancellation in
	// the first pass, that is the positions walked so far.
	for _, sd := range s.senders {
		s.order.walkTo(sd.from, sd.sentTo, func(idx uint64) bool {
			if s.led.settled(idx) {
				return true
			}
			dst, port := s.m.probeOf(idx)
			s.prog.Filtered.Add(1)
			s.doEmit(Result{Addr: dst, Port: port, State: StateFiltered, Reason: ReasonNoResponse, Tries: tries, Time: now})
			return true
		})
	}
}
