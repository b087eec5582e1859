package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
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
			var checks []probe.Check
			if file != "" {
				if checks, err = readCheckFile(file); err != nil {
					return usageErrorf("%v", err)
				}
			}
			for _, a := range args {
				c, err := probe.ParseCheckArg(a)
				if err != nil {
					return usageErrorf("%v", err)
				}
				checks = append(checks, c)
			}
			if len(checks) == 0 {
				return usageErrorf("check: give checks as arguments or with --file")
			}
			dsts := make([]netip.AddrPort, len(checks))
			for i, c := range checks {
				checks[i] = c.Normalize()
				dsts[i], err = resolveTargetPort(ctx, fmt.Sprintf("%s:%d", c.Target, c.Port), g.lookup, true)
				if err != nil {
					return err
				}
			}
			sess, err := g.start(&f, p)
			if err != nil {
				return err
			}
			started := time.Now()
			var crs []probe.CheckResult
			for i, c := range checks {
				if ctx.Err() != nil {
					break
				}
				var rs []probe.Result
				_, err := sess.ping(ctx, sess.pingConfig(g, &f, p, dsts[i], c.Probes, interval), func(r probe.Result) { rs = append(rs, r) })
				if err != nil {
					sess.finish()
					return &exitError{code: exitNoProbe, err: err}
				}
				crs = append(crs, probe.Evaluate(c, rs))
			}
			took := time.Since(started)
			if output == "json" {
				err = results.WriteChecksJSON(out, crs)
			} else {
				err = results.WriteCheckSummary(out, crs)
			}
			if junit != "" {
				err = errors.Join(err, results.WriteFileAtomic(junit, func(w io.Writer) error { return results.WriteJUnit(w, crs, started, took) }))
			}
			if prom != "" {
				err = errors.Join(err, results.WriteFileAtomic(prom, func(w io.Writer) error { return results.WritePrometheus(w, crs, time.Now()) }))
			}
			if err = errors.Join(err, sess.finish()); err != nil {
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

// checkFile is the YAML form of a check file.
type checkYAML struct {
	Name   string   `yaml:"name"`
	Target string   `yaml:"target"`
	Port   int      `yaml:"port"`
	Expect []string `yaml:"expect"`
	Probes int      `yaml:"probes"`
	RTT    *struct {
		Percentile float64 `yaml:"percentile"`
		Max        string  `yaml:"max"`
	} `yaml:"rtt"`
	MinSuccess *float64 `yaml:"min_success"`
}

// readCheckFile parses a check file; every error names its line.
func readCheckFile(path string) ([]probe.Check, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("check file: %v", err)
	}
	var doc struct {
		Checks []yaml.Node `yaml:"checks"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(doc.Checks) == 0 {
		return nil, fmt.Errorf("%s: no checks (want a list under \"checks:\")", path)
	}
	var out []probe.Check
	known := map[string]bool{"name": true, "target": true, "port": true, "expect": true, "probes": true, "rtt": true, "min_success": true}
	for _, n := range doc.Checks {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: line %d: a check is a mapping (target:, port:, expect: ...)", path, n.Line)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !known[k.Value] {
				return nil, fmt.Errorf("%s: line %d: unknown field %q", path, k.Line, k.Value)
			}
		}
		var y checkYAML
		if err := n.Decode(&y); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", path, n.Line, err)
		}
		c := probe.Check{Name: y.Name, Target: y.Target, Probes: y.Probes, Line: n.Line}
		if y.Port < 1 || y.Port > 65535 {
			return nil, fmt.Errorf("%s: line %d: port %d must be 1-65535", path, n.Line, y.Port)
		}
		c.Port = uint16(y.Port)
		for _, s := range y.Expect {
			st, ok := probe.ParseState(s)
			if !ok {
				return nil, fmt.Errorf("%s: line %d: expect %q: want open, closed or filtered", path, n.Line, s)
			}
			c.States = append(c.States, st)
		}
		if y.RTT != nil {
			c.Percentile = y.RTT.Percentile
			if c.MaxRTT, err = time.ParseDuration(y.RTT.Max); err != nil || c.MaxRTT <= 0 {
				return nil, fmt.Errorf("%s: line %d: rtt max %q: want a duration such as 50ms", path, n.Line, y.RTT.Max)
			}
		}
		if y.MinSuccess != nil {
			c.MinSuccess = *y.MinSuccess
			if c.MinSuccess == 0 {
				c.MinSuccess = 1e-9 // "0" means no minimum, not the default of 1
			}
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", path, n.Line, err)
		}
		out = append(out, c)
	}
	return out, nil
}
