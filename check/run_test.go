package check

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// scriptedPinger answers each ping with the states script gives its
// target, one result a probe, and records the configs it was given.
type scriptedPinger struct {
	script map[netip.AddrPort]probe.State
	fail   netip.AddrPort // a ping of this target fails
	cancel context.CancelFunc
	got    []probe.PingConfig
}

var errPing = errors.New("ping failed")

func (s *scriptedPinger) Ping(ctx context.Context, cfg probe.PingConfig, emit func(probe.Result)) (probe.Summary, error) {
	s.got = append(s.got, cfg)
	if cfg.Target == s.fail {
		return probe.Summary{}, errPing
	}
	for i := range cfg.Count {
		emit(probe.Result{Addr: cfg.Target.Addr(), Port: cfg.Target.Port(), State: s.script[cfg.Target], Seq: i + 1,
			Has: probe.HasRTT, RTT: time.Millisecond})
	}
	if s.cancel != nil {
		s.cancel()
	}
	return probe.Summary{}, nil
}

func TestRun(t *testing.T) {
	web, db := netip.MustParseAddrPort("198.18.10.10:80"), netip.MustParseAddrPort("198.18.12.10:5432")
	checks := []Check{
		{Target: "web", Port: 80, States: []probe.State{probe.StateOpen}, Probes: 3},
		{Target: "db", Port: 5432, States: []probe.State{probe.StateOpen}},
	}
	base := probe.PingConfig{Interval: 7 * time.Millisecond, TTL: 9}
	p := &scriptedPinger{script: map[netip.AddrPort]probe.State{web: probe.StateOpen, db: probe.StateFiltered}}
	var rs []Result
	if err := Run(context.Background(), p, base, checks, []netip.AddrPort{web, db}, func(r Result) { rs = append(rs, r) }); err != nil {
		t.Fatal(err)
	}
	if len(p.got) != 2 || p.got[0].Target != web || p.got[0].Count != 3 || p.got[1].Target != db || p.got[1].Count != 1 ||
		p.got[0].Interval != base.Interval || p.got[1].TTL != base.TTL {
		t.Fatalf("pings: %+v", p.got)
	}
	if len(rs) != 2 || !rs[0].Pass || len(rs[0].Results) != 3 || rs[1].Pass || rs[1].Check.Name != "db:5432" {
		t.Fatalf("results: %+v", rs)
	}

	// A ping that fails stops the run with its error, after what came
	// before it.
	p = &scriptedPinger{script: p.script, fail: db}
	rs = nil
	err := Run(context.Background(), p, base, append(checks, checks[0]), []netip.AddrPort{web, db, web}, func(r Result) { rs = append(rs, r) })
	if !errors.Is(err, errPing) || len(rs) != 1 || len(p.got) != 2 {
		t.Fatalf("failing ping: %v, %d results, %d pings", err, len(rs), len(p.got))
	}

	// A cancellation ends the run after the check under way.
	ctx, cancel := context.WithCancel(context.Background())
	p = &scriptedPinger{script: p.script, cancel: cancel}
	rs = nil
	if err := Run(ctx, p, base, checks, []netip.AddrPort{web, db}, func(r Result) { rs = append(rs, r) }); err != nil || len(rs) != 1 || len(p.got) != 1 {
		t.Fatalf("cancelled: %v, %d results, %d pings", err, len(rs), len(p.got))
	}
}
