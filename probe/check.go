package probe

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Check is one CI health check: probe Target:Port Probes times and expect
// one of States, with an optional latency limit on a percentile of the
// measured latencies, and a minimum share of probes that got an expected
// state.
type Check struct {
	Name       string
	Target     string // as written: a host name or an address
	Port       uint16
	States     []State
	MaxRTT     time.Duration // 0: no limit
	Percentile float64       // of the RTTs MaxRTT applies to; 50 when zero
	Probes     int           // 1 when zero
	MinSuccess float64       // 0..1; 1 when zero and not MinSuccessSet: every probe must succeed
	// MinSuccessSet says MinSuccess was given, so that a minimum of 0 (no
	// minimum) is not taken for the default.
	MinSuccessSet bool
	Line          int // line in the check file, for messages
}

// CheckResult is a Check evaluated against its probes' results.
type CheckResult struct {
	Check        Check
	Results      []Result
	Summary      Summary
	Successes    int
	SuccessRatio float64
	RTT          time.Duration // the chosen percentile; valid when HasRTT
	HasRTT       bool
	Pass         bool
	Failures     []string // why it failed, one line each
}

// Normalize fills the defaults.
func (c Check) Normalize() Check {
	if c.Probes == 0 {
		c.Probes = 1
	}
	if c.Percentile == 0 {
		c.Percentile = 50
	}
	if c.MinSuccess == 0 && !c.MinSuccessSet {
		c.MinSuccess = 1
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("%s:%d", c.Target, c.Port)
	}
	return c
}

// MaxProbes is the most probes one check may send.
const MaxProbes = 10000

// Validate reports a check that cannot be evaluated. Each range is
// written so that NaN is outside it: a comparison with NaN is false.
func (c Check) Validate() error {
	switch {
	case c.Target == "":
		return errors.New("no target")
	case c.Port == 0:
		return errors.New("port must be 1-65535")
	case len(c.States) == 0:
		return errors.New("no expected state (open, closed or filtered)")
	case !(c.Probes >= 0 && c.Probes <= MaxProbes):
		return fmt.Errorf("probes must be 1-%d", MaxProbes)
	case !(c.Percentile >= 0 && c.Percentile <= 100): // 0: the default, 50
		return errors.New("percentile must be in (0, 100]")
	case !(c.MinSuccess >= 0 && c.MinSuccess <= 1):
		return errors.New("minimum success ratio must be in [0, 1]")
	case c.MaxRTT < 0:
		return errors.New("latency limit must be positive")
	}
	return nil
}

// ValidPercentile reports whether p may be given as a percentile: in
// (0, 100], so neither 0 nor NaN nor an infinity.
func ValidPercentile(p float64) bool { return p > 0 && p <= 100 }

// ValidRatio reports whether r may be given as a success ratio: in
// [0, 1], so neither NaN nor an infinity.
func ValidRatio(r float64) bool { return r >= 0 && r <= 1 }

// Evaluate judges rs, the results of c's probes.
func Evaluate(c Check, rs []Result) CheckResult {
	c = c.Normalize()
	cr := CheckResult{Check: c, Results: rs, Summary: Summarize(rs)}
	var rtts []time.Duration
	for _, r := range rs {
		if slices.Contains(c.States, r.State) {
			cr.Successes++
		}
		if r.Has&HasRTT != 0 && slices.Contains(c.States, r.State) {
			rtts = append(rtts, r.RTT)
		}
	}
	if len(rs) > 0 {
		cr.SuccessRatio = float64(cr.Successes) / float64(len(rs))
	}
	if len(rtts) > 0 {
		slices.Sort(rtts)
		cr.RTT, cr.HasRTT = Percentile(rtts, c.Percentile), true
	}
	if len(rs) == 0 {
		cr.Failures = append(cr.Failures, "no probe was sent")
	}
	if len(rs) > 0 && cr.SuccessRatio < c.MinSuccess {
		got := map[string]int{}
		for _, r := range rs {
			got[r.State.String()+" ("+string(r.Reason)+")"]++
		}
		var parts []string
		for k, n := range got {
			parts = append(parts, fmt.Sprintf("%d× %s", n, k))
		}
		slices.Sort(parts)
		cr.Failures = append(cr.Failures, fmt.Sprintf("expected %s in at least %.0f%% of %d probes, got %s",
			statesString(c.States), 100*c.MinSuccess, len(rs), strings.Join(parts, ", ")))
	}
	if c.MaxRTT > 0 {
		switch {
		case !cr.HasRTT:
			cr.Failures = append(cr.Failures, fmt.Sprintf("latency limit %v: no latency measured", c.MaxRTT))
		case cr.RTT >= c.MaxRTT:
			cr.Failures = append(cr.Failures, fmt.Sprintf("p%s latency %v, limit %v", fmtPct(c.Percentile), cr.RTT.Round(time.Microsecond), c.MaxRTT))
		}
	}
	cr.Pass = len(cr.Failures) == 0
	return cr
}

func fmtPct(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

func statesString(ss []State) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, s.String())
	}
	return strings.Join(parts, "|")
}

// ParseCheckArg parses a check written on the command line:
//
//	HOST:PORT=STATE[|STATE...][,rtt<DURATION][,rtt.pNN<DURATION][,probes=N][,success>=RATIO]
//
// for example "db.example:5432=open", "api:443=open,rtt<50ms" or
// "198.19.0.9:23=closed|filtered". Every error names the check.
func ParseCheckArg(s string) (Check, error) {
	var c Check
	bad := func(format string, a ...any) (Check, error) {
		return c, fmt.Errorf("check %q: %s", s, fmt.Sprintf(format, a...))
	}
	target, spec, ok := strings.Cut(s, "=")
	if !ok {
		return bad("want HOST:PORT=STATE[,rtt<DURATION]")
	}
	i := strings.LastIndex(target, ":")
	if i <= 0 {
		return bad("want HOST:PORT before '='")
	}
	c.Target = target[:i]
	p, err := strconv.ParseUint(target[i+1:], 10, 16)
	if err != nil || p == 0 {
		return bad("port %q must be 1-65535", target[i+1:])
	}
	c.Port = uint16(p)
	parts := strings.Split(spec, ",")
	for _, st := range strings.Split(parts[0], "|") {
		state, ok := ParseState(strings.TrimSpace(st))
		if !ok {
			return bad("state %q is not open, closed or filtered", st)
		}
		c.States = append(c.States, state)
	}
	seen := map[string]bool{}
	for _, opt := range parts[1:] {
		name, _, _ := strings.Cut(opt, "<")
		name, _, _ = strings.Cut(name, "=")
		name, _, _ = strings.Cut(name, ">")
		if strings.HasPrefix(name, "rtt") {
			name = "rtt"
		}
		if seen[name] {
			return bad("%q: %s is given twice", opt, name)
		}
		seen[name] = true
		switch {
		case strings.HasPrefix(opt, "rtt"):
			lhs, d, ok := strings.Cut(opt, "<")
			if !ok {
				return bad("%q: want rtt<DURATION or rtt.p90<DURATION", opt)
			}
			if pct, ok := strings.CutPrefix(lhs, "rtt.p"); ok {
				c.Percentile, err = strconv.ParseFloat(pct, 64)
				if err != nil || !ValidPercentile(c.Percentile) {
					return bad("percentile %q: want a number in (0, 100] such as 90 or 99.9", pct)
				}
			} else if lhs != "rtt" {
				return bad("%q: want rtt<DURATION or rtt.p90<DURATION", opt)
			}
			if c.MaxRTT, err = time.ParseDuration(d); err != nil || c.MaxRTT <= 0 {
				return bad("latency limit %q: want a positive duration such as 50ms", d)
			}
		case strings.HasPrefix(opt, "probes="):
			if c.Probes, err = strconv.Atoi(opt[len("probes="):]); err != nil || c.Probes <= 0 || c.Probes > MaxProbes {
				return bad("%q: want probes=N with N 1-%d", opt, MaxProbes)
			}
		case strings.HasPrefix(opt, "success>="):
			c.MinSuccess, err = strconv.ParseFloat(opt[len("success>="):], 64)
			if err != nil || !ValidRatio(c.MinSuccess) {
				return bad("%q: want success>=RATIO with RATIO in [0, 1], such as 0.9", opt)
			}
			c.MinSuccessSet = true
		default:
			return bad("unknown condition %q (want rtt<DURATION, rtt.pNN<DURATION, probes=N or success>=RATIO)", opt)
		}
	}
	if err := c.Validate(); err != nil {
		return bad("%v", err)
	}
	return c, nil
}

// Arg writes c the way ParseCheckArg reads it (without its Name, which
// the command line has no place for).
func (c Check) Arg() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d=%s", c.Target, c.Port, statesString(c.States))
	if c.MaxRTT > 0 {
		if c.Percentile != 0 {
			fmt.Fprintf(&b, ",rtt.p%s<%s", fmtPct(c.Percentile), c.MaxRTT)
		} else {
			fmt.Fprintf(&b, ",rtt<%s", c.MaxRTT)
		}
	}
	if c.Probes != 0 {
		fmt.Fprintf(&b, ",probes=%d", c.Probes)
	}
	if c.MinSuccessSet || c.MinSuccess != 0 {
		fmt.Fprintf(&b, ",success>=%s", strconv.FormatFloat(c.MinSuccess, 'g', -1, 64))
	}
	return b.String()
}
