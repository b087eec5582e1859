package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// measure runs f and returns how long it took and how many bytes it
// allocated (TotalAlloc, an upper bound of the memory it held).
func measure(f func()) (time.Duration, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return took, after.TotalAlloc - before.TotalAlloc
}

// TestExcludeFileLimits: an exclude file over a limit (a line longer than
// 4,096 bytes, more than 1 MiB, a device that never ends) is refused
// while it is read: within a second, in little memory, with the file,
// the line reached and the limit; exit 2, one line, nothing opened,
// nothing looked up. Before, /dev/zero grew a buffer without end and a
// long line said "bufio.Scanner: token too long" with no line.
func TestExcludeFileLimits(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := dir + "/" + name
		writeFile(t, p, content)
		return p
	}
	addrs := strings.Repeat("198.18.10.1\n", 50_000_000/12) // 50 MB
	// A file whose last line crosses the limit: cut at the limit it
	// would read as "198.1", which is an error of its own.
	pad := comments(maxListFileSize - 5)
	n := strings.Count(pad, "\n")
	for _, c := range []struct {
		path     string
		line     int // 0: any
		sentinel error
		want     string
		maxAlloc uint64 // bytes
	}{
		{"/dev/zero", 1, errLineTooLong, "line is longer than 4096 bytes, the limit", 1 << 20},
		{file("long", "198.18.10.2\n\n198.18.10.3 # "+strings.Repeat("x", 70_000)+"\n198.18.10.4\n"), 3, errLineTooLong,
			"line is longer than 4096 bytes, the limit", 1 << 20},
		{file("long-last", "198.18.10.2\n"+strings.Repeat("#", maxListLineLen+1)), 2, errLineTooLong, "line is longer than 4096 bytes", 1 << 20},
		{file("long-crlf", "198.18.10.2\r\n"+strings.Repeat("#", maxListLineLen+1)+"\r\n"), 2, errLineTooLong, "line is longer than 4096 bytes", 1 << 20},
		// 87,381 whole lines fit in 1 MiB; the next is cut by the limit.
		{file("50MB", addrs), 87382, errListTooLarge, "the file is larger than 1 MiB, the limit", 40 << 20},
		{file("crossing", pad+"198.18.10.1\n"), n + 1, errListTooLarge, "the file is larger than 1 MiB, the limit", 4 << 20},
		{file("one-more", comments(maxListFileSize)+"1"), n + 1, errListTooLarge, "the file is larger than 1 MiB, the limit", 4 << 20},
		{"/dev/urandom", 0, nil, "", 1 << 20},
	} {
		var err error
		took, alloc := measure(func() {
			_, err = readExcludeFile(context.Background(), c.path, func(context.Context, string) ([]netip.Addr, error) {
				return nil, errors.New("no such host")
			}, func(string) {})
		})
		prefix := c.path + ":"
		if c.line != 0 {
			prefix = fmt.Sprintf("%s:%d: ", c.path, c.line)
		}
		if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), c.want) ||
			(c.sentinel != nil && !errors.Is(err, c.sentinel)) {
			t.Errorf("%s: %v; want %q...%q, errors.Is %v", c.path, err, prefix, c.want, c.sentinel)
		}
		if took > time.Second || alloc > c.maxAlloc {
			t.Errorf("%s: %v and %d bytes allocated to refuse it; want < 1s and < %d", c.path, took, alloc, c.maxAlloc)
		}

		r := runCtx(t, context.Background(), "scan", "198.18.10.0/24", "-p", "80", "--mode", "raw", "--exclude-file", c.path)
		if r.code != exitUsage || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "synprobe: "+prefix) ||
			!strings.Contains(r.stderr, c.want) || r.opened || (c.path != "/dev/urandom" && len(r.lookups) != 0) {
			t.Errorf("%s: exit %d, opened %v, looked up %d names, stdout %q, stderr %.300q", c.path, r.code, r.opened, len(r.lookups), r.stdout, r.stderr)
		}
	}
}

// TestExcludeFileWithinLimits: a file of exactly 1 MiB, a line of exactly
// 4,096 bytes (with "\r\n" after it), a last line without its "\n": read
// whole, each exclusion kept.
func TestExcludeFileWithinLimits(t *testing.T) {
	dir := t.TempDir()
	a := netip.MustParseAddr
	want := []probe.AddrRange{{First: a("198.18.10.1"), Last: a("198.18.10.1")}, {First: a("198.18.10.2"), Last: a("198.18.10.2")}}
	line := "198.18.10.1 #"
	line += strings.Repeat("x", maxListLineLen-len(line))
	full := "198.18.10.1\n" + comments(maxListFileSize-24) + "198.18.10.2\n"
	for name, content := range map[string]string{
		"full":        full,
		"long-line":   line + "\r\n198.18.10.2",
		"long-line-2": "198.18.10.1\n" + strings.Repeat("#", maxListLineLen) + "\n198.18.10.2\n",
	} {
		p := dir + "/" + name
		writeFile(t, p, content)
		if name == "full" && len(content) != maxListFileSize {
			t.Fatalf("%s: %d bytes", name, len(content))
		}
		got, err := readExcludeFile(context.Background(), p, nil, func(string) {})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v %v", name, got, err)
		}
		// Through the command: read, planned, the engine reached (and
		// refused by --mode raw, exit 3).
		r := runCtx(t, context.Background(), "scan", "198.18.10.0/24", "-p", "80", "--mode", "raw", "--exclude-file", p)
		if r.code != exitNoProbe || !r.opened || bytes.Contains([]byte(r.stderr), []byte(p)) {
			t.Errorf("%s: exit %d, opened %v, stderr %q", name, r.code, r.opened, r.stderr)
		}
	}
}

// comments is n bytes of comment lines of 100 bytes (the last one
// shorter), to fill a file up to a limit.
func comments(n int) string {
	var b strings.Builder
	for b.Len() < n {
		l := min(100, n-b.Len())
		if l == 1 {
			b.WriteString("\n")
			break
		}
		b.WriteString("#" + strings.Repeat("x", l-2) + "\n")
	}
	return b.String()
}

func TestExcludeFileOpenError(t *testing.T) {
	_, err := readExcludeFile(context.Background(), "/nonexistent", nil, func(string) {})
	if !errors.Is(err, os.ErrNotExist) || err.Error() != "exclude file: open /nonexistent: no such file or directory" {
		t.Fatalf("%v", err)
	}
}
