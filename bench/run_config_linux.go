//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the benchmark's settings, from flags.
type config struct {
	synprobe    string
	runs        int
	memRuns     int
	rate        int
	memRate     int
	cooldown    time.Duration
	sendProbes  int
	sendLimit   time.Duration
	nmapLimit   time.Duration
	memLimit    time.Duration
	latProbes   int
	latInterval time.Duration
	figures     string
	tools       []string
	out         string
	tmp         string
	quiet       bool

	emptyBlocklist string
}

func (c *config) logf(format string, a ...any) {
	if !c.quiet {
		fmt.Fprintf(os.Stderr, format+"\n", a...)
	}
}

func (c *config) want(tool string) bool {
	if len(c.tools) == 0 {
		return true
	}
	base, _, _ := strings.Cut(tool, " ")
	return slices.Contains(c.tools, base)
}

// toolsFor keeps the tools the user asked for that are installed; a tool
// that is asked for but missing is an error (a benchmark that silently
// drops a peer would flatter synprobe).
func (c *config) toolsFor(all []string) []string {
	var out []string
	for _, t := range all {
		if !c.want(t) {
			continue
		}
		if strings.Contains(t, "--tx packet") && !c.hasTxPacket() {
			continue
		}
		out = append(out, t)
	}
	return out
}

func (c *config) hasTxPacket() bool {
	out, _ := exec.Command(c.synprobe, "scan", "--help").CombinedOutput()
	return strings.Contains(string(out), "--tx")
}

var peers = []string{"zmap", "masscan", "nmap", "hping3", "nping", "trafgen", "tcpdump", "/usr/bin/time"}

func run(ctx context.Context, args []string) error {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.synprobe, "synprobe", "bin/synprobe", "the synprobe binary to measure")
	fs.IntVar(&c.runs, "runs", 3, "runs of each tool in figures 1 to 3, 5 and 6 (medians are reported)")
	fs.IntVar(&c.memRuns, "mem-runs", 1, "runs of each tool in figure 4 (16,777,216 probes take a while)")
	fs.IntVar(&c.rate, "rate", 50000, "packets per second given to every tool in figures 2 and 6")
	fs.IntVar(&c.memRate, "mem-rate", 200000, "packets per second given to every tool in figure 4")
	fs.DurationVar(&c.cooldown, "cooldown", 2*time.Second, "wait for late replies after the last send, the same for every tool (whole seconds)")
	fs.IntVar(&c.sendProbes, "send-probes", 1<<21, "SYNs each tool sends in figures 1 and 5 (a multiple of 32,768)")
	fs.DurationVar(&c.sendLimit, "send-limit", 20*time.Second, "longest a tool may take in figures 1 and 5")
	fs.DurationVar(&c.nmapLimit, "nmap-limit", 120*time.Second, "longest nmap may take for a scan")
	fs.DurationVar(&c.memLimit, "mem-limit", 60*time.Second, "longest a tool may take for 16,777,216 probes in figure 4 (then it is stopped and its peak so far reported)")
	fs.IntVar(&c.latProbes, "lat-probes", 200, "probes per tool and link in figure 3")
	fs.DurationVar(&c.latInterval, "lat-interval", 50*time.Millisecond, "time between probes in figure 3 (longer than the delayed link's 40 ms, so no tool has two in flight)")
	fs.StringVar(&c.figures, "figures", "1,2,3,4,5,6", "which figures to measure (5 and 6 are 1 and 2 over IPv6)")
	tools := fs.String("tools", "", "only these tools (comma-separated; default all)")
	fs.StringVar(&c.out, "out", "bench/results", "write RESULTS.md and results.json here")
	fs.BoolVar(&c.quiet, "q", false, "no progress lines on stderr")
	merge := fs.Bool("merge", false, "keep the figures of OUT/results.json that this run does not measure")
	hold := fs.Bool("hold", false, "bring the lab up, print it and wait for Ctrl-C (for exploring by hand)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tools != "" {
		c.tools = strings.Split(*tools, ",")
	}
	if c.runs < 1 || c.memRuns < 0 || c.rate < 1 || c.memRate < 1 || c.latProbes < 1 || c.sendProbes < 1<<15 || c.sendProbes%(1<<15) != 0 ||
		c.cooldown < time.Second || c.cooldown%time.Second != 0 {
		return errors.New("bad flag value: see -h")
	}
	if os.Geteuid() != 0 {
		return errors.New("the benchmark builds a network-namespace lab and opens raw sockets: run it as root (sudo make bench)")
	}
	if abs, err := exec.LookPath(c.synprobe); err == nil {
		c.synprobe, _ = filepath.Abs(abs) // tools run in a scratch directory
	}
	var missing []string
	for _, p := range append([]string{c.synprobe}, peers...) {
		base := filepath.Base(p)
		if p != c.synprobe && !c.want(base) && base != "tcpdump" && base != "time" {
			continue
		}
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not installed: %s (Debian: apt-get install zmap masscan nmap hping3 netsniff-ng tcpdump time; synprobe: make build)", strings.Join(missing, ", "))
	}
	var err error
	if c.tmp, err = os.MkdirTemp("", "synprobe-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(c.tmp)
	c.emptyBlocklist = filepath.Join(c.tmp, "blocklist")
	// zmap's default blocklist holds 198.18.0.0/15 (the benchmarking
	// range): this run is confined to the lab by its namespaces instead.
	if err := os.WriteFile(c.emptyBlocklist, nil, 0o644); err != nil {
		return err
	}

	b, err := startLab(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	if *hold {
		for _, n := range b.Topo.Nodes {
			m, _ := b.mac(n.Name)
			fmt.Printf("%-5s ns=%s addr=%v %v prober-side=%v %v if=%s mac=%v\n", n.Name, b.Namespace(n.Name), n.Addr, n.Addr6(), b.src(n.Name), b.src6(n.Name), b.iface(n.Name), m)
		}
		fmt.Println("prober ns:", b.Namespace("prober"))
		<-ctx.Done()
		return nil
	}

	rep := &report{Started: time.Now(), Machine: machineInfo(), Config: map[string]string{
		"runs": strconv.Itoa(c.runs), "mem-runs": strconv.Itoa(c.memRuns), "rate": strconv.Itoa(c.rate), "mem-rate": strconv.Itoa(c.memRate),
		"mem-limit": c.memLimit.String(), "cooldown": c.cooldown.String(), "send-probes": strconv.Itoa(c.sendProbes), "lat-probes": strconv.Itoa(c.latProbes),
		"lat-interval": c.latInterval.String(), "wire": string(b.WireMode),
	}}
	if *merge {
		if err := rep.mergeFrom(filepath.Join(c.out, "results.json"), strings.Split(c.figures, ",")); err != nil {
			return err
		}
	}
	memProbes := [2]int{1 << 16, 1 << 24}
	steps := []struct {
		fig string
		fn  func(context.Context, *benchLab, *report) error
	}{{"1", c.figureSend}, {"2", c.figureScan}, {"3", c.figureLatency}, {"4", c.figureMemory}, {"5", c.figureSend6}, {"6", c.figureScan6}}
	for _, s := range steps {
		if !slices.Contains(strings.Split(c.figures, ","), s.fig) {
			continue
		}
		if err := s.fn(ctx, b, rep); err != nil {
			return fmt.Errorf("figure %s: %w", s.fig, err)
		}
	}
	rep.judge(memProbes)
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	md, err := os.Create(filepath.Join(c.out, "RESULTS.md"))
	if err != nil {
		return err
	}
	rep.markdown(md, memProbes)
	if err := md.Close(); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	rep.markdown(os.Stdout, memProbes)
	return nil
}

// machineInfo says what the figures were measured on.
func machineInfo() map[string]string {
	m := map[string]string{"cores": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			if kb, err := strconv.Atoi(f[1]); err == nil {
				m["memory"] = fmt.Sprintf("%d GiB", (kb+(1<<19))>>20)
			}
		}
	}
	versions := map[string][]string{
		"zmap": {"zmap", "--version"}, "masscan": {"masscan", "--version"}, "nmap": {"nmap", "--version"},
		"hping3": {"hping3", "--version"}, "trafgen": {"trafgen", "--version"},
	}
	for k, argv := range versions {
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				m[k] = l
				break
			}
		}
	}
	m["summary"] = fmt.Sprintf("%s cores (%s), %s, Linux %s", m["cores"], m["cpu"], m["memory"], m["kernel"])
	return m
}
