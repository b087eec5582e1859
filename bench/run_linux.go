//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runSpec is one run of one tool inside the prober's namespace.
type runSpec struct {
	argv    []string
	stdout  io.Writer     // nil: discarded
	timeout time.Duration // then SIGINT, and SIGKILL 2 s later
	// counter, when set, is sampled every sampleEvery while the tool runs.
	counter     func() (uint64, error)
	sampleEvery time.Duration
	// expect, with counter: once the counter has grown by expect and
	// stayed there for settle, the tool is told to stop (some tools wait
	// for replies that never come).
	expect uint64
	settle time.Duration
	// flood: the tool never ends by itself; stop it as soon as expect
	// packets have arrived.
	flood bool
	// idle, with counter: stop the tool when the counter has grown before
	// and not for this long (a tool that cannot finish its work in time).
	idle time.Duration
	// doneMark, when set, is a pattern in the tool's stderr saying its work
	// is over although the process goes on (masscan's countdown passing
	// zero): the wall time ends there and the tool is stopped.
	doneMark *regexp.Regexp
}

// markWriter keeps what a tool prints to stderr and says, once, when the
// pattern first appears.
type markWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	mark *regexp.Regexp
	seen chan time.Time
}

func (w *markWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.mark != nil && w.mark.Match(w.buf.Bytes()[max(0, w.buf.Len()-len(p)-200):]) {
		w.seen <- time.Now()
		w.mark = nil
	}
	return len(p), nil
}

func (w *markWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// run starts spec.argv in the prober's namespace through `ip netns exec`
// (which execs the tool, so the rusage is the tool's own) and waits.
func (b *benchLab) run(ctx context.Context, spec runSpec) (runResult, error) {
	var res runResult
	dir, err := os.MkdirTemp("", "synprobe-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir) // masscan leaves paused.conf behind on SIGINT
	// GNU time forks the tool with fork(), not vfork: a child that Go
	// starts shares the harness's memory until it execs, and the kernel
	// would carry the harness's peak RSS into the tool's rusage. time's
	// own %M is the tool's (over a floor of ip's few MB, the same for all).
	rss := filepath.Join(dir, "rss")
	args := append([]string{"-f", "%M", "-o", rss, "ip", "netns", "exec", b.Namespace("prober")}, spec.argv...)
	cmd := exec.Command("/usr/bin/time", args...)
	cmd.Dir = dir
	cmd.Stdout = spec.stdout
	stderr := &markWriter{mark: spec.doneMark, seen: make(chan time.Time, 1)}
	cmd.Stderr = stderr
	// Its own process group: signals go to the tool, not only to time.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var base uint64
	if spec.counter != nil {
		if base, err = spec.counter(); err != nil {
			return res, err
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("%s: %w", spec.argv[0], err)
	}
	res.samples = append(res.samples, sample{start, base})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	every := spec.sampleEvery
	if every == 0 {
		every = 50 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	deadline := time.NewTimer(spec.timeout)
	defer deadline.Stop()
	stop := func(why string) {
		if res.stopped == "" {
			res.stopped = why
			// SIGINT to the group (time ignores it while it waits);
			// SIGKILL later to the tool alone, so that time lives on
			// to write the tool's peak RSS.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			time.AfterFunc(5*time.Second, func() {
				kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
				for _, f := range strings.Fields(string(kids)) {
					if pid, err := strconv.Atoi(f); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				time.AfterFunc(2*time.Second, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
			})
		}
	}
	var waitErr error
	var marked time.Time
	lastChange := start
loop:
	for {
		select {
		case waitErr = <-done:
			break loop
		case marked = <-stderr.seen:
			stop("its work was done but it did not exit (wall time taken when it was done)")
		case <-ctx.Done():
			stop("interrupted")
		case <-deadline.C:
			stop(fmt.Sprintf("did not finish in %v", spec.timeout))
		case now := <-tick.C:
			if spec.counter == nil {
				continue
			}
			n, err := spec.counter()
			if err != nil {
				continue
			}
			prev := res.samples[len(res.samples)-1].n
			res.samples = append(res.samples, sample{now, n})
			if n != prev {
				lastChange = now
			}
			switch {
			case spec.expect > 0 && n-base >= spec.expect && (spec.flood || now.Sub(lastChange) >= spec.settle):
				stop("all packets sent; the tool kept waiting")
			case spec.idle > 0 && n != base && now.Sub(lastChange) >= spec.idle:
				stop(fmt.Sprintf("sent nothing for %v", spec.idle))
			}
		}
	}
	res.wall = time.Since(start)
	if !marked.IsZero() {
		res.wall = marked.Sub(start)
	}
	if spec.counter != nil {
		if n, err := spec.counter(); err == nil {
			res.samples = append(res.samples, sample{time.Now(), n})
		}
	}
	if b, err := os.ReadFile(rss); err == nil {
		// The last line: time puts "Command exited with non-zero
		// status" or "Command terminated by signal" first.
		f := strings.Fields(string(b))
		if len(f) > 0 {
			res.rssKB, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	res.stderr = tail(stderr.String(), 400)
	if waitErr != nil && res.stopped == "" {
		res.err = fmt.Errorf("%s: %v: %s", spec.argv[0], waitErr, res.stderr)
	}
	return res, ctx.Err()
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
