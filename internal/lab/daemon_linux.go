//go:build linux

package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The demo lab of `synprobe lab up` outlives the command that built it: its
// listeners and wires live in a small background process (`synprobe lab
// daemon`), whose PID and namespaces are kept in a state file.

// DemoID is the lab ID of the demo, so its namespaces are synp-demo-*.
// The environment variable SYNPROBE_LAB_ID (1 to 8 lower-case letters and
// digits) replaces it, and SYNPROBE_LAB_DIR replaces StateDir, so that a
// second demo lab (the CLI's own test, say) can run beside a user's.
const DemoID = "demo"

// StateDir holds the demo lab's state file and log.
var StateDir = "/run/synprobe"

// ownersDir holds one file per running lab, whatever its StateDir: it is
// how `lab down` tells a crashed run's leftovers from a live lab.
const ownersDir = "/run/synprobe/owners"

func demoID() (string, error) {
	id := os.Getenv("SYNPROBE_LAB_ID")
	if id == "" {
		return DemoID, nil
	}
	if len(id) > 8 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return "", fmt.Errorf("SYNPROBE_LAB_ID=%q: want 1 to 8 lower-case letters and digits", id)
	}
	return id, nil
}

func stateDir() string {
	if d := os.Getenv("SYNPROBE_LAB_DIR"); d != "" {
		return d
	}
	return StateDir
}

func statePath() string { return filepath.Join(stateDir(), "lab.json") }

// LogPath is where the daemon writes what goes wrong.
func LogPath() string { return filepath.Join(stateDir(), "lab.log") }

// ReadState returns the demo lab's state, or os.ErrNotExist when it is down.
func ReadState() (State, error) { return readStateAt(statePath()) }

func readStateAt(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("lab state %s: %w", path, err)
	}
	return s, nil
}

// Alive reports whether the daemon of s still runs.
func (s State) Alive() bool { return s.PID > 0 && processExists(s.PID) }

// processExists reports whether pid is a process. kill(pid, 0) checks
// without sending anything; EPERM means the process exists but belongs to
// someone else (a root daemon seen by a user's lab status), so it is alive.
func processExists(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Serve is the daemon: it builds topo with the demo ID, writes the state
// file, and keeps the lab until ctx is done.
func Serve(ctx context.Context, topo Topology) error {
	id, err := demoID()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir(), 0o755); err != nil {
		return err
	}
	l, err := start(ctx, topo, id)
	if err != nil {
		return err
	}
	defer l.Close()
	st := State{PID: os.Getpid(), ID: l.ID, Namespaces: map[string]string{}, Started: time.Now(), WireMode: l.WireMode}
	for k, v := range l.names {
		st.Namespaces[k] = v
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, statePath()); err != nil {
		return err
	}
	defer os.Remove(statePath())
	<-ctx.Done()
	return nil
}

// Up starts the daemon (exe with args, normally "synprobe lab daemon")
// detached from the terminal and waits until the lab is ready.
func Up(exe string, args ...string) (State, error) {
	if st, err := ReadState(); err == nil && st.Alive() {
		return st, fmt.Errorf("lab is already up (pid %d): run synprobe lab down first", st.PID)
	}
	id, err := demoID()
	if err != nil {
		return State{}, err
	}
	var left []string
	for _, n := range Namespaces() {
		if strings.HasPrefix(n, NamePrefix+id+"-") {
			left = append(left, n)
		}
	}
	if len(left) > 0 {
		return State{}, fmt.Errorf("namespaces of an earlier lab are still there (%s): run synprobe lab down first", strings.Join(left, ", "))
	}
	if err := os.MkdirAll(stateDir(), 0o755); err != nil {
		return State{}, err
	}
	logf, err := os.Create(LogPath())
	if err != nil {
		return State{}, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return State{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		if st, err := ReadState(); err == nil && st.PID == cmd.Process.Pid {
			return st, nil
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(LogPath())
			return State{}, fmt.Errorf("lab daemon exited (%v): %s", err, strings.TrimSpace(string(log)))
		case <-deadline:
			cmd.Process.Kill()
			return State{}, errors.New("lab daemon not ready after 30s; see " + LogPath())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Down stops the demo lab's daemon (the lab SYNPROBE_LAB_ID and
// SYNPROBE_LAB_DIR name, see DownLab) and removes every lab namespace whose
// owner is gone, the demo's and any a crashed test left, killing processes
// still inside them. Labs of tests still running are left alone. It
// returns the namespaces it removed.
func Down() ([]string, error) {
	var removed []string
	var errs []error
	if id, err := demoID(); err == nil {
		r, err := DownLab(id, stateDir())
		removed, errs = r, append(errs, err)
	}
	os.Remove(statePath())
	r, err := removeNamespaces(Leftovers())
	removed, errs = append(removed, r...), append(errs, err)
	// Owner files of labs whose owner died.
	owners, _ := os.ReadDir(ownersDir)
	for _, o := range owners {
		if !ownerAlive(o.Name()) {
			unregisterOwner(o.Name())
		}
	}
	return removed, errors.Join(errs...)
}

// DownLab is Down for one lab and nothing else: it stops the daemon that
// holds lab id with its state in dir (found through dir's state file, or,
// if that was lost, through the lab's owner file, when that daemon was
// started with dir), then removes the lab's namespaces, once their owner is
// gone, and its owner file. Other labs are left alone, a crashed one or one
// under the same ID with another state directory included: a test cleaning
// up after itself never stops another run's lab.
func DownLab(id, dir string) ([]string, error) {
	state := filepath.Join(dir, "lab.json")
	if st, err := readStateAt(state); err == nil && st.ID == id && st.Alive() {
		stopDaemon(st.PID)
	}
	if pid := ownerPID(id); pid > 0 && isLabDaemon(pid) && daemonDir(pid) == filepath.Clean(dir) {
		stopDaemon(pid)
	}
	if st, err := readStateAt(state); err == nil && st.ID == id && !st.Alive() {
		os.Remove(state)
	}
	var mine []string
	for _, n := range Leftovers() {
		if labID(n) == id {
			mine = append(mine, n)
		}
	}
	removed, err := removeNamespaces(mine)
	if !ownerAlive(id) {
		unregisterOwner(id)
	}
	return removed, err
}

// removeNamespaces kills every process inside each named namespace and
// deletes it.
func removeNamespaces(names []string) ([]string, error) {
	var errs []error
	for _, name := range names {
		killInside(name)
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", name, err))
		}
	}
	return names, errors.Join(errs...)
}

// daemonDir is the state directory lab daemon pid was started with (its
// SYNPROBE_LAB_DIR, else StateDir), or "" if its environment is unreadable.
func daemonDir(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return ""
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if d, ok := strings.CutPrefix(kv, "SYNPROBE_LAB_DIR="); ok && d != "" {
			return filepath.Clean(d)
		}
	}
	return filepath.Clean(StateDir)
}

// Namespaces lists every namespace under /run/netns with the lab prefix,
// live labs' and leftovers alike.
func Namespaces() []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), NamePrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Leftovers lists the lab namespaces whose owner (the test process or lab
// daemon that built them) is gone: what a crashed run left behind. The
// namespaces of a lab that is still in use, such as a test running in
// another package at the same moment, are not leftovers.
func Leftovers() []string {
	var out []string
	for _, n := range Namespaces() {
		if !ownerAlive(labID(n)) {
			out = append(out, n)
		}
	}
	return out
}

// labID is the <id> of synp-<id>-<node>.
func labID(ns string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(ns, NamePrefix), "-")
	return id
}

// Every lab records its owner's PID in /run/synprobe/owners/<id> before it
// creates anything and removes it when it is closed.
func ownerPath(id string) string { return filepath.Join(ownersDir, id) }

func registerOwner(id string) error {
	if err := os.MkdirAll(filepath.Dir(ownerPath(id)), 0o755); err != nil {
		return err
	}
	pid := os.Getpid()
	return os.WriteFile(ownerPath(id), fmt.Appendf(nil, "%d %s\n", pid, startTime(pid)), 0o644)
}

func unregisterOwner(id string) { os.Remove(ownerPath(id)) }

// startTime is field 22 of /proc/PID/stat, the process's start time in
// clock ticks since boot: with the PID it names one process, even after
// the PID is reused.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	_, rest, _ := strings.Cut(string(b), ") ") // the name may hold spaces
	f := strings.Fields(rest)
	if len(f) < 20 {
		return ""
	}
	return f[19] // fields 3.. start at rest[0]
}

func ownerAlive(id string) bool {
	if pid, start := ownerOf(id); pid > 0 {
		return processExists(pid) && !zombie(pid) && (start == "" || start == startTime(pid))
	}
	// A demo lab started by a synprobe older than owner files still
	// has its state file.
	st, err := readStateAt(filepath.Join(StateDir, "lab.json"))
	return err == nil && st.ID == id && st.Alive()
}

// ownerOf reads lab id's owner file: the PID and its start time ("" if
// the file has none), or 0 if there is no file.
func ownerOf(id string) (pid int, start string) {
	b, err := os.ReadFile(ownerPath(id))
	if err != nil {
		return 0, ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, ""
	}
	pid, _ = strconv.Atoi(f[0])
	if len(f) > 1 {
		start = f[1]
	}
	return pid, start
}

// ownerPID is the PID of lab id's owner if that process still runs, else 0.
func ownerPID(id string) int {
	if !ownerAlive(id) {
		return 0
	}
	pid, _ := ownerOf(id)
	return pid
}

// isLabDaemon reports whether pid runs `synprobe lab daemon`.
func isLabDaemon(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), "\x00lab\x00daemon")
}

// stopDaemon sends SIGTERM, waits up to 10 s for the daemon to remove its
// lab, then kills it (its namespaces are then removed as leftovers).
func stopDaemon(pid int) {
	unix.Kill(pid, unix.SIGTERM)
	alive := func() bool { return processExists(pid) && !zombie(pid) }
	for i := 0; i < 100 && alive(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if alive() {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// zombie reports whether pid has exited but not been reaped (a daemon
// started by this very process, as in tests).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && strings.HasPrefix(rest, "Z")
}

// killInside kills every process whose network namespace is name's.
func killInside(name string) {
	var want unix.Stat_t
	if unix.Stat(filepath.Join("/run/netns", name), &want) != nil {
		return
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", p.Name(), "ns/net"), &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// EnterAndExec replaces the current process with argv running inside the
// namespace ns (for `synprobe lab exec`). It returns only on error.
func EnterAndExec(ns string, argv []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("lab namespace %s: %w (is the lab up?)", ns, err)
	}
	// execve runs on this thread, so the new program inherits its
	// namespace; the thread must not be handed to another goroutine
	// between Set and Exec.
	lockThread()
	if err := netns.Set(h); err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}
