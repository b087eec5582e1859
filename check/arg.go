package check

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// ParseArg parses a check written on the command line:
//
//	HOST:PORT=STATE[|STATE...][,rtt<DURATION][,rtt.pNN<DURATION][,probes=N][,success>=RATIO]
//
// for example "db.example:5432=open", "api:443=open,rtt<50ms",
// "198.19.0.9:23=closed|filtered" or "[2001:db8::9]:80=open" (an IPv6
// address in brackets, which Target does not keep). Every error names the check.
func ParseArg(s string) (Check, error) {
	var c Check
	bad := func(format string, a ...any) (Check, error) {
		return c, fmt.Errorf("check %q: %s", s, fmt.Sprintf(format, a...))
	}
	target, spec, ok := strings.Cut(s, "=")
	if !ok {
		return bad("want HOST:PORT=STATE[,rtt<DURATION]")
	}
	var port string
	if strings.HasPrefix(target, "[") {
		// [2001:db8::1]:443: an IPv6 address, in brackets before a port.
		host, rest, ok := strings.Cut(target[1:], "]")
		if !ok || !strings.HasPrefix(rest, ":") || strings.Contains(host, "[") {
			return bad("want [IPv6-ADDRESS]:PORT before '='")
		}
		if !strings.Contains(host, ":") {
			return bad("brackets are for an IPv6 address, not %q", host)
		}
		c.Target, port = host, rest[1:]
	} else {
		i := strings.LastIndex(target, ":")
		if i <= 0 {
			return bad("want HOST:PORT before '='")
		}
		c.Target, port = target[:i], target[i+1:]
		if strings.Contains(c.Target, ":") {
			// A colon-rich target is an IPv6 address, never HOST:PORT.
			return bad("an IPv6 address is written in brackets before its port: want [IPv6-ADDRESS]:PORT before '='")
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return bad("port %q must be 1-65535", port)
	}
	c.Port = uint16(p)
	parts := strings.Split(spec, ",")
	for _, st := range strings.Split(parts[0], "|") {
		state, ok := probe.ParseState(strings.TrimSpace(st))
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
				if err != nil || !validPercentile(c.Percentile) {
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
			if err != nil || !validRatio(c.MinSuccess) {
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

// ParseArgs parses checks written on the command line (see ParseArg),
// each one's Where naming it as written.
func ParseArgs(args []string) ([]Spec, error) {
	var out []Spec
	for _, a := range args {
		c, err := ParseArg(a)
		if err != nil {
			return nil, err
		}
		out = append(out, Spec{Check: c, Where: fmt.Sprintf("check %q", a)})
	}
	return out, nil
}

// Arg writes c the way ParseArg reads it (without its Name, which
// the command line has no place for).
func (c Check) Arg() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s=%s", hostPort(c.Target, c.Port), statesString(c.States))
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

// hostPort is target:port, an IPv6 address in brackets ([2001:db8::1]:80).
func hostPort(target string, port uint16) string {
	if strings.Contains(target, ":") && !strings.HasPrefix(target, "[") {
		return fmt.Sprintf("[%s]:%d", target, port)
	}
	return fmt.Sprintf("%s:%d", target, port)
}
