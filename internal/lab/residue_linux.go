//go:build linux

package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LeftBehind lists what lab runs started no earlier than process since
// left behind (since 0: any run): namespaces whose owner died, their owner
// files, processes still inside them or inside a lab namespace already
// deleted, and lab nftables tables and veths in the caller's namespace.
// Labs whose owner runs (a `synprobe lab up`, a test running now) are not
// residue, nor are leftovers older than since (a crash before this run).
// A namespace whose owner file is lost cannot be dated and is listed.
func LeftBehind(since int) (Residue, error) {
	var r Residue
	var after uint64
	if since > 0 {
		st, ok := startTicks(since)
		if !ok {
			return r, fmt.Errorf("no process %d to date the run by", since)
		}
		after = st
	}
	// recent: a process that started at or after the run began.
	recent := func(start string) bool {
		n, err := strconv.ParseUint(start, 10, 64)
		return after == 0 || err != nil || n >= after
	}

	leftover := map[uint64]string{} // namespace inode → name
	mounted := map[uint64]bool{}
	for _, n := range Namespaces() {
		ino, ok := nsInode(filepath.Join(netnsDir, n))
		if ok {
			mounted[ino] = true
		}
		id := labID(n)
		if ownerAlive(id) {
			continue
		}
		if _, start := ownerOf(id); start != "" && !recent(start) {
			continue
		}
		r.Namespaces = append(r.Namespaces, n)
		if ok {
			leftover[ino] = n
		}
	}
	owners, _ := os.ReadDir(ownersDir)
	for _, o := range owners {
		if _, start := ownerOf(o.Name()); !ownerAlive(o.Name()) && (start == "" || recent(start)) {
			r.OwnerFiles = append(r.OwnerFiles, filepath.Join(ownersDir, o.Name()))
		}
	}
	// Every other named namespace counts as mounted (not a lab's, say).
	if entries, err := os.ReadDir(netnsDir); err == nil {
		for _, e := range entries {
			if ino, ok := nsInode(filepath.Join(netnsDir, e.Name())); ok {
				mounted[ino] = true
			}
		}
	}

	self, _ := nsInode("/proc/self/ns/net")
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() || zombie(pid) {
			continue
		}
		ino, ok := nsInode(filepath.Join("/proc", p.Name(), "ns/net"))
		if !ok || ino == self || anyThreadIn(pid, self) {
			// A process with a thread here is not inside a lab: a Go
			// program whose main thread ran lab.Do (a locked main
			// thread is parked, not ended, with its namespace) is one.
			continue
		}
		start := startTime(pid)
		var where string
		if n, ok := leftover[ino]; ok {
			where = "in " + n
		} else if !mounted[ino] && recent(start) {
			where = "in an unnamed network namespace (a lab namespace deleted while it ran?)"
		} else {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		r.Processes = append(r.Processes, fmt.Sprintf("%d %s (%s)", pid, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")), where))
	}

	if c, err := nftables.New(); err == nil {
		if tables, err := c.ListTables(); err == nil {
			for _, t := range tables {
				// The lab's tables (synprobe, synprobe-clamp,
				// synprobe-sink) and lab/*.sh's (synprobe-lab...).
				if strings.HasPrefix(t.Name, "synprobe") {
					r.Tables = append(r.Tables, t.Name)
				}
			}
		}
	}
	if links, err := netlink.LinkList(); err == nil {
		for _, l := range links {
			name := l.Attrs().Name
			if l.Type() == "veth" && (name == UplinkInterface || strings.HasPrefix(name, "to-")) {
				r.Links = append(r.Links, name)
			}
		}
	}
	return r, nil
}

// nsInode is the inode of a namespace file (a /run/netns mount or a
// /proc/PID/ns link): it names the namespace.
func nsInode(path string) (uint64, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0, false
	}
	return st.Ino, true
}

// anyThreadIn reports whether a thread of pid is in the network namespace ino.
func anyThreadIn(pid int, ino uint64) bool {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		if i, ok := nsInode(fmt.Sprintf("/proc/%d/task/%s/ns/net", pid, t.Name())); ok && i == ino {
			return true
		}
	}
	return false
}

// startTicks is the start time of pid in clock ticks since boot.
func startTicks(pid int) (uint64, bool) {
	n, err := strconv.ParseUint(startTime(pid), 10, 64)
	return n, err == nil
}
