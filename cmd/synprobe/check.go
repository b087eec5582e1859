package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/results"
	"gopkg.in/yaml.v3"
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
probes=N, success>=RATIO. A check file (YAML) has the same, per check:

  checks:
    - name: web
      target: 198.18.10.10
      port: 443
      expect: [open]
      probes: 5
      rtt: {percentile: 90, max: 50ms}
      min_success: 0.8

Exit status: 0 when every check passes, 1 when any fails, 2 for bad input,
3 when nothing could be probed.`,
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
			var specs []checkSpec
			if file != "" {
				if specs, err = readCheckFile(file); err != nil {
					return usageErrorf("%v", err)
				}
			}
			for _, a := range args {
				c, err := probe.ParseCheckArg(a)
				if err != nil {
					return usageErrorf("%v", err)
				}
				specs = append(specs, checkSpec{check: c, where: fmt.Sprintf("check %q", a)})
			}
			if len(specs) == 0 {
				return usageErrorf("check: give checks as arguments or with --file")
			}
			checks := make([]probe.Check, len(specs))
			dsts := make([]netip.AddrPort, len(specs))
			for i, s := range specs {
				checks[i] = s.check.Normalize()
				if dsts[i], err = resolveCheck(ctx, s, g.lookup); err != nil {
					return usageErrorf("%v", err)
				}
			}
			results.UniqueNames(checks)
			var junitOut, promOut *results.Output
			outputs := []outputFile{{"--junit", junit, &junitOut}, {"--prom", prom, &promOut}, {"--pcap", f.pcap, &f.pcapOut}}
			if err := openOutputs(outputs...); err != nil {
				return err
			}
			defer abortOutputs(outputs...)
			g.logConfig(cmd)
			for i, c := range checks {
				g.log.Debug().Str("check", c.Name).Str("arg", c.Arg()).Stringer("address", dsts[i]).Str("from", specs[i].where).Msg("check")
			}
			sess, err := g.start(&f, p)
			if err != nil {
				return err
			}
			g.logSession(sess, dsts[0].Addr())
			g.logOutputs(output, outputs...)
			started := time.Now()
			var mu sync.Mutex // crs, and the report of them
			var crs []probe.CheckResult
			reported := false
			report := func() error {
				mu.Lock()
				defer mu.Unlock()
				if reported {
					return nil
				}
				reported = true
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
			stopHurry := g.onHurry(ctx, func() { report(); within(time.Second, func() { sess.finish() }) })
			for i, c := range checks {
				if ctx.Err() != nil {
					break
				}
				var rs []probe.Result
				_, err := sess.ping(ctx, sess.pingConfig(g, &f, p, dsts[i], c.Probes, interval), func(r probe.Result) { rs = append(rs, r) })
				if err != nil {
					stopHurry()
					sess.finish()
					return &exitError{code: exitNoProbe, err: err}
				}
				mu.Lock()
				crs = append(crs, probe.Evaluate(c, rs))
				mu.Unlock()
			}
			stopHurry()
			if err = errors.Join(report(), sess.finish()); err != nil {
				return &exitError{code: exitNoProbe, err: err}
			}
			if ctx.Err() != nil {
				return &exitError{code: exitInterrupt}
			}
			for _, cr := range crs {
				if !cr.Pass {
					return &exitError{code: exitCheckFail}
				}
			}
			return nil
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&file, "file", "", "YAML file of checks")
	fl.StringVar(&junit, "junit", "", "write a JUnit XML report to this file")
	fl.StringVar(&prom, "prom", "", "write Prometheus metrics (textfile collector format) to this file")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fl.DurationVarP(&interval, "interval", "i", 100*time.Millisecond, "time between the probes of one check")
	return cmd
}

// checkYAML is one check of a check file.
type checkYAML struct {
	Name   string   `yaml:"name"`
	Target string   `yaml:"target"`
	Port   int      `yaml:"port"`
	Expect []string `yaml:"expect"`
	Probes int      `yaml:"probes"`
	RTT    *struct {
		Percentile *float64 `yaml:"percentile"`
		Max        string   `yaml:"max"`
	} `yaml:"rtt"`
	MinSuccess *float64 `yaml:"min_success"`
}

var checkFields = []string{"name", "target", "port", "expect", "probes", "rtt", "min_success"}

// checkSpec is a check and where it was written, for messages about its
// target: "checks.yaml:7" or `check "web:80=open"`.
type checkSpec struct {
	check probe.Check
	where string
}

// yamlLine matches the position yaml.v3 puts in its messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// readCheckFile parses a check file. Every error is one line that starts
// with FILE:LINE.
func readCheckFile(path string) ([]checkSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("check file: %v", err)
	}
	at := func(line int, format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, a...))
	}
	// yaml.v3's own messages carry "line N:"; they are rewritten to
	// FILE:N, and a multi-line one keeps its first error.
	yamlErr := func(err error, line int) error {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if m := yamlLine.FindStringSubmatch(strings.TrimSpace(msg)); m != nil {
			n, _ := strconv.Atoi(m[1])
			return at(n, "%s", m[2])
		}
		return at(line, "%s", strings.TrimPrefix(msg, "yaml: "))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlErr(err, 1)
	}
	if len(doc.Content) == 0 {
		return nil, at(1, "empty check file: want a list of checks under \"checks:\"")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, at(top.Line, "want \"checks:\" and a list of checks at the top of the file")
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		switch {
		case k.Value != "checks":
			return nil, at(k.Line, "unknown key %q: a check file has one key, \"checks:\"", k.Value)
		case list != nil:
			return nil, at(k.Line, "\"checks:\" is given twice")
		}
		list = top.Content[i+1]
	}
	switch {
	case list == nil:
		return nil, at(top.Line, "no \"checks:\" list")
	case list.Kind != yaml.SequenceNode:
		return nil, at(list.Line, "\"checks:\" must be a list of checks (each starting with \"- \")")
	case len(list.Content) == 0:
		return nil, at(list.Line, "no checks under \"checks:\"")
	}
	var out []checkSpec
	for _, n := range list.Content {
		if n.Kind != yaml.MappingNode {
			return nil, at(n.Line, "a check is a mapping (target:, port:, expect: ...)")
		}
		// Each field's own line, for messages about it.
		line := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if !slices.Contains(checkFields, k.Value) {
				return nil, at(k.Line, "unknown field %q (want %s)", k.Value, strings.Join(checkFields, ", "))
			}
			line[k.Value] = k.Line
		}
		lineOf := func(field string) int {
			if l, ok := line[field]; ok {
				return l
			}
			return n.Line
		}
		var y checkYAML
		if err := n.Decode(&y); err != nil {
			return nil, yamlErr(err, n.Line)
		}
		c := probe.Check{Name: y.Name, Target: y.Target, Probes: y.Probes, Line: n.Line}
		if y.Target == "" {
			return nil, at(n.Line, "check has no target")
		}
		if y.Port < 1 || y.Port > 65535 {
			return nil, at(lineOf("port"), "port %d must be 1-65535", y.Port)
		}
		c.Port = uint16(y.Port)
		if len(y.Expect) == 0 {
			return nil, at(lineOf("expect"), "check has no expected state (expect: [open], [closed], [filtered] or several)")
		}
		for _, s := range y.Expect {
			st, ok := probe.ParseState(s)
			if !ok {
				return nil, at(lineOf("expect"), "expect %q: want open, closed or filtered", s)
			}
			c.States = append(c.States, st)
		}
		if y.Probes < 0 || y.Probes > probe.MaxProbes {
			return nil, at(lineOf("probes"), "probes %d must be 1-%d", y.Probes, probe.MaxProbes)
		}
		if y.RTT != nil {
			if p := y.RTT.Percentile; p != nil {
				if !probe.ValidPercentile(*p) {
					return nil, at(lineOf("rtt"), "rtt percentile %v: want a number in (0, 100] such as 90", *p)
				}
				c.Percentile = *p
			}
			if c.MaxRTT, err = time.ParseDuration(y.RTT.Max); err != nil || c.MaxRTT <= 0 {
				return nil, at(lineOf("rtt"), "rtt max %q: want a positive duration such as 50ms", y.RTT.Max)
			}
		}
		if y.MinSuccess != nil {
			if !probe.ValidRatio(*y.MinSuccess) {
				return nil, at(lineOf("min_success"), "min_success %v: want a ratio in [0, 1] such as 0.8", *y.MinSuccess)
			}
			c.MinSuccess, c.MinSuccessSet = *y.MinSuccess, true
		}
		if err := c.Validate(); err != nil {
			return nil, at(n.Line, "%v", err)
		}
		out = append(out, checkSpec{check: c, where: fmt.Sprintf("%s:%d", path, lineOf("target"))})
	}
	return out, nil
}

// resolveCheck finds the one address a check probes. Its target is an
// address or a host name (the first IPv4 address), without a port.
func resolveCheck(ctx context.Context, s checkSpec, lookup resolver) (netip.AddrPort, error) {
	c := s.check
	t, err := parseTarget(ctx, c.Target, lookup, true, func(string) {})
	switch {
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("%s: %v", s.where, err)
	case t.port != 0:
		return netip.AddrPort{}, fmt.Errorf("%s: target %q: give the port on its own (port: %d)", s.where, c.Target, t.port)
	case len(t.ranges) != 1 || t.ranges[0].First != t.ranges[0].Last:
		return netip.AddrPort{}, fmt.Errorf("%s: target %q: a check probes one address, not a range", s.where, c.Target)
	}
	return netip.AddrPortFrom(t.ranges[0].First, c.Port), nil
}
