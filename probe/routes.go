package probe

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ErrRouteLost: a route the run began with went away while it ran (an
// interface taken down, a route deleted), so the probes after it could
// not be sent: their results say no-route, and the run is incomplete.
var ErrRouteLost = errors.New("a route went away during the run")

// routeWatch tells a route that went away during a run from a target that
// never had one. When a send is refused for want of a route it looks up,
// again, the routes of the targets that had one when the run began (at
// most once a second, whatever the rate of refusals); the first of them
// found without a route is the fault, with when it was seen. Safe for
// concurrent use by the senders.
type routeWatch struct {
	conn  Conn
	had   []netip.Addr // targets with a route at the start (a sample)
	began time.Time

	mu       sync.Mutex
	looked   time.Time
	lost     netip.Addr // the first target found to have lost its route
	lostAt   time.Time
	refusals uint64 // no-route refusals from lostAt on
}

func newRouteWatch(conn Conn, had []netip.Addr) *routeWatch {
	return &routeWatch{conn: conn, had: had, began: time.Now()}
}

// refused notes that a send was refused for want of a route, at now.
func (w *routeWatch) refused(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost.IsValid() {
		w.refusals++
		return
	}
	if now.Sub(w.looked) < time.Second {
		return
	}
	w.looked = now
	for _, a := range w.had {
		if _, err := w.conn.Route(a); err != nil {
			w.lost, w.lostAt, w.refusals = a, now, 1
			return
		}
	}
}

// err is ErrRouteLost with what went away and when, or nil.
func (w *routeWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.lost.IsValid() {
		return nil
	}
	return fmt.Errorf("%w: the route to %v was gone %.1f s into it, and %d probes from then on had none (no-route)",
		ErrRouteLost, w.lost, w.lostAt.Sub(w.began).Seconds(), w.refusals)
}

// pickSource picks a source address for each family that has targets in
// ts: the given one for its family, or else the one of the route to a
// target of that family. A given address of a family no target has is a
// configuration error.
func pickSource(log zerolog.Logger, conn Conn, given netip.Addr, ts *TargetSet) (sources, error) {
	var src sources
	given = given.Unmap()
	if given.IsValid() {
		if n, _ := ts.family(given.Is6()); n == 0 {
			return src, configErrorf("source address %v is %s, and no target is", given, familyName(given.Is6()))
		}
	}
	for _, v6 := range []bool{false, true} {
		if n, _ := ts.family(v6); n == 0 {
			continue
		}
		a := given
		if a.IsValid() && a.Is6() == v6 {
			log.Debug().Stringer("source", a).Msg("source address given")
		} else {
			var via netip.Addr
			var err error
			if a, via, err = sourceFor(conn, ts, v6); err != nil {
				return src, err
			}
			log.Debug().Stringer("source", a).Stringer("route_to", via).Msg("source address from the route to a target")
		}
		if a.Is6() != v6 || a.Is4In6() {
			return src, fmt.Errorf("source address %v is not %s", a, familyName(v6))
		}
		if v6 {
			src.v6 = a
		} else {
			src.v4 = a
		}
	}
	return src, nil
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// sourceFor picks the source address for the targets of one family (v6
// or not) from the route to one of them: every such target in turn when
// there are at most 64, else 64 spread evenly over them (the first and
// the last included); the first with a route wins, and via is that
// target. A target without a route is reported as no-route when its
// probe is refused; only when none of those tried has a route can the
// scan not start.
func sourceFor(conn Conn, ts *TargetSet, v6 bool) (src, via netip.Addr, err error) {
	var first error
	tried := 0
	for dst := range sampleFamily(ts, v6) {
		tried++
		r, err := conn.Route(dst)
		if err == nil && r.Src.IsValid() {
			return r.Src, dst, nil
		}
		if first == nil {
			if err == nil {
				err = fmt.Errorf("the route to %v has no source address", dst)
			}
			first = err
		}
	}
	return netip.Addr{}, netip.Addr{}, fmt.Errorf("no %s source address: none of the %d %s targets tried has a route: %w",
		familyName(v6), tried, familyName(v6), first)
}

// sampleFamily is sampleTargets over the targets of one family.
func sampleFamily(ts *TargetSet, v6 bool) iter.Seq[netip.Addr] {
	n, index := ts.family(v6)
	return func(yield func(netip.Addr) bool) {
		for j := range sample(n) {
			if !yield(ts.At(index(j))) {
				return
			}
		}
	}
}

// sample yields every i below n when n is at most 64, else 64 spread
// evenly over 0..n-1, the first and the last included.
func sample(n uint64) iter.Seq[uint64] {
	const samples = 64
	return func(yield func(uint64) bool) {
		for i := uint64(0); i < min(n, samples); i++ {
			j := i
			if n > samples {
				j = i * (n - 1) / (samples - 1) // distinct: the step exceeds 1
			}
			if !yield(j) {
				return
			}
		}
	}
}

// sampleTargets yields every target when there are at most 64, else 64
// spread evenly over the set, the first and the last included.
func sampleTargets(ts *TargetSet) iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		for j := range sample(ts.Len()) {
			if !yield(ts.At(j)) {
				return
			}
		}
	}
}

// routed is the sample of ts (sampleTargets) that has a route now.
func routed(conn Conn, ts *TargetSet) []netip.Addr {
	var out []netip.Addr
	for dst := range sampleTargets(ts) {
		if _, err := conn.Route(dst); err == nil {
			out = append(out, dst)
		}
	}
	return out
}

// ErrRepliesStopped: replies stopped coming in the middle of a scan (a
// target gone, a link cut further on, a firewall that started dropping)
// where, at the rate they had come, many more were due: the results
// after it say filtered/no-response, and may not be the network's own.
var ErrRepliesStopped = errors.New("replies stopped during the run")

// silenceMinExpected is how many replies must have been due, at the
// rate the first pass had them, for their absence to be a fault: with 50
// due, none coming by chance is as likely as 50 heads in a row.
const silenceMinExpected = 50

// replyWatch notices replies that stopped mid-scan. The probes of a scan
// go out in a keyed pseudo-random order, so the targets that answer are
// spread over the whole first pass: a first pass whose last stretch got
// no reply at all, where at the rate of the rest many were due, is a
// fault, not the network's shape. The stretch starts at the transmit
// time of the latest probe that was answered; how many first-pass probes
// went out after it comes from samples of the count the receiver takes as
// it goes (a retry pass sends only what did not answer, so only the first
// pass counts). Receiving goroutine only.
type replyWatch struct {
	began   time.Time
	last    time.Time // the transmit time of the latest probe answered
	replies uint64
	// samples of (time, first-pass probes sent), at least sampleEvery
	// apart, the last len(samples) of them.
	samples []sentSample
	n       int // samples taken
}

type sentSample struct {
	t    time.Time
	sent uint64
}

const sampleEvery = 5 * time.Millisecond

func newReplyWatch() *replyWatch {
	return &replyWatch{began: time.Now(), samples: make([]sentSample, 8192)}
}

// sample notes that sent first-pass probes had gone out by now.
func (w *replyWatch) sample(now time.Time, sent uint64) {
	if w.n > 0 && now.Sub(w.samples[(w.n-1)%len(w.samples)].t) < sampleEvery {
		return
	}
	w.samples[w.n%len(w.samples)] = sentSample{now, sent}
	w.n++
}

// reply notes a reply to a probe sent at tx.
func (w *replyWatch) reply(tx time.Time) {
	w.replies++
	if tx.After(w.last) {
		w.last = tx
	}
}

// sentBy is the first-pass count of the first sample at or after t (so
// no more than were sent after t are counted as silent), or of the
// oldest one kept when t is older.
func (w *replyWatch) sentBy(t time.Time) uint64 {
	kept := min(w.n, len(w.samples))
	lo, hi := w.n-kept, w.n // samples lo..hi-1, oldest first
	at := func(i int) sentSample { return w.samples[i%len(w.samples)] }
	i := lo + sort.Search(hi-lo, func(k int) bool { return !at(lo + k).t.Before(t) })
	if i == hi {
		return at(hi - 1).sent
	}
	return at(i).sent
}

// err is ErrRepliesStopped with when and how many, given the first-pass
// probes sent in all; or nil.
func (w *replyWatch) err(sent uint64) error {
	if w.replies == 0 || w.n == 0 {
		return nil
	}
	before := w.sentBy(w.last)
	if before == 0 || sent <= before {
		return nil
	}
	silent := sent - before
	due := float64(silent) * float64(w.replies) / float64(before)
	if due < silenceMinExpected {
		return nil
	}
	return fmt.Errorf("%w: no probe sent after %.1f s into it was answered, though %d more went out, of which about %.0f would have been answered at the rate before",
		ErrRepliesStopped, w.last.Sub(w.began).Seconds(), silent, due)
}
