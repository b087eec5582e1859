//go:build linux

package results

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/synprobe/synprobe/internal/labtest"
	"golang.org/x/sys/unix"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// files lists the names in dir, to catch a temporary file left behind.
func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// namesOnly checks that err names p, and no temporary file.
func namesOnly(t *testing.T, err error, p string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), p+": ") || strings.Contains(err.Error(), ".tmp") {
		t.Fatalf("error %v: want one naming %s and no temporary file", err, p)
	}
}

func create(t *testing.T, p string) *Output {
	t.Helper()
	o, err := CreateOutput(p)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestOutputRegularFileAtomic: a regular file is replaced only by a
// whole new one. A write that fails midway, or an abort, leaves the old
// file as it was and no temporary file; while the new one is written,
// the path still holds the old. The new file keeps the old one's mode.
func TestOutputRegularFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.prom")
	if err := os.WriteFile(p, []byte("old 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(p)
	broken := errors.New("the encoder broke")
	err := create(t, p).WriteAndCommit(func(w io.Writer) error {
		io.WriteString(w, "new 2\n")
		if s := readString(t, p); s != "old 1\n" {
			t.Errorf("while written: %q", s)
		}
		return broken
	})
	namesOnly(t, err, p)
	if !errors.Is(err, broken) || !errors.Is(err, ErrWrite) {
		t.Errorf("%v does not wrap the write's error, or is not an ErrWrite", err)
	}
	if s := readString(t, p); s != "old 1\n" || len(files(t, dir)) != 1 {
		t.Fatalf("after a failed write: %q, files %v", s, files(t, dir))
	}

	o := create(t, p)
	io.WriteString(o, "half")
	o.Abort()
	if s := readString(t, p); s != "old 1\n" || len(files(t, dir)) != 1 {
		t.Fatalf("after Abort: %q, files %v", s, files(t, dir))
	}
	if err := o.Commit(); err == nil || errors.Is(err, ErrWrite) {
		t.Fatalf("Commit after Abort: %v, want an error, not an ErrWrite (nothing failed)", err)
	}

	o = create(t, p)
	if err := o.WriteAndCommit(writeString("new 2\n")); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(); err != nil {
		t.Fatalf("a second Commit: %v", err)
	}
	o.Abort() // after Commit: nothing
	after, _ := os.Lstat(p)
	if s := readString(t, p); s != "new 2\n" || len(files(t, dir)) != 1 {
		t.Fatalf("%q, files %v", s, files(t, dir))
	}
	if !after.Mode().IsRegular() || after.Mode().Perm() != 0o600 || os.SameFile(before, after) {
		t.Fatalf("mode %v, same file %v: want a new regular file, 0600 as the old one", after.Mode(), os.SameFile(before, after))
	}
}

// TestOutputNewPath: a path that does not exist yet is created, 0644.
func TestOutputNewPath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.xml")
	o := create(t, p)
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the path exists before Commit: %v", err)
	}
	if err := o.WriteAndCommit(writeString("<x/>\n")); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Lstat(p)
	if s := readString(t, p); s != "<x/>\n" || st.Mode() != 0o644 || len(files(t, dir)) != 1 {
		t.Fatalf("%q, mode %v, files %v", s, st.Mode(), files(t, dir))
	}
	// Aborted, it leaves nothing.
	p2 := filepath.Join(dir, "other.xml")
	create(t, p2).Abort()
	if len(files(t, dir)) != 1 {
		t.Fatalf("files %v", files(t, dir))
	}
}

// TestOutputOpenErrorsNameThePath: what cannot be written is an error at
// CreateOutput, naming the path as given.
func TestOutputOpenErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	os.Symlink(dir, filepath.Join(dir, "dirlink"))
	os.Symlink("missing/r.xml", filepath.Join(dir, "danglinglink"))
	for _, c := range []struct {
		path string
		is   error
		want string
	}{
		{filepath.Join(dir, "missing", "m.prom"), fs.ErrNotExist, "directory " + filepath.Join(dir, "missing") + " does not exist"},
		{filepath.Join(file, "m.prom"), syscall.ENOTDIR, file + " is not a directory"},
		{dir, syscall.EISDIR, "is a directory"},
		{filepath.Join(dir, "dirlink"), syscall.EISDIR, "is a directory"},
		{filepath.Join(dir, "danglinglink"), fs.ErrNotExist, "directory " + filepath.Join(dir, "missing") + " does not exist"},
		{"", fs.ErrInvalid, "invalid argument"},
	} {
		o, err := CreateOutput(c.path)
		if o != nil || !errors.Is(err, c.is) || !strings.HasSuffix(err.Error(), c.path+": "+c.want) || strings.Contains(err.Error(), ".tmp") {
			t.Errorf("%s: %v, want an error %q (%v)", c.path, err, c.want, c.is)
		}
		if errors.Is(err, ErrWrite) {
			t.Errorf("%s: %v is an ErrWrite: it could not be opened", c.path, err)
		}
	}
	if fs := files(t, dir); len(fs) != 3 {
		t.Errorf("files %v", fs)
	}
}

// TestOutputSymlinkToRegularFile: a symbolic link to a regular file stays
// a link; the file it leads to is replaced atomically, its temporary file
// in its own directory. A link to nothing yet creates the file it names.
func TestOutputSymlinkToRegularFile(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	real := filepath.Join(b, "real.xml")
	os.WriteFile(real, []byte("old\n"), 0o640)
	link := filepath.Join(a, "link.xml")
	os.Symlink("../b/real.xml", link)
	chain := filepath.Join(a, "chain.xml") // a link to the link
	os.Symlink(link, chain)
	dangling := filepath.Join(a, "dangling.xml")
	os.Symlink("../b/new.xml", dangling)

	for i, p := range []string{link, chain} {
		o := create(t, p)
		if o.tmp == "" || filepath.Dir(o.tmp) != b {
			t.Fatalf("%s: temporary file %q, want one in %s", p, o.tmp, b)
		}
		want := fmt.Sprintf("new %d\n", i)
		if err := o.WriteAndCommit(writeString(want)); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(real)
		if s := readString(t, real); s != want || st.Mode().Perm() != 0o640 {
			t.Fatalf("%s: target %q mode %v", p, s, st.Mode())
		}
	}
	if err := create(t, dangling).WriteAndCommit(writeString("created\n")); err != nil {
		t.Fatal(err)
	}
	if s := readString(t, filepath.Join(b, "new.xml")); s != "created\n" {
		t.Fatalf("through the dangling link: %q", s)
	}
	for p, to := range map[string]string{link: "../b/real.xml", chain: link, dangling: "../b/new.xml"} {
		if got, err := os.Readlink(p); err != nil || got != to {
			t.Errorf("%s is no longer a link to %s: %q %v", p, to, got, err)
		}
	}
	if fa, fb := files(t, a), files(t, b); len(fa) != 3 || len(fb) != 2 {
		t.Errorf("files %v %v", fa, fb)
	}
}

// stillDevice checks that p is the character device dev it was.
func stillDevice(t *testing.T, p string, dev uint64) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&fs.ModeCharDevice == 0 || st.Sys().(*syscall.Stat_t).Rdev != dev {
		t.Fatalf("%s is now %v", p, st.Mode())
	}
}

// TestOutputCharDevice: a device is written in place and stays the
// device; a write error (ENOSPC from a "full" device) is reported,
// naming the path. So through a symbolic link, which stays a link.
func TestOutputCharDevice(t *testing.T) {
	dir := t.TempDir()
	full, fullDev := labtest.Mknod(t, dir, "full", 1, 7)
	null, nullDev := labtest.Mknod(t, dir, "null", 1, 3)
	fullLink := filepath.Join(dir, "full-link")
	os.Symlink("full", fullLink)
	nullLink := filepath.Join(dir, "null-link")
	os.Symlink(null, nullLink)

	for _, p := range []string{full, fullLink} {
		err := create(t, p).WriteAndCommit(writeString("synprobe_check_success 1\n"))
		namesOnly(t, err, p)
		if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrWrite) {
			t.Errorf("%s: %v, want ENOSPC, an ErrWrite", p, err)
		}
		stillDevice(t, full, fullDev)
	}
	// A write error sticks: Commit reports it too.
	o := create(t, full)
	io.WriteString(o, "x")
	if err := o.Commit(); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrWrite) {
		t.Errorf("Commit after a failed Write: %v, want ENOSPC, an ErrWrite", err)
	}
	for _, p := range []string{null, nullLink} {
		if err := create(t, p).WriteAndCommit(writeString("synprobe_check_success 1\n")); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		stillDevice(t, null, nullDev)
	}
	for _, l := range []string{fullLink, nullLink} {
		if st, err := os.Lstat(l); err != nil || st.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s is no longer a link: %v", l, err)
		}
	}
	if fs := files(t, dir); len(fs) != 4 {
		t.Errorf("files %v", fs)
	}
}

// pcapThrough writes a pcap file of n packets to p with a reader reading
// p at the same time (as tcpdump -r FIFO does), and returns what the
// reader got, parsed.
func pcapThrough(t *testing.T, p, fifo string, n int) [][]byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo) // blocks until the writer opens it
		if err != nil {
			t.Error(err)
			got <- nil
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- b
	}()
	o := create(t, p) // blocks until the reader opens it
	pw, err := NewPcapWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1795490000, 123456789)
	for i := range n {
		pkt := bytes.Repeat([]byte{byte(i)}, 40+i)
		pw.WritePacket(at.Add(time.Duration(i)*time.Millisecond), pkt)
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	var b []byte
	select {
	case b = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader got no end of file")
	}
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v (%d bytes)", err, len(b))
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v", r.LinkType())
	}
	var pkts [][]byte
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ci.Timestamp.Equal(at.Add(time.Duration(len(pkts)) * time.Millisecond)) {
			t.Errorf("packet %d at %v", len(pkts), ci.Timestamp)
		}
		pkts = append(pkts, data)
	}
	return pkts
}

// TestOutputFIFO: a reader of a FIFO gets the whole output (a pcap file
// of 500 packets, more than a pipe holds), and the FIFO stays a FIFO;
// so through a symbolic link to it, which stays a link.
func TestOutputFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "capture.fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "capture.pcap")
	os.Symlink("capture.fifo", link)
	for _, p := range []string{fifo, link} {
		pkts := pcapThrough(t, p, fifo, 500)
		if len(pkts) != 500 || !bytes.Equal(pkts[499], bytes.Repeat([]byte{499 % 256}, 539)) {
			t.Fatalf("%s: %d packets", p, len(pkts))
		}
		if st, err := os.Lstat(fifo); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
			t.Fatalf("%s: the FIFO is now %v %v", p, st.Mode(), err)
		}
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link is now %v %v", st.Mode(), err)
	}
	if fs := files(t, dir); len(fs) != 2 {
		t.Errorf("files %v", fs)
	}
}

// TestOutputProcSelfFd: /proc/self/fd/N and /dev/fd/N name an open file.
// A pipe's reader gets the output; a regular file open there is written
// in place, after what it holds, never replaced.
func TestOutputProcSelfFd(t *testing.T) {
	for _, format := range []string{"/proc/self/fd/%d", "/dev/fd/%d"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p := fmt.Sprintf(format, w.Fd())
		if err := create(t, p).WriteAndCommit(writeString("through the pipe\n")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != "through the pipe\n" {
			t.Fatalf("%s: %q", p, b)
		}
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "stdout.txt")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	io.WriteString(f, "2 checks, 2 passed, 0 failed\n")
	before, _ := f.Stat()
	p := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if err := create(t, p).WriteAndCommit(writeString("<testsuites/>\n")); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(out)
	if s := readString(t, out); s != "2 checks, 2 passed, 0 failed\n<testsuites/>\n" || !os.SameFile(before, after) || len(files(t, dir)) != 1 {
		t.Fatalf("%q, same file %v, files %v", s, os.SameFile(before, after), files(t, dir))
	}
}
