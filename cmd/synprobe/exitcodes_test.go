//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/results"
)

// fullStdout is a character device with /dev/full's numbers, made in a
// temporary directory and opened for writing: every write fails with
// ENOSPC, as stdout redirected to a full disk.
func fullStdout(t *testing.T) *os.File {
	t.Helper()
	p, _ := labtest.Mknod(t, t.TempDir(), "full", 1, 7)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// loopbackListener is a TCP listener on 127.0.0.1 for the length of the
// test: an answer for a ping or a check in connect mode.
func loopbackListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// watch is a buffer, safe for concurrent writes, that closes seen when
// want first appears in it.
type watch struct {
	want string
	seen chan struct{}

	mu sync.Mutex
	b  bytes.Buffer
}

func newWatch(want string) *watch { return &watch{want: want, seen: make(chan struct{})} }

func (w *watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.b.String(), w.want)
	w.b.Write(p)
	if !had && strings.Contains(w.b.String(), w.want) {
		close(w.seen)
	}
	return len(p), nil
}

func (w *watch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// runSignalled runs the command in-process on a silent network, under
// the real signal handling (interruptContext), and sends the test
// process sig once the run's stdout or stderr (whichever of the two
// watches is not nil) shows what it waits for. It returns the exit code.
func runSignalled(t *testing.T, sig syscall.Signal, stdout io.Writer, stderr *watch, waitOn *watch, args ...string) int {
	t.Helper()
	ctx, stop := interruptContext(context.Background())
	defer stop()
	done := make(chan int, 1)
	go func() { done <- runSilentTo(ctx, stdout, stderr, args...) }()
	select {
	case <-waitOn.seen:
	case code := <-done:
		t.Fatalf("%v: ended (exit %d) before %q; stderr:\n%s", args, code, waitOn.want, stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("%v: no %q in 20 s; stderr:\n%s", args, waitOn.want, stderr)
	}
	if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("%v: still running 20 s after %v; stderr:\n%s", args, sig, stderr)
	}
	return 0
}

// TestExitCodes: each exit code the README lists, produced by a real
// command line, with what goes with it. The signals' codes are
// TestSignalsEndARun's; lab exec's 127 is TestLabCLI's.
func TestExitCodes(t *testing.T) {
	full := fullStdout(t)
	for _, c := range []struct {
		name string
		code int
		run  func() (code int, stdout, stderr string)
		// check says what else the code comes with: "" when all is well.
		check func(stdout, stderr string) string
	}{
		{"0: every check passed", exitOK,
			func() (int, string, string) { return runSilent(t, checkArgs...) },
			func(stdout, stderr string) string {
				return unless(strings.Contains(stdout, "1 checks, 1 passed") && stderr == "", "the summary, and nothing on stderr")
			}},
		{"1: a check failed", exitCheckFail,
			func() (int, string, string) {
				return runSilent(t, "check", "198.19.0.1:80=open,probes=1", "--mode", "raw", "--timeout", "20ms")
			},
			func(stdout, stderr string) string {
				return unless(strings.Contains(stdout, "FAIL  198.19.0.1:80") && stderr == "", "FAIL, and nothing on stderr")
			}},
		{"1: ping got no answer", exitCheckFail,
			func() (int, string, string) {
				return runSilent(t, "ping", "198.19.0.1:80", "-c", "2", "-i", "1ms", "--timeout", "20ms", "--mode", "raw")
			},
			func(stdout, stderr string) string {
				return unless(strings.Contains(stdout, "2 probes sent, 0 answered") && stderr == "", "the summary, and nothing on stderr")
			}},
		{"2: bad usage", exitUsage,
			func() (int, string, string) {
				code, stdout, stderr, opened := runT(t, "scan", "198.18.10.1", "-p", "80", "--rate", "0")
				if opened {
					stderr += " (opened the engine)"
				}
				return code, stdout, stderr
			},
			func(stdout, stderr string) string {
				return unless(stdout == "" && stderr == "synprobe: --rate must be positive\n", "one line, nothing on stdout, nothing opened")
			}},
		{"3: could not probe", exitNoProbe,
			func() (int, string, string) {
				code, stdout, stderr, _ := runT(t, "scan", "198.18.10.1", "-p", "80", "--mode", "raw")
				return code, stdout, stderr
			},
			func(stdout, stderr string) string {
				return unless(stdout == "" && strings.Count(stderr, "\n") == 1 && strings.Contains(stderr, "setcap"), "one line with the hint, nothing on stdout")
			}},
		{"4: an output failed", exitOutput,
			func() (int, string, string) {
				var errb bytes.Buffer
				code := runSilentTo(context.Background(), full, &errb, "scan", "198.19.0.1", "-p", "80", "--mode", "raw", "--timeout", "20ms", "-o", "jsonl")
				return code, "", errb.String()
			},
			func(_, stderr string) string {
				return unless(stderr == "synprobe: write stdout: no space left on device\n", "one line naming stdout")
			}},
	} {
		code, stdout, stderr := c.run()
		if code != c.code {
			t.Errorf("%s: exit %d, want %d; stdout %q, stderr %q", c.name, code, c.code, stdout, stderr)
		} else if missing := c.check(stdout, stderr); missing != "" {
			t.Errorf("%s: want %s; stdout %q, stderr %q", c.name, missing, stdout, stderr)
		}
	}
}

// unless is what is missing, when ok is false.
func unless(ok bool, what string) string {
	if ok {
		return ""
	}
	return what
}

// TestOutputFailedExit4: stdout that cannot be written (a full disk),
// in every command and every format, and a --pcap file that cannot, are
// exit 4 with the write error on stderr, once, naming the output
// ("stdout" for stdout). Before, ping said nothing and exited 0; scan
// exited 2 ("bad input"), check 3; scan's --pcap 2, ping's 3.
func TestOutputFailedExit4(t *testing.T) {
	full := fullStdout(t)
	dir := t.TempDir()
	fullPcap, _ := labtest.Mknod(t, dir, "full", 1, 7)
	answers := loopbackListener(t) // ping and check are answered: exit 0 but for the output
	silent := []string{"--mode", "raw", "--timeout", "20ms"}
	connect := []string{"--mode", "connect", "-i", "1ms"}
	type run struct {
		args []string
		out  string // the output that fails: "stdout", or the pcap file
	}
	var runs []run
	for _, o := range []string{"table", "jsonl", "csv"} {
		runs = append(runs, run{append([]string{"scan", "198.19.0.0/30", "-p", "80", "-o", o}, silent...), "stdout"})
	}
	for _, o := range []string{"text", "jsonl", "csv"} {
		runs = append(runs, run{append([]string{"ping", answers, "-c", "3", "-o", o}, connect...), "stdout"})
	}
	for _, o := range []string{"text", "json"} {
		runs = append(runs, run{append([]string{"check", answers + "=open", "-o", o}, connect...), "stdout"})
	}
	runs = append(runs,
		run{[]string{"version"}, "stdout"},
		run{[]string{"scan", "--help"}, "stdout"},
		run{append([]string{"scan", "198.19.0.1", "-p", "80", "-q", "-o", "jsonl", "--pcap", fullPcap}, silent...), fullPcap},
		run{append([]string{"ping", answers, "-c", "2", "-q", "--pcap", fullPcap}, connect...), fullPcap},
	)
	for _, r := range runs {
		var stdout io.Writer = full
		var out bytes.Buffer
		if r.out != "stdout" {
			stdout = &out
		}
		var stderr bytes.Buffer
		code := runSilentTo(context.Background(), stdout, &stderr, r.args...)
		want := "synprobe: write " + r.out + ": no space left on device\n"
		if code != exitOutput || stderr.String() != want {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", r.args, code, stderr.String(), exitOutput, want)
		}
	}
}

// failAfter takes n writes, then fails every one with ENOSPC, as the
// kernel reports a disk that filled up.
type failAfter struct {
	bytes.Buffer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
	}
	f.n--
	return f.Buffer.Write(p)
}

// TestStdoutFailsMidway: JSON Lines and CSV write each result as it
// comes; when stdout fills up after two, the two already written stay
// whole (nothing after them, not a piece of a line) and the error is said
// once, naming stdout. Before, JSON Lines and CSV said it twice.
func TestStdoutFailsMidway(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		out := &failAfter{n: 2}
		var stderr bytes.Buffer
		code := runSilentTo(context.Background(), out, &stderr, "scan", "198.19.0.0/29", "-p", "80", "--mode", "raw", "--timeout", "20ms", "-o", format)
		if code != exitOutput || stderr.String() != "synprobe: write stdout: no space left on device\n" {
			t.Errorf("%s: exit %d, stderr %q: want 4 and the error once", format, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if !strings.HasSuffix(out.String(), "\n") {
			t.Errorf("%s: stdout ends with a piece of a line: %q", format, out.String())
		}
		switch format {
		case "jsonl":
			for _, l := range lines {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil || m["state"] != "filtered" {
					t.Errorf("jsonl: line %q: %v", l, err)
				}
			}
			if len(lines) != 2 {
				t.Errorf("jsonl: %d lines, want the 2 written", len(lines))
			}
		case "csv":
			recs, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
			if err != nil || len(recs) != 3 || strings.Join(recs[0], ",") != strings.Join(results.Columns, ",") {
				t.Errorf("csv: %d records (%v), want the header and 2 rows:\n%s", len(recs), err, out.String())
			}
		}
	}
}

// TestFailedCheckOutranksAFailedOutput: a check that failed, whose JUnit
// report could not be written, exits 1 (the verdict, what CI acts on)
// and says which output failed; so does a ping nothing answered whose
// stdout is full. Before, the check exited 3 and the ping 1 in silence.
func TestFailedCheckOutranksAFailedOutput(t *testing.T) {
	dir := t.TempDir()
	full, _ := labtest.Mknod(t, dir, "full", 1, 7)
	code, stdout, stderr := runSilent(t, "check", "198.19.0.1:80=closed", "--mode", "raw", "--timeout", "20ms", "--junit", full)
	if code != exitCheckFail || stderr != "synprobe: write "+full+": no space left on device\n" || !strings.Contains(stdout, "1 failed") {
		t.Errorf("check: exit %d, stderr %q, stdout %q: want 1, the failure on stdout and the output's on stderr", code, stderr, stdout)
	}
	var errb bytes.Buffer
	code = runSilentTo(context.Background(), fullStdout(t), &errb, "ping", "198.19.0.1:80", "-c", "2", "-i", "1ms", "--timeout", "20ms", "--mode", "raw")
	if code != exitCheckFail || errb.String() != "synprobe: write stdout: no space left on device\n" {
		t.Errorf("ping: exit %d, stderr %q: want 1 and the output's error", code, errb.String())
	}
}

// TestExitPrecedence: a run with several failures exits with the code
// of the first that applies (codeAndMessage's list), and says each
// failure once.
func TestExitPrecedence(t *testing.T) {
	output := &fs.PathError{Op: "write", Path: "stdout", Err: syscall.ENOSPC}
	outErr := results.NewSink("stdout", &failAfter{})
	outErr.Write([]byte("x"))
	out := outErr.Err()
	lost := fmt.Errorf("%w: the route to 198.19.0.0/16 was gone 1.0 s into it", probe.ErrRouteLost)
	sig := func(s syscall.Signal) error { return &signalError{sig: s} }
	for _, c := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"nothing failed", nil, 0, ""},
		{"an output", out, exitOutput, "write stdout: no space left on device"},
		{"an output, returned twice", errors.Join(out, errors.Join(out, nil)), exitOutput, "write stdout: no space left on device"},
		{"a write error not an output's", output, exitUsage, "write stdout: no space left on device"},
		{"a failed check and an output", errors.Join(out, errCheckFailed), exitCheckFail, "write stdout: no space left on device"},
		{"a lost route and a failed check", errors.Join(errCheckFailed, couldNotProbe(lost)), exitNoProbe, lost.Error()},
		{"a lost route and an output", errors.Join(couldNotProbe(lost), out), exitNoProbe, lost.Error() + "; write stdout: no space left on device"},
		{"the engine's config error", couldNotProbe(&probe.SourcePortsError{Lo: 1, Hi: 1, Tries: 2}), exitUsage,
			"source ports 1-1: 1 for 2 tries, each of which needs a port of its own"},
		{"SIGHUP", sig(syscall.SIGHUP), 129, ""},
		{"SIGINT", sig(syscall.SIGINT), 130, ""},
		{"SIGTERM", sig(syscall.SIGTERM), 143, ""},
		{"SIGTERM, a failed check, a lost route and an output", errors.Join(errCheckFailed, couldNotProbe(lost), out, sig(syscall.SIGTERM)), 143,
			lost.Error() + "; write stdout: no space left on device"},
		{"lab exec's 127", &exitError{code: 127, err: errors.New("lab exec: x: command not found")}, 127, "lab exec: x: command not found"},
		{"cobra's unknown command", errors.New(`unknown command "frobnicate" for "synprobe"`), exitUsage, `unknown command "frobnicate" for "synprobe"`},
		{"a multi-line message", usageErrorf("c.yaml:3: bad\n  more"), exitUsage, "c.yaml:3: bad; more"},
		{"fmt's %w twice is one message", fmt.Errorf("a %w b %w", errors.New("x"), errors.New("y")), exitUsage, "a x b y"},
	} {
		code, msg := codeAndMessage(c.err)
		if code != c.code || msg != c.msg {
			t.Errorf("%s: exit %d %q, want %d %q", c.name, code, msg, c.code, c.msg)
		}
	}
}

// TestSignalsEndARun: SIGHUP (a closed terminal or ssh session) and
// SIGTERM end a run as SIGINT does: a table scan prints its table and
// its summary line, a ping its statistics, with exit code 128 + the
// signal's number. Each signal is sent once the run is under way: the
// scan's -v log says it started, the ping printed its first probe.
// Before, SIGHUP killed the process with nothing printed, and SIGTERM
// exited 130. A signal outranks an output that failed with it.
func TestSignalsEndARun(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
		want := 128 + int(sig)
		// A /16 at 2,000 probes a second: half a minute, unless stopped.
		scan := []string{"scan", "198.19.0.0/16", "-p", "80", "--rate", "2000", "--mode", "raw", "--timeout", "50ms", "-v"}
		var out bytes.Buffer
		stderr := newWatch("scan start")
		code := runSignalled(t, sig, &out, stderr, stderr, scan...)
		if code != want || !strings.HasPrefix(out.String(), "TARGET") || !strings.Contains(out.String(), " results: 0 open, 0 closed, ") {
			t.Errorf("%v: table scan: exit %d, want %d, and the table:\n%s\nstderr:\n%s", sig, code, want, tail(out.String()), stderr)
		}

		ping := []string{"ping", "198.19.0.1:80", "-c", "1000", "-i", "10ms", "--mode", "raw", "--timeout", "20ms"}
		stdout := newWatch("seq=1 ")
		code = runSignalled(t, sig, stdout, newWatch("-"), stdout, ping...)
		if code != want || !strings.Contains(stdout.String(), "--- 198.19.0.1:80 synprobe statistics ---\n") || !strings.Contains(stdout.String(), " answered, ") {
			t.Errorf("%v: ping: exit %d, want %d, and the statistics:\n%s", sig, code, want, tail(stdout.String()))
		}

		// The output fails too: the signal's code, the output's error said.
		// A table, which is written even with no result (its header and
		// summary line): the signal may come before the first probe.
		stderr = newWatch("scan start")
		code = runSignalled(t, sig, fullStdout(t), stderr, stderr, scan...)
		if code != want || !strings.HasSuffix(stderr.String(), "synprobe: write stdout: no space left on device\n") {
			t.Errorf("%v: scan to a full stdout: exit %d, want %d and the output's error last:\n%s", sig, code, want, stderr)
		}
	}
}

// tail is the end of s, enough to see a summary.
func tail(s string) string { return s[max(0, len(s)-400):] }

// TestIgnoredSignalStaysIgnored: a signal ignored when synprobe starts
// (SIGHUP under nohup) stays ignored: the run goes on, and the next
// signal that is not ignored is the one that ends it. signal.Notify alone
// would have undone the ignoring.
func TestIgnoredSignalStaysIgnored(t *testing.T) {
	// In a process of its own: a signal ignored here would stay ignored
	// in every command the later tests start (a child inherits it), and
	// signal.Reset does not undo signal.Ignore for them.
	if os.Getenv("SYNPROBE_TEST_IGNORE_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIgnoredSignalStaysIgnored$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "SYNPROBE_TEST_IGNORE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestIgnoredSignalStaysIgnored") {
			t.Fatalf("in a child process: %v\n%s", err, out)
		}
		return
	}
	real := exitProcess
	exitProcess = func(code int) { t.Errorf("exit %d: SIGHUP and SIGINT made two signals", code) }
	defer func() { exitProcess = real }()
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := interruptContext(context.Background())
	defer stop()
	// An ignored signal is discarded when sent: by the time Kill returns.
	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	syscall.Kill(syscall.Getpid(), syscall.SIGINT)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGINT did not end the run")
	}
	if code := exitCodeOf(interrupted(ctx)); code != exitInterrupt {
		t.Fatalf("exit %d, want 130: the ignored SIGHUP ended the run", code)
	}
}

// TestGuardedWriterSaysAnErrorOnce: after a failed write, Close returns
// that error alone, not joined with the same error from the writer's
// own Close (JSON Lines and CSV keep it, as bufio does).
func TestGuardedWriterSaysAnErrorOnce(t *testing.T) {
	for _, format := range []string{"jsonl", "csv", "table"} {
		rw, err := results.New(format, results.NewSink("stdout", &failAfter{}), false)
		if err != nil {
			t.Fatal(err)
		}
		w := &guardedWriter{w: rw}
		w.Write(probe.Result{State: probe.StateOpen})
		err = w.Close()
		if !errors.Is(err, results.ErrWrite) || err.Error() != "write stdout: no space left on device" {
			t.Errorf("%s: Close: %q, want the write error once", format, err)
		}
	}
}

// TestREADMEExitCodes: the README's table has a row for every exit code
// and only those, each naming tests of this package that exist.
func TestREADMEExitCodes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "### Exit status\n")
	section, _, _ = strings.Cut(section, "\n## ")
	var src strings.Builder
	files, _ := filepath.Glob("*_test.go")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		src.Write(b)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) != 3 || !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| code") {
			continue
		}
		codes := strings.TrimPrefix(cells[0], "| ")
		for _, code := range strings.Split(codes, ", ") {
			got[code] = true
		}
		tests := strings.Split(strings.Trim(strings.TrimSuffix(cells[2], " |"), "`"), "`, `")
		for _, name := range tests {
			if !strings.Contains(src.String(), "func "+name+"(t *testing.T)") {
				t.Errorf("README: code %s: no test %s here", codes, name)
			}
		}
	}
	var want []string
	for _, c := range []int{exitOK, exitCheckFail, exitUsage, exitNoProbe, exitOutput, 127,
		exitSignal + int(syscall.SIGHUP), exitInterrupt, exitSignal + int(syscall.SIGTERM)} {
		want = append(want, fmt.Sprint(c))
	}
	for _, c := range want {
		if !got[c] {
			t.Errorf("README: no row for exit code %s", c)
		}
		delete(got, c)
	}
	for c := range got {
		t.Errorf("README: a row for exit code %q, which synprobe does not have", c)
	}
}
