package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/results"
)

const maxAddrs = 1 << 24

func newScanCmd(g *globals) *cobra.Command {
	var f probeFlags
	var sf scanFlags
	cmd := &cobra.Command{
		Use:   "scan TARGET... [-p PORTS]",
		Short: "Scan targets x ports with hand-built SYNs",
		Long: `Scan every TARGET on every port with a hand-built SYN and report, for each
target:port, the state (open, closed, filtered and why), the handshake
latency, the reply's TTL (with the inferred initial TTL and hop count) and the
MSS, window and options the other side negotiates.

TARGET is an IPv4 or IPv6 address, a CIDR (198.19.0.0/16, 2001:2:0:a::/120),
a range (198.19.0.1-198.19.0.40, 2001:2::1-2001:2::9), a host name (every
A and AAAA record; --first-address for the first the resolver gives), or any
of these with :PORT to probe that port only ([2001:2:0:a::a]:443: an IPv6
address with a port is written in brackets). -4 or -6 takes one family only.
An IPv6 range of more than 2^24 addresses (a /64) is not walked: --sample N
probes N random addresses of it.

` + exitStatusHelp("when every probe was sent and has its result", ""),
		Example: `  synprobe scan 198.18.10.10 -p 22,80,443
  synprobe scan 198.19.0.0/16 -p 80 --rate 50000 -o jsonl --open
  synprobe scan 198.18.10.0/24 --shard 1/4 --seed 7
  synprobe scan 2001:2:0:a::/120 '[2001:2:0:b::a]:443' -p 22,80
  synprobe scan 2001:2:0:ffff::/64 --sample 1000 -p 80`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 0 {
				return usageErrorf("scan: give at least one TARGET")
			}
			p, err := f.params()
			if err != nil {
				return err
			}
			cfg, err := sf.config(&f, p)
			if err != nil {
				return err
			}
			p.open.Writers = sf.senders + 1 // and one for the RSTs
			groups, err := sf.plan(ctx, g, args, cmd.Flags().Changed("ports"), p.fam)
			if err != nil {
				return err
			}
			if err := checkScan(&f, p, cfg, groups); err != nil {
				return err
			}
			rw, err := results.New(sf.output, cmd.OutOrStdout(), false)
			if err != nil {
				return usageErrorf("-o: %v", err)
			}
			sess, err := g.start(cmd, &f, p, sf.output, groups[0].Targets.At(0))
			if err != nil {
				return err
			}
			defer sess.abort()
			cfg.Logger, cfg.Capture = g.log, sess.capture
			return runScan(ctx, g, sess, cfg, groups, rw, sf.onlyOpen)
		},
	}
	f.add(cmd)
	sf.add(cmd)
	return cmd
}

// scanFlags are scan's own flags.
type scanFlags struct {
	ports, shard, output, excludeFile string
	exclude                           []string
	rate, retries, senders            int
	seed, sample                      uint64
	onlyOpen, allowLarge, firstAddr   bool
	cooldown                          time.Duration
}

func (sf *scanFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&sf.ports, "ports", "p", "", "ports and ranges, e.g. 22,80,443,8000-8100 (default: the 100 most common)")
	fl.IntVar(&sf.rate, "rate", probe.DefaultRate, "packets per second")
	fl.IntVar(&sf.retries, "retries", probe.DefaultRetries, "extra tries for probes without a reply")
	fl.IntVar(&sf.senders, "senders", probe.DefaultSenders, fmt.Sprintf("sending goroutines, 1-%d: more send faster where the kernel's work per packet is the limit, ", probe.MaxSenders)+
		"until the one receiving goroutine falls behind and transmit stamps (latencies) or replies are lost")
	fl.DurationVar(&sf.cooldown, "cooldown", 0, "wait for late replies after the last send; ends once every probe has its result (default: --timeout)")
	fl.StringSliceVar(&sf.exclude, "exclude", nil, "targets not to scan (repeatable, comma-separated)")
	fl.StringVar(&sf.excludeFile, "exclude-file", "", "file of targets not to scan, one per line, # comments (at most 1 MiB, lines of 4096 bytes)")
	fl.StringVar(&sf.shard, "shard", "1/1", "scan only shard K of N (1-based); shards of one --seed cover the scan exactly once")
	fl.Uint64Var(&sf.seed, "seed", 0, "seed of the pseudo-random scan order (the same on every shard)")
	fl.BoolVar(&sf.onlyOpen, "open", false, "report open ports only")
	fl.StringVarP(&sf.output, "output", "o", "table", "output format: table, jsonl or csv")
	fl.BoolVar(&sf.allowLarge, "allow-large", false, "allow scans of more than 16,777,216 addresses")
	fl.BoolVar(&sf.firstAddr, "first-address", false, "probe only the first address of a host name the resolver gives (of the family -4 or -6 chose)")
	fl.Uint64Var(&sf.sample, "sample", 0, fmt.Sprintf("probe N random distinct addresses (1-%d, chosen by --seed, outside the excludes) of each IPv6 range too large to walk", probe.MaxWalk))
}

// config checks scan's flags and makes the engine's configuration of
// them (the groups' targets and ports apart).
func (sf *scanFlags) config(f *probeFlags, p engineParams) (probe.ScanConfig, error) {
	var cfg probe.ScanConfig
	switch {
	case sf.rate <= 0:
		return cfg, usageErrorf("--rate must be positive")
	case sf.retries < 0 || sf.retries > 100:
		return cfg, usageErrorf("--retries must be 0-100")
	case sf.cooldown < 0:
		return cfg, usageErrorf("--cooldown must not be negative")
	case sf.senders < 1 || sf.senders > probe.MaxSenders:
		return cfg, usageErrorf("--senders must be 1-%d", probe.MaxSenders)
	case sf.sample > probe.MaxWalk:
		return cfg, usageErrorf("--sample must be 1-%d", probe.MaxWalk)
	}
	k, n, err := parseShard(sf.shard)
	if err != nil {
		return cfg, err
	}
	return probe.ScanConfig{Rate: sf.rate, Retries: sf.retries, Timeout: f.timeout, Cooldown: sf.cooldown, Shard: k, Shards: n,
		Seed: sf.seed, TTL: p.ttl, MSS: p.mss, Window: p.window, Layout: p.layout, NoReset: f.noReset, Senders: sf.senders}, nil
}

// checkScan asks the engine what it would refuse in this scan, before
// anything is opened (probe.CheckScan): bad usage, exit 2, in the flags'
// words where the engine's are not the user's.
func checkScan(f *probeFlags, p engineParams, cfg probe.ScanConfig, groups []probe.Group) error {
	err := probe.CheckScan(p.open, cfg, groups)
	var spe *probe.SourcePortsError
	if errors.As(err, &spe) {
		ports := "1 port"
		if n := spe.Ports(); n != 1 {
			ports = strconv.Itoa(n) + " ports"
		}
		return usageErrorf("--source-port %s gives %s for %d tries: widen it or use --retries %d", f.sourcePort, ports, spe.Tries, spe.Ports()-1)
	}
	return err
}

// plan reads the targets, ports and exclusions into the engine's groups
// (one per port list); with --sample, each range the engine will not
// walk (probe.ErrTooLarge) is replaced by a sample of it.
func (sf *scanFlags) plan(ctx context.Context, g *globals, args []string, portsGiven bool, fam family) ([]probe.Group, error) {
	portList := topPorts
	if portsGiven {
		var err error
		if portList, err = parsePorts(sf.ports); err != nil {
			return nil, usageErrorf("-p: %v", err)
		}
	}
	note := func(s string) { g.log.Info().Msg(s) }
	var tps []probe.TargetPorts
	for _, a := range args {
		t, err := parseTarget(ctx, a, g.lookup, pick{fam: fam, first: sf.firstAddr}, note)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		tps = append(tps, probe.TargetPorts{Ranges: t.ranges, Port: t.port})
	}
	var excl []probe.AddrRange
	for _, e := range sf.exclude {
		for _, item := range strings.Split(e, ",") {
			r, err := parseExclude(ctx, item, g.lookup, note)
			if err != nil {
				return nil, usageErrorf("--exclude: %v", err)
			}
			excl = append(excl, r...)
		}
	}
	if sf.excludeFile != "" {
		r, err := readExcludeFile(ctx, sf.excludeFile, g.lookup, note)
		if err != nil {
			return nil, inputError(ctx, err)
		}
		excl = append(excl, r...)
	}
	if sf.sample > 0 {
		var err error
		if tps, err = sampleLarge(g, tps, sf.sample, sf.seed, excl); err != nil {
			return nil, usageErrorf("--sample: %v", err)
		}
	}
	groups, err := probe.Plan(tps, portList, excl)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	var addrs, probes uint64
	for _, gr := range groups {
		addrs += gr.Targets.Len()
		probes += gr.Probes()
	}
	if addrs > maxAddrs && !sf.allowLarge {
		return nil, usageErrorf("%d addresses is more than %d: add --allow-large if you mean it", addrs, maxAddrs)
	}
	g.log.Debug().Uint64("addresses", addrs).Uint64("probes", probes).Int("port_lists", len(groups)).Msg("targets")
	return groups, nil
}

// sampleLarge replaces each range of tps that the engine would refuse to
// walk (probe.ErrTooLarge) with n random addresses of it
// (probe.SampleRange), and says so; it is a note when there is none.
func sampleLarge(g *globals, tps []probe.TargetPorts, n, seed uint64, excl []probe.AddrRange) ([]probe.TargetPorts, error) {
	sampled := 0
	for i, tp := range tps {
		var ranges []probe.AddrRange
		for _, r := range tp.Ranges {
			if _, err := probe.NewTargetSet([]probe.AddrRange{r}, nil); !errors.Is(err, probe.ErrTooLarge) {
				ranges = append(ranges, r)
				continue
			}
			s, err := probe.SampleRange(r, n, seed, excl)
			if err != nil {
				return nil, err
			}
			g.log.Info().Msgf("sampling %d addresses of %v (--seed %d)", n, r, seed)
			ranges = append(ranges, s...)
			sampled++
		}
		tps[i].Ranges = ranges
	}
	if sampled == 0 {
		g.log.Info().Msg("--sample: no range is too large to walk; every address is scanned")
	}
	return tps, nil
}

// runScan scans the groups, writing each result to rw as it settles, with
// the progress line and the second Ctrl-C's early end.
func runScan(ctx context.Context, g *globals, sess *session, cfg probe.ScanConfig, groups []probe.Group, rw results.Writer, onlyOpen bool) error {
	w := &guardedWriter{w: rw}
	progs := make([]*probe.Progress, len(groups))
	estimates := make([]uint64, len(groups))
	for i, gr := range groups {
		progs[i] = &probe.Progress{}
		// Shard K of N gets about 1/N of the probes; the engine knows
		// exactly once it has started (Progress.Total).
		estimates[i] = (gr.Probes() + uint64(cfg.Shards) - 1) / uint64(cfg.Shards)
	}
	stopProgress := startProgress(g, progs, estimates)
	// A second Ctrl-C: what is known is written (a table with its summary
	// line, JSON Lines to the last whole line), now.
	stopHurry := g.onHurry(ctx, func() error {
		stopProgress()
		return errors.Join(w.Close(), within(time.Second, sess.finish))
	})
	emit := func(r probe.Result) {
		if onlyOpen && r.State != probe.StateOpen {
			return
		}
		w.Write(r)
	}
	scanErr := sess.pr.ScanGroups(ctx, cfg, groups, emit, progs)
	stopHurry()
	stopProgress()
	cerr := errors.Join(w.Close(), sess.finish())
	var malformed, unmatched uint64
	for _, pr := range progs {
		malformed += pr.Malformed.Load()
		unmatched += pr.Unmatched.Load()
	}
	if malformed > 0 {
		g.log.Info().Uint64("malformed", malformed).Uint64("unmatched", unmatched).Msg("replies ignored")
	}
	return errors.Join(couldNotProbe(scanErr), cerr, interrupted(ctx))
}

func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return 0, 0, usageErrorf("--shard %q: want K/N with 1 <= K <= N", s)
	}
	return k, n, nil
}

// guardedWriter serialises the writes of the engine's goroutines with a
// second Ctrl-C's closing: after Close, writes are dropped, so the output
// ends with a whole line. It keeps the first write error, which Close
// returns (not again with Close's own, the same error once more).
type guardedWriter struct {
	mu     sync.Mutex
	w      results.Writer
	closed bool
	err    error
}

func (o *guardedWriter) Write(r probe.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	if err := o.w.Write(r); err != nil && o.err == nil {
		o.err = err
	}
}

func (o *guardedWriter) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return o.err
	}
	o.closed = true
	if err := o.w.Close(); o.err == nil {
		o.err = err
	}
	return o.err
}
