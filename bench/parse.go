package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Each tool reports in its own format; these read what it printed. They
// take what the tool said at face value: the benchmark compares it with
// the truth (the lab's known answers, a packet capture) elsewhere.

// The lab's prefixes: the sink's (figure 1) and the one stack answering a
// whole /16 (figures 2 and 4), and their IPv6 counterparts (figures 5 and
// 6): the sink's /113 has the /17's 32,768 addresses, so each gets the same
// ports, and big's /112 (the demo lab's lab.BigPrefix6) the /16's 65,536.
var (
	sinkPrefix  = netip.MustParsePrefix("198.18.128.0/17")
	bigPrefix   = netip.MustParsePrefix("198.19.0.0/16")
	sinkPrefix6 = netip.MustParsePrefix("2001:2:0:fffe::/113")
	bigPrefix6  = netip.MustParsePrefix("2001:2:0:ffff::/112")
)

// openSet is the set of distinct addresses a scanner reported open, and
// how many reports repeated an address already seen.
type openSet struct {
	addrs map[netip.Addr]struct{}
	dups  int
}

func newOpenSet() openSet { return openSet{addrs: map[netip.Addr]struct{}{}} }

func (s *openSet) add(a netip.Addr) {
	if _, ok := s.addrs[a]; ok {
		s.dups++
		return
	}
	s.addrs[a] = struct{}{}
}

// within counts the distinct addresses inside p (a report outside the
// scanned prefix is not recall, it is noise).
func (s openSet) within(p netip.Prefix) int {
	n := 0
	for a := range s.addrs {
		if p.Contains(a) {
			n++
		}
	}
	return n
}

// parseSynprobeOpen reads `synprobe scan -o jsonl` lines, keeping state open.
func parseSynprobeOpen(r io.Reader) (openSet, error) {
	set := newOpenSet()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var rec struct {
			IP    string `json:"ip"`
			State string `json:"state"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return set, fmt.Errorf("synprobe output: %w", err)
		}
		if rec.State != "open" {
			continue
		}
		a, err := netip.ParseAddr(rec.IP)
		if err != nil {
			return set, fmt.Errorf("synprobe output: %w", err)
		}
		set.add(a)
	}
	return set, sc.Err()
}

// parseZmap reads zmap's default output: one address a line, for
// responses that were a success (SYN-ACK) and not a repeat. zmap's own
// repeat filter already drops duplicates; any left are counted.
func parseZmap(r io.Reader) (openSet, error) {
	set := newOpenSet()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.TrimSpace(sc.Text())
		if f == "" || f == "saddr" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return set, fmt.Errorf("zmap output: %w", err)
		}
		set.add(a)
	}
	return set, sc.Err()
}

// parseMasscan reads masscan's -oL list: "open tcp 80 198.19.0.1 1764060000"
// (an IPv6 address in the same field: "open tcp 80 2001:2:0:ffff::1 1764060000").
func parseMasscan(r io.Reader) (openSet, error) {
	set := newOpenSet()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] != "open" {
			continue
		}
		a, err := netip.ParseAddr(f[3])
		if err != nil {
			// A line cut short when masscan was stopped in the
			// middle of writing it: not a report.
			continue
		}
		set.add(a)
	}
	return set, sc.Err()
}

// nmapHost matches a greppable (-oG) line with ports: "Host: A ()	Ports: 80/open/tcp//http///"
// (nmap -6 writes the IPv6 address in the same place).
var nmapHost = regexp.MustCompile(`^Host: (\S+) .*Ports: (.*)$`)

// parseNmap reads nmap's -oG output, keeping hosts with an open port.
func parseNmap(r io.Reader) (openSet, error) {
	set := newOpenSet()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := nmapHost.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		open := false
		for _, p := range strings.Split(m[2], ",") {
			f := strings.Split(strings.TrimSpace(p), "/")
			if len(f) > 1 && f[1] == "open" {
				open = true
			}
		}
		if !open {
			continue
		}
		a, err := netip.ParseAddr(m[1])
		if err != nil {
			return set, fmt.Errorf("nmap output: %w", err)
		}
		set.add(a)
	}
	return set, sc.Err()
}

// probeRTT is one answered probe as a tool reported it: its order among
// the tool's probes (from 0) and the latency it printed.
type probeRTT struct {
	Seq int
	RTT time.Duration
}

// parseSynprobePing reads `synprobe ping -o jsonl`: {"seq":N,...,"rtt_ms":F}
// per probe, then a summary object, which is skipped.
func parseSynprobePing(r io.Reader) ([]probeRTT, error) {
	var out []probeRTT
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var rec struct {
			Seq   *int     `json:"seq"`
			State string   `json:"state"`
			RTT   *float64 `json:"rtt_ms"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return out, fmt.Errorf("synprobe ping output: %w", err)
		}
		if rec.Seq == nil || rec.RTT == nil || (rec.State != "open" && rec.State != "closed") {
			continue
		}
		out = append(out, probeRTT{Seq: *rec.Seq - 1, RTT: time.Duration(*rec.RTT * float64(time.Millisecond))})
	}
	return out, sc.Err()
}

// hpingLine: "len=44 ip=198.18.22.10 ttl=64 DF id=0 sport=80 flags=SA seq=0 win=64240 rtt=0.4 ms"
var hpingLine = regexp.MustCompile(`flags=\S+ seq=(\d+) .*rtt=([0-9.]+) ms`)

// parseHping reads hping3's reply lines; seq counts from 0.
func parseHping(r io.Reader) ([]probeRTT, error) {
	var out []probeRTT
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := hpingLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		seq, _ := strconv.Atoi(m[1])
		ms, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return out, fmt.Errorf("hping3 output: %w", err)
		}
		out = append(out, probeRTT{Seq: seq, RTT: time.Duration(ms * float64(time.Millisecond))})
	}
	return out, sc.Err()
}

// npingLine: "SENT (0.0157s) TCP ..." or "RCVD (0.0160s) TCP ...".
var npingLine = regexp.MustCompile(`^(SENT|RCVD) \(([0-9.]+)s\) TCP`)

// parseNping reads nping's SENT and RCVD lines. nping prints no latency per
// probe: what it tells a user is the time of each SENT and RCVD line
// (printed to 0.1 ms), so a probe's latency is RCVD minus the SENT before it.
func parseNping(r io.Reader) ([]probeRTT, error) {
	var out []probeRTT
	seq, sent := -1, -1.0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := npingLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		t, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return out, fmt.Errorf("nping output: %w", err)
		}
		switch m[1] {
		case "SENT":
			seq++
			sent = t
		case "RCVD":
			if sent < 0 {
				continue
			}
			out = append(out, probeRTT{Seq: seq, RTT: time.Duration((t - sent) * float64(time.Second))})
			sent = -1 // one reply per probe
		}
	}
	return out, sc.Err()
}
