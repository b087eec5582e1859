package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Connect mode probes with the kernel's own connect(): what synprobe does
// without CAP_NET_RAW. It measures what a connect can: the state, the time
// connect() took (user-space clock) and, for open ports, the MSS the
// kernel learned (TCP_MAXSEG). TTL, window and options stay empty: they
// are not invented.

// ConnectConfig describes a connect-mode scan.
type ConnectConfig struct {
	Targets     *TargetSet
	Ports       []uint16
	Rate        int           // connects started per second
	Timeout     time.Duration // per connect; 1s
	Concurrency int           // connects in flight at most; 256
}

// ConnectScan probes every target x port with connect() and emits each
// result (from one goroutine at a time).
func ConnectScan(ctx context.Context, cfg ConnectConfig, emit func(Result), prog *Progress) error {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 256
	}
	if cfg.Rate <= 0 {
		return errors.New("rate must be positive")
	}
	if prog == nil {
		prog = &Progress{}
	}
	n := cfg.Targets.Len() * uint64(len(cfg.Ports))
	prog.Total = n
	sem := make(chan struct{}, cfg.Concurrency)
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(cfg.Rate)
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		if !sleepUntil(ctx, start.Add(time.Duration(i)*interval)) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		dst := netip.AddrPortFrom(cfg.Targets.At(i/uint64(len(cfg.Ports))), cfg.Ports[i%uint64(len(cfg.Ports))])
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
	}
	wg.Wait()
	return nil
}

// ConnectProbe connects once to dst and reports what it found.
func ConnectProbe(ctx context.Context, dst netip.AddrPort, timeout time.Duration) Result {
	r := Result{Addr: dst.Addr(), Port: dst.Port(), Tries: 1}
	d := net.Dialer{Timeout: timeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp4", dst.String())
	rtt := time.Since(start)
	r.Time = time.Now()
	switch {
	case err == nil:
		r.State, r.Reason = StateOpen, ReasonConnect
		r.Has |= HasRTT
		r.RTT, r.Clock = rtt, ClockUser
		if mss, ok := tcpMaxSeg(c); ok {
			r.Has |= HasMSS
			r.MSS = mss
		}
		c.Close()
	case errors.Is(err, syscall.ECONNREFUSED):
		r.State, r.Reason = StateClosed, ReasonRST
		r.Has |= HasRTT
		r.RTT, r.Clock = rtt, ClockUser
	case errors.Is(err, syscall.EHOSTUNREACH):
		r.State, r.Reason = StateFiltered, "host-unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		r.State, r.Reason = StateFiltered, "net-unreachable"
	case errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) || errors.Is(err, context.Canceled):
		r.State, r.Reason = StateFiltered, ReasonNoResponse
	default:
		r.State, r.Reason = StateFiltered, Reason("error: "+err.Error())
	}
	return r
}

// ReasonConnect: connect() succeeded (the kernel saw a SYN-ACK).
const ReasonConnect Reason = "syn-ack"

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ConnectPing is Ping in connect mode.
func ConnectPing(ctx context.Context, cfg PingConfig, emit func(Result)) (Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	var rs []Result
	next := time.Now()
	for seq := 1; seq <= cfg.Count; seq++ {
		if !sleepUntil(ctx, next) {
			break
		}
		next = next.Add(cfg.Interval)
		r := ConnectProbe(ctx, cfg.Target, cfg.Timeout)
		if ctx.Err() != nil && r.Reason == ReasonNoResponse {
			break // interrupted, not lost
		}
		r.Seq = seq
		rs = append(rs, r)
		if emit != nil {
			emit(r)
		}
	}
	return Summarize(rs), nil
}
