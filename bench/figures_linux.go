//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// unpaced is the rate given to tools that must be told one: far above what
// any of them reaches here, so each sends as fast as it can.
const unpaced = "10000000"

// peer is one tool of a figure: how to run it and how to read it.
type peer struct {
	name string
	bin  string // looked up on PATH (or a path)
	// note says how this tool's work differs, if it must.
	note string
}

func (c *config) have(bin string) bool {
	_, err := exec.LookPath(bin)
	return err == nil
}

// rotate gives run r's order of tools: each run starts with the next tool,
// so that a drift of the shared machine does not fall on one tool alone.
func rotate[T any](xs []T, r int) []T {
	out := make([]T, 0, len(xs))
	for i := range xs {
		out = append(out, xs[(i+r)%len(xs)])
	}
	return out
}

// ---- Figure 1: send rate ----------------------------------------------

// sendArgs is one tool's command for figure 1 (figure 5 with v6): probes
// SYNs at the sink's prefix of that family, the same number of addresses
// and ports per address in each.
func (c *config) sendArgs(b *benchLab, tool string, probes int, v6 bool) ([]string, string, error) {
	hw, err := b.mac(nodeSink)
	if err != nil {
		return nil, "", err
	}
	own, err := b.ownMAC(nodeSink)
	if err != nil {
		return nil, "", err
	}
	prefix, src, bits := sinkPrefix, b.src(nodeSink).String(), 32
	if v6 {
		prefix, src, bits = sinkPrefix6, b.src6(nodeSink).String(), 128
	}
	ifc := b.iface(nodeSink)
	ports := probes >> (bits - prefix.Bits()) // probes per address
	portRange := fmt.Sprintf("1-%d", ports)
	switch tool {
	case "synprobe", "synprobe --tx packet", "synprobe --senders 2", "synprobe --senders 4", "synprobe --tx packet --senders 2",
		"synprobe --tx packet --senders 4":
		args := []string{c.synprobe, "scan", prefix.String(), "-p", portRange, "--rate", unpaced, "--retries", "0",
			"--timeout", "100ms", "--no-reset", "--open", "-o", "jsonl", "-q"}
		// The tool's name after "synprobe" is its extra flags.
		return append(args, strings.Fields(tool)[1:]...), "", nil
	case "zmap":
		if v6 {
			break // zmap 2 has no IPv6
		}
		// zmap's fastest setting here: one sender thread per core, each
		// pinned to its own (its default is one thread, about 40% slower).
		threads, cores := zmapThreads()
		return []string{"zmap", "-p", "80", "-P", strconv.Itoa(ports), "-r", unpaced, "-c", "0", "-i", ifc, "-S", src,
				"-G", hw.String(), "-b", c.emptyBlocklist, "-q", "--disable-syslog", "-o", "/dev/null",
				"-T", threads, "--cores", cores, prefix.String()},
			fmt.Sprintf("zmap 2 scans one port: %d probes to port 80 of each address (-P); -T %s --cores %s", ports, threads, cores), nil
	case "masscan":
		router := "--router-mac"
		if v6 {
			router = "--router-mac-ipv6" // masscan 1.3 keeps a next hop per family
		}
		return []string{"masscan", prefix.String(), "-p" + portRange, "--rate", unpaced, "--adapter", ifc,
			"--adapter-ip", src, "--adapter-mac", own.String(), router, hw.String(), "--wait", "0", "-oL", "/dev/null"}, "", nil
	case "nmap":
		args := []string{"nmap", "-sS", "-T5", "-n", "-Pn", "-p" + portRange, "--max-retries", "0", "--min-rate", unpaced,
			"-e", ifc, "-S", src, "-oG", "/dev/null", prefix.String()}
		if v6 {
			args = append(args[:1:1], append([]string{"-6"}, args[1:]...)...)
		}
		return args, "", nil
	case "hping3":
		if v6 {
			break // hping3 has no IPv6
		}
		return []string{"hping3", "-S", "-p", "80", "--flood", "-q", prefix.Addr().Next().String()},
			"hping3 floods one address:port", nil
	case "trafgen":
		conf := filepath.Join(c.tmp, "syn.trafgen")
		// One SYN, its sequence number random per packet: the ceiling of
		// a packet ring on this machine, with no scanning logic at all.
		ip := fmt.Sprintf("eth(da=%s, sa=%s, type=0x0800),\n  ipv4(saddr=%s, daddr=%s, ttl=64, df)", hw, own, src, prefix.Addr().Next())
		if v6 {
			ip = fmt.Sprintf("eth(da=%s, sa=%s, type=0x86dd),\n  ipv6(sa=%s, da=%s, hoplimit=64)", hw, own, src, prefix.Addr().Next())
		}
		text := fmt.Sprintf("{\n  %s,\n  tcp(sp=40000, dp=80, syn, seq=drnd(), window=64240),\n}\n", ip)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, "", err
		}
		return []string{"trafgen", "--dev", ifc, "--conf", conf, "--num", strconv.Itoa(probes), "-q"},
			"the same SYN over and over from a TX_RING: the ceiling", nil
	}
	return nil, "", fmt.Errorf("no send command for %s (IPv6: %v)", tool, v6)
}

// sendTools are figure 1's tools; figure 5 (IPv6) has those that send
// IPv6 SYNs: not zmap 2 nor hping3, which have no IPv6.
func sendTools(v6 bool) []string {
	tools := []string{"synprobe", "synprobe --senders 2", "synprobe --senders 4",
		"synprobe --tx packet", "synprobe --tx packet --senders 2", "synprobe --tx packet --senders 4",
		"zmap", "masscan", "nmap", "hping3", "trafgen"}
	if v6 {
		tools = slices.DeleteFunc(tools, func(t string) bool { return t == "zmap" || t == "hping3" })
	}
	return tools
}

func (c *config) figureSend(ctx context.Context, b *benchLab, rep *report) error {
	return c.figureSendFamily(ctx, b, rep, false)
}

// figureSend6 is figure 5: figure 1 over IPv6, with the same settings.
func (c *config) figureSend6(ctx context.Context, b *benchLab, rep *report) error {
	return c.figureSendFamily(ctx, b, rep, true)
}

func (c *config) figureSendFamily(ctx context.Context, b *benchLab, rep *report, v6 bool) error {
	// synprobe with one sending goroutine, two, and four, the most that
	// kept every transmit stamp at full speed on the 2-core reference
	// machine with several to spare, on each path.
	tools := c.toolsFor(sendTools(v6))
	label := "send "
	if v6 {
		label = "send6"
	}
	counter := func() (uint64, error) { return b.RxPackets(nodeSink) }
	for r := 0; r < c.runs; r++ {
		for _, tool := range rotate(tools, r) {
			argv, note, err := c.sendArgs(b, tool, c.sendProbes, v6)
			if err != nil {
				return err
			}
			res, err := b.run(ctx, runSpec{argv: argv, timeout: c.sendLimit, counter: counter, sampleEvery: 5 * time.Millisecond,
				expect: uint64(c.sendProbes), settle: 300 * time.Millisecond, idle: 3 * time.Second, flood: tool == "hping3"})
			if err != nil {
				return err
			}
			rate, pkts := sendRate(res.samples)
			c.logf("%s run %d %-22s %9.0f pps  %8d packets  %s%s", label, r+1, tool, rate, pkts, res.stopped, errText(res.err))
			if v6 {
				rep.addSend6(tool, note, rate, pkts, res)
			} else {
				rep.addSend(tool, note, rate, pkts, res)
			}
		}
	}
	return nil
}

// zmapThreads is zmap's -T and --cores for one sender thread per CPU.
func zmapThreads() (threads, cores string) {
	n := runtime.NumCPU()
	list := make([]string, n)
	for i := range list {
		list[i] = strconv.Itoa(i)
	}
	return strconv.Itoa(n), strings.Join(list, ",")
}

// ---- Figure 2: a /16 x 1 port, every address open ----------------------

// scanArgs is one tool's command for a scan of big's prefix (the IPv6 /112
// with v6: figure 6), at rate, to port 80 (ports 1 to ports if more).
func (c *config) scanArgs(b *benchLab, tool, rate, out string, ports int, v6 bool) ([]string, string, error) {
	hw, err := b.mac(nodeBig)
	if err != nil {
		return nil, "", err
	}
	own, err := b.ownMAC(nodeBig)
	if err != nil {
		return nil, "", err
	}
	prefix, src := bigPrefix, b.src(nodeBig).String()
	if v6 {
		prefix, src = bigPrefix6, b.src6(nodeBig).String()
	}
	ifc := b.iface(nodeBig)
	cool := strconv.Itoa(int(c.cooldown / time.Second))
	portRange := "80"
	if ports > 1 {
		portRange = fmt.Sprintf("1-%d", ports)
	}
	switch tool {
	case "synprobe", "synprobe --no-reset":
		args := []string{c.synprobe, "scan", prefix.String(), "-p", portRange, "--rate", rate, "--retries", "0",
			"--timeout", c.cooldown.String(), "--cooldown", c.cooldown.String(), "--open", "-o", "jsonl", "-q"}
		if tool == "synprobe --no-reset" {
			args = append(args, "--no-reset")
		}
		return args, "", nil
	case "zmap":
		if v6 {
			break // zmap 2 has no IPv6
		}
		note := ""
		args := []string{"zmap", "-p", "80", "-r", rate, "-c", cool, "-i", ifc, "-S", src, "-G", hw.String(),
			"-b", c.emptyBlocklist, "-q", "--disable-syslog", "-o", out, prefix.String()}
		if ports > 1 {
			args = append(args, "-P", strconv.Itoa(ports))
			note = fmt.Sprintf("zmap 2 scans one port: %d probes to port 80 of each address", ports)
		}
		return args, note, nil
	case "masscan":
		router := "--router-mac"
		if v6 {
			router = "--router-mac-ipv6"
		}
		return []string{"masscan", prefix.String(), "-p" + portRange, "--rate", rate, "--adapter", ifc,
			"--adapter-ip", src, "--adapter-mac", own.String(), router, hw.String(), "--wait", cool, "-oL", out}, "", nil
	case "nmap":
		args := []string{"nmap", "-sS", "-T5", "-n", "-Pn", "-p" + portRange, "--max-retries", "0", "--min-rate", rate, "--max-rate", rate,
			"-e", ifc, "-S", src, "-oG", out, prefix.String()}
		if v6 {
			args = append(args[:1:1], append([]string{"-6"}, args[1:]...)...)
		}
		return args, "", nil
	}
	return nil, "", fmt.Errorf("no scan command for %s (IPv6: %v)", tool, v6)
}

func parseOpen(tool string, r io.Reader) (openSet, error) {
	switch tool {
	case "zmap":
		return parseZmap(r)
	case "masscan":
		return parseMasscan(r)
	case "nmap":
		return parseNmap(r)
	}
	return parseSynprobeOpen(r)
}

// masscanDone: masscan's status line once its --wait has run out. Here it
// then keeps running (its receive thread never returns), so its wall time
// ends at this line.
var masscanDone = regexp.MustCompile(`waiting -[0-9]+-secs`)

// scanOnce runs tool over the big prefix and reads what it found.
func (c *config) scanOnce(ctx context.Context, b *benchLab, tool, rate string, ports int, limit time.Duration, v6 bool) (runResult, openSet, string, error) {
	out := filepath.Join(c.tmp, "scan.out")
	os.Remove(out)
	argv, note, err := c.scanArgs(b, tool, rate, out, ports, v6)
	if err != nil {
		return runResult{}, openSet{}, "", err
	}
	var stdout io.Writer
	var buf *os.File
	if strings.HasPrefix(tool, "synprobe") {
		if buf, err = os.Create(out); err != nil {
			return runResult{}, openSet{}, "", err
		}
		stdout = buf
	}
	spec := runSpec{argv: argv, stdout: stdout, timeout: limit}
	if tool == "masscan" {
		spec.doneMark = masscanDone
	}
	res, err := b.run(ctx, spec)
	if buf != nil {
		buf.Close()
	}
	if err != nil {
		return res, openSet{}, note, err
	}
	f, err := os.Open(out)
	if err != nil {
		return res, newOpenSet(), note, nil // the tool wrote nothing (stopped early)
	}
	defer f.Close()
	set, err := parseOpen(tool, bufio.NewReader(f))
	return res, set, note, err
}

func (c *config) figureScan(ctx context.Context, b *benchLab, rep *report) error {
	tools := c.toolsFor([]string{"synprobe", "zmap", "masscan", "nmap"})
	rate := strconv.Itoa(c.rate)
	for r := 0; r < c.runs; r++ {
		for _, tool := range rotate(tools, r) {
			res, set, note, err := c.scanOnce(ctx, b, tool, rate, 1, c.scanLimit(tool, 1<<16, c.rate), false)
			if err != nil {
				return err
			}
			c.logf("scan  run %d %-20s %7.2f s  %5d/65536 open  %d dups  %s%s", r+1, tool, res.wall.Seconds(), set.within(bigPrefix), set.dups, res.stopped, errText(res.err))
			rep.addScan(tool+" @ "+rate+"/s", note, res, set, bigPrefix)
		}
		// synprobe unpaced: its own fastest rate.
		if c.want("synprobe") {
			for _, tool := range []string{"synprobe", "synprobe --no-reset"} {
				res, set, note, err := c.scanOnce(ctx, b, tool, unpaced, 1, c.scanLimit(tool, 1<<16, 1e7), false)
				if err != nil {
					return err
				}
				c.logf("scan  run %d %-20s unpaced %7.2f s  %5d/65536 open  %d dups  %s%s", r+1, tool, res.wall.Seconds(), set.within(bigPrefix), set.dups, res.stopped, errText(res.err))
				rep.addScan(tool+" unpaced", note, res, set, bigPrefix)
			}
		}
	}
	return nil
}

// figureScan6 is figure 6: figure 2 over IPv6, big's /112 (65,536
// addresses, every one open on port 80) at the same rate, cooldown and no
// retries, by synprobe and the peers that scan IPv6 (masscan, nmap -6; not
// zmap 2), and synprobe unpaced.
func (c *config) figureScan6(ctx context.Context, b *benchLab, rep *report) error {
	tools := c.toolsFor([]string{"synprobe", "masscan", "nmap"})
	rate := strconv.Itoa(c.rate)
	for r := 0; r < c.runs; r++ {
		for _, tool := range rotate(tools, r) {
			res, set, note, err := c.scanOnce(ctx, b, tool, rate, 1, c.scanLimit(tool, 1<<16, c.rate), true)
			if err != nil {
				return err
			}
			c.logf("scan6 run %d %-20s %7.2f s  %5d/65536 open  %d dups  %s%s", r+1, tool, res.wall.Seconds(), set.within(bigPrefix6), set.dups, res.stopped, errText(res.err))
			rep.addScan6(tool+" @ "+rate+"/s", note, res, set)
		}
		if c.want("synprobe") {
			res, set, note, err := c.scanOnce(ctx, b, "synprobe", unpaced, 1, c.scanLimit("synprobe", 1<<16, 1e7), true)
			if err != nil {
				return err
			}
			c.logf("scan6 run %d %-20s unpaced %7.2f s  %5d/65536 open  %d dups  %s%s", r+1, "synprobe", res.wall.Seconds(), set.within(bigPrefix6), set.dups, res.stopped, errText(res.err))
			rep.addScan6("synprobe unpaced", note, res, set)
		}
	}
	return nil
}

// scanLimit bounds a scan's run: its probes at its rate, the cooldown, and
// slack; nmap gets c.nmapLimit at most.
func (c *config) scanLimit(tool string, probes, rate int) time.Duration {
	// Twice the time the rate asks for: replies (a RST for every closed
	// port) cost the sender too, and not every tool keeps its rate.
	d := 2*time.Duration(float64(probes)/float64(rate)*float64(time.Second)) + c.cooldown + 30*time.Second
	if tool == "nmap" && d > c.nmapLimit {
		return c.nmapLimit
	}
	return d
}

// ---- Figure 3: handshake latency against a capture ---------------------

func (c *config) latArgs(tool string, dst string) []string {
	n := strconv.Itoa(c.latProbes)
	switch tool {
	case "synprobe":
		return []string{c.synprobe, "ping", dst + ":80", "-c", n, "-i", c.latInterval.String(), "-o", "jsonl", "-q"}
	case "hping3":
		return []string{"hping3", "-S", "-p", "80", "-c", n, "-i", "u" + strconv.Itoa(int(c.latInterval/time.Microsecond)), dst}
	case "nping":
		return []string{"nping", "--tcp", "-p", "80", "--flags", "syn", "-c", n, "--delay", c.latInterval.String(), dst}
	}
	return nil
}

func parseRTTs(tool string, r io.Reader) ([]probeRTT, error) {
	switch tool {
	case "hping3":
		return parseHping(r)
	case "nping":
		return parseNping(r)
	}
	return parseSynprobePing(r)
}

// capture runs tcpdump on the prober's interface to node while fn runs.
func (b *benchLab) capture(ctx context.Context, node, file string, fn func() error) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", b.Namespace("prober"),
		"tcpdump", "-i", b.iface(node), "-n", "-U", "--immediate-mode", "-B", "8192", "--time-stamp-precision=nano", "-w", file, "tcp")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("tcpdump: %w", err)
	}
	ready := make(chan struct{})
	var msgs bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			msgs.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "listening on") {
				once = true
				close(ready)
			}
		}
		if !once {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("tcpdump did not start: %s", msgs.String())
	}
	ferr := fn()
	time.Sleep(300 * time.Millisecond) // the last replies
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	return ferr
}

func (c *config) figureLatency(ctx context.Context, b *benchLab, rep *report) error {
	tools := c.toolsFor([]string{"synprobe", "hping3", "nping"})
	for r := 0; r < c.runs; r++ {
		for _, node := range []string{nodeLat, nodeSlow} {
			for _, tool := range rotate(tools, r) {
				pcap := filepath.Join(c.tmp, "lat.pcap")
				var out bytes.Buffer
				var res runResult
				err := b.capture(ctx, node, pcap, func() error {
					var err error
					res, err = b.run(ctx, runSpec{argv: c.latArgs(tool, b.Addr(node).String()), stdout: &out,
						timeout: time.Duration(c.latProbes)*c.latInterval + 30*time.Second})
					return err
				})
				if err != nil {
					return err
				}
				reported, err := parseRTTs(tool, &out)
				if err != nil {
					return err
				}
				f, err := os.Open(pcap)
				if err != nil {
					return err
				}
				truth, err := readHandshakes(f, b.src(node))
				f.Close()
				if err != nil {
					return err
				}
				errs, missing := latencyErrors(reported, truth)
				c.logf("lat   run %d %-5s %-9s %3d reported %3d in capture  median err %8v  p99 err %8v  missing %d%s",
					r+1, node, tool, len(reported), len(truth), percentile(errs, 50), percentile(errs, 99), missing, errText(res.err))
				rep.addLatency(tool, linkName(node), errs, len(reported), len(truth), missing)
			}
		}
	}
	return nil
}

func linkName(node string) string {
	if node == nodeSlow {
		return "20 ms + 20 ms"
	}
	return "undelayed"
}

// ---- Figure 4: memory --------------------------------------------------

func (c *config) figureMemory(ctx context.Context, b *benchLab, rep *report) error {
	tools := c.toolsFor([]string{"synprobe", "zmap", "masscan", "nmap"})
	rate := strconv.Itoa(c.memRate)
	for r := 0; r < c.memRuns; r++ {
		for _, ports := range []int{1, 256} {
			for _, tool := range rotate(tools, r) {
				probes := ports << 16
				limit := c.scanLimit(tool, probes, c.memRate)
				if ports > 1 {
					limit = c.memLimit
				}
				res, set, note, err := c.scanOnce(ctx, b, tool, rate, ports, limit, false)
				if err != nil {
					return err
				}
				c.logf("mem   run %d %-9s %8d probes  %7.1f MB peak RSS  %6.2f s  %d open  %s%s", r+1, tool, probes, float64(res.rssKB)/1024, res.wall.Seconds(), set.within(bigPrefix), res.stopped, errText(res.err))
				rep.addMemory(tool, note, probes, res)
			}
		}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return " ERROR " + err.Error()
}
