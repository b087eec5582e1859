package check

import (
	"context"
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
// done with each check's Result once its probes are in. It stops at the
// first error, or once ctx is cancelled (the check under way then is
// evaluated on the probes it sent).
func Run(ctx context.Context, p Pinger, base probe.PingConfig, checks []Check, dsts []netip.AddrPort, done func(Result)) error {
	for i, c := range checks {
		if ctx.Err() != nil {
			return nil
		}
		c = c.Normalize()
		cfg := base
		cfg.Target, cfg.Count = dsts[i], c.Probes
		var rs []probe.Result // at most MaxProbes
		if _, err := p.Ping(ctx, cfg, func(r probe.Result) { rs = append(rs, r) }); err != nil {
			return err
		}
		done(Evaluate(c, rs))
	}
	return nil
}
