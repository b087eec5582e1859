package results

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/synprobe/synprobe/check"
	"github.com/synprobe/synprobe/internal/privileged"
	"github.com/synprobe/synprobe/probe"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)

// sample covers each state, reason and presence combination.
func sample() []probe.Result {
	a := netip.MustParseAddr
	return []probe.Result{
		{Addr: a("198.18.10.10"), Port: 80, State: probe.StateOpen, Reason: probe.ReasonSynAck, Tries: 1, Time: t0,
			Has: probe.HasRTT | probe.HasTTL | probe.HasIPID | probe.HasWindow | probe.HasMSS | probe.HasWScale | probe.HasTimestamps,
			RTT: 1234567 * time.Nanosecond, Clock: probe.ClockKernel, TTL: 62, InitialTTL: 64, Hops: 2, Window: 65160, MSS: 1460,
			WScale: 10, SACKPermitted: true, TSval: 1, TSecr: 2},
		{Addr: a("198.18.10.10"), Port: 81, State: probe.StateClosed, Reason: probe.ReasonRST, Tries: 1, Time: t0,
			Has: probe.HasRTT | probe.HasTTL | probe.HasWindow, RTT: 21 * time.Microsecond, TTL: 62, InitialTTL: 64, Hops: 2},
		{Addr: a("198.18.12.10"), Port: 22, State: probe.StateFiltered, Reason: probe.ReasonNoResponse, Tries: 2, Time: t0},
		{Addr: a("198.18.13.10"), Port: 22, State: probe.StateFiltered, Reason: "admin-prohibited", Tries: 1, Time: t0,
			Has: probe.HasRTT | probe.HasTTL, RTT: 40 * time.Microsecond, TTL: 62, InitialTTL: 64, Hops: 2, ICMPType: 3, ICMPCode: 13},
		{Addr: a("198.18.3.10"), Port: 22, State: probe.StateOpen, Reason: probe.ReasonSynAck, Tries: 1, Time: t0,
			Has: probe.HasRTT | probe.HasMSS, RTT: 2 * time.Millisecond, MSS: 1448, Clock: probe.ClockUser}, // connect mode
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./results -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

func writeAll(t *testing.T, format string, seq bool) []byte {
	var b bytes.Buffer
	w, err := New(format, &b, seq)
	if err != nil {
		t.Fatal(err)
	}
	if tw, ok := w.(*tableWriter); ok {
		tw.elapsed = func() time.Duration { return 1500 * time.Millisecond }
	}
	for _, r := range sample() {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTableGolden(t *testing.T) { golden(t, "table", writeAll(t, "table", false)) }

func TestJSONLines(t *testing.T) {
	out := writeAll(t, "jsonl", false)
	golden(t, "scan.jsonl", out)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(sample()) {
		t.Fatalf("%d lines", len(lines))
	}
	// Independent check with encoding/json into a generic map: absent
	// values are absent, present ones have the contract's names.
	var m []map[string]any
	for _, l := range lines {
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		m = append(m, o)
	}
	if m[0]["rtt_ms"] != 1.235 || m[0]["mss"] != 1460.0 || m[0]["sack"] != true || m[0]["initial_ttl"] != 64.0 || m[0]["time"] != "2026-11-23T12:00:00.123456Z" {
		t.Errorf("open record %v", m[0])
	}
	for _, k := range []string{"rtt_ms", "ttl", "mss", "window", "sack", "timestamps", "hops"} {
		if _, ok := m[2][k]; ok {
			t.Errorf("no-response record has %q: %v", k, m[2])
		}
	}
	if _, ok := m[1]["mss"]; ok {
		t.Errorf("RST without MSS option reports one: %v", m[1])
	}
	if _, ok := m[4]["ttl"]; ok || m[4]["mss"] != 1448.0 {
		t.Errorf("connect-mode record invents fields: %v", m[4])
	}
}

func TestPingJSONLines(t *testing.T) {
	var b bytes.Buffer
	w, _ := New("jsonl", &b, true)
	r := sample()[0]
	r.Seq = 3
	w.Write(r)
	w.Close()
	WriteSummary(&b, NewPingStats(sample()))
	golden(t, "ping.jsonl", b.Bytes())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var first map[string]any
	var last map[string]map[string]any
	if json.Unmarshal([]byte(lines[0]), &first) != nil || first["seq"] != 3.0 {
		t.Fatalf("first line %s", lines[0])
	}
	if err := json.Unmarshal([]byte(lines[1]), &last); err != nil {
		t.Fatal(err)
	}
	s := last["summary"]
	for _, k := range []string{"sent", "received", "loss_pct", "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_stddev_ms", "rtt_p50_ms", "rtt_p90_ms", "rtt_p99_ms"} {
		if _, ok := s[k]; !ok {
			t.Errorf("summary lacks %s: %v", k, s)
		}
	}
	// Answered: the SYN-ACKs and the RST. The ICMP error's 0.040 ms is
	// not a handshake latency: the minimum is the RST's 0.021 ms.
	if s["sent"] != 5.0 || s["received"] != 3.0 || s["loss_pct"] != 40.0 || s["rtt_min_ms"] != 0.021 || s["rtt_max_ms"] != 2.0 {
		t.Errorf("summary %v", s)
	}
	// Nothing answered: no latency figures at all, rather than zeros.
	b.Reset()
	WriteSummary(&b, NewPingStats(sample()[2:4]))
	if got := strings.TrimSpace(b.String()); got != `{"summary":{"sent":2,"received":0,"loss_pct":100}}` {
		t.Errorf("summary of unanswered probes: %s", got)
	}
}

// pingSample is a ping's results: answered (open, then closed), an ICMP
// error, one lost.
func pingSample() []probe.Result {
	rs := sample()
	out := []probe.Result{rs[0], rs[0], rs[1], rs[3], rs[2]}
	for i := range out {
		out[i].Addr, out[i].Port, out[i].Seq = netip.MustParseAddr("198.18.14.10"), 80, i+1
	}
	out[1].RTT = 40*time.Millisecond + 587*time.Microsecond
	return out
}

func TestPingText(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.14.10:80")
	var b bytes.Buffer
	WritePingHeader(&b, dst, 5, 200*time.Millisecond)
	for _, r := range pingSample() {
		b.WriteString(PingLine(r) + "\n")
	}
	WritePingSummary(&b, dst, NewPingStats(pingSample()))
	golden(t, "ping.txt", b.Bytes())

	// Only ICMP errors and silence: 0 answered, the errors counted, no
	// latency line (an ICMP error's latency is not a handshake's).
	b.Reset()
	WritePingSummary(&b, dst, NewPingStats(pingSample()[3:]))
	golden(t, "ping-unanswered.txt", b.Bytes())
	if strings.Contains(b.String(), "rtt") || !strings.Contains(b.String(), "2 probes sent, 0 answered, +1 errors, 100.0% loss") {
		t.Errorf("unanswered summary:\n%s", b.String())
	}
}

func TestPingStats(t *testing.T) {
	for _, c := range []struct {
		name                 string
		rs                   []probe.Result
		sent, received, errs int
		loss                 float64
		min, max             time.Duration
	}{
		{"none", nil, 0, 0, 0, 0, 0, 0},
		{"all kinds", pingSample(), 5, 3, 1, 40, 21 * time.Microsecond, 40587 * time.Microsecond},
		{"ICMP error only", pingSample()[3:4], 1, 0, 1, 100, 0, 0},
		{"lost only", pingSample()[4:], 1, 0, 0, 100, 0, 0},
	} {
		s := NewPingStats(c.rs)
		if s.Sent != c.sent || s.Received != c.received || s.Errors != c.errs || s.LossPct != c.loss || s.Min != c.min || s.Max != c.max {
			t.Errorf("%s: %+v", c.name, s)
		}
	}
}

func TestCSV(t *testing.T) {
	out := writeAll(t, "csv", false)
	golden(t, "scan.csv", out)
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(Columns, ",") || len(rows) != 1+len(sample()) {
		t.Fatalf("header %v, %d rows", rows[0], len(rows))
	}
	if rows[3][4] != "" || rows[3][2] != "filtered" || rows[1][4] != "1.235" {
		t.Errorf("rows %v", rows)
	}
}

func checkResults() []check.Result {
	rs := sample()
	pass := check.Evaluate(check.Check{Name: "web", Target: "198.18.10.10", Port: 80, States: []probe.State{probe.StateOpen},
		MaxRTT: 50 * time.Millisecond}, rs[:1])
	fail := check.Evaluate(check.Check{Name: "ssh <behind> \"fw\"", Target: "198.18.12.10", Port: 22, States: []probe.State{probe.StateOpen}}, rs[2:3])
	return []check.Result{pass, fail}
}

// interruptedResults is a run cut short by an interrupt: a check passed,
// one failed, one interrupted after 2 of its 1000 probes, one not run.
func interruptedResults() []check.Result {
	rs := sample()
	crs := checkResults()
	web := check.Check{Name: "web p99", Target: "198.18.10.10", Port: 80, States: []probe.State{probe.StateOpen},
		MaxRTT: time.Millisecond, Percentile: 99, Probes: 1000}
	db := check.Check{Target: "198.18.3.10", Port: 22, States: []probe.State{probe.StateOpen}, Probes: 3}
	return append(crs, check.Interrupted(web, []probe.Result{rs[0], rs[0]}), check.NotRun(db))
}

// TestInterruptedReports: every output of a run cut short lists every
// check, and none says it passed: text, JSON, JUnit and Prometheus, each
// against its golden file, and read back as its readers read it.
func TestInterruptedReports(t *testing.T) {
	crs := interruptedResults()
	t.Run("text", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteCheckSummary(&b, crs); err != nil {
			t.Fatal(err)
		}
		golden(t, "checks-interrupted.txt", b.Bytes())
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		want := []string{"PASS  web  1/1", "FAIL  ssh", "INTERRUPTED  web p99  2/2 probes as expected, p99 1.235ms: interrupted after 2 of 1000 probes",
			"NOT RUN  198.18.3.10:22: the run was interrupted before it started",
			"interrupted: 3 of 4 checks run; 1 passed, 1 failed, 1 interrupted, 1 not run"}
		if len(lines) != len(want) {
			t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("line %d: %q, want %q...", i+1, lines[i], w)
			}
		}
		// The latency limit (1ms, under 1.235ms) is not judged on 2 of
		// 1000 probes.
		if strings.Contains(b.String(), "limit") {
			t.Errorf("an unfinished check judged:\n%s", b.String())
		}
	})
	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteChecksJSON(&b, crs); err != nil {
			t.Fatal(err)
		}
		golden(t, "checks-interrupted.json", b.Bytes())
		var doc struct {
			Pass        bool `json:"pass"`
			Interrupted bool `json:"interrupted"`
			Checks      []struct {
				Name       string           `json:"name"`
				Pass       bool             `json:"pass"`
				Status     string           `json:"status"`
				Incomplete string           `json:"incomplete"`
				Probes     int              `json:"probes"`
				Results    []map[string]any `json:"results"`
			} `json:"checks"`
		}
		if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		c := doc.Checks
		if doc.Pass || !doc.Interrupted || len(c) != 4 {
			t.Fatalf("pass %v, interrupted %v, %d checks", doc.Pass, doc.Interrupted, len(c))
		}
		for i, w := range []struct{ status, incomplete string }{{"pass", ""}, {"fail", ""},
			{"interrupted", "interrupted after 2 of 1000 probes"}, {"not-run", "the run was interrupted before it started"}} {
			if c[i].Status != w.status || c[i].Incomplete != w.incomplete || c[i].Pass != (w.status == "pass") {
				t.Errorf("check %d: %+v, want %v", i, c[i], w)
			}
		}
		if c[2].Probes != 2 || len(c[2].Results) != 2 || c[3].Probes != 0 || c[3].Results == nil {
			t.Errorf("figures: %+v", c)
		}
	})
	t.Run("junit", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteJUnit(&b, crs, t0, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		golden(t, "checks-interrupted.junit.xml", b.Bytes())
		doc := readJUnit(t, b.Bytes())
		s := doc.Suites[0]
		if doc.Tests != 4 || doc.Failures != 1 || doc.Errors != 2 || s.Tests != 4 || s.Failures != 1 || s.Errors != 2 || len(s.Cases) != 4 {
			t.Fatalf("%+v", doc)
		}
		cs := s.Cases
		if cs[0].Failure != nil || cs[0].Error != nil || cs[1].Failure == nil || cs[1].Error != nil {
			t.Errorf("finished checks: %+v", cs[:2])
		}
		for i, w := range []struct{ typ, msg string }{{"Interrupted", "interrupted after 2 of 1000 probes"},
			{"NotRun", "the run was interrupted before it started"}} {
			c := cs[2+i]
			if c.Failure != nil || c.Skipped != nil || c.Error == nil || c.Error.Type != w.typ || c.Error.Message != w.msg {
				t.Errorf("%s: %+v", c.Name, c)
			}
		}
	})
	// Interrupted between two checks: none interrupted, the rest not
	// run, and that is not green either.
	t.Run("junit between checks", func(t *testing.T) {
		var b bytes.Buffer
		web := checkResults()[0]
		if err := WriteJUnit(&b, []check.Result{web, check.NotRun(web.Check)}, t0, time.Second); err != nil {
			t.Fatal(err)
		}
		if doc := readJUnit(t, b.Bytes()); doc.Tests != 2 || doc.Errors != 1 || doc.Suites[0].Errors != 1 || doc.Suites[0].Cases[1].Error == nil {
			t.Fatalf("%+v\n%s", doc, b.String())
		}
	})
	t.Run("prometheus", func(t *testing.T) {
		var b bytes.Buffer
		if err := WritePrometheus(&b, crs, t0); err != nil {
			t.Fatal(err)
		}
		golden(t, "checks-interrupted.prom", b.Bytes())
		promValid(t, b.Bytes())
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		value := func(name, chk string) (float64, bool) {
			for _, m := range fams[name].GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "check" && l.GetValue() == chk {
						return m.GetGauge().GetValue(), true
					}
				}
			}
			return 0, false
		}
		for _, w := range []struct {
			check                string
			success, interrupted float64
			ratio, timestamp     bool // present
		}{
			{"web", 1, 0, true, true},
			{`ssh <behind> "fw"`, 0, 0, true, true},
			{"web p99", 0, 1, true, true},
			{"198.18.3.10:22", 0, 1, false, false}, // no probe sent, never ran
		} {
			success, ok1 := value("synprobe_check_success", w.check)
			interrupted, ok2 := value("synprobe_check_interrupted", w.check)
			_, ratio := value("synprobe_check_success_ratio", w.check)
			_, ts := value("synprobe_check_timestamp_seconds", w.check)
			if !ok1 || !ok2 || success != w.success || interrupted != w.interrupted || ratio != w.ratio || ts != w.timestamp {
				t.Errorf("%s: success %v (%v), interrupted %v (%v), ratio %v, timestamp %v; want %+v", w.check, success, ok1, interrupted, ok2, ratio, ts, w)
			}
		}
		if h := fams["synprobe_check_interrupted"].GetHelp(); !strings.Contains(h, "did not finish") {
			t.Errorf("help %q", h)
		}
		promtoolValid(t, b.Bytes())
	})
}

type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Cases    []struct {
			Name    string     `xml:"name,attr"`
			Failure *junitElem `xml:"failure"`
			Error   *junitElem `xml:"error"`
			Skipped *junitElem `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

type junitElem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
}

func readJUnit(t *testing.T, b []byte) junitDoc {
	t.Helper()
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites", len(doc.Suites))
	}
	return doc
}

func TestJUnit(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, checkResults(), t0, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	golden(t, "checks.junit.xml", b.Bytes())
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	cs := doc.Suites[0].Cases
	if doc.Tests != 2 || doc.Failures != 1 || cs[0].Failure != nil || cs[1].Failure == nil || cs[1].Name != `ssh <behind> "fw"` {
		t.Fatalf("%+v", doc)
	}
}

func TestCheckText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCheckSummary(&b, checkResults()); err != nil {
		t.Fatal(err)
	}
	golden(t, "checks.txt", b.Bytes())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "PASS  web  1/1") || !strings.HasPrefix(lines[1], "FAIL  ") ||
		lines[2] != "2 checks, 1 passed, 1 failed" {
		t.Errorf("%q", lines)
	}
}

func TestCheckJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteChecksJSON(&b, checkResults()); err != nil {
		t.Fatal(err)
	}
	golden(t, "checks.json", b.Bytes())
	var doc struct {
		Pass   bool `json:"pass"`
		Checks []struct {
			Name     string           `json:"name"`
			Pass     bool             `json:"pass"`
			Expect   []string         `json:"expect"`
			Failures []string         `json:"failures"`
			RTTms    *float64         `json:"rtt_ms"`
			MaxRTTms *float64         `json:"max_rtt_ms"`
			Results  []map[string]any `json:"results"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Checks
	if doc.Pass || len(c) != 2 || !c[0].Pass || c[1].Pass || len(c[1].Failures) != 1 || c[0].RTTms == nil || *c[0].MaxRTTms != 50 ||
		c[1].RTTms != nil || c[0].Expect[0] != "open" || c[0].Results[0]["seq"] == nil {
		t.Errorf("%s", b.String())
	}
}

func TestPrometheus(t *testing.T) {
	var b bytes.Buffer
	if err := WritePrometheus(&b, checkResults(), t0); err != nil {
		t.Fatal(err)
	}
	golden(t, "checks.prom", b.Bytes())
	// The text format, line by line: every sample's metric has HELP and
	// TYPE before it, names and labels are well formed, values parse.
	typed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, "# TYPE ") {
			typed[f[2]] = f[3] == "gauge"
			continue
		} else if strings.HasPrefix(l, "# HELP ") {
			continue
		}
		name, rest, ok := strings.Cut(l, "{")
		labels, value, ok2 := strings.Cut(rest, "} ")
		if !ok || !ok2 || !typed[name] || !strings.HasPrefix(name, "synprobe_") {
			t.Fatalf("bad sample line %q", l)
		}
		if strings.Count(labels, `="`) < 3 {
			t.Fatalf("labels %q", labels)
		}
		if _, err := parseFloat(value); err != nil {
			t.Fatalf("value %q: %v", value, err)
		}
	}
	promValid(t, b.Bytes())
	if !strings.Contains(b.String(), `synprobe_check_success{check="web",target="198.18.10.10",port="80"} 1`) ||
		!strings.Contains(b.String(), `synprobe_check_success{check="ssh <behind> \"fw\"",target="198.18.12.10",port="22"} 0`) {
		t.Fatalf("success samples missing:\n%s", b.String())
	}
	promtoolValid(t, b.Bytes())
}

// promValid parses a Prometheus text file with the Prometheus project's
// own parser (what the node exporter's textfile collector uses) and fails
// on any series given twice, which the collector rejects with the whole
// file.
func promValid(t *testing.T, b []byte) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, b)
	}
	for name, f := range fams {
		seen := map[string]bool{}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := strings.Join(ls, ",")
			if seen[key] {
				t.Errorf("%s{%s} given twice", name, key)
			}
			seen[key] = true
		}
	}
}

// TestPrometheusSameTarget: checks of one target:port, named after it
// (two conditions on 198.18.10.10:80, say), give distinct series.
func TestPrometheusSameTarget(t *testing.T) {
	rs := sample()
	c := check.Check{Target: "198.18.10.10", Port: 80, States: []probe.State{probe.StateOpen}}
	p99 := c
	p99.Percentile, p99.MaxRTT = 99, time.Second
	crs := []check.Result{check.Evaluate(c, rs[:1]), check.Evaluate(p99, rs[:1]), check.Evaluate(c, rs[:1])}
	var b bytes.Buffer
	if err := WritePrometheus(&b, crs, t0); err != nil {
		t.Fatal(err)
	}
	golden(t, "checks-same-target.prom", b.Bytes())
	promValid(t, b.Bytes())
	for _, want := range []string{`check="198.18.10.10:80",`, `check="198.18.10.10:80#2",`, `check="198.18.10.10:80#3",`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %s in\n%s", want, b.String())
		}
	}
	promtoolValid(t, b.Bytes())
}

// promtoolValid has the Prometheus project's promtool check a text file
// (apt-get install prometheus): its parser, and its lints of names, types
// and help. The one lint it may report is for the quantile label of
// synprobe_check_rtt_seconds, a gauge (a summary's label on one): the
// README documents that series as it is.
func promtoolValid(t *testing.T, b []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		privileged.Skip(t, "promtool is not installed (apt-get install --no-install-recommends prometheus)")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 { // lints only
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != `synprobe_check_rtt_seconds non-summary metrics should not have "quantile" label` {
				t.Errorf("promtool: %s", l)
			}
		}
	} else if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, b)
	}
}

// TestPcapReadBack: one file holds IPv4 and IPv6 packets (LINKTYPE_RAW),
// read back by gopacket's pcapgo and each decoded by the file's link
// type alone, as Wireshark and tcpdump do: the version nibble tells the
// family.
func TestPcapReadBack(t *testing.T) {
	var b bytes.Buffer
	pw, err := NewPcapWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: []byte{198, 18, 1, 1}, DstIP: []byte{198, 18, 10, 10}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Seq: 7}
	tcp.SetNetworkLayerForChecksum(ip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, opts, ip, tcp); err != nil {
		t.Fatal(err)
	}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: netip.MustParseAddr("2001:2:0:1::1").AsSlice(), DstIP: netip.MustParseAddr("2001:2:0:a::a").AsSlice()}
	tcp6 := &layers.TCP{SrcPort: 40001, DstPort: 443, SYN: true, Seq: 8}
	tcp6.SetNetworkLayerForChecksum(ip6)
	sb6 := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb6, opts, ip6, tcp6); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1795490000, 123456789)
	pkts := [][]byte{sb.Bytes(), sb6.Bytes(), sb.Bytes()}
	for i, pkt := range pkts {
		pw.WritePacket(at.Add(time.Duration(i)*time.Millisecond), pkt)
	}
	pw.Flush()
	r, err := pcapgo.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw || r.Resolution() != gopacket.TimestampResolutionNanosecond {
		t.Fatalf("link %v resolution %v", r.LinkType(), r.Resolution())
	}
	for i, want := range []struct {
		src, dst string
		port     layers.TCPPort
		seq      uint32
		ipv6     bool
	}{{"198.18.1.1", "198.18.10.10", 80, 7, false}, {"2001:2:0:1::1", "2001:2:0:a::a", 443, 8, true}, {"198.18.1.1", "198.18.10.10", 80, 7, false}} {
		data, ci, err := r.ReadPacketData()
		if err != nil || !ci.Timestamp.Equal(at.Add(time.Duration(i)*time.Millisecond)) || !bytes.Equal(data, pkts[i]) {
			t.Fatalf("packet %d: %v %v", i, ci, err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("packet %d: %v", i, el.Error())
		}
		var src, dst netip.Addr
		if l, ok := p.NetworkLayer().(*layers.IPv6); ok == want.ipv6 && ok {
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		} else if l, ok := p.NetworkLayer().(*layers.IPv4); ok != want.ipv6 && ok {
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		} else {
			t.Fatalf("packet %d: network layer %T", i, p.NetworkLayer())
		}
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if src.String() != want.src || dst.String() != want.dst || !ok || tcp.DstPort != want.port || tcp.Seq != want.seq || !tcp.SYN {
			t.Fatalf("packet %d: %v > %v, %v", i, src, dst, tcp)
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after 3 packets: %v", err)
	}
}

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
