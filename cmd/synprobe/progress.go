package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// The live progress line of a scan, on stderr when it is a terminal:
//
//	 42.0%  8400/20000 sent  9987/s  12 open  ETA 1.2s
//
// The percentage is of the first pass (retries are counted apart), the
// rate is over the last two seconds, not since the start, and the ETA is
// what is left of the first pass at that rate.

// progressWindow is how far back the rate looks.
const progressWindow = 2 * time.Second

// progressCounts is what the line shows, summed over the scan's groups
// (one per port list).
type progressCounts struct {
	first   uint64 // probes of the first pass sent
	total   uint64 // probes of the first pass
	retries uint64 // probes sent again
	open    uint64
}

// countProgress sums the groups' progress. total is each group's share of
// targets x ports: with --shard K/N, about 1/N of it. (The engine's
// Progress.Total counts the positions of its walk, some of which it
// skips, so it overstates a small scan.)
func countProgress(progs []*probe.Progress, totals []uint64) progressCounts {
	var c progressCounts
	for i, p := range progs {
		sent, re := p.Sent.Load(), p.Retransmitted.Load()
		// Retransmitted counts a retry before it is sent, Sent after.
		first := sent - min(re, sent)
		c.first += min(first, totals[i])
		c.total += totals[i]
		c.retries += sent - first
		c.open += p.Open.Load()
	}
	return c
}

// rateWindow gives the send rate over the last progressWindow from
// samples of a running count.
type rateWindow struct {
	t []time.Time
	n []uint64
}

// add records count n at t and returns the rate (per second) since the
// oldest sample still in the window; 0 until there are two samples.
func (w *rateWindow) add(t time.Time, n uint64) float64 {
	w.t, w.n = append(w.t, t), append(w.n, n)
	for len(w.t) > 2 && t.Sub(w.t[1]) >= progressWindow {
		w.t, w.n = w.t[1:], w.n[1:]
	}
	el := t.Sub(w.t[0]).Seconds()
	if el <= 0 || n < w.n[0] {
		return 0
	}
	return float64(n-w.n[0]) / el
}

// formatETA writes a duration the way a progress line needs it: tenths
// of a second under 10 s, then whole seconds, minutes, hours.
func formatETA(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// progressText is the line for counts c at rate (first-pass probes per
// second, over the recent window).
func progressText(c progressCounts, rate float64) string {
	pct := 100.0
	if c.total > 0 {
		pct = float64(c.first) * 100 / float64(c.total)
	}
	s := fmt.Sprintf("%5.1f%%  %d/%d sent", pct, c.first, c.total)
	if c.retries > 0 {
		s += fmt.Sprintf(" (+%d retries)", c.retries)
	}
	s += fmt.Sprintf("  %.0f/s  %d open", rate, c.open)
	switch {
	case c.first >= c.total:
		s += "  waiting for replies"
	case rate > 0:
		s += "  ETA " + formatETA(time.Duration(float64(c.total-c.first)/rate*float64(time.Second)))
	default:
		s += "  ETA -"
	}
	return s
}

// startProgress shows the live progress line on a terminal's stderr (not
// with -q) and returns the func that removes it.
func startProgress(g *globals, progs []*probe.Progress, totals []uint64) func() {
	if g.quiet || !isTerminal(g.stderr) {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	var stopped atomic.Bool
	go func() {
		defer close(exited)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		var firstRate, allRate rateWindow
		for {
			select {
			case <-done:
				fmt.Fprint(g.stderr, "\r\033[K")
				return
			case now := <-t.C:
				c := countProgress(progs, totals)
				rate := firstRate.add(now, c.first)
				if c.first >= c.total {
					rate = allRate.add(now, c.first+c.retries)
				}
				writeProgress(g.stderr, progressText(c, rate))
			}
		}
	}()
	return func() {
		if stopped.CompareAndSwap(false, true) {
			close(done)
			<-exited
		}
	}
}

func writeProgress(w io.Writer, line string) { fmt.Fprint(w, "\r\033[K"+line) }
