package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
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
	Interval time.Duration // 1s
	// Timeout is the longest wait for one reply (1s); once replies come
	// in, an RFC 6298 estimator shortens it to SRTT + 4·RTTVAR, within
	// [MinTimeout, Timeout].
	Timeout    time.Duration
	MinTimeout time.Duration // 250ms: a loaded machine may be slow to read a reply

	Source netip.Addr
	// SourcePortLo..SourcePortHi (32768..61000 when both are zero) gives
	// each probe its own source port, so its own 4-tuple. A ping of more
	// probes than the range has ports wraps around it: a port is used
	// again only after every other one was, and a reply that comes later
	// than a whole round of the range would be taken for the reply to the
	// probe that reused its port.
	SourcePortLo, SourcePortHi uint16
	TTL                        uint8
	MSS                        uint16
	Window                     uint16
	Layout                     craft.Layout
	NoReset                    bool

	Logger  zerolog.Logger // debug-level start and summary; the zero Logger is silent
	Capture CaptureFunc
}

// Ping sends cfg.Count probes and calls emit with each one's Result (Seq
// 1..Count) as it settles; it returns the Summary of those sent. After ctx
// is cancelled it stops, waits for the probe in flight, and summarizes what
// was sent.
func Ping(ctx context.Context, cfg PingConfig, conn Conn, emit func(Result)) (Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	ts, err := NewTargetSet([]AddrRange{{cfg.Target.Addr(), cfg.Target.Addr()}}, nil)
	if err != nil {
		return Summary{}, err
	}
	lo, hi := cfg.SourcePortLo, cfg.SourcePortHi
	if lo == 0 && hi == 0 {
		lo, hi = 32768, 61000
	}
	// Probe seq uses try (seq-1) mod tries of the scanner's port
	// rotation: a port of its own while the range lasts, then around.
	tries := min(cfg.Count, int(hi)-int(lo)+1)
	s, err := newScanner(ScanConfig{Targets: ts, Ports: []uint16{cfg.Target.Port()}, Rate: 1, Retries: tries - 1,
		Timeout: cfg.Timeout, Source: cfg.Source, SourcePortLo: lo, SourcePortHi: hi, TTL: cfg.TTL, MSS: cfg.MSS,
		Window: cfg.Window, Layout: cfg.Layout, NoReset: cfg.NoReset, Logger: cfg.Logger, Capture: cfg.Capture}, conn, nil, nil)
	if err != nil {
		return Summary{}, err
	}
	p := &pinger{s: s, cfg: cfg, emit: emit}
	return p.run(ctx)
}

// withDefaults fills the zero values and rejects a config that cannot run.
func (cfg PingConfig) withDefaults() (PingConfig, error) {
	if cfg.Count <= 0 {
		return cfg, errors.New("count must be positive")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.MinTimeout <= 0 {
		cfg.MinTimeout = 250 * time.Millisecond
	}
	cfg.MinTimeout = min(cfg.MinTimeout, cfg.Timeout)
	return cfg, nil
}

type pinger struct {
	s       *scanner
	cfg     PingConfig
	emit    func(Result)
	rto     RTO
	results []Result
	got     Result
	gotTry  int // the try got answers
	gotOK   bool
}

func (p *pinger) run(ctx context.Context) (Summary, error) {
	s := p.s
	dst, dport := p.cfg.Target.Addr(), p.cfg.Target.Port()
	buf := make([]byte, s.tpl.Len())
	msgs, stamps := rxBuffers(16, 16)
	// Route every settled reply of the scanner's validation to this ping;
	// an ICMP error settles a ping at once.
	s.emit = func(r Result, try int) { p.got, p.gotTry, p.gotOK = r, try, true }
	s.settleICMPNow = true
	s.log.Debug().Stringer("target", p.cfg.Target).Int("count", p.cfg.Count).Dur("interval", p.cfg.Interval).
		Dur("timeout", p.cfg.Timeout).Dur("min_timeout", p.cfg.MinTimeout).Stringer("source", s.src).
		Int("source_ports", int(s.portRange)).Msg("ping start")
	next := time.Now()
	var err error
	for seq := 1; seq <= p.cfg.Count; seq++ {
		if !sleepUntil(ctx, next) {
			break
		}
		next = next.Add(p.cfg.Interval)
		try := (seq - 1) % s.tries
		sport := s.sport(&s.txScratch, dst, dport, try)
		n, werr := s.tpl.Write(buf, s.src, dst, sport, dport, s.ck.isn(&s.txScratch, s.src, dst, sport, dport), uint16(seq))
		if werr != nil {
			return p.summary(), werr
		}
		sentAt := time.Now()
		out := []raw.Outgoing{{Buf: buf[:n], Dst: dst, ID: s.sent[0].add(key(dst, dport, sport))}}
		if _, werr := s.conn.WriteBatch(out); werr != nil {
			var reason Reason
			switch {
			case errors.Is(werr, raw.ErrNoRoute):
				reason = ReasonNoRoute
			case errors.Is(werr, raw.ErrFirewall):
				reason = ReasonLocalFirewall
			}
			if reason != "" {
				p.record(Result{Addr: dst, Port: dport, State: StateFiltered, Reason: reason, Tries: 1, Seq: seq, Time: sentAt})
				continue
			}
			err = werr
			break
		}
		if s.cfg.Capture != nil {
			s.cfg.Capture(Sent, buf[:n], sentAt)
		}
		wait := p.cfg.Timeout
		if p.rto.Valid() {
			wait = min(max(p.rto.RTO(), p.cfg.MinTimeout), p.cfg.Timeout)
		}
		r, rerr := p.await(ctx, sentAt.Add(wait), try, msgs, stamps)
		if rerr != nil {
			err = rerr
			break
		}
		r.Seq = seq
		if r.State == 0 {
			r = Result{Addr: dst, Port: dport, State: StateFiltered, Reason: ReasonNoResponse, Tries: 1, Seq: seq, Time: time.Now()}
		}
		if r.Has&HasRTT != 0 && (r.State == StateOpen || r.State == StateClosed) {
			p.rto.Update(r.RTT)
		}
		p.record(r)
	}
	sum := p.summary()
	s.log.Debug().Int("sent", sum.Sent).Int("received", sum.Received).Float64("loss_pct", sum.LossPct).
		Dur("srtt", p.rto.SRTT()).Dur("rttvar", p.rto.RTTVAR()).Uint64("malformed", s.prog.Malformed.Load()).
		Uint64("unmatched", s.prog.Unmatched.Load()).AnErr("error", err).Msg("ping done")
	return sum, err
}

func (p *pinger) record(r Result) {
	r.Tries = 1
	p.results = append(p.results, r)
	if p.emit != nil {
		p.emit(r)
	}
}

func (p *pinger) summary() Summary { return Summarize(p.results) }

// await reads replies until the one for try arrives or deadline passes:
// the first valid reply to that probe settles it. Every reply read is
// validated (and a SYN-ACK gets its RST), but a reply to an earlier probe
// (late, or a duplicate of one already reported) and any further reply to
// this one are dropped, not counted: a ping reports each probe once.
func (p *pinger) await(ctx context.Context, deadline time.Time, try int, msgs []raw.Incoming, stamps []raw.TxStamp) (Result, error) {
	s := p.s
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.drainTx(stamps)
		rd := time.Now().Add(50 * time.Millisecond)
		if deadline.Before(rd) {
			rd = deadline
		}
		s.conn.SetReadDeadline(rd)
		n, err := s.conn.ReadBatch(msgs)
		if err != nil && !os.IsTimeout(err) && !errors.Is(err, os.ErrDeadlineExceeded) {
			return Result{}, fmt.Errorf("receive: %w", err)
		}
		if n > 0 {
			s.drainTx(stamps)
		}
		var got Result
		found := false
		for i := range msgs[:n] {
			// A fresh "answered" bit per reply: ping keeps one per try.
			s.answered[0].Store(0)
			p.gotOK = false
			s.handle(&msgs[i])
			if p.gotOK && p.gotTry == try && !found {
				got, found = p.got, true
			}
		}
		s.flushResets()
		if found {
			return got, nil
		}
	}
	return Result{}, nil
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	if d := time.Until(t); d > 0 {
		return sleepCtx(ctx, d, nil)
	}
	return ctx.Err() == nil
}

// RTO is the RFC 6298 retransmission-timeout estimator, used here to size
// the wait for each ping's reply from the latencies already measured.
type RTO struct {
	srtt, rttvar time.Duration
	valid        bool
}

// clockGranularity is G in RFC 6298: the floor of the variance term.
const clockGranularity = time.Millisecond

// Update takes one RTT measurement (RFC 6298 section 2.2 and 2.3).
func (e *RTO) Update(r time.Duration) {
	if !e.valid {
		e.srtt, e.rttvar, e.valid = r, r/2, true
		return
	}
	d := e.srtt - r
	if d < 0 {
		d = -d
	}
	e.rttvar = (3*e.rttvar + d) / 4 // beta = 1/4
	e.srtt = (7*e.srtt + r) / 8     // alpha = 1/8
}

// Valid reports whether any measurement was taken.
func (e *RTO) Valid() bool { return e.valid }

// SRTT and RTTVAR are the smoothed RTT and its variation.
func (e *RTO) SRTT() time.Duration   { return e.srtt }
func (e *RTO) RTTVAR() time.Duration { return e.rttvar }

// RTO is SRTT + max(G, 4·RTTVAR).
func (e *RTO) RTO() time.Duration { return e.srtt + max(clockGranularity, 4*e.rttvar) }
