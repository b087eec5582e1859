package main

import (
	"errors"
	"fmt"
	"sync"
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
		Use:   "ping HOST:PORT [-c N] [-i INTERVAL] [-4|-6]",
		Short: "Measure handshake latency to one HOST:PORT, like ping",
		Long: `Send a fresh SYN to HOST:PORT every INTERVAL (each from a new source port, so
the target never sees a retransmission), print one line per probe as it
settles, and a summary at the end (also on Ctrl-C, SIGTERM and SIGHUP). A
probe is answered when the target replied, with a SYN-ACK (open) or a RST
(closed); an ICMP error is an error, not an answer, and the latency figures
are over answered probes. With -q, only the first line and the summary.

HOST is an IPv4 address, an IPv6 address in brackets ([2001:2:0:a::a]:80) or
a host name, probed at the first address the resolver gives (the system's
preferred one, of either family); -4 or -6 takes the first of that family.

` + exitStatusHelp("when some probe was answered", "when none was"),
		Example: `  synprobe ping 198.18.14.10:80 -c 5 -i 200ms
  synprobe ping 198.18.10.10:443 -c 100 -i 10ms -o jsonl
  synprobe ping '[2001:2:0:e::a]:80' -c 5`,
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
			dst, err := resolveTargetPort(ctx, args[0], g.lookup, p.fam)
			if err != nil {
				return err
			}
			sess, err := g.start(cmd, &f, p, output, dst.Addr())
			if err != nil {
				return err
			}
			defer sess.abort()
			var w results.Writer
			if output != "text" {
				w, _ = results.New(output, out, true)
			} else {
				results.WritePingHeader(out, dst, count, interval)
			}
			// The count of the results so far, and the summary of it: on
			// a second Ctrl-C too. A ping keeps no result, only what its
			// summary needs (probe.Tally).
			var mu sync.Mutex
			var tally probe.Tally
			tally.Reserve(count)
			finished := false
			finish := func() {
				mu.Lock()
				defer mu.Unlock()
				if finished {
					return
				}
				finished = true
				st := results.PingStatsOf(&tally)
				switch {
				case w != nil:
					w.Close()
					if output == "jsonl" {
						results.WriteSummary(out, st)
					}
				default:
					results.WritePingSummary(out, dst, st)
				}
			}
			stopHurry := g.onHurry(ctx, func() error { finish(); return within(time.Second, sess.finish) })
			emit := func(r probe.Result) {
				mu.Lock()
				defer mu.Unlock()
				if finished {
					return
				}
				tally.Add(r)
				switch {
				case w != nil:
					w.Write(r)
				case !g.quiet: // -q: the summary only, as ping -q
					fmt.Fprintln(out, results.PingLine(r))
				}
			}
			sum, err := sess.pr.Ping(ctx, sess.pingConfig(g, &f, p, dst, count, interval), emit)
			stopHurry()
			finish() // stdout's errors are execute's
			err = errors.Join(couldNotProbe(err), sess.finish(), interrupted(ctx))
			if sum.Received == 0 {
				// As ping and hping3: nothing answered is a failure.
				err = errors.Join(err, errCheckFailed)
			}
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().IntVarP(&count, "count", "c", probe.DefaultPingCount, "number of probes")
	cmd.Flags().DurationVarP(&interval, "interval", "i", probe.DefaultPingInterval, "time between probes")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, jsonl or csv")
	return cmd
}
