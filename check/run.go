package check

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// DefaultInterval is the time between the probes of one check.
const DefaultInterval = 100 * time.Millisecond

// Pinger sends a check's probes: a *probe.Prober.
type Pinger interface {
	Ping(ctx context.Context, cfg probe.PingConfig, emit func(probe.Result)) (probe.Summary, error)
}

// Run probes each check in turn, at dsts[i], as a ping of c.Probes probes
// configured as base (its Target and Count are the check's), and calls
// done with each check's Result once its probes are in. Once ctx is
// cancelled, the check under way is Interrupted, on the probes it sent,
// and every later one NotRun: done is called for every check, so that a
// report of an interrupted run lists them all. Only a ping that fails
// stops it short: Run returns its error, after the Results of the checks
// before it.
func Run(ctx context.Context, p Pinger, base probe.PingConfig, checks []Check, dsts []netip.AddrPort, done func(Result)) error {
	for i, c := range checks {
		c = c.Normalize()
		if ctx.Err() != nil {
			done(NotRun(c))
			continue
		}
		cfg := base
		cfg.Target, cfg.Count = dsts[i], c.Probes
		var rs []probe.Result // at most MaxProbes
		_, err := p.Ping(ctx, cfg, func(r probe.Result) { rs = append(rs, r) })
		switch {
		case ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())):
			// The interrupt came while the check was under way: even
			// with all its probes in, it is not judged, since a ping cut
			// short while it waits for a reply reports that probe
			// unanswered (probe.Ping), and a count cannot tell.
			done(Interrupted(c, rs))
		case err != nil:
			return err
		default:
			done(Evaluate(c, rs))
		}
	}
	return nil
}

// Unfinished completes the Results of a run that has not ended, for a
// report made before Run returns: done holds those of checks[:len(done)];
// the check after them is Interrupted on under, the probes it has sent
// (it may not have started: it is then interrupted after 0 probes, which
// is also true), and any later one is NotRun. A run that has ended gives
// done back as it is.
func Unfinished(checks []Check, done []Result, under []probe.Result) []Result {
	out := append([]Result(nil), done...)
	for i := len(done); i < len(checks); i++ {
		if i == len(done) {
			out = append(out, Interrupted(checks[i], under))
		} else {
			out = append(out, NotRun(checks[i]))
		}
	}
	return out
}
