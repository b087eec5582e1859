package probe

import (
	"context"
	"net/netip"
	"time"

	"github.com/rs/zerolog"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// PingConfig describes a ping: Count fresh handshakes with one target:port,
// Interval apart.
type PingConfig struct {
	Target   netip.AddrPort
	Count    int           // required
	Interval time.Duration // DefaultPingInterval
	// Timeout is the longest wait for one reply (DefaultTimeout); once
	// replies come in, an RFC 6298 estimator shortens it to SRTT +
	// 4·RTTVAR, within [MinTimeout, Timeout].
	Timeout    time.Duration
	MinTimeout time.Duration // DefaultMinTimeout

	Source netip.Addr
	// SourcePortLo..SourcePortHi (DefaultSourcePortLo..Hi when both are
	// zero) gives each probe its own source port, so its own 4-tuple. A
	// ping of more probes than the range has ports wraps around it: a port
	// is used again only after every other one was, and a reply that comes
	// later than a whole round of the range would be taken for the reply
	// to the probe that reused its port.
	SourcePortLo, SourcePortHi uint16
	TTL                        uint8
	MSS                        uint16
	Window                     uint16
	Layout                     craft.Layout
	NoReset                    bool
	// MaxFailures consecutive failed sends stop the ping with
	// ErrTooManyFailures (DefaultMaxConsecutiveFailures when zero).
	MaxFailures int

	Logger  zerolog.Logger // debug-level start and summary; the zero Logger is silent
	Capture CaptureFunc
}

// withDefaults fills the zero values and rejects, with an ErrConfig, a
// config that cannot run.
func (cfg PingConfig) withDefaults() (PingConfig, error) {
	if cfg.Count <= 0 {
		return cfg, configErrorf("count must be positive")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPingInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MinTimeout <= 0 {
		cfg.MinTimeout = DefaultMinTimeout
	}
	cfg.MinTimeout = min(cfg.MinTimeout, cfg.Timeout)
	cfg.SourcePortLo, cfg.SourcePortHi = portRange(cfg.SourcePortLo, cfg.SourcePortHi)
	synDefaults(&cfg.TTL, &cfg.MSS, &cfg.Window)
	return cfg, nil
}

// Ping sends cfg.Count probes and calls emit with each one's Result (Seq
// 1..Count) as it settles; it returns the Summary of those sent. After ctx
// is cancelled it stops, waits for the probe in flight, and summarizes what
// was sent. Its memory does not grow with Count but for 8 bytes a probe
// answered (its latency, for the percentiles).
func Ping(ctx context.Context, cfg PingConfig, conn Conn, emit func(Result)) (Summary, error) {
	p, err := newPinger(cfg, conn, emit)
	if err != nil {
		return Summary{}, err
	}
	return p.run(ctx)
}

// pingSentLogSize is the sends a ping's transmit stamp may lag behind:
// one probe is in flight at a time.
const pingSentLogSize = 1024

// pinger composes a ping from the engine's parts: one probe at a time,
// paced by Interval, each waited for until its reply or its timeout. Probe
// seq uses try (seq-1) mod tries of the matcher's source-port rotation: a
// port of its own while the range lasts, then around.
type pinger struct {
	cfg   PingConfig
	conn  Conn
	emit  func(Result)
	log   zerolog.Logger
	m     *matcher
	tpl   templates
	rx    *receiver
	sent  *sentLog
	fails *failureLimit
	prog  Progress
	x     scratch
	rto   RTO
	tally Tally
	// The reply awaited: to try want. got is the first that came.
	want  int
	got   Result
	found bool
}

func newPinger(cfg PingConfig, conn Conn, emit func(Result)) (*pinger, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dst := cfg.Target.Addr()
	ts, err := NewTargetSet([]AddrRange{{dst, dst}}, nil)
	if err != nil {
		return nil, err
	}
	p := &pinger{cfg: cfg, conn: conn, emit: emit, log: cfg.Logger, sent: sizedSentLog(0, pingSentLogSize),
		fails: &failureLimit{max: int64(cfg.MaxFailures)}}
	src, err := pickSource(p.log, conn, cfg.Source, ts)
	if err != nil {
		return nil, err
	}
	tries := min(cfg.Count, int(cfg.SourcePortHi)-int(cfg.SourcePortLo)+1)
	if p.m, err = newMatcher(src, ts, []uint16{cfg.Target.Port()}, cfg.SourcePortLo, cfg.SourcePortHi, tries); err != nil {
		return nil, err
	}
	if p.tpl, err = newTemplates(src, craft.SYNConfig{TTL: cfg.TTL, MSS: cfg.MSS, Window: cfg.Window,
		Layout: cfg.Layout, TSval: uint32(time.Now().UnixMilli())}); err != nil {
		return nil, err
	}
	var resets *resetter
	if !cfg.NoReset {
		resets = newResetter(conn, src, cfg.TTL, &p.prog, cfg.Capture, p.fails)
	}
	p.tally.Reserve(cfg.Count)
	p.rx = newReceiver(conn, p.m, newTxTable(1, 2*cfg.Timeout), []*sentLog{p.sent}, &p.prog, cfg.Capture, resets, 16, 16)
	p.rx.onReply = p.onReply
	return p, nil
}

func (p *pinger) run(ctx context.Context) (Summary, error) {
	dst, dport := p.cfg.Target.Addr(), p.cfg.Target.Port()
	buf := make([]byte, p.tpl.maxLen())
	out := make([]raw.Outgoing, 1) // reused: a ping allocates nothing per probe
	p.log.Debug().Stringer("target", p.cfg.Target).Int("count", p.cfg.Count).Dur("interval", p.cfg.Interval).
		Dur("timeout", p.cfg.Timeout).Dur("min_timeout", p.cfg.MinTimeout).Stringer("source", p.m.src).
		Int("source_ports", int(p.m.portRange)).Msg("ping start")
	pace := newPacer(nil, p.cfg.Interval, 0)
	var err error
	for seq := 1; seq <= p.cfg.Count; seq++ {
		if !pace.wait(ctx, uint64(seq-1)) {
			break
		}
		try := (seq - 1) % p.m.tries
		sport := p.m.sport(&p.x, dst, dport, try)
		n, werr := p.tpl.of(dst).Write(buf, p.m.src.of(dst), dst, sport, dport, p.m.isn(&p.x, dst, sport, dport), uint16(seq))
		if werr != nil {
			err = werr
			break
		}
		sentAt := time.Now()
		out[0] = raw.Outgoing{Buf: buf[:n], Dst: dst, ID: p.sent.add(key(0, sport))} // a ping has one probe: index 0
		sent, werr := transmit(p.conn, out, p.cfg.Capture, sentAt)
		p.fails.sent(sent)
		if err = p.fails.failed(werr); err != nil {
			break
		}
		if werr != nil {
			if reason, ok := refusal(werr); ok {
				p.record(Result{Addr: dst, Port: dport, State: StateFiltered, Reason: reason, Tries: 1, Seq: seq, Time: sentAt})
				continue
			}
			err = werr
			break
		}
		wait := p.cfg.Timeout
		if p.rto.Valid() {
			wait = min(max(p.rto.RTO(), p.cfg.MinTimeout), p.cfg.Timeout)
		}
		r, rerr := p.await(ctx, sentAt.Add(wait), try)
		if rerr != nil {
			err = rerr
			break
		}
		r.Seq = seq
		if r.State == 0 && ctx.Err() != nil {
			break // interrupted while it waited: not lost, not counted
		}
		if r.State == 0 {
			r = Result{Addr: dst, Port: dport, State: StateFiltered, Reason: ReasonNoResponse, Tries: 1, Seq: seq, Time: time.Now()}
		}
		if r.Has&HasRTT != 0 && (r.State == StateOpen || r.State == StateClosed) {
			p.rto.Update(r.RTT)
		}
		p.record(r)
	}
	sum := p.tally.Summary()
	p.log.Debug().Int("sent", sum.Sent).Int("received", sum.Received).Float64("loss_pct", sum.LossPct).
		Dur("srtt", p.rto.SRTT()).Dur("rttvar", p.rto.RTTVAR()).Uint64("malformed", p.prog.Malformed.Load()).
		Uint64("unmatched", p.prog.Unmatched.Load()).AnErr("error", err).Msg("ping done")
	return sum, err
}

func (p *pinger) record(r Result) {
	r.Tries = 1
	p.tally.Add(r)
	if p.emit != nil {
		p.emit(r)
	}
}

// await reads replies until the one for try arrives or deadline passes:
// the first valid reply to that probe settles it. Every reply read is
// validated (and a SYN-ACK gets its RST), but a reply to an earlier probe
// (late, or a duplicate of one already reported) and any further reply to
// this one are dropped, not counted: a ping reports each probe once.
func (p *pinger) await(ctx context.Context, deadline time.Time, try int) (Result, error) {
	p.want, p.found = try, false
	for time.Now().Before(deadline) && ctx.Err() == nil {
		rd := time.Now().Add(50 * time.Millisecond)
		if deadline.Before(rd) {
			rd = deadline
		}
		if err := p.rx.poll(rd); err != nil {
			return Result{}, err
		}
		if p.found {
			return p.got, nil
		}
	}
	return Result{}, nil
}

// onReply: any reply settles its try at once (an ICMP error too: a ping
// does not hold it back); the one awaited is kept.
func (p *pinger) onReply(rp *reply, m *raw.Incoming) {
	r := rp.r
	r.Tries, r.Time = 1, time.Now()
	p.rx.latency(&r, rp.key, m)
	p.rx.tx.del(rp.key)
	switch r.State {
	case StateOpen:
		p.prog.Open.Add(1)
	case StateClosed:
		p.prog.Closed.Add(1)
	default:
		p.prog.Filtered.Add(1)
	}
	if rp.try == p.want && !p.found {
		p.got, p.found = r, true
	}
}
