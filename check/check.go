// Package check is synprobe's CI checks: what a check expects of a
// target:port, how it is written (on the command line or in a YAML file),
// and how the results of its probes are judged. The probing itself is the
// engine's (package probe); the reports are package results'.
package check

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// Check is one CI health check: probe Target:Port Probes times and expect
// one of States, with an optional latency limit on a percentile of the
// measured latencies, and a minimum share of probes that got an expected
// state.
type Check struct {
	Name       string
	Target     string // as written: a host name or an address
	Port       uint16
	States     []probe.State
	MaxRTT     time.Duration // 0: no limit
	Percentile float64       // of the RTTs MaxRTT applies to; 50 when zero
	Probes     int           // 1 when zero
	MinSuccess float64       // 0..1; 1 when zero and not MinSuccessSet: every probe must succeed
	// MinSuccessSet says MinSuccess was given, so that a minimum of 0 (no
	// minimum) is not taken for the default.
	MinSuccessSet bool
}

// Result is a Check evaluated against its probes' results, or, in a run
// cut short, as far as it got: every check of a run has one, so that no
// report can leave out, or count as passed, a check that did not finish.
type Result struct {
	Check        Check
	Results      []probe.Result
	Summary      probe.Summary
	Successes    int
	SuccessRatio float64
	RTT          time.Duration // the chosen percentile; valid when HasRTT
	HasRTT       bool
	Pass         bool // Status is StatusPass
	Status       Status
	Failures     []string // why it failed, one line each
}

// Status is how a check ended: with a verdict (StatusPass, StatusFail) or
// without one, in a run cut short (StatusInterrupted, StatusNotRun). The
// zero Status is none: a Result has one from Evaluate, Interrupted or
// NotRun.
type Status uint8

const (
	StatusPass Status = iota + 1
	StatusFail
	// StatusInterrupted: the run was interrupted while the check was
	// under way. Its figures are those of the probes it sent; it has no
	// verdict, as they are not the sample it asked for.
	StatusInterrupted
	// StatusNotRun: the run was interrupted before the check started.
	StatusNotRun
)

// String is the status as the JSON report names it.
func (s Status) String() string {
	switch s {
	case StatusPass:
		return "pass"
	case StatusFail:
		return "fail"
	case StatusInterrupted:
		return "interrupted"
	case StatusNotRun:
		return "not-run"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Finished reports whether a check with this status has a verdict.
func (s Status) Finished() bool { return s == StatusPass || s == StatusFail }

// Incomplete says, for people, why r has no verdict ("interrupted after
// 116 of 1000 probes"); it is "" when r has one.
func (r Result) Incomplete() string {
	switch r.Status {
	case StatusInterrupted:
		return fmt.Sprintf("interrupted after %d of %d probes", len(r.Results), r.Check.Normalize().Probes)
	case StatusNotRun:
		return "the run was interrupted before it started"
	}
	return ""
}

// Interrupted is c cut short after its probes rs: their figures as
// Evaluate finds them (successes, latency), but no verdict, so no
// failures either: a verdict on fewer probes than the check asked for
// would be one on a sample nobody chose.
func Interrupted(c Check, rs []probe.Result) Result {
	cr := Evaluate(c, rs)
	cr.Pass, cr.Status, cr.Failures = false, StatusInterrupted, nil
	return cr
}

// NotRun is c, never started: no probes, no figures, no verdict.
func NotRun(c Check) Result {
	cr := Interrupted(c, nil)
	cr.Status = StatusNotRun
	return cr
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
		c.Name = hostPort(c.Target, c.Port)
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

// validPercentile reports whether p may be given as a percentile: in
// (0, 100], so neither 0 nor NaN nor an infinity.
func validPercentile(p float64) bool { return p > 0 && p <= 100 }

// validRatio reports whether r may be given as a success ratio: in
// [0, 1], so neither NaN nor an infinity.
func validRatio(r float64) bool { return r >= 0 && r <= 1 }

// Evaluate judges rs, the results of c's probes.
func Evaluate(c Check, rs []probe.Result) Result {
	c = c.Normalize()
	cr := Result{Check: c, Results: rs, Summary: probe.Summarize(rs)}
	var rtts []time.Duration
	for _, r := range rs {
		if slices.Contains(c.States, r.State) {
			cr.Successes++
		}
		if r.Has&probe.HasRTT != 0 && slices.Contains(c.States, r.State) {
			rtts = append(rtts, r.RTT)
		}
	}
	if len(rs) > 0 {
		cr.SuccessRatio = float64(cr.Successes) / float64(len(rs))
	}
	if len(rtts) > 0 {
		slices.Sort(rtts)
		cr.RTT, cr.HasRTT = probe.Percentile(rtts, c.Percentile), true
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
	cr.Pass, cr.Status = len(cr.Failures) == 0, StatusFail
	if cr.Pass {
		cr.Status = StatusPass
	}
	return cr
}

func fmtPct(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

func statesString(ss []probe.State) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, s.String())
	}
	return strings.Join(parts, "|")
}
