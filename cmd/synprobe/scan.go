package main

import (
	"errors"
	"fmt"
	"sort"
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
	var ports, shard, output, excludeFile string
	var exclude []string
	var rate, retries, senders int
	var seed uint64
	var onlyOpen, allowLarge bool
	var cooldown time.Duration
	cmd := &cobra.Command{
		Use:   "scan TARGET... [-p PORTS]",
		Short: "Scan targets x ports with hand-built SYNs",
		Long: `Scan every TARGET on every port with a hand-built SYN and report, for each
target:port, the state (open, closed, filtered and why), the handshake
latency, the reply's TTL (with the inferred initial TTL and hop count) and the
MSS, window and options the other side negotiates.

TARGET is an IPv4 address, a CIDR (198.19.0.0/16), a range
(198.19.0.1-198.19.0.40), a host name (every A record; --first-address for one)
or any of these with :PORT to probe that port only.`,
		Example: `  synprobe scan 198.18.10.10 -p 22,80,443
  synprobe scan 198.19.0.0/16 -p 80 --rate 50000 -o jsonl --open
  synprobe scan 198.18.10.0/24 --shard 1/4 --seed 7`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			stdout := cmd.OutOrStdout()
			if len(args) == 0 {
				return usageErrorf("scan: give at least one TARGET")
			}
			p, err := f.params()
			if err != nil {
				return err
			}
			if rate <= 0 {
				return usageErrorf("--rate must be positive")
			}
			if retries < 0 || retries > 100 {
				return usageErrorf("--retries must be 0-100")
			}
			if cooldown < 0 {
				return usageErrorf("--cooldown must not be negative")
			}
			if senders < 1 || senders > 8 {
				return usageErrorf("--senders must be 1-8")
			}
			p.writers = senders + 1 // and one for the RSTs
			portList := topPorts
			if cmd.Flags().Changed("ports") {
				if portList, err = parsePorts(ports); err != nil {
					return usageErrorf("-p: %v", err)
				}
			}
			k, n, err := parseShard(shard)
			if err != nil {
				return err
			}
			note := func(s string) { g.log.Info().Msg(s) }
			groups := map[string]*scanGroup{}
			for _, a := range args {
				t, err := parseTarget(ctx, a, g.lookup, f.firstAddr, note)
				if err != nil {
					return usageErrorf("%v", err)
				}
				gp := portList
				if t.port != 0 {
					gp = []uint16{t.port}
				}
				key := fmt.Sprint(gp)
				if groups[key] == nil {
					groups[key] = &scanGroup{ports: gp}
				}
				groups[key].include = append(groups[key].include, t.ranges...)
			}
			var excl []probe.AddrRange
			for _, e := range exclude {
				for _, item := range strings.Split(e, ",") {
					r, err := parseExclude(ctx, item, g.lookup, note)
					if err != nil {
						return usageErrorf("--exclude: %v", err)
					}
					excl = append(excl, r...)
				}
			}
			if excludeFile != "" {
				r, err := readExcludeFile(ctx, excludeFile, g.lookup, note)
				if err != nil {
					return usageErrorf("%v", err)
				}
				excl = append(excl, r...)
			}
			var list []*scanGroup
			var addrs, probes uint64
			for _, gr := range groups {
				if gr.targets, err = probe.NewTargetSet(gr.include, excl); err != nil {
					return usageErrorf("%v", err)
				}
				addrs += gr.targets.Len()
				probes += gr.targets.Len() * uint64(len(gr.ports))
				list = append(list, gr)
			}
			sort.Slice(list, func(i, j int) bool { return fmt.Sprint(list[i].ports) < fmt.Sprint(list[j].ports) })
			if addrs == 0 {
				return usageErrorf("nothing to scan: every target is excluded")
			}
			if addrs > maxAddrs && !allowLarge {
				return usageErrorf("%d addresses is more than %d: add --allow-large if you mean it", addrs, maxAddrs)
			}
			rw, err := results.New(output, stdout, false)
			if err != nil {
				return usageErrorf("-o: %v", err)
			}
			if err := openOutputs(outputFile{"--pcap", f.pcap, &f.pcapOut}); err != nil {
				return err
			}
			defer f.pcapOut.Abort()
			g.logConfig(cmd)
			g.log.Debug().Uint64("addresses", addrs).Uint64("probes", probes).Int("port_lists", len(list)).Msg("targets")
			sess, err := g.start(&f, p)
			if err != nil {
				return err
			}
			g.logSession(sess, list[0].targets.At(0))
			g.logOutputs(output, outputFile{flag: "--pcap", path: f.pcap})
			w := &guardedWriter{w: rw}
			progs := make([]*probe.Progress, len(list))
			estimates := make([]uint64, len(list))
			for i, gr := range list {
				progs[i] = &probe.Progress{}
				// Shard K of N gets about 1/N of the probes; the engine
				// knows exactly once it has started (Progress.Total).
				estimates[i] = (gr.targets.Len()*uint64(len(gr.ports)) + uint64(n) - 1) / uint64(n)
			}
			stopProgress := startProgress(g, progs, estimates)
			// A second Ctrl-C: what is known is written (a table with its
			// summary line, JSON Lines to the last whole line), now.
			stopHurry := g.onHurry(ctx, func() {
				stopProgress()
				w.Close()
				within(time.Second, func() { sess.finish() })
			})
			emit := func(r probe.Result) {
				if onlyOpen && r.State != probe.StateOpen {
					return
				}
				w.Write(r)
			}
			var scanErr error
			for i, gr := range list {
				if ctx.Err() != nil {
					break
				}
				if sess.conn == nil {
					scanErr = probe.ConnectScan(ctx, probe.ConnectConfig{Targets: gr.targets, Ports: gr.ports, Rate: rate,
						Timeout: f.timeout, Shard: k, Shards: n, Seed: seed}, emit, progs[i])
				} else {
					scanErr = probe.Scan(ctx, probe.ScanConfig{Targets: gr.targets, Ports: gr.ports, Rate: rate, Retries: retries,
						Timeout: f.timeout, Cooldown: cooldown, Shard: k, Shards: n, Seed: seed, Source: p.source,
						SourcePortLo: p.portLo, SourcePortHi: p.portHi, TTL: p.ttl, MSS: p.mss, Window: p.window,
						Layout: p.layout, NoReset: f.noReset, Logger: g.log, Capture: sess.capture, Senders: senders}, sess.conn, emit, progs[i])
				}
				if scanErr != nil {
					break
				}
			}
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
			if scanErr != nil {
				return &exitError{code: exitNoProbe, err: scanErr}
			}
			if ctx.Err() != nil {
				return &exitError{code: exitInterrupt}
			}
			return cerr
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&ports, "ports", "p", "", "ports and ranges, e.g. 22,80,443,8000-8100 (default: the 100 most common)")
	fl.IntVar(&rate, "rate", 10000, "packets per second")
	fl.IntVar(&retries, "retries", 1, "extra tries for probes without a reply")
	fl.IntVar(&senders, "senders", 1, "sending goroutines, 1-8: more send faster where the kernel's work per packet is the limit, "+
		"until the one receiving goroutine falls behind and transmit stamps (latencies) or replies are lost")
	fl.DurationVar(&cooldown, "cooldown", 0, "wait for late replies after the last send; ends once every probe has its result (default: --timeout)")
	fl.StringSliceVar(&exclude, "exclude", nil, "targets not to scan (repeatable, comma-separated)")
	fl.StringVar(&excludeFile, "exclude-file", "", "file of targets not to scan, one per line, # comments")
	fl.StringVar(&shard, "shard", "1/1", "scan only shard K of N (1-based); shards of one --seed cover the scan exactly once")
	fl.Uint64Var(&seed, "seed", 0, "seed of the pseudo-random scan order (the same on every shard)")
	fl.BoolVar(&onlyOpen, "open", false, "report open ports only")
	fl.StringVarP(&output, "output", "o", "table", "output format: table, jsonl or csv")
	fl.BoolVar(&allowLarge, "allow-large", false, "allow scans of more than 16,777,216 addresses")
	return cmd
}

type scanGroup struct {
	ports   []uint16
	include []probe.AddrRange
	targets *probe.TargetSet
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
// ends with a whole line. It keeps the first write error.
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
	return errors.Join(o.w.Close(), o.err)
}
