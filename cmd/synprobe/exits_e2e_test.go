//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
)

// labRun is the real binary running in the lab's prober namespace, its
// stdout and stderr watched as they come.
type labRun struct {
	cmd            *exec.Cmd
	stdout, stderr *watch
}

// startInLab starts synprobe with args (after prefix: nohup, say) in
// l's prober namespace. Its stdout goes to out when not nil (a device),
// else to a watch for wantOut; its stderr to a watch for wantErr.
func startInLab(t *testing.T, ctx context.Context, l *lab.Lab, prefix []string, out io.Writer, wantOut, wantErr string, args ...string) *labRun {
	t.Helper()
	argv := append(append(prefix, synprobeBin(t)), args...)
	r := &labRun{cmd: l.Command(ctx, lab.ProberName, argv[0], argv[1:]...), stdout: newWatch(wantOut), stderr: newWatch(wantErr)}
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if out != nil {
		r.cmd.Stdout = out
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor waits for w's string, failing the test after d, or when the
// run ends first, with what was missing.
func (r *labRun) waitFor(t *testing.T, w *watch, what string, d time.Duration) {
	t.Helper()
	select {
	case <-w.seen:
	case <-time.After(d):
		r.cmd.Process.Kill()
		t.Fatalf("%v: no %s (%q) in %v; stderr:\n%s", r.cmd.Args[4:], what, w.want, d, r.stderr)
	}
}

// exit waits for the run to end and returns its exit code: -1 when a
// signal killed it.
func (r *labRun) exit(t *testing.T) int {
	t.Helper()
	err := r.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestExitCodesInTheLab runs the cases of issue 21 with the real binary
// against a lab target answering on 198.19.0.0/16:80: an output that
// cannot be written (a full device made for the test) is exit 4 in every
// command and format, said once on stderr; a check that failed outranks
// its report that could not be written; SIGHUP and SIGTERM end a run as
// SIGINT does, with every result and the summary written, exit 129, 143
// and 130, each sent once the run is under way; and SIGHUP is ignored
// under nohup, as it should be.
func TestExitCodesInTheLab(t *testing.T) {
	privileged.Require(t)
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	l := labtest.Start(t, lab.Topology{Nodes: []lab.Node{
		{Name: "big", Role: lab.RoleTarget, Parent: lab.ProberName, Addr: a("198.18.21.10"), Link: lab.Link{Subnet: p("198.18.21.0/24")},
			OpenPorts: []uint16{80}, Prefix: p("198.19.0.0/16")},
	}})
	dir := t.TempDir()
	fullPath, _ := labtest.Mknod(t, dir, "full", 1, 7)
	full, err := os.OpenFile(fullPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("outputs that fail", func(t *testing.T) {
		// stdout is the full device, or a buffer when the full one is the
		// pcap file or the report.
		for _, c := range []struct {
			args   []string
			failed string // the output named on stderr
			code   int
		}{
			{[]string{"ping", "198.19.0.1:80", "-c", "3", "-i", "10ms"}, "stdout", exitOutput},
			{[]string{"ping", "198.19.0.1:80", "-c", "3", "-i", "10ms", "-o", "jsonl"}, "stdout", exitOutput},
			{[]string{"ping", "198.19.0.1:80", "-c", "3", "-i", "10ms", "-o", "csv"}, "stdout", exitOutput},
			{[]string{"scan", "198.19.0.1", "-p", "80,81"}, "stdout", exitOutput},
			{[]string{"scan", "198.19.0.1", "-p", "80,81", "-o", "jsonl"}, "stdout", exitOutput},
			{[]string{"scan", "198.19.0.1", "-p", "80,81", "-o", "csv"}, "stdout", exitOutput},
			{[]string{"check", "198.19.0.1:80=open"}, "stdout", exitOutput},
			{[]string{"check", "198.19.0.1:80=open", "-o", "json"}, "stdout", exitOutput},
			{[]string{"scan", "198.19.0.1", "-p", "80,81", "-o", "jsonl", "--pcap", fullPath}, fullPath, exitOutput},
			{[]string{"ping", "198.19.0.1:80", "-c", "3", "-i", "10ms", "--pcap", fullPath}, fullPath, exitOutput},
			{[]string{"check", "198.19.0.1:80=open", "--pcap", fullPath}, fullPath, exitOutput},
			{[]string{"check", "198.19.0.1:80=open", "--junit", fullPath}, fullPath, exitOutput},
			// The check failed: that is its exit code, and the report's
			// failure is said.
			{[]string{"check", "198.19.0.1:80=closed", "--junit", fullPath}, fullPath, exitCheckFail},
		} {
			var out bytes.Buffer
			var stdout io.Writer = &out
			if c.failed == "stdout" {
				stdout = full
			}
			r := startInLab(t, ctx, l, nil, stdout, "", "", c.args...)
			code := r.exit(t)
			want := "synprobe: write " + c.failed + ": no space left on device\n"
			if code != c.code || r.stderr.String() != want {
				t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, r.stderr, c.code, want)
			}
			if c.failed != "stdout" && c.args[0] == "scan" {
				if rs := jsonLines(t, out.String()); len(rs) != 2 || find(rs, "198.19.0.1", 80)["state"] != "open" {
					t.Errorf("%v: stdout %q: want both results, whole", c.args, out.String())
				}
			}
		}
	})

	t.Run("signals", func(t *testing.T) {
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
			want := 128 + int(sig)
			// A table scan prints nothing before its end: the signal goes
			// once -v says the scan started.
			r := startInLab(t, ctx, l, nil, nil, "", "scan start", "scan", "198.19.0.0/16", "-p", "80", "--rate", "2000", "--timeout", "300ms", "-v")
			r.waitFor(t, r.stderr, "scan start log line", 30*time.Second)
			r.cmd.Process.Signal(sig)
			code := r.exit(t)
			out := r.stdout.String()
			open := 0
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) > 2 && f[1] == "open" {
					open++
				}
			}
			if code != want || !strings.HasPrefix(out, "TARGET") || !strings.Contains(out, fmt.Sprintf("\n%d results: %d open, ", open, open)) {
				t.Errorf("%v: table scan: exit %d, want %d, and the table with its summary line:\n%s\nstderr:\n%s", sig, code, want, tail(out), tail(r.stderr.String()))
			}

			r = startInLab(t, ctx, l, nil, nil, " seq=1 ", "", "ping", "198.19.0.1:80", "-c", "1000", "-i", "10ms")
			r.waitFor(t, r.stdout, "first probe line", 30*time.Second)
			r.cmd.Process.Signal(sig)
			code = r.exit(t)
			out = r.stdout.String()
			if code != want || !strings.Contains(out, "\n--- 198.19.0.1:80 synprobe statistics ---\n") || !strings.Contains(out, "\nrtt min/avg/max/stddev = ") {
				t.Errorf("%v: ping: exit %d, want %d, and the statistics:\n%s\nstderr:\n%s", sig, code, want, tail(out), r.stderr)
			}
		}
	})

	t.Run("nohup", func(t *testing.T) {
		// Under nohup, SIGHUP is ignored: the ping goes on to its end.
		r := startInLab(t, ctx, l, []string{"nohup"}, nil, " seq=1 ", "", "ping", "198.19.0.1:80", "-c", "3", "-i", "200ms")
		r.waitFor(t, r.stdout, "first probe line", 30*time.Second)
		r.cmd.Process.Signal(syscall.SIGHUP)
		if code := r.exit(t); code != 0 || !strings.Contains(r.stdout.String(), "3 probes sent, 3 answered") {
			t.Errorf("exit %d, want 0 and every probe:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
		}
	})
}
