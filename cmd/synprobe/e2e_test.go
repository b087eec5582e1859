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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
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
	l := lab.StartT(t, lab.Demo())

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
		b, err := os.ReadFile(junit)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil || doc.Tests != 3 || doc.Failures != 1 {
			t.Fatalf("junit %+v %v", doc, err)
		}
		p, _ := os.ReadFile(prom)
		if !strings.Contains(string(p), `synprobe_check_success{check="198.18.10.10:81",target="198.18.10.10",port="81"} 0`) {
			t.Fatalf("prom:\n%s", p)
		}
		r = inLab(t, l, nil, "check", "198.18.10.10:80=open", "198.18.10.10:81=closed", "-o", "json")
		if r.code != 0 || !strings.Contains(r.stdout, `"pass": true`) {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := l.Command(ctx, lab.ProberName, synprobeBin(t), "scan", "198.19.0.0/16", "-p", "80", "--rate", "2000", "-o", "jsonl", "--timeout", "300ms")
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		done := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			close(done)
		}()
		time.Sleep(1500 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		<-done
		err := cmd.Wait()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 130 {
			t.Fatalf("exit: %v", err)
		}
		if len(lines) < 100 || len(lines) > 65536/2 {
			t.Fatalf("%d results after 1.5s at 2000/s", len(lines))
		}
		for _, l := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil {
				t.Fatalf("broken line %q", l)
			}
		}
	})
}
