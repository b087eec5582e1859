package results

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/synprobe/synprobe/check"
	"github.com/synprobe/synprobe/probe"
)

// WriteCheckSummary prints one line per check for people, and a total.
// A run cut short lists every check too, and its total says so: never
// "N passed" alone for a run that did not finish.
func WriteCheckSummary(w io.Writer, crs []check.Result) error {
	var passed, failed, interrupted, notRun int
	for _, cr := range crs {
		var status string
		switch cr.Status {
		case check.StatusPass:
			status = "PASS"
			passed++
		case check.StatusInterrupted:
			status = "INTERRUPTED"
			interrupted++
		case check.StatusNotRun:
			status = "NOT RUN"
			notRun++
		default:
			status = "FAIL"
			failed++
		}
		line := status + "  " + cr.Check.Name
		if cr.Status != check.StatusNotRun {
			line += fmt.Sprintf("  %d/%d probes as expected", cr.Successes, len(cr.Results))
		}
		if cr.HasRTT {
			line += fmt.Sprintf(", p%s %.3fms", strconv.FormatFloat(cr.Check.Percentile, 'f', -1, 64), Millis(cr.RTT))
		}
		why := cr.Failures
		if s := cr.Incomplete(); s != "" {
			why = append([]string{s}, why...)
		}
		if len(why) > 0 {
			line += ": " + strings.Join(why, "; ")
		}
		fmt.Fprintln(w, line)
	}
	if interrupted+notRun > 0 {
		_, err := fmt.Fprintf(w, "interrupted: %d of %d checks run; %d passed, %d failed, %d interrupted, %d not run\n",
			len(crs)-notRun, len(crs), passed, failed, interrupted, notRun)
		return err
	}
	_, err := fmt.Fprintf(w, "%d checks, %d passed, %d failed\n", len(crs), passed, failed)
	return err
}

// CheckJSON is one check in `synprobe check -o json`.
type CheckJSON struct {
	Name         string   `json:"name"`
	Target       string   `json:"target"`
	Port         uint16   `json:"port"`
	Expect       []string `json:"expect"`
	Pass         bool     `json:"pass"`
	Status       string   `json:"status"`               // pass, fail, interrupted, not-run
	Incomplete   string   `json:"incomplete,omitempty"` // why it has no verdict: "interrupted after 116 of 1000 probes"
	Failures     []string `json:"failures,omitempty"`
	Probes       int      `json:"probes"`
	Successes    int      `json:"successes"`
	SuccessRatio float64  `json:"success_ratio"`
	Percentile   float64  `json:"percentile"`
	RTTms        *float64 `json:"rtt_ms,omitempty"`
	MaxRTTms     *float64 `json:"max_rtt_ms,omitempty"`
	Results      []Record `json:"results"`
}

// WriteChecksJSON writes {"pass": bool, "interrupted": bool, "checks":
// [...]}: interrupted when a check did not finish (its status
// interrupted or not-run), and then pass is false.
func WriteChecksJSON(w io.Writer, crs []check.Result) error {
	out := struct {
		Pass        bool        `json:"pass"`
		Interrupted bool        `json:"interrupted"`
		Checks      []CheckJSON `json:"checks"`
	}{Pass: true, Checks: []CheckJSON{}}
	for _, cr := range crs {
		c := cr.Check
		j := CheckJSON{Name: c.Name, Target: c.Target, Port: c.Port, Pass: cr.Pass, Status: cr.Status.String(), Incomplete: cr.Incomplete(),
			Failures: cr.Failures, Probes: len(cr.Results),
			Successes: cr.Successes, SuccessRatio: cr.SuccessRatio, Percentile: c.Percentile, Results: []Record{}}
		for _, s := range c.States {
			j.Expect = append(j.Expect, s.String())
		}
		if cr.HasRTT {
			j.RTTms = ptr(Millis(cr.RTT))
		}
		if c.MaxRTT > 0 {
			j.MaxRTTms = ptr(Millis(c.MaxRTT))
		}
		for _, r := range cr.Results {
			j.Results = append(j.Results, NewRecord(r, true))
		}
		out.Pass = out.Pass && cr.Pass
		out.Interrupted = out.Interrupted || !cr.Status.Finished()
		out.Checks = append(out.Checks, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the checks as JUnit XML, one testcase per check, the
// shape GitLab, Jenkins and the common GitHub Actions reporters read.
//
// A check that did not finish is an <error> (type Interrupted or NotRun),
// never a <skipped>: Jenkins marks a build unstable for failures and
// errors, not for skipped tests; action-junit-report passes a run of
// passes and skips; GitLab's test report counts errors with failures and
// skips apart, as neither. An error is not green in any of them. And a
// run interrupted between two checks has no interrupted check, only
// checks not run: as skips, its report would be green.
func WriteJUnit(w io.Writer, crs []check.Result, started time.Time, took time.Duration) error {
	s := junitSuite{Name: "synprobe check", Tests: len(crs), Time: secs(took), Timestamp: started.UTC().Format("2006-01-02T15:04:05")}
	for _, cr := range crs {
		var d time.Duration
		for _, r := range cr.Results {
			d += r.RTT
		}
		tc := junitCase{Name: cr.Check.Name, Classname: "synprobe.check", Time: secs(d)}
		var out strings.Builder
		WriteCheckSummary(&out, []check.Result{cr})
		tc.SystemOut = out.String()
		switch cr.Status {
		case check.StatusPass:
		case check.StatusInterrupted, check.StatusNotRun:
			s.Errors++
			typ := "Interrupted"
			if cr.Status == check.StatusNotRun {
				typ = "NotRun"
			}
			tc.Error = &junitFailure{Message: cr.Incomplete(), Type: typ, Text: out.String()}
		default:
			s.Failures++
			tc.Failure = &junitFailure{Message: strings.Join(cr.Failures, "; "), Type: "CheckFailed", Text: out.String()}
		}
		s.Cases = append(s.Cases, tc)
	}
	doc := junitSuites{Name: "synprobe", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: s.Time, Suites: []junitSuite{s}}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// WritePrometheus writes the checks in the Prometheus text exposition
// format, for the node exporter's textfile collector: success, success
// ratio, latency at the chosen percentile, reply TTL and MSS per check.
//
// A check that did not finish has success 0, not no series: an alert on
// synprobe_check_success == 0 fires for it, where a series gone from the
// file would fire nothing. synprobe_check_interrupted, 1 for it and 0 for
// a check that finished, tells that 0 from a failure; max() of it over a
// run's checks tells an interrupted run. A value that was not measured
// is left out: the success ratio of a check that sent no probe, and when
// a check that never started ran.
func WritePrometheus(w io.Writer, crs []check.Result, now time.Time) error {
	type metric struct{ name, help string }
	ms := []metric{
		{"synprobe_check_success", "Whether the check passed (1) or not (0): it failed, or did not finish (synprobe_check_interrupted 1)."},
		{"synprobe_check_interrupted", "Whether the check did not finish (1): the run was interrupted while it ran or before it started (then synprobe_check_probes is 0). 0: it finished."},
		{"synprobe_check_success_ratio", "Share of the check's probes that found an expected state."},
		{"synprobe_check_probes", "Probes sent for the check."},
		{"synprobe_check_rtt_seconds", "Handshake latency at the check's percentile (label quantile)."},
		{"synprobe_check_ttl", "TTL of the last reply (for IPv6, its hop limit)."},
		{"synprobe_check_initial_ttl", "Initial TTL (for IPv6, hop limit) inferred for the other stack."},
		{"synprobe_check_mss_bytes", "MSS the other side advertised in its last SYN-ACK."},
		{"synprobe_check_timestamp_seconds", "When the check ran, as a Unix time."},
	}
	// The check label tells series apart: two checks of one target:port
	// (say, one on the median and one on p99) must not give duplicate
	// series, which Prometheus rejects with the whole file.
	cs := make([]check.Check, len(crs))
	for i, cr := range crs {
		cs[i] = cr.Check
	}
	check.UniqueNames(cs)
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", m.name, m.help, m.name)
		for i, cr := range crs {
			c := cr.Check
			labels := fmt.Sprintf(`check="%s",target="%s",port="%d"`, esc(cs[i].Name), esc(c.Target), c.Port)
			var last *probe.Result
			for i := range cr.Results {
				if cr.Results[i].Has&probe.HasTTL != 0 {
					last = &cr.Results[i]
				}
			}
			switch m.name {
			case "synprobe_check_success":
				fmt.Fprintf(&b, "%s{%s} %d\n", m.name, labels, b2i(cr.Pass))
			case "synprobe_check_interrupted":
				fmt.Fprintf(&b, "%s{%s} %d\n", m.name, labels, b2i(!cr.Status.Finished()))
			case "synprobe_check_success_ratio":
				if len(cr.Results) > 0 {
					fmt.Fprintf(&b, "%s{%s} %s\n", m.name, labels, fl(cr.SuccessRatio))
				}
			case "synprobe_check_probes":
				fmt.Fprintf(&b, "%s{%s} %d\n", m.name, labels, len(cr.Results))
			case "synprobe_check_rtt_seconds":
				if cr.HasRTT {
					fmt.Fprintf(&b, "%s{%s,quantile=\"%s\"} %s\n", m.name, labels, fl(c.Percentile/100), fl(cr.RTT.Seconds()))
				}
			case "synprobe_check_ttl":
				if last != nil {
					fmt.Fprintf(&b, "%s{%s} %d\n", m.name, labels, last.TTL)
				}
			case "synprobe_check_initial_ttl":
				if last != nil {
					fmt.Fprintf(&b, "%s{%s} %d\n", m.name, labels, last.InitialTTL)
				}
			case "synprobe_check_mss_bytes":
				for i := len(cr.Results) - 1; i >= 0; i-- {
					if cr.Results[i].Has&probe.HasMSS != 0 {
						fmt.Fprintf(&b, "%s{%s} %d\n", m.name, labels, cr.Results[i].MSS)
						break
					}
				}
			case "synprobe_check_timestamp_seconds":
				if cr.Status == check.StatusNotRun {
					break
				}
				fmt.Fprintf(&b, "%s{%s} %d\n", m.name, labels, now.Unix())
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func fl(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
