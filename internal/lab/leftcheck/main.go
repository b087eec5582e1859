// Command leftcheck says what lab runs left behind on this machine and
// exits 1 if anything: `make test` runs it after the tests, with
// -since-pid set to make's own PID, so that only what this run left counts
// (a `synprobe lab up` or another run still going is not residue, nor a
// crash from before). See lab.LeftBehind.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/synprobe/synprobe/internal/lab"
)

func main() {
	since := flag.Int("since-pid", 0, "count only runs started no earlier than this process (0: any)")
	flag.Parse()
	if runtime.GOOS != "linux" {
		fmt.Println("leftcheck: the lab needs Linux: nothing to check")
		return
	}
	if os.Geteuid() != 0 {
		// Without root no lab could be built, and /proc and nftables
		// cannot be read in full.
		fmt.Println("leftcheck: not root, no lab could have been built: nothing to check")
		return
	}
	r, err := lab.LeftBehind(*since)
	if err != nil {
		fmt.Fprintln(os.Stderr, "leftcheck:", err)
		os.Exit(2)
	}
	if !r.Empty() {
		fmt.Fprint(os.Stderr, "the tests left behind:\n"+r.String()+"(sudo synprobe lab down removes the namespaces and the processes in them)\n")
		os.Exit(1)
	}
}
