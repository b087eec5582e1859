package results

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/synprobe/synprobe/check"
	"github.com/synprobe/synprobe/probe"
)

// sample6 is sample's cases for IPv6 targets, as the engine reports them:
// the hop limit in TTL (and InitialTTL, Hops inferred from it), no IP ID;
// an ICMPv6 error (type 1 code 1); a link-local address with its zone, in
// connect mode.
func sample6() []probe.Result {
	a := netip.MustParseAddr
	return []probe.Result{
		{Addr: a("2001:2:0:a::a"), Port: 80, State: probe.StateOpen, Reason: probe.ReasonSynAck, Tries: 1, Time: t0,
			Has: probe.HasRTT | probe.HasTTL | probe.HasWindow | probe.HasMSS | probe.HasWScale | probe.HasTimestamps,
			RTT: 1234567 * time.Nanosecond, Clock: probe.ClockKernel, TTL: 62, InitialTTL: 64, Hops: 2, Window: 64800, MSS: 1440,
			WScale: 7, SACKPermitted: true, TSval: 1, TSecr: 2},
		{Addr: a("2001:2:0:a::a"), Port: 81, State: probe.StateClosed, Reason: probe.ReasonRST, Tries: 1, Time: t0,
			Has: probe.HasRTT | probe.HasTTL | probe.HasWindow, RTT: 21 * time.Microsecond, TTL: 62, InitialTTL: 64, Hops: 2},
		{Addr: a("2001:2:0:c::a"), Port: 22, State: probe.StateFiltered, Reason: probe.ReasonNoResponse, Tries: 2, Time: t0},
		{Addr: a("2001:2:0:d::a"), Port: 22, State: probe.StateFiltered, Reason: "admin-prohibited", Tries: 1, Time: t0,
			Has: probe.HasRTT | probe.HasTTL, RTT: 40 * time.Microsecond, TTL: 63, InitialTTL: 64, Hops: 1, ICMPType: 1, ICMPCode: 1},
		{Addr: a("fe80::1%to-r1"), Port: 22, State: probe.StateOpen, Reason: probe.ReasonSynAck, Tries: 1, Time: t0,
			Has: probe.HasRTT | probe.HasMSS, RTT: 2 * time.Millisecond, MSS: 1440, Clock: probe.ClockUser},
	}
}

func writeResults(t *testing.T, format string, seq bool, rs []probe.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := New(format, &b, seq)
	if err != nil {
		t.Fatal(err)
	}
	if tw, ok := w.(*tableWriter); ok {
		tw.elapsed = func() time.Duration { return 1500 * time.Millisecond }
	}
	for _, r := range rs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// splitTarget reads a target as people write one with a port, by the
// standard library's net.SplitHostPort, which wants an IPv6 address in
// brackets.
func splitTarget(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatalf("target %q: %v", s, err)
	}
	a, err := netip.ParseAddr(host)
	p, err2 := strconv.ParseUint(port, 10, 16)
	if err != nil || err2 != nil {
		t.Fatalf("target %q: %v %v", s, err, err2)
	}
	return netip.AddrPortFrom(a, uint16(p))
}

// TestTableIPv6: IPv4 and IPv6 results in one table, sorted IPv4 first,
// each target [address]:port for IPv6 (address:port for IPv4), and the
// columns as wide as the longest address needs.
func TestTableIPv6(t *testing.T) {
	rs := append(sample6(), sample()...)
	out := writeResults(t, "table", false, rs)
	golden(t, "table-ipv6", out)
	lines := strings.Split(string(out), "\n")
	rows := lines[1 : 1+len(rs)]
	want := append([]probe.Result(nil), rs...)
	SortResults(want)
	col := strings.Index(lines[0], "STATE")
	for i, l := range rows {
		target := strings.TrimRight(l[:col], " ")
		if got := splitTarget(t, target); got != want[i].AddrPort() {
			t.Errorf("row %d: target %s, want %v", i, got, want[i].AddrPort())
		}
		if len(target) >= col-1 || !strings.HasPrefix(l[col:], want[i].State.String()) {
			t.Errorf("row %d not aligned with the header:\n%s\n%s", i, lines[0], l)
		}
	}
	if !strings.HasPrefix(rows[5], "[2001:2:0:a::a]:80 ") || !strings.HasPrefix(rows[9], "[fe80::1%to-r1]:22 ") {
		t.Errorf("IPv6 rows:\n%s", out)
	}
}

// TestJSONLinesIPv6: "ip" is the address alone, no brackets, and "port"
// a number; "ttl" is the hop limit.
func TestJSONLinesIPv6(t *testing.T) {
	out := writeResults(t, "jsonl", false, sample6())
	golden(t, "scan-ipv6.jsonl", out)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(sample6()) {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines {
		var o struct {
			IP   string  `json:"ip"`
			Port *uint16 `json:"port"`
			TTL  *uint8  `json:"ttl"`
		}
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		r := sample6()[i]
		a, err := netip.ParseAddr(o.IP)
		if err != nil || a != r.Addr || o.Port == nil || *o.Port != r.Port {
			t.Errorf("line %d: ip %q port %s, want %v: %v", i, o.IP, opt(o.Port), r.AddrPort(), err)
		}
		if (o.TTL != nil) != (r.Has&probe.HasTTL != 0) || o.TTL != nil && *o.TTL != r.TTL {
			t.Errorf("line %d: ttl %v, want the hop limit %d", i, o.TTL, r.TTL)
		}
	}
}

func TestCSVIPv6(t *testing.T) {
	out := writeResults(t, "csv", false, sample6())
	golden(t, "scan-ipv6.csv", out)
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(sample6()) || rows[0][0] != "ip" || rows[0][1] != "port" || rows[0][5] != "ttl" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	for i, row := range rows[1:] {
		r := sample6()[i]
		if a, err := netip.ParseAddr(row[0]); err != nil || a != r.Addr || row[1] != strconv.Itoa(int(r.Port)) {
			t.Errorf("row %d: %v, want %v: %v", i, row, r.AddrPort(), err)
		}
	}
	if rows[1][5] != "62" || rows[3][5] != "" {
		t.Errorf("hop limits: %v", rows)
	}
}

// TestPingTextIPv6: the header, every probe's line and the statistics
// name the target [address]:port.
func TestPingTextIPv6(t *testing.T) {
	dst := netip.MustParseAddrPort("[2001:2:0:a::a]:80")
	ps := pingSample()
	for i := range ps {
		ps[i].Addr = dst.Addr()
	}
	var b bytes.Buffer
	WritePingHeader(&b, dst, 5, 200*time.Millisecond)
	for _, r := range ps {
		b.WriteString(PingLine(r) + "\n")
	}
	WritePingSummary(&b, dst, NewPingStats(ps))
	golden(t, "ping-ipv6.txt", b.Bytes())
	lines := strings.Split(b.String(), "\n")
	head, ok := strings.CutPrefix(lines[0], "SYNPROBE ")
	head, _, ok2 := strings.Cut(head, ": 5 probes")
	if !ok || !ok2 || splitTarget(t, head) != dst {
		t.Errorf("header %q", lines[0])
	}
	for i, l := range lines[1:6] {
		target, rest, _ := strings.Cut(l, " ")
		if splitTarget(t, target) != dst || !strings.HasPrefix(rest, "seq="+strconv.Itoa(i+1)+" ") {
			t.Errorf("line %q", l)
		}
	}
	if lines[7] != "--- [2001:2:0:a::a]:80 synprobe statistics ---" {
		t.Errorf("statistics line %q", lines[7])
	}
}

// checkResults6: a check of an IPv6 target named after it, one named, and
// a second of the first's target:port.
func checkResults6() []check.Result {
	rs := sample6()
	web := check.Check{Target: "2001:2:0:a::a", Port: 80, States: []probe.State{probe.StateOpen}, MaxRTT: 50 * time.Millisecond}
	ssh := check.Check{Name: "ssh v6", Target: "2001:2:0:c::a", Port: 22, States: []probe.State{probe.StateOpen}}
	return []check.Result{check.Evaluate(web, rs[:1]), check.Evaluate(ssh, rs[2:3]), check.Evaluate(web, rs[:1])}
}

// TestCheckOutputsIPv6: a check of an IPv6 target is named [address]:port
// by default, in every output; its target is the address alone.
func TestCheckOutputsIPv6(t *testing.T) {
	crs := checkResults6()
	const name = "[2001:2:0:a::a]:80"
	t.Run("text", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteCheckSummary(&b, crs); err != nil {
			t.Fatal(err)
		}
		golden(t, "checks-ipv6.txt", b.Bytes())
		if !strings.HasPrefix(b.String(), "PASS  "+name+"  1/1 ") {
			t.Errorf("%s", b.String())
		}
	})
	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteChecksJSON(&b, crs); err != nil {
			t.Fatal(err)
		}
		golden(t, "checks-ipv6.json", b.Bytes())
		var doc struct {
			Checks []struct {
				Name    string           `json:"name"`
				Target  string           `json:"target"`
				Port    uint16           `json:"port"`
				Results []map[string]any `json:"results"`
			} `json:"checks"`
		}
		if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		c := doc.Checks[0]
		if c.Name != name || c.Target != "2001:2:0:a::a" || c.Port != 80 || c.Results[0]["ip"] != "2001:2:0:a::a" ||
			c.Results[0]["port"] != 80.0 || c.Results[0]["ttl"] != 62.0 {
			t.Errorf("%+v", c)
		}
	})
	t.Run("junit", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteJUnit(&b, crs, t0, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		golden(t, "checks-ipv6.junit.xml", b.Bytes())
		doc := readJUnit(t, b.Bytes())
		var names []string
		for _, c := range doc.Suites[0].Cases {
			names = append(names, c.Name)
		}
		if strings.Join(names, " ") != name+" ssh v6 "+name {
			t.Errorf("testcase names %q", names)
		}
	})
	t.Run("prometheus", func(t *testing.T) {
		var b bytes.Buffer
		if err := WritePrometheus(&b, crs, t0); err != nil {
			t.Fatal(err)
		}
		golden(t, "checks-ipv6.prom", b.Bytes())
		promValid(t, b.Bytes())
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range fams["synprobe_check_success"].GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			got = append(got, ls["check"]+" "+ls["target"]+" "+ls["port"])
		}
		want := []string{name + " 2001:2:0:a::a 80", "ssh v6 2001:2:0:c::a 22", name + "#2 2001:2:0:a::a 80"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("series %q, want %q", got, want)
		}
		promtoolValid(t, b.Bytes())
	})
}
