// Command bench measures synprobe side by side with zmap, masscan, nmap,
// hping3 and nping, and trafgen as the machine's ceiling, inside synprobe's
// namespace lab and nowhere else, on identical work, alternating the tools
// from run to run. It writes a Markdown table and a JSON file with every
// run. It needs root; `make bench` runs it. See docs/BENCHMARK.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
