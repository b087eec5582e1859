//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// synprobeBin builds the command once, into a directory anybody may read
// (the fallback test runs it as nobody).
func synprobeBin(t *testing.T) string {
	t.Helper()
	// SYNPROBE_TEST_BIN runs the end-to-end tests against another build
	// (an older one, to show that a test fails there).
	if b := os.Getenv("SYNPROBE_TEST_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "synprobe-e2e")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "synprobe")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v: %s", buildErr, binPath)
	}
	return binPath
}

type runResult struct {
	code           int
	stdout, stderr string
}

// inLab runs synprobe in the lab's prober namespace.
func inLab(t *testing.T, l *lab.Lab, prefix []string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append(append(prefix, synprobeBin(t)), args...)
	cmd := l.Command(ctx, lab.ProberName, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return runResult{code, out.String(), errb.String()}
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func find(rs []map[string]any, ip string, port float64) map[string]any {
	for _, r := range rs {
		if r["ip"] == ip && r["port"] == port {
			return r
		}
	}
	return nil
}

func TestEndToEnd(t *testing.T) {
	privileged.Require(t)
	l := labtest.Start(t, lab.Demo())

	t.Run("scan raw", func(t *testing.T) {
		r := inLab(t, l, nil, "scan", "198.18.10.10", "198.18.11.10", "198.18.13.10", "-p", "22,80,445", "-o", "jsonl", "--mode", "raw", "-q")
		rs := jsonLines(t, r.stdout)
		if r.code != 0 || len(rs) != 9 {
			t.Fatalf("exit %d, %d lines; stderr %s", r.code, len(rs), r.stderr)
		}
		for _, w := range []struct {
			ip         string
			port       float64
			state, why string
			ttl, mss   float64
		}{
			{"198.18.10.10", 22, "open", "syn-ack", 62, 1460},
			{"198.18.10.10", 445, "closed", "rst", 62, 0},
			{"198.18.11.10", 445, "open", "syn-ack", 126, 1360},
			{"198.18.13.10", 22, "filtered", "admin-prohibited", 62, 0},
		} {
			got := find(rs, w.ip, w.port)
			if got == nil || got["state"] != w.state || got["reason"] != w.why || got["ttl"] != w.ttl {
				t.Errorf("%s:%v: %v", w.ip, w.port, got)
				continue
			}
			if mss, ok := got["mss"]; (w.mss != 0) != ok || (ok && mss != w.mss) {
				t.Errorf("%s:%v: mss %v, want %v", w.ip, w.port, mss, w.mss)
			}
		}
	})

	t.Run("pcap", func(t *testing.T) {
		pcap := filepath.Join(t.TempDir(), "scan.pcap")
		r := inLab(t, l, nil, "scan", "198.18.10.10", "-p", "80,81", "--pcap", pcap, "-q", "-o", "jsonl")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		// tcpdump, not synprobe, reads the file back.
		out, err := exec.Command("tcpdump", "-r", pcap, "-nn", "-tt").CombinedOutput()
		if err != nil {
			t.Fatalf("tcpdump -r: %v\n%s", err, out)
		}
		s := string(out)
		for _, want := range []string{"198.18.1.1.", "> 198.18.10.10.80: Flags [S]", "198.18.10.10.80 > 198.18.1.1.", "Flags [S.]", "198.18.10.10.81 > 198.18.1.1.", "Flags [R.]", "> 198.18.10.10.80: Flags [R]"} {
			if !strings.Contains(s, want) {
				t.Errorf("capture lacks %q:\n%s", want, s)
			}
		}
	})

	t.Run("scan connect", func(t *testing.T) {
		r := inLab(t, l, nil, "scan", "198.18.10.10:80", "198.18.10.10:81", "-o", "jsonl", "--mode", "connect")
		rs := jsonLines(t, r.stdout)
		open, closed := find(rs, "198.18.10.10", 80), find(rs, "198.18.10.10", 81)
		if r.code != 0 || open == nil || closed == nil || open["state"] != "open" || closed["state"] != "closed" {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		// A connect sees no TTL, window or options: they are absent.
		for _, k := range []string{"ttl", "window", "sack", "wscale"} {
			if _, ok := open[k]; ok {
				t.Errorf("connect mode reports %s: %v", k, open)
			}
		}
		// TCP_MAXSEG: the peer's 1460 less 12 bytes of timestamps.
		if open["mss"] != 1448.0 {
			t.Errorf("connect-mode MSS %v", open["mss"])
		}
	})

	t.Run("without CAP_NET_RAW", func(t *testing.T) {
		nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}
		r := inLab(t, l, nobody, "scan", "198.18.10.10", "-p", "80", "-o", "jsonl")
		rs := jsonLines(t, r.stdout)
		if r.code != 0 || len(rs) != 1 || rs[0]["state"] != "open" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "falling back to connect()") {
			t.Fatalf("auto: exit %d, %v, stderr %q", r.code, rs, r.stderr)
		}
		r = inLab(t, l, nobody, "scan", "198.18.10.10", "-p", "80", "--mode", "raw")
		if r.code != 3 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "run as root") || !strings.Contains(r.stderr, "setcap cap_net_raw") {
			t.Fatalf("raw: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	// Connect mode reports what the kernel saw, as a raw scan does: the
	// reject host answers 23 with a RST, 25 with port-unreachable, 26 with
	// host-unreachable and the rest with admin-prohibited, and connect()
	// alone would call 23 and 25 both "refused" and 22 and 26 both "host
	// unreachable". IP_RECVERR needs no privilege: nobody gets the same.
	t.Run("connect mode reasons", func(t *testing.T) {
		want := map[float64][2]string{22: {"filtered", "admin-prohibited"}, 23: {"closed", "rst"}, 25: {"filtered", "port-unreachable"},
			26: {"filtered", "host-unreachable"}, 80: {"open", "syn-ack"}}
		nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}
		for _, run := range []struct {
			name   string
			prefix []string
			mode   string
		}{{"raw", nil, "raw"}, {"connect", nil, "connect"}, {"connect as nobody", nobody, "auto"}} {
			r := inLab(t, l, run.prefix, "scan", "198.18.13.10", "-p", "22,23,25,26,80", "-o", "jsonl", "--mode", run.mode)
			rs := jsonLines(t, r.stdout)
			if r.code != 0 || len(rs) != 5 {
				t.Fatalf("%s: exit %d, %d lines: %s", run.name, r.code, len(rs), r.stderr)
			}
			for port, w := range want {
				got := find(rs, "198.18.13.10", port)
				if got["state"] != w[0] || got["reason"] != w[1] {
					t.Errorf("%s: port %v: %v %v, want %v", run.name, port, got["state"], got["reason"], w)
				}
				// An ICMP error's TTL is measured in both modes; a
				// SYN-ACK's or RST's only from the raw packet.
				_, hasTTL := got["ttl"]
				if icmp := w[0] == "filtered"; hasTTL != (icmp || run.mode == "raw") || (hasTTL && got["ttl"] != 62.0) {
					t.Errorf("%s: port %v: ttl %v", run.name, port, got["ttl"])
				}
			}
		}
	})

	t.Run("ping unanswered", func(t *testing.T) {
		// ICMP errors are errors, not answers: exit 1, no latency line.
		r := inLab(t, l, nil, "ping", "198.18.13.10:25", "-c", "2", "-i", "20ms")
		if r.code != 1 || !strings.Contains(r.stdout, "2 probes sent, 0 answered, +2 errors, 100.0% loss") || strings.Contains(r.stdout, "rtt min") ||
			strings.Count(r.stdout, "filtered (port-unreachable)") != 2 {
			t.Errorf("port-unreachable: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = inLab(t, l, nil, "ping", "198.18.12.10:22", "-c", "2", "-i", "20ms", "--timeout", "200ms", "-o", "jsonl")
		rs := jsonLines(t, r.stdout)
		if r.code != 1 || len(rs) != 3 {
			t.Fatalf("no response: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if sum, _ := rs[2]["summary"].(map[string]any); sum["received"] != 0.0 || sum["rtt_min_ms"] != nil {
			t.Errorf("summary %v", rs[2])
		}
		// -q: the first line and the summary, as ping -q.
		r = inLab(t, l, nil, "ping", "198.18.10.10:80", "-c", "3", "-i", "20ms", "-q")
		if r.code != 0 || strings.Contains(r.stdout, "seq=") || !strings.HasPrefix(r.stdout, "SYNPROBE 198.18.10.10:80: 3 probes") ||
			!strings.Contains(r.stdout, "3 probes sent, 3 answered, 0.0% loss\nrtt min/avg/max/stddev = ") {
			t.Errorf("-q: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("ping jsonl", func(t *testing.T) {
		r := inLab(t, l, nil, "ping", "198.18.10.10:80", "-c", "3", "-i", "20ms", "-o", "jsonl")
		rs := jsonLines(t, r.stdout)
		if r.code != 0 || len(rs) != 4 || rs[2]["seq"] != 3.0 || rs[3]["summary"] == nil {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("check", func(t *testing.T) {
		dir := t.TempDir()
		junit, prom := filepath.Join(dir, "r.xml"), filepath.Join(dir, "m.prom")
		r := inLab(t, l, nil, "check", "198.18.10.10:80=open,rtt<50ms", "198.18.12.10:22=filtered", "198.18.10.10:81=open",
			"--junit", junit, "--prom", prom, "-i", "10ms")
		if r.code != 1 || !strings.Contains(r.stdout, "3 checks, 2 passed, 1 failed") {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		if doc, b := readJUnit(t, junit); doc.Tests != 3 || doc.Failures != 1 {
			t.Fatalf("junit %+v:\n%s", doc, b)
		}
		p, _ := os.ReadFile(prom)
		if !strings.Contains(string(p), `synprobe_check_success{check="198.18.10.10:81",target="198.18.10.10",port="81"} 0`) {
			t.Fatalf("prom:\n%s", p)
		}
		r = inLab(t, l, nil, "check", "198.18.10.10:80=open", "198.18.10.10:81=closed", "-o", "json")
		if r.code != 0 || !strings.Contains(r.stdout, `"pass": true`) {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		// Two checks of one target:port: two series, not one twice.
		r = inLab(t, l, nil, "check", "198.18.10.10:80=open", "198.18.10.10:80=open,rtt.p90<1s,probes=3", "--prom", prom, "-i", "10ms")
		p, _ = os.ReadFile(prom)
		if r.code != 0 || !strings.Contains(string(p), `synprobe_check_success{check="198.18.10.10:80",`) ||
			!strings.Contains(string(p), `synprobe_check_success{check="198.18.10.10:80#2",`) || !strings.Contains(r.stdout, "PASS  198.18.10.10:80#2  3/3") {
			t.Fatalf("exit %d: %s\n%s", r.code, r.stdout, p)
		}
	})

	// An interrupted check run is green in no output: the check under
	// way when Ctrl-C came is interrupted, with the probes it sent, the
	// one after it not run, and the run exits 130 (issue 21, case 2).
	t.Run("check interrupted", func(t *testing.T) {
		dir := t.TempDir()
		junit, prom := filepath.Join(dir, "ci.xml"), filepath.Join(dir, "ci.prom")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := l.Command(ctx, lab.ProberName, synprobeBin(t), "check", "198.19.0.1:80=open", "198.19.0.2:80=open,probes=1000",
			"198.19.0.3:80=open", "-i", "10ms", "--junit", junit, "--prom", prom, "-v", "--log-format", "json")
		var out bytes.Buffer
		cmd.Stdout = &out
		errPipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The event: the engine's debug line saying the second check's
		// ping has started, so the first is done and the second under way.
		started := make(chan struct{})
		var logs bytes.Buffer
		logDone := make(chan struct{})
		go func() {
			defer close(logDone)
			sc := bufio.NewScanner(errPipe)
			once := false
			for sc.Scan() {
				logs.WriteString(sc.Text() + "\n")
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) == nil && m["message"] == "ping start" && m["target"] == "198.19.0.2:80" && !once {
					once = true
					close(started)
				}
			}
		}()
		select {
		case <-started:
		case <-logDone:
			cmd.Wait()
			t.Fatalf("synprobe ended without a \"ping start\" debug line for 198.19.0.2:80:\n%s%s", out.String(), logs.String())
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-logDone
			cmd.Wait()
			t.Fatalf("no \"ping start\" debug line for 198.19.0.2:80 within 20s:\n%s", logs.String())
		}
		cmd.Process.Signal(syscall.SIGINT)
		<-logDone
		err = cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Fatalf("exit %v, want 130:\n%s%s", err, out.String(), logs.String())
		}

		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		interruptedLine := regexp.MustCompile(`^INTERRUPTED  198\.19\.0\.2:80  .*: interrupted after (\d+) of 1000 probes$`)
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "PASS  198.19.0.1:80  1/1 probes as expected") || !interruptedLine.MatchString(lines[1]) ||
			lines[2] != "NOT RUN  198.19.0.3:80: the run was interrupted before it started" ||
			lines[3] != "interrupted: 2 of 3 checks run; 1 passed, 0 failed, 1 interrupted, 1 not run" {
			t.Fatalf("summary:\n%s", out.String())
		}
		if n, _ := strconv.Atoi(interruptedLine.FindStringSubmatch(lines[1])[1]); n >= 1000 {
			t.Errorf("interrupted after %d probes: all were sent", n)
		}

		// JUnit: every check a testcase, the unfinished ones errors.
		doc, b := readJUnit(t, junit)
		if doc.Tests != 3 || doc.Failures != 0 || doc.Errors != 2 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 3 {
			t.Fatalf("junit %+v:\n%s", doc, b)
		}
		for i, typ := range []string{"", "Interrupted", "NotRun"} {
			c := doc.Suites[0].Cases[i]
			if (c.Error == nil) != (typ == "") || (c.Error != nil && c.Error.Type != typ) {
				t.Errorf("junit testcase %s: %+v, want error %q", c.Name, c.Error, typ)
			}
		}

		// Prometheus: success 1 only for the check that finished.
		p, err := os.ReadFile(prom)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`synprobe_check_success{check="198.19.0.1:80",target="198.19.0.1",port="80"} 1`,
			`synprobe_check_success{check="198.19.0.2:80",target="198.19.0.2",port="80"} 0`,
			`synprobe_check_success{check="198.19.0.3:80",target="198.19.0.3",port="80"} 0`,
			`synprobe_check_interrupted{check="198.19.0.1:80",target="198.19.0.1",port="80"} 0`,
			`synprobe_check_interrupted{check="198.19.0.2:80",target="198.19.0.2",port="80"} 1`,
			`synprobe_check_interrupted{check="198.19.0.3:80",target="198.19.0.3",port="80"} 1`,
		} {
			if !strings.Contains(string(p), want+"\n") {
				t.Errorf("prom lacks %s:\n%s", want, p)
			}
		}
	})

	// A second Ctrl-C skips the cooldown (20 s here): what is known is
	// written at once, as valid output, and the exit status is 130. Half
	// the probes go to fw, which drops them: the cooldown cannot end
	// early (every probe settled) before the second Ctrl-C.
	t.Run("second interrupt", func(t *testing.T) {
		for _, format := range []string{"jsonl", "table"} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := l.Command(ctx, lab.ProberName, synprobeBin(t), "scan", "198.18.10.10", "198.18.12.10", "-p", "1-65535", "--rate", "2000",
				"-o", format, "--cooldown", "20s", "-v", "--log-format", "json")
			out, errl, exited := startWatched(t, cmd)
			// The first Ctrl-C while the scan sends: once it has begun
			// and, in JSON Lines, written 100 results.
			errl.waitFor(t, 10*time.Second, `the log line "scan start"`, hasLine(`"message":"scan start"`))
			if format == "jsonl" {
				out.waitFor(t, 10*time.Second, "100 results", func(ls []string) bool { return len(ls) >= 100 })
			}
			cmd.Process.Signal(syscall.SIGINT)
			// The second once the first has stopped the sending: the
			// scan is in its cooldown.
			errl.waitFor(t, 10*time.Second, `the log line "cooldown"`, hasLine(`"message":"cooldown"`))
			second := time.Now()
			cmd.Process.Signal(syscall.SIGINT)
			err := <-exited
			took := time.Since(second)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
				t.Fatalf("%s: exit %v: %s", format, err, errl)
			}
			if took > 3*time.Second {
				t.Errorf("%s: exited %v after the second Ctrl-C: it waited for the cooldown", format, took)
			}
			if !hasLine("interrupted again")(errl.Lines()) {
				t.Errorf("%s: the second Ctrl-C did not end the run; it logged:\n%s", format, errl)
			}
			text := out.String()
			if format == "jsonl" {
				if rs := jsonLines(t, text); len(rs) < 100 {
					t.Errorf("%d results", len(rs))
				}
				if !strings.HasSuffix(text, "}\n") {
					t.Errorf("output does not end with a whole line: %q", text[max(0, len(text)-80):])
				}
			} else if !strings.Contains(text, " results: ") || !strings.HasPrefix(text, "TARGET") {
				t.Errorf("table without its summary:\n%s", text[max(0, len(text)-300):])
			}
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := l.Command(ctx, lab.ProberName, synprobeBin(t), "scan", "198.19.0.0/16", "-p", "80", "--rate", "2000", "-o", "jsonl", "--timeout", "300ms")
		out, errl, exited := startWatched(t, cmd)
		// Ctrl-C once results come: the scan of 65536 has far to go.
		out.waitFor(t, 10*time.Second, "100 results", func(ls []string) bool { return len(ls) >= 100 })
		cmd.Process.Signal(syscall.SIGINT)
		err := <-exited
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 130 {
			t.Fatalf("exit: %v: %s", err, errl)
		}
		lines := out.Lines()
		if len(lines) < 100 || len(lines) > 65536/2 {
			t.Fatalf("%d results for a Ctrl-C after the 100th at 2000/s", len(lines))
		}
		for _, l := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil {
				t.Fatalf("broken line %q", l)
			}
		}
	})
}

// lines is a command's output as it comes, line by line, for a test to
// wait for what it needs in it rather than for a while.
type lines struct {
	mu    sync.Mutex
	all   []string // whole lines, without their "\n"
	part  []byte   // the line being written
	ended bool     // the command has exited: no more
	grew  chan struct{}
}

func newLines() *lines { return &lines{grew: make(chan struct{})} }

func (w *lines) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, b...)
	n := len(w.all)
	for i := bytes.IndexByte(w.part, '\n'); i >= 0; i = bytes.IndexByte(w.part, '\n') {
		w.all = append(w.all, string(w.part[:i]))
		w.part = w.part[i+1:]
	}
	if len(w.all) > n {
		close(w.grew)
		w.grew = make(chan struct{})
	}
	return len(b), nil
}

// end says the output is whole; a last line without "\n" counts too.
func (w *lines) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.part) > 0 {
		w.all = append(w.all, string(w.part))
		w.part = nil
	}
	w.ended = true
	close(w.grew)
	w.grew = make(chan struct{})
}

// Lines returns the lines so far.
func (w *lines) Lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.all)
}

// String returns the output so far, as written.
func (w *lines) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, l := range w.all {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.Write(w.part)
	return b.String()
}

// waitFor returns once ok holds over the lines so far, checked at each new
// line; the test fails, naming what and quoting the output, if that does
// not happen within d or the output ends first.
func (w *lines) waitFor(t *testing.T, d time.Duration, what string, ok func([]string) bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		w.mu.Lock()
		done, ended, grew := ok(w.all), w.ended, w.grew
		w.mu.Unlock()
		switch {
		case done:
			return
		case ended:
			t.Fatalf("the command ended without %s; it wrote:\n%s", what, w)
		}
		select {
		case <-grew:
		case <-timer.C:
			t.Fatalf("no %s within %v; the command wrote:\n%s", what, d, w)
		}
	}
}

// hasLine is a condition for waitFor: a line contains s.
func hasLine(s string) func([]string) bool {
	return func(ls []string) bool {
		return slices.ContainsFunc(ls, func(l string) bool { return strings.Contains(l, s) })
	}
}

// startWatched starts cmd with its standard output and error watched, and
// returns them and a channel that gives Wait's error once it has exited and
// both are whole.
func startWatched(t *testing.T, cmd *exec.Cmd) (stdout, stderr *lines, exited <-chan error) {
	t.Helper()
	stdout, stderr = newLines(), newLines()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch, done := make(chan error, 1), make(chan struct{})
	go func() {
		err := cmd.Wait()
		stdout.end()
		stderr.end()
		ch <- err
		close(done)
	}()
	t.Cleanup(func() { // a test that failed before it exited
		cmd.Process.Kill()
		<-done
	})
	return stdout, stderr, ch
}

// junitDoc is what the tests read of a JUnit report.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Cases []struct {
			Name  string `xml:"name,attr"`
			Error *struct {
				Type string `xml:"type,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// readJUnit reads the JUnit report at path, failing the test if it does
// not parse; it returns the file's bytes too, for messages.
func readJUnit(t *testing.T, path string) (junitDoc, []byte) {
	t.Helper()
	var doc junitDoc
	b, err := os.ReadFile(path)
	if err == nil {
		err = xml.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatalf("junit %s: %v:\n%s", path, err, b)
	}
	return doc, b
}
