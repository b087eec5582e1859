package results

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// PingStats condenses the results of a ping, the way ping(8) counts: a
// probe is answered when the target itself replied, with a SYN-ACK (open)
// or a RST (closed). An ICMP error is not an answer but an error, counted
// apart, and its latency is not a handshake latency: the RTT figures are
// over answered probes only.
type PingStats struct {
	probe.Summary     // Sent, Received (answered), LossPct, RTT figures
	Errors        int // probes settled by an ICMP error or a missing route
}

// NewPingStats condenses rs, one result per probe sent.
func NewPingStats(rs []probe.Result) PingStats {
	var t probe.Tally
	for _, r := range rs {
		t.Add(r)
	}
	return PingStatsOf(&t)
}

// PingStatsOf is what t counted.
func PingStatsOf(t *probe.Tally) PingStats {
	return PingStats{Summary: t.Summary(), Errors: t.Errors()}
}

// WritePingHeader writes ping's first line.
func WritePingHeader(w io.Writer, dst netip.AddrPort, count int, interval time.Duration) error {
	_, err := fmt.Fprintf(w, "SYNPROBE %v: %d probes, every %v\n", dst, count, interval)
	return err
}

// PingLine is one probe as ping prints it: the state, the reason when it
// is not the plain SYN-ACK or RST, and each measured value.
func PingLine(r probe.Result) string {
	s := fmt.Sprintf("%v seq=%d %s", r.AddrPort(), r.Seq, r.State)
	if r.Reason != probe.ReasonSynAck && r.Reason != probe.ReasonRST {
		s += " (" + string(r.Reason) + ")"
	}
	if r.Has&probe.HasRTT != 0 {
		s += fmt.Sprintf(" rtt=%.3f ms", Millis(r.RTT))
	}
	if r.Has&probe.HasTTL != 0 {
		s += fmt.Sprintf(" ttl=%d", r.TTL)
	}
	if r.Has&probe.HasMSS != 0 {
		s += fmt.Sprintf(" mss=%d", r.MSS)
	}
	if r.Has&probe.HasWindow != 0 {
		s += fmt.Sprintf(" win=%d", r.Window)
	}
	return s
}

// WritePingSummary writes ping's closing statistics. The latency line is
// there only when some probe was answered.
func WritePingSummary(w io.Writer, dst netip.AddrPort, s PingStats) error {
	fmt.Fprintf(w, "\n--- %v synprobe statistics ---\n", dst)
	errs := ""
	if s.Errors > 0 {
		errs = fmt.Sprintf(", +%d errors", s.Errors)
	}
	_, err := fmt.Fprintf(w, "%d probes sent, %d answered%s, %.1f%% loss\n", s.Sent, s.Received, errs, s.LossPct)
	if s.Received > 0 {
		_, err = fmt.Fprintf(w, "rtt min/avg/max/stddev = %.3f/%.3f/%.3f/%.3f ms, p50/p90/p99 = %.3f/%.3f/%.3f ms\n",
			Millis(s.Min), Millis(s.Avg), Millis(s.Max), Millis(s.StdDev), Millis(s.P50), Millis(s.P90), Millis(s.P99))
	}
	return err
}
