package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/results"
)

func newPingCmd(g *globals) *cobra.Command {
	var f probeFlags
	var count int
	var interval time.Duration
	var output string
	cmd := &cobra.Command{
		Use:   "ping HOST:PORT [-c N] [-i INTERVAL]",
		Short: "Measure handshake latency to one HOST:PORT, like ping",
		Long: `Send a fresh SYN to HOST:PORT every INTERVAL (each from a new source port, so
the target never sees a retransmission), print one line per probe as it
settles, and a summary at the end (also on Ctrl-C).`,
		Example: `  synprobe ping 198.18.14.10:80 -c 5 -i 200ms
  synprobe ping 198.18.10.10:443 -c 100 -i 10ms -o jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			p, err := f.params()
			if err != nil {
				return err
			}
			if count <= 0 {
				return usageErrorf("-c must be positive")
			}
			if interval <= 0 {
				return usageErrorf("-i must be positive")
			}
			if output != "text" && output != "jsonl" && output != "csv" {
				return usageErrorf("-o %q: want text, jsonl or csv", output)
			}
			dst, err := resolveTargetPort(ctx, args[0], g.lookup, f.firstAddr)
			if err != nil {
				return err
			}
			sess, err := g.start(&f, p)
			if err != nil {
				return err
			}
			var w results.Writer
			if output != "text" {
				w, _ = results.New(output, out, true)
			} else {
				fmt.Fprintf(out, "SYNPROBE %v: %d probes, every %v\n", dst, count, interval)
			}
			emit := func(r probe.Result) {
				if w != nil {
					w.Write(r)
					return
				}
				fmt.Fprintln(out, pingLine(r))
			}
			sum, err := sess.ping(ctx, sess.pingConfig(g, &f, p, dst, count, interval), emit)
			if w != nil {
				w.Close()
				if output == "jsonl" {
					results.WriteSummary(out, sum)
				}
			} else {
				writePingSummary(out, dst.String(), sum)
			}
			if ferr := sess.finish(); err == nil {
				err = ferr
			}
			if err != nil {
				return &exitError{code: exitNoProbe, err: err}
			}
			if ctx.Err() != nil {
				return &exitError{code: exitInterrupt}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().IntVarP(&count, "count", "c", 5, "number of probes")
	cmd.Flags().DurationVarP(&interval, "interval", "i", time.Second, "time between probes")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, jsonl or csv")
	return cmd
}

func pingLine(r probe.Result) string {
	s := fmt.Sprintf("%v seq=%d %s", r.AddrPort(), r.Seq, r.State)
	if r.Reason != probe.ReasonSynAck && r.Reason != probe.ReasonRST {
		s += " (" + string(r.Reason) + ")"
	}
	if r.Has&probe.HasRTT != 0 {
		s += " rtt=" + fmtMS(r.RTT)
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

func writePingSummary(w io.Writer, dst string, s probe.Summary) {
	fmt.Fprintf(w, "\n--- %s synprobe statistics ---\n", dst)
	fmt.Fprintf(w, "%d probes sent, %d answered, %.1f%% loss\n", s.Sent, s.Received, s.LossPct)
	if s.Received > 0 || s.Max > 0 {
		fmt.Fprintf(w, "rtt min/avg/max/stddev = %.3f/%.3f/%.3f/%.3f ms, p50/p90/p99 = %.3f/%.3f/%.3f ms\n",
			results.Millis(s.Min), results.Millis(s.Avg), results.Millis(s.Max), results.Millis(s.StdDev),
			results.Millis(s.P50), results.Millis(s.P90), results.Millis(s.P99))
	}
}
