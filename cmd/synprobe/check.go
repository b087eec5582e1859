package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/synprobe/synprobe/check"
	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/results"
)

func newCheckCmd(g *globals) *cobra.Command {
	var f probeFlags
	var file, junit, prom, output string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "check [HOST:PORT=STATE[,COND...]]... [--file checks.yaml]",
		Short: "Assert port states and latency, for CI (exit 1 when a check fails)",
		Long: `Probe each check's HOST:PORT and compare with what is expected. A check on the
command line is HOST:PORT=STATE[|STATE...] with optional conditions:
rtt<DURATION (on the median), rtt.pNN<DURATION (on the NN'th percentile),
probes=N, success>=RATIO. HOST is an IPv4 address, an IPv6 address (in
brackets before :PORT: [2001:2:0:a::a]:80=open) or a host name, probed at the
first address the resolver gives (of either family; -4 or -6 takes the first
of that family). A check file (YAML) has the same, per check (an IPv6 target
without brackets: target: 2001:2:0:a::a, with port: apart):

` + indent(check.ExampleFile, "  ") + `
` + exitStatusHelp("when every check passes", "when any fails"),
		Example: `  synprobe check 198.18.10.10:80=open,rtt<50ms 198.18.12.10:22=filtered
  synprobe check --file checks.yaml --junit report.xml --prom /var/lib/node_exporter/synprobe.prom`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			p, err := f.params()
			if err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return usageErrorf("-o %q: want text or json", output)
			}
			specs, checks, dsts, err := readChecks(ctx, g, file, args, p.fam)
			if err != nil {
				return err
			}
			var junitOut, promOut *results.Output
			sess, err := g.start(cmd, &f, p, output, dsts[0].Addr(), outputFile{"--junit", junit, &junitOut}, outputFile{"--prom", prom, &promOut})
			if err != nil {
				return err
			}
			defer sess.abort()
			for i, c := range checks {
				g.log.Debug().Str("check", c.Name).Str("arg", c.Arg()).Stringer("address", dsts[i]).Str("from", specs[i].Where).Msg("check")
			}
			started := time.Now()
			var mu sync.Mutex // crs, under, and the report of them
			var crs []check.Result
			var under []probe.Result // the probes of the check under way
			reported := false
			report := func() error {
				mu.Lock()
				defer mu.Unlock()
				if reported {
					return nil
				}
				reported = true
				// Made before check.Run has returned (a second Ctrl-C),
				// the report still lists every check, none passed that
				// did not finish.
				crs := check.Unfinished(checks, crs, under)
				took := time.Since(started)
				var err error
				if output == "json" {
					err = results.WriteChecksJSON(out, crs)
				} else {
					err = results.WriteCheckSummary(out, crs)
				}
				if junitOut != nil {
					err = errors.Join(err, junitOut.WriteAndCommit(func(w io.Writer) error { return results.WriteJUnit(w, crs, started, took) }))
				}
				if promOut != nil {
					err = errors.Join(err, promOut.WriteAndCommit(func(w io.Writer) error { return results.WritePrometheus(w, crs, time.Now()) }))
				}
				return err
			}
			// A second Ctrl-C: the checks done so far are reported, now.
			stopHurry := g.onHurry(ctx, func() error { return errors.Join(report(), within(time.Second, sess.finish)) })
			pinger := observedPinger{sess.pr, func(r probe.Result) {
				mu.Lock()
				under = append(under, r)
				mu.Unlock()
			}}
			err = check.Run(ctx, pinger, sess.pingConfig(g, &f, p, netip.AddrPort{}, 0, interval), checks, dsts, func(cr check.Result) {
				mu.Lock()
				crs = append(crs, cr)
				under = nil
				mu.Unlock()
			})
			stopHurry()
			if err != nil {
				sess.finish()
				return errors.Join(couldNotProbe(err), interrupted(ctx))
			}
			err = errors.Join(report(), sess.finish(), interrupted(ctx))
			for _, cr := range crs {
				if !cr.Pass {
					return errors.Join(err, errCheckFailed)
				}
			}
			return err
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&file, "file", "", "YAML file of checks")
	fl.StringVar(&junit, "junit", "", "write a JUnit XML report to this file")
	fl.StringVar(&prom, "prom", "", "write Prometheus metrics (textfile collector format) to this file")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fl.DurationVarP(&interval, "interval", "i", check.DefaultInterval, "time between the probes of one check")
	return cmd
}

// observedPinger hands each probe's result to probed as well, so that a
// report made while a check is under way has the probes it sent.
type observedPinger struct {
	check.Pinger
	probed func(probe.Result)
}

func (o observedPinger) Ping(ctx context.Context, cfg probe.PingConfig, emit func(probe.Result)) (probe.Summary, error) {
	return o.Pinger.Ping(ctx, cfg, func(r probe.Result) { o.probed(r); emit(r) })
}

// resolveCheck finds the one address a check probes. Its target is an
// address or a host name (the first address of fam), without a port.
func resolveCheck(ctx context.Context, s check.Spec, lookup resolver, fam family) (netip.AddrPort, error) {
	c := s.Check
	t, err := parseTarget(ctx, c.Target, lookup, pick{fam: fam, first: true}, func(string) {})
	switch {
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("%s: %v", s.Where, err)
	case t.port != 0:
		return netip.AddrPort{}, fmt.Errorf("%s: target %q: give the port on its own (port: %d)", s.Where, c.Target, t.port)
	case len(t.ranges) != 1 || t.ranges[0].First != t.ranges[0].Last:
		return netip.AddrPort{}, fmt.Errorf("%s: target %q: a check probes one address, not a range", s.Where, c.Target)
	}
	return netip.AddrPortFrom(t.ranges[0].First, c.Port), nil
}

// readChecks reads the checks of the file and of args, in that order,
// each with its defaults, a name of its own and the address it probes.
func readChecks(ctx context.Context, g *globals, file string, args []string, fam family) ([]check.Spec, []check.Check, []netip.AddrPort, error) {
	var specs []check.Spec
	if file != "" {
		var err error
		if specs, err = readCheckFile(ctx, file); err != nil {
			return nil, nil, nil, inputError(ctx, err)
		}
	}
	argSpecs, err := check.ParseArgs(args)
	if err != nil {
		return nil, nil, nil, usageErrorf("%v", err)
	}
	specs = append(specs, argSpecs...)
	if len(specs) == 0 {
		return nil, nil, nil, usageErrorf("check: give checks as arguments or with --file")
	}
	checks := make([]check.Check, len(specs))
	dsts := make([]netip.AddrPort, len(specs))
	for i, s := range specs {
		checks[i] = s.Check.Normalize()
		if dsts[i], err = resolveCheck(ctx, s, g.lookup, fam); err != nil {
			return nil, nil, nil, usageErrorf("%v", err)
		}
	}
	check.UniqueNames(checks)
	return specs, checks, dsts, nil
}

// indent puts prefix before every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix) + "\n"
}

// readCheckFile reads a check file, stopping when ctx is cancelled (Ctrl-C,
// SIGTERM), even while it waits to open or to read a FIFO.
func readCheckFile(ctx context.Context, path string) ([]check.Spec, error) {
	f, err := openContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("check file: %w", err)
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	return check.Read(f, path)
}
