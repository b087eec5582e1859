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
	// With cancel: ping number cancelPing (from 1; 0: every ping, once
	// its probes are in) is cancelled after cancelAfter probes and
	// returns, as the engine's does, with cancelErr.
	cancelPing, cancelAfter int
	cancelErr               error
	got                     []probe.PingConfig
}

var errPing = errors.New("ping failed")

func (s *scriptedPinger) Ping(ctx context.Context, cfg probe.PingConfig, emit func(probe.Result)) (probe.Summary, error) {
	s.got = append(s.got, cfg)
	if cfg.Target == s.fail {
		return probe.Summary{}, errPing
	}
	if s.cancel != nil && len(s.got) == s.cancelPing {
		for i := range s.cancelAfter {
			emit(probe.Result{Addr: cfg.Target.Addr(), Port: cfg.Target.Port(), State: s.script[cfg.Target], Seq: i + 1,
				Has: probe.HasRTT, RTT: time.Millisecond})
		}
		s.cancel()
		return probe.Summary{}, s.cancelErr
	}
	for i := range cfg.Count {
		emit(probe.Result{Addr: cfg.Target.Addr(), Port: cfg.Target.Port(), State: s.script[cfg.Target], Seq: i + 1,
			Has: probe.HasRTT, RTT: time.Millisecond})
	}
	if s.cancel != nil && s.cancelPing == 0 {
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

	// A cancellation ends the run after the check under way: no further
	// ping, but a Result for every check (TestRunInterrupted has more).
	ctx, cancel := context.WithCancel(context.Background())
	p = &scriptedPinger{script: p.script, cancel: cancel}
	rs = nil
	if err := Run(ctx, p, base, checks, []netip.AddrPort{web, db}, func(r Result) { rs = append(rs, r) }); err != nil || len(rs) != 2 || len(p.got) != 1 {
		t.Fatalf("cancelled: %v, %d results, %d pings", err, len(rs), len(p.got))
	}
}

// TestRunInterrupted: a run cut short still gives a Result for every
// check, in order, and none that was cut short or never started passes:
// the check under way is interrupted, with the figures of the probes it
// sent, and those after it are not run.
func TestRunInterrupted(t *testing.T) {
	web, db, ssh := netip.MustParseAddrPort("198.18.10.10:80"), netip.MustParseAddrPort("198.18.12.10:5432"), netip.MustParseAddrPort("198.18.12.10:22")
	script := map[netip.AddrPort]probe.State{web: probe.StateOpen, db: probe.StateOpen, ssh: probe.StateOpen}
	checks := []Check{
		{Target: "web", Port: 80, States: []probe.State{probe.StateOpen}, Probes: 3},
		{Target: "db", Port: 5432, States: []probe.State{probe.StateOpen}, Probes: 1000},
		{Target: "ssh", Port: 22, States: []probe.State{probe.StateOpen}, Probes: 2},
	}
	dsts := []netip.AddrPort{web, db, ssh}
	for _, c := range []struct {
		name        string
		ping, after int   // the cancelled ping (0: the first, once its probes are in), after so many probes
		pingErr     error // what the cancelled ping returns
		pings       int
		want        []Status
		sent        []int
		incomplete  string // of the interrupted check
		err         error
	}{
		{name: "mid-check", ping: 2, after: 116, pings: 2, want: []Status{StatusPass, StatusInterrupted, StatusNotRun},
			sent: []int{3, 116, 0}, incomplete: "interrupted after 116 of 1000 probes"},
		{name: "before its first probe", ping: 2, pings: 2, want: []Status{StatusPass, StatusInterrupted, StatusNotRun},
			sent: []int{3, 0, 0}, incomplete: "interrupted after 0 of 1000 probes"},
		// Every probe in, but the interrupt came while the ping ran: the
		// engine's last result may be a probe whose wait was cut short.
		{name: "every probe in", ping: 0, pings: 1, want: []Status{StatusInterrupted, StatusNotRun, StatusNotRun},
			sent: []int{3, 0, 0}, incomplete: "interrupted after 3 of 3 probes"},
		// A pinger that returns the context's error is interrupted too,
		// not failed.
		{name: "ping returns ctx.Err", ping: 2, after: 5, pingErr: context.Canceled, pings: 2,
			want: []Status{StatusPass, StatusInterrupted, StatusNotRun}, sent: []int{3, 5, 0}, incomplete: "interrupted after 5 of 1000 probes"},
		// Any other error is the run's failure, as without an interrupt.
		{name: "ping fails", ping: 2, after: 5, pingErr: errPing, pings: 2, want: []Status{StatusPass}, sent: []int{3}, err: errPing},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := &scriptedPinger{script: script, cancel: cancel, cancelPing: c.ping, cancelAfter: c.after, cancelErr: c.pingErr}
			var rs []Result
			err := Run(ctx, p, probe.PingConfig{}, checks, dsts, func(r Result) { rs = append(rs, r) })
			if !errors.Is(err, c.err) || (c.err == nil && err != nil) || len(p.got) != c.pings || len(rs) != len(c.want) {
				t.Fatalf("%v, %d pings, %d results, want %v, %d, %d", err, len(p.got), len(rs), c.err, c.pings, len(c.want))
			}
			for i, r := range rs {
				if r.Status != c.want[i] || len(r.Results) != c.sent[i] || r.Check.Name != checks[i].Normalize().Name {
					t.Errorf("check %d: %v after %d probes (%s), want %v after %d", i, r.Status, len(r.Results), r.Check.Name, c.want[i], c.sent[i])
				}
				if r.Status != StatusPass && (r.Pass || len(r.Failures) != 0) {
					t.Errorf("check %d, %v: pass %v, failures %q", i, r.Status, r.Pass, r.Failures)
				}
				switch r.Status {
				case StatusInterrupted:
					// The figures of what was sent: every probe open.
					if got := r.Incomplete(); got != c.incomplete || r.Successes != c.sent[i] || (c.sent[i] > 0) != r.HasRTT {
						t.Errorf("interrupted: %q, %d successes, rtt %v; want %q", got, r.Successes, r.HasRTT, c.incomplete)
					}
				case StatusNotRun:
					if r.Incomplete() != "the run was interrupted before it started" || r.HasRTT || r.Successes != 0 {
						t.Errorf("not run: %+v", r)
					}
				default:
					if r.Incomplete() != "" {
						t.Errorf("finished, yet incomplete: %q", r.Incomplete())
					}
				}
			}
		})
	}
}

// TestUnfinished: a report made while Run is still under way (a second
// Ctrl-C) has every check too.
func TestUnfinished(t *testing.T) {
	a := netip.MustParseAddr("198.18.10.10")
	open := probe.Result{Addr: a, Port: 80, State: probe.StateOpen, Has: probe.HasRTT, RTT: time.Millisecond}
	c := Check{Target: "web", Port: 80, States: []probe.State{probe.StateOpen}, Probes: 4}
	checks := []Check{c, c, c}
	done := []Result{Evaluate(c, []probe.Result{open, open, open, open})}
	got := Unfinished(checks, done, []probe.Result{open, open})
	if len(got) != 3 || got[0].Status != StatusPass || got[1].Status != StatusInterrupted || got[1].Successes != 2 ||
		got[1].Incomplete() != "interrupted after 2 of 4 probes" || got[2].Status != StatusNotRun {
		t.Fatalf("%+v", got)
	}
	// A run that has ended: its Results as they are.
	all := append(done, Evaluate(c, nil), Evaluate(c, nil))
	if got := Unfinished(checks, all, nil); len(got) != 3 || got[1].Status != StatusFail || got[2].Status != StatusFail {
		t.Fatalf("ended: %+v", got)
	}
}
