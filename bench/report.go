package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// runResult is what one run of one tool measured.
type runResult struct {
	wall    time.Duration // start to exit
	rssKB   int64         // peak resident set, from the kernel's rusage
	stopped string        // why the harness stopped it, if it did
	err     error         // the tool's own failure (non-zero exit), if any
	samples []sample
	stderr  string
}

// report holds every run of every figure (the JSON keeps them all) and
// renders medians, ratios and the targets as Markdown.
type report struct {
	Started time.Time         `json:"started"`
	Machine map[string]string `json:"machine"`
	Config  map[string]string `json:"config"`
	Send    []sendRun         `json:"send_rate"`
	Scan    []scanRun         `json:"slash16_scan"`
	Latency []latencyRun      `json:"latency"`
	Memory  []memoryRun       `json:"memory"`
	Send6   []sendRun         `json:"send_rate_ipv6,omitempty"`
	Scan6   []scanRun         `json:"slash112_scan_ipv6,omitempty"`
	Targets []target          `json:"targets"`

	// merged: the figures kept from an earlier run (-merge).
	merged []string
}

type sendRun struct {
	Tool    string  `json:"tool"`
	Note    string  `json:"note,omitempty"`
	PPS     float64 `json:"pps"`
	Packets uint64  `json:"packets"`
	Stopped string  `json:"stopped,omitempty"`
	Error   string  `json:"error,omitempty"`
}

type scanRun struct {
	Tool    string  `json:"tool"`
	Note    string  `json:"note,omitempty"`
	WallS   float64 `json:"wall_s"`
	Found   int     `json:"found"`
	Dups    int     `json:"duplicates"`
	Outside int     `json:"outside_prefix"`
	RSSKB   int64   `json:"peak_rss_kb"`
	Stopped string  `json:"stopped,omitempty"`
	Error   string  `json:"error,omitempty"`
}

type latencyRun struct {
	Tool      string  `json:"tool"`
	Link      string  `json:"link"`
	Reported  int     `json:"reported"`
	InCapture int     `json:"in_capture"`
	Missing   int     `json:"missing"`
	ErrorsUS  []int64 `json:"abs_errors_us"` // |reported - captured| per probe, µs (rounded)
	errs      []time.Duration
}

type memoryRun struct {
	Tool    string  `json:"tool"`
	Note    string  `json:"note,omitempty"`
	Probes  int     `json:"probes"`
	RSSKB   int64   `json:"peak_rss_kb"`
	WallS   float64 `json:"wall_s"`
	Stopped string  `json:"stopped,omitempty"`
	Error   string  `json:"error,omitempty"`
}

type target struct {
	What   string `json:"what"`
	Result string `json:"result"` // what was measured
	Met    *bool  `json:"met"`    // nil: could not be judged (a tool missing)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (r *report) addSend(tool, note string, pps float64, pkts uint64, res runResult) {
	r.Send = append(r.Send, sendRun{tool, note, pps, pkts, res.stopped, errString(res.err)})
}

func (r *report) addSend6(tool, note string, pps float64, pkts uint64, res runResult) {
	r.Send6 = append(r.Send6, sendRun{tool, note, pps, pkts, res.stopped, errString(res.err)})
}

func newScanRun(tool, note string, res runResult, set openSet, prefix netip.Prefix) scanRun {
	found := set.within(prefix)
	return scanRun{tool, note, res.wall.Seconds(), found, set.dups, len(set.addrs) - found, res.rssKB, res.stopped, errString(res.err)}
}

func (r *report) addScan(tool, note string, res runResult, set openSet, prefix netip.Prefix) {
	r.Scan = append(r.Scan, newScanRun(tool, note, res, set, prefix))
}

func (r *report) addScan6(tool, note string, res runResult, set openSet) {
	r.Scan6 = append(r.Scan6, newScanRun(tool, note, res, set, bigPrefix6))
}

func (r *report) addLatency(tool, link string, errs []time.Duration, reported, inCapture, missing int) {
	us := make([]int64, len(errs))
	for i, e := range errs {
		us[i] = e.Round(time.Microsecond).Microseconds()
	}
	r.Latency = append(r.Latency, latencyRun{tool, link, reported, inCapture, missing, us, errs})
}

func (r *report) addMemory(tool, note string, probes int, res runResult) {
	r.Memory = append(r.Memory, memoryRun{tool, note, probes, res.rssKB, res.wall.Seconds(), res.stopped, errString(res.err)})
}

// ordered returns the distinct values of key over rows, in first-seen order.
func ordered[T any](rows []T, key func(T) string) []string {
	var out []string
	for _, x := range rows {
		if k := key(x); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// sendMedian is a tool's median rate over its runs (figure 1).
func (r *report) sendMedian(tool string) (float64, int, string) { return sendMedianOf(r.Send, tool) }

// sendMedianOf is a tool's median rate over its runs in runs (figure 1's
// or figure 5's).
func sendMedianOf(runs []sendRun, tool string) (float64, int, string) {
	var xs []float64
	note := ""
	for _, s := range runs {
		if s.Tool == tool && s.Error == "" {
			xs = append(xs, s.PPS)
			note = s.Note
		}
	}
	return median(xs), len(xs), note
}

func (r *report) scanMedians(tool string) (wall, found float64, dups, outside, n int, stopped, note string) {
	return scanMediansOf(r.Scan, tool)
}

// scanMediansOf is scanMedians over runs (figure 2's or figure 6's).
func scanMediansOf(runs []scanRun, tool string) (wall, found float64, dups, outside, n int, stopped, note string) {
	var ws, fs []float64
	for _, s := range runs {
		if s.Tool != tool || s.Error != "" {
			continue
		}
		ws, fs = append(ws, s.WallS), append(fs, float64(s.Found))
		dups, outside = max(dups, s.Dups), max(outside, s.Outside)
		if s.Stopped != "" {
			stopped = s.Stopped
		}
		note = s.Note
	}
	return median(ws), median(fs), dups, outside, len(ws), stopped, note
}

func (r *report) latencyPooled(tool, link string) (errs []time.Duration, reported, inCapture, missing int) {
	for _, l := range r.Latency {
		if l.Tool == tool && l.Link == link {
			errs = append(errs, l.errs...)
			reported += l.Reported
			inCapture += l.InCapture
			missing += l.Missing
		}
	}
	return
}

func (r *report) memoryMedian(tool string, probes int) (kb float64, stopped, note string) {
	var xs []float64
	for _, m := range r.Memory {
		if m.Tool == tool && m.Probes == probes && m.Error == "" && m.RSSKB > 0 {
			xs = append(xs, float64(m.RSSKB))
			if m.Stopped != "" {
				stopped = m.Stopped
			}
			if m.Note != "" {
				note = m.Note
			}
		}
	}
	return median(xs), stopped, note
}

func isPeer(tool string) bool { return !strings.HasPrefix(tool, "synprobe") && tool != "trafgen" }

func fmtNum(x float64, prec int) string {
	if math.IsNaN(x) {
		return "-"
	}
	s := fmt.Sprintf("%.*f", prec, x)
	// Thousands separators for readability.
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 && intPart[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func boolp(b bool) *bool { return &b }

// judge fills r.Targets from the medians.
func (r *report) judge(memProbes [2]int) {
	r.Targets = nil
	add := func(what, result string, met *bool) { r.Targets = append(r.Targets, target{what, result, met}) }
	bestOf := func(tools ...string) (float64, string) {
		best, name := math.NaN(), ""
		for _, t := range tools {
			if v, n, _ := r.sendMedian(t); n > 0 && (math.IsNaN(best) || v > best) {
				best, name = v, t
			}
		}
		return best, name
	}
	// synprobe's fastest setting of each path is what the targets judge.
	if sp, sname := bestOf("synprobe", "synprobe --senders 2", "synprobe --senders 4"); sname != "" {
		peer, name := bestOf("zmap", "masscan")
		if name != "" {
			add("send rate, raw-socket path, at least 2x the better of zmap and masscan",
				fmt.Sprintf("%s pps (%s) vs %s %s pps: %s", fmtNum(sp, 0), sname, name, fmtNum(peer, 0), ratio(sp, peer)), boolp(sp >= 2*peer))
		}
	}
	if pk, pname := bestOf("synprobe --tx packet", "synprobe --tx packet --senders 2", "synprobe --tx packet --senders 4"); pname != "" {
		if tg, m, _ := r.sendMedian("trafgen"); m > 0 {
			add("send rate, --tx packet, at least trafgen's", fmt.Sprintf("%s pps (%s) vs trafgen %s pps: %s", fmtNum(pk, 0), pname, fmtNum(tg, 0), ratio(pk, tg)), boolp(pk >= tg))
		}
	}
	for _, s := range ordered(r.Scan, func(s scanRun) string { return s.Tool }) {
		if !strings.HasPrefix(s, "synprobe") || !strings.HasSuffix(s, "unpaced") {
			continue
		}
		minFound := math.MaxInt
		for _, x := range r.Scan {
			if x.Tool == s {
				minFound = min(minFound, x.Found)
			}
		}
		add("recall 100% on the /16 at synprobe's fastest rate ("+s+"), every run",
			fmt.Sprintf("lowest of the runs: %d of 65,536", minFound), boolp(minFound == 65536))
	}
	for _, s := range ordered(r.Scan, func(s scanRun) string { return s.Tool }) {
		if !strings.HasPrefix(s, "synprobe @") {
			continue
		}
		rate := strings.TrimPrefix(s, "synprobe @ ")
		ws, _, _, _, n, _, _ := r.scanMedians(s)
		zw, _, _, _, m, _, _ := r.scanMedians("zmap @ " + rate)
		if n > 0 && m > 0 {
			add("/16 wall time no longer than zmap's at the same rate ("+rate+")",
				fmt.Sprintf("%.2f s vs %.2f s", ws, zw), boolp(ws <= zw))
		}
	}
	r.judge6(add)
	for _, link := range ordered(r.Latency, func(l latencyRun) string { return l.Link }) {
		errs, _, _, _ := r.latencyPooled("synprobe", link)
		if len(errs) == 0 {
			continue
		}
		p50, p99 := percentile(errs, 50), percentile(errs, 99)
		add("latency error on the "+link+" link: median at most 20 µs, p99 at most 100 µs",
			fmt.Sprintf("median %v, p99 %v", p50, p99), boolp(p50 <= 20*time.Microsecond && p99 <= 100*time.Microsecond))
	}
	small, _, _ := r.memoryMedian("synprobe", memProbes[0])
	big, _, _ := r.memoryMedian("synprobe", memProbes[1])
	if !math.IsNaN(small) && !math.IsNaN(big) {
		add(fmt.Sprintf("peak RSS under 32 MB at %s probes, at most 1.2x the %s-probe figure", fmtNum(float64(memProbes[1]), 0), fmtNum(float64(memProbes[0]), 0)),
			fmt.Sprintf("%.1f MB and %.1f MB: %s", big/1024, small/1024, ratio(big, small)), boolp(big < 32*1024 && big <= 1.2*small))
	}
}

// judge6 adds the IPv6 targets: synprobe's IPv6 send rate (figure 5) at
// least 0.9x its IPv4 rate (figure 1), setting by setting, each path judged
// by its lowest ratio; and recall on the /112 at its fastest rate.
func (r *report) judge6(add func(what, result string, met *bool)) {
	paths := []struct {
		name     string
		settings []string
	}{
		{"raw-socket path", []string{"synprobe", "synprobe --senders 2", "synprobe --senders 4"}},
		{"--tx packet", []string{"synprobe --tx packet", "synprobe --tx packet --senders 2", "synprobe --tx packet --senders 4"}},
	}
	for _, p := range paths {
		var parts []string
		lowest := math.NaN()
		for _, t := range p.settings {
			v4, n4, _ := sendMedianOf(r.Send, t)
			v6, n6, _ := sendMedianOf(r.Send6, t)
			if n4 == 0 || n6 == 0 || v4 == 0 {
				continue
			}
			x := v6 / v4
			if math.IsNaN(lowest) || x < lowest {
				lowest = x
			}
			parts = append(parts, fmt.Sprintf("%s: %s vs %s pps, %s", t, fmtNum(v6, 0), fmtNum(v4, 0), ratio(v6, v4)))
		}
		if len(parts) == 0 {
			continue
		}
		what := "IPv6 send rate at least 0.9x synprobe's IPv4 rate (same setting, same run), " + p.name
		if slices.Contains(r.merged, "1") != slices.Contains(r.merged, "5") {
			// One of the two figures is an earlier run's: not the same run.
			add(what, "not judged: figures 1 and 5 are from different runs", nil)
			continue
		}
		add(what, fmt.Sprintf("%s; lowest %.2fx", strings.Join(parts, "; "), lowest), boolp(lowest >= 0.9))
	}
	for _, s := range ordered(r.Scan6, func(s scanRun) string { return s.Tool }) {
		if s != "synprobe unpaced" {
			continue
		}
		minFound := math.MaxInt
		for _, x := range r.Scan6 {
			if x.Tool == s {
				minFound = min(minFound, x.Found)
			}
		}
		add("recall 100% on the IPv6 /112 at synprobe's fastest rate ("+s+"), every run",
			fmt.Sprintf("lowest of the runs: %d of 65,536", minFound), boolp(minFound == 65536))
	}
}

// sendTable writes figure 1's or figure 5's table.
func sendTable(p func(string, ...any), runs []sendRun) {
	p("| tool | SYNs/s | runs | vs best peer | note |\n|---|---:|---:|---:|---|\n")
	best := math.NaN()
	for _, t := range ordered(runs, func(s sendRun) string { return s.Tool }) {
		if v, n, _ := sendMedianOf(runs, t); n > 0 && isPeer(t) && (math.IsNaN(best) || v > best) {
			best = v
		}
	}
	for _, t := range ordered(runs, func(s sendRun) string { return s.Tool }) {
		v, n, note := sendMedianOf(runs, t)
		p("| %s | %s | %d | %s | %s |\n", t, fmtNum(v, 0), n, ratio(v, best), note)
	}
	p("\n")
}

// scanTable writes figure 2's or figure 6's table.
func scanTable(p func(string, ...any), runs []scanRun, what string) {
	p("| tool | wall time (s) | found (of 65,536) | duplicates | outside the %s | runs | note |\n|---|---:|---:|---:|---:|---:|---|\n", what)
	for _, t := range ordered(runs, func(s scanRun) string { return s.Tool }) {
		ws, fs, d, o, n, stopped, note := scanMediansOf(runs, t)
		if stopped != "" {
			note = strings.TrimPrefix(note+"; stopped: "+stopped, "; ")
		}
		p("| %s | %s | %s | %d | %d | %d | %s |\n", t, fmtNum(ws, 2), fmtNum(fs, 0), d, o, n, note)
	}
	p("\n")
}

// markdown writes the tables.
func (r *report) markdown(w io.Writer, memProbes [2]int) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# synprobe side by side\n\n")
	p("Run %s on %s. Medians of the runs; ratios are synprobe's against the best peer (zmap, masscan, nmap, hping3, nping; trafgen is the ceiling, not a peer).\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Machine["summary"])
	if len(r.Send) > 0 {
		p("## 1. Send rate (SYNs per second that reached a sink dropping them at ingress)\n\n")
		sendTable(p, r.Send)
	}
	if len(r.Scan) > 0 {
		p("## 2. A /16 x 1 port, every address open (198.19.0.0/16:80)\n\n")
		scanTable(p, r.Scan, "/16")
	}
	if len(r.Latency) > 0 {
		p("## 3. Handshake latency against a nanosecond capture (absolute error per probe, all runs pooled)\n\n")
		p("| tool | link | median error | p99 error | probes compared | reported but not in the capture |\n|---|---|---:|---:|---:|---:|\n")
		for _, link := range ordered(r.Latency, func(l latencyRun) string { return l.Link }) {
			for _, t := range ordered(r.Latency, func(l latencyRun) string { return l.Tool }) {
				errs, _, _, missing := r.latencyPooled(t, link)
				if len(errs) == 0 && missing == 0 {
					continue
				}
				p("| %s | %s | %s | %s | %d | %d |\n", t, link, fmtDur(percentile(errs, 50)), fmtDur(percentile(errs, 99)), len(errs), missing)
			}
		}
		p("\n")
	}
	if len(r.Memory) > 0 {
		p("## 4. Peak RSS\n\n")
		p("| tool | %s probes | %s probes | ratio | note |\n|---|---:|---:|---:|---|\n", fmtNum(float64(memProbes[0]), 0), fmtNum(float64(memProbes[1]), 0))
		for _, t := range ordered(r.Memory, func(m memoryRun) string { return m.Tool }) {
			a, s1, n1 := r.memoryMedian(t, memProbes[0])
			b, s2, n2 := r.memoryMedian(t, memProbes[1])
			note := strings.Trim(n1+"; "+n2, "; ")
			if s1+s2 != "" {
				stops := strings.Trim(s1+"; "+s2, "; ")
				if s1 == s2 {
					stops = s1
				}
				note = strings.Trim(note+"; stopped: "+stops, "; ")
			}
			p("| %s | %s MB | %s MB | %s | %s |\n", t, fmtNum(a/1024, 1), fmtNum(b/1024, 1), ratio(b, a), note)
		}
		p("\n")
	}
	if len(r.Send6) > 0 {
		p("## 5. IPv6 send rate (SYNs per second that reached the same sink, to %v; figure 1's settings)\n\n", sinkPrefix6)
		p("zmap 2 and hping3 send no IPv6 and are not in this figure.\n\n")
		sendTable(p, r.Send6)
	}
	if len(r.Scan6) > 0 {
		p("## 6. An IPv6 /112 x 1 port, every address open (%v:80; figure 2's rate and cooldown)\n\n", bigPrefix6)
		p("zmap 2 scans no IPv6 and is not in this figure.\n\n")
		scanTable(p, r.Scan6, "/112")
	}
	if len(r.Targets) > 0 {
		p("## Targets\n\n| target | measured | met |\n|---|---|---|\n")
		for _, t := range r.Targets {
			met := "-"
			if t.Met != nil {
				met = map[bool]string{true: "yes", false: "**no**"}[*t.Met]
			}
			p("| %s | %s | %s |\n", t.What, t.Result, met)
		}
		p("\n")
	}
	p("Configuration: ")
	keys := make([]string, 0, len(r.Config))
	for k := range r.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			p(", ")
		}
		p("%s=%s", k, r.Config[k])
	}
	p(".\n")
}

func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Round(time.Microsecond).Microseconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// mergeFrom takes from an earlier results.json the figures this run does
// not measure (so one figure can be measured again on its own), with that
// run's configuration noted.
func (r *report) mergeFrom(path string, measuring []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var old report
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	kept := false
	if !slices.Contains(measuring, "1") {
		r.Send, kept = old.Send, kept || len(old.Send) > 0
	}
	if !slices.Contains(measuring, "2") {
		r.Scan, kept = old.Scan, kept || len(old.Scan) > 0
	}
	if !slices.Contains(measuring, "3") {
		for _, l := range old.Latency {
			for _, us := range l.ErrorsUS {
				l.errs = append(l.errs, time.Duration(us)*time.Microsecond)
			}
			r.Latency = append(r.Latency, l)
		}
		kept = kept || len(old.Latency) > 0
	}
	if !slices.Contains(measuring, "4") {
		r.Memory, kept = old.Memory, kept || len(old.Memory) > 0
	}
	if !slices.Contains(measuring, "5") {
		r.Send6, kept = old.Send6, kept || len(old.Send6) > 0
	}
	if !slices.Contains(measuring, "6") {
		r.Scan6, kept = old.Scan6, kept || len(old.Scan6) > 0
	}
	for _, f := range []struct {
		fig string
		n   int
	}{{"1", len(old.Send)}, {"2", len(old.Scan)}, {"3", len(old.Latency)}, {"4", len(old.Memory)}, {"5", len(old.Send6)}, {"6", len(old.Scan6)}} {
		if f.n > 0 && !slices.Contains(measuring, f.fig) {
			r.merged = append(r.merged, f.fig)
		}
	}
	if kept {
		r.Config["merged-from-run"] = old.Started.UTC().Format(time.RFC3339)
		// A setting of figures kept from the earlier run is that run's
		// (when this run measures none of the figures it applies to).
		figuresOf := func(k string) []string {
			switch {
			case strings.HasPrefix(k, "send-"):
				return []string{"1", "5"}
			case k == "rate" || k == "runs" || k == "cooldown":
				return []string{"2", "6"}
			case strings.HasPrefix(k, "lat-"):
				return []string{"3"}
			case strings.HasPrefix(k, "mem-"):
				return []string{"4"}
			}
			return nil
		}
		for k, v := range old.Config {
			figs := figuresOf(k)
			if len(figs) > 0 && !slices.ContainsFunc(figs, func(f string) bool { return slices.Contains(measuring, f) }) {
				r.Config[k] = v
			}
		}
	}
	return nil
}
