package probe

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// Connect mode probes with the kernel's own connect(): what synprobe does
// without CAP_NET_RAW. It reports what a connect can tell, and nothing
// more: the state, the time connect() took (user-space clock) and, for
// open ports, the MSS the kernel learned (TCP_MAXSEG). TTL, window and
// options of a SYN-ACK stay empty: they are not invented.
//
// connect() alone cannot tell a RST from an ICMP port-unreachable (both
// are ECONNREFUSED), nor one ICMP unreachable code from another (most are
// EHOSTUNREACH). So on Linux raw.Connect asks for the kernel's own record of
// the ICMP error (IP_RECVERR: the type, code and sender of the ICMP
// message, on the socket's error queue; with IP_RECVTTL, the ICMP
// packet's TTL), which since Linux 5.8 is queued for a connect in
// progress too. With it, the reasons are exact and the same as a raw
// scan's: rst, port-unreachable, admin-prohibited, ... Without it (an
// older kernel, or another system), ECONNREFUSED is reported as closed
// with reason "refused" (a RST or an ICMP port-unreachable: connect cannot
// tell which), and EHOSTUNREACH or ENETUNREACH as filtered with reason
// "unreachable".

// Connect-mode reasons beside those of a raw scan.
const (
	// ReasonConnect: connect() succeeded (the kernel saw a SYN-ACK).
	ReasonConnect Reason = "syn-ack"
	// ReasonRefused: connect() was refused, by a RST or an ICMP
	// port-unreachable, and the kernel did not say which.
	ReasonRefused Reason = "refused"
	// ReasonUnreachable: connect() failed with "host unreachable" or
	// "network unreachable", and the kernel did not say which ICMP error
	// (if any) it was.
	ReasonUnreachable Reason = "unreachable"
)

// ConnectConfig describes a connect-mode scan.
type ConnectConfig struct {
	Targets     *TargetSet
	Ports       []uint16
	Rate        int           // connects started per second
	Timeout     time.Duration // per connect; 1s
	Concurrency int           // connects in flight at most; 256
	// Shard K (1-based) of Shards, walking the same keyed order as a raw
	// scan with the same Seed: the shards of one seed are disjoint and
	// cover the scan. Zero means 1 of 1.
	Shard, Shards int
	Seed          uint64
}

// ConnectScan probes every target x port of its shard with connect() and
// emits each result (from one goroutine at a time).
func ConnectScan(ctx context.Context, cfg ConnectConfig, emit func(Result), prog *Progress) error {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Rate <= 0 {
		return configErrorf("rate must be positive")
	}
	if cfg.Shards == 0 {
		cfg.Shard, cfg.Shards = 1, 1
	}
	if cfg.Targets == nil || len(cfg.Ports) == 0 {
		return configErrorf("no targets or no ports")
	}
	if prog == nil {
		prog = &Progress{}
	}
	nPorts := uint64(len(cfg.Ports))
	ord, err := newOrder(cfg.Targets.Len()*nPorts, cfg.Seed, cfg.Shard-1, cfg.Shards)
	if err != nil {
		return err
	}
	prog.Total = ord.count
	sem := make(chan struct{}, cfg.Concurrency)
	var mu sync.Mutex
	var wg sync.WaitGroup
	pace := newPacer(nil, time.Second/time.Duration(cfg.Rate), 0)
	var i uint64
	ord.walk(0, func(idx uint64) bool {
		if !pace.wait(ctx, i) {
			return false
		}
		i++
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		dst := netip.AddrPortFrom(cfg.Targets.At(idx/nPorts), cfg.Ports[idx%nPorts])
		prog.Sent.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := ConnectProbe(ctx, dst, cfg.Timeout)
			<-sem
			switch r.State {
			case StateOpen:
				prog.Open.Add(1)
			case StateClosed:
				prog.Closed.Add(1)
			default:
				prog.Filtered.Add(1)
			}
			mu.Lock()
			emit(r)
			mu.Unlock()
		}()
		return true
	})
	wg.Wait()
	return nil
}

// ConnectProbe connects once to dst and reports what it found.
func ConnectProbe(ctx context.Context, dst netip.AddrPort, timeout time.Duration) Result {
	return judgeConnect(dst, raw.Connect(ctx, dst, timeout), raw.KernelQueuesConnectICMP())
}

// judgeConnect turns a connect's outcome into a Result. icmpQueued says
// the kernel puts every ICMP error of a connect in progress on the error
// queue, so that a refusal with none there was a RST.
func judgeConnect(dst netip.AddrPort, o raw.ConnectOutcome, icmpQueued bool) Result {
	r := Result{Addr: dst.Addr(), Port: dst.Port(), Tries: 1, Time: time.Now()}
	rtt := func(d time.Duration) {
		r.Has |= HasRTT
		r.RTT, r.Clock = d, ClockUser
	}
	switch {
	case o.Err == nil:
		// A SYN-ACK outranks an ICMP error, as in a raw scan.
		r.State, r.Reason = StateOpen, ReasonConnect
		rtt(o.RTT)
		if o.HasMSS {
			r.Has |= HasMSS
			r.MSS = o.MSS
		}
	case o.ICMP != nil:
		name := craft.ICMPName
		if dst.Addr().Is6() {
			name = craft.ICMPv6Name
		}
		r.State, r.Reason = StateFiltered, Reason(name(o.ICMP.Type, o.ICMP.Code))
		r.ICMPType, r.ICMPCode, r.ICMPFrom = o.ICMP.Type, o.ICMP.Code, o.ICMP.From
		rtt(o.ICMP.RTT)
		if o.ICMP.HasTTL {
			r.Has |= HasTTL
			r.TTL = o.ICMP.TTL
			r.InitialTTL, r.Hops = InitialTTL(o.ICMP.TTL)
		}
	case errors.Is(o.Err, raw.ErrRefused):
		r.State, r.Reason = StateClosed, ReasonRefused
		if icmpQueued {
			r.Reason = ReasonRST
		}
		rtt(o.RTT)
	case o.Immediate && errors.Is(o.Err, raw.ErrUnreachable):
		// Refused before anything was sent: no route.
		r.State, r.Reason = StateFiltered, ReasonNoRoute
	case errors.Is(o.Err, raw.ErrUnreachable):
		r.State, r.Reason = StateFiltered, ReasonUnreachable
	case errors.Is(o.Err, raw.ErrTimeout) || errors.Is(o.Err, context.Canceled) || errors.Is(o.Err, context.DeadlineExceeded):
		r.State, r.Reason = StateFiltered, ReasonNoResponse
	default:
		r.State, r.Reason = StateFiltered, Reason("error: "+o.Err.Error())
	}
	return r
}

// ConnectPing is Ping in connect mode.
func ConnectPing(ctx context.Context, cfg PingConfig, emit func(Result)) (Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	var tally Tally
	pace := newPacer(nil, cfg.Interval, 0)
	for seq := 1; seq <= cfg.Count; seq++ {
		if !pace.wait(ctx, uint64(seq-1)) {
			break
		}
		r := ConnectProbe(ctx, cfg.Target, cfg.Timeout)
		if ctx.Err() != nil && r.Reason == ReasonNoResponse {
			break // interrupted, not lost
		}
		r.Seq = seq
		tally.Add(r)
		if emit != nil {
			emit(r)
		}
	}
	return tally.Summary(), nil
}
