//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/raw"
	"golang.org/x/sys/unix"
)

// silentNet stands in for the raw sockets: it takes every packet and
// answers none, so a command runs through the engine without a network
// (every probe is filtered, no-response).
type silentNet struct{}

func (silentNet) WriteBatch(pkts []raw.Outgoing) (int, error) { return len(pkts), nil }
func (silentNet) ReadBatch([]raw.Incoming) (int, error) {
	time.Sleep(time.Millisecond)
	return 0, os.ErrDeadlineExceeded
}
func (silentNet) ReadTxTimestamps([]raw.TxStamp) (int, error) { return 0, nil }
func (silentNet) SetReadDeadline(time.Time) error             { return nil }
func (silentNet) Route(netip.Addr) (raw.Route, error) {
	return raw.Route{Src: netip.MustParseAddr("198.18.1.1")}, nil
}
func (silentNet) Close() error { return nil }

// runSilent runs the command in-process on a silent network.
func runSilent(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runSilentTo(context.Background(), &out, &errb, args...)
	return code, out.String(), errb.String()
}

// runSilentTo runs the command in-process on a silent network, with ctx
// and the given stdout and stderr, and returns its exit code.
func runSilentTo(ctx context.Context, stdout, stderr io.Writer, args ...string) int {
	g := &globals{stderr: stderr,
		lookup: func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no names here") },
		open: func(cfg probe.OpenConfig) (*probe.Prober, error) {
			// --mode connect probes for real, from this namespace: the
			// tests that ask for it probe loopback only.
			cfg.Listen = func(*raw.Config) (probe.Conn, error) { return silentNet{}, nil }
			return probe.Open(cfg)
		},
	}
	return exitCode(execute(ctx, g, args, stdout, stderr), stderr)
}

// checkArgs is a check that passes on a silent network, quickly.
var checkArgs = []string{"check", "198.19.0.1:80=filtered,probes=2", "--mode", "raw", "--timeout", "20ms", "-i", "1ms"}

func isDevice(p string, dev uint64) bool {
	st, err := os.Lstat(p)
	return err == nil && st.Mode()&fs.ModeCharDevice != 0 && st.Sys().(*syscall.Stat_t).Rdev == dev
}

// TestCheckOutputToDevice: --prom, --junit and --pcap to a device are
// written in place, and the device stays one. A full device's error is
// reported, one line naming the path, and the exit status says so (4, an
// output failed), the report on stdout whole; a null device takes it all.
func TestCheckOutputToDevice(t *testing.T) {
	dir := t.TempDir()
	full, fullDev := labtest.Mknod(t, dir, "full", 1, 7)
	null, nullDev := labtest.Mknod(t, dir, "null", 1, 3)
	for _, flag := range []string{"--prom", "--junit", "--pcap"} {
		code, stdout, stderr := runSilent(t, append(checkArgs, flag, full)...)
		if code != exitOutput || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, full+": ") ||
			!strings.Contains(stderr, "no space left on device") || !strings.Contains(stdout, "1 passed") {
			t.Errorf("%s full: exit %d, stderr %q, stdout %q", flag, code, stderr, stdout)
		}
		if code, _, stderr := runSilent(t, append(checkArgs, flag, null)...); code != 0 || stderr != "" {
			t.Errorf("%s null: exit %d, stderr %q", flag, code, stderr)
		}
		if !isDevice(full, fullDev) || !isDevice(null, nullDev) {
			t.Fatalf("%s: a device node is a device no more", flag)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 2 {
		t.Errorf("files %v", es)
	}
}

// TestCheckOutputThroughSymlink: --junit to a link to a report replaces
// the report and keeps the link; --prom to a new path creates it.
func TestCheckOutputThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real, link, prom := filepath.Join(dir, "real.xml"), filepath.Join(dir, "link.xml"), filepath.Join(dir, "m.prom")
	writeFile(t, real, "old")
	os.Symlink("real.xml", link)
	if code, _, stderr := runSilent(t, append(checkArgs, "--junit", link, "--prom", prom)...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if to, err := os.Readlink(link); err != nil || to != "real.xml" {
		t.Fatalf("the link is now %q %v", to, err)
	}
	var doc struct {
		Tests int `xml:"tests,attr"`
	}
	b, _ := os.ReadFile(real)
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Tests != 1 {
		t.Fatalf("report %+v %v:\n%s", doc, err, b)
	}
	if b, _ := os.ReadFile(prom); !strings.Contains(string(b), `synprobe_check_success{check="198.19.0.1:80"`) {
		t.Fatalf("prom:\n%s", b)
	}
	if es, _ := os.ReadDir(dir); len(es) != 3 {
		t.Errorf("files %v", es)
	}
}

// TestOutputsUntouchedWhenNothingIsReported: a command that stops before
// reporting (no raw sockets with --mode raw) leaves the old outputs as
// they were, and no temporary file.
func TestOutputsUntouchedWhenNothingIsReported(t *testing.T) {
	dir := t.TempDir()
	prom, junit, pcap := filepath.Join(dir, "m.prom"), filepath.Join(dir, "r.xml"), filepath.Join(dir, "x.pcap")
	for _, p := range []string{prom, junit, pcap} {
		writeFile(t, p, "old")
	}
	code, _, _, opened := runT(t, "check", "198.19.0.1:80=open", "--mode", "raw", "--prom", prom, "--junit", junit, "--pcap", pcap)
	if code != exitNoProbe || !opened {
		t.Fatalf("exit %d, opened %v", code, opened)
	}
	for _, p := range []string{prom, junit, pcap} {
		if b, _ := os.ReadFile(p); string(b) != "old" {
			t.Errorf("%s: %q", p, b)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 3 {
		t.Errorf("files %v", es)
	}
}

// TestPcapToFIFO: --pcap to a FIFO opens it once, so a reader reading it
// (as tcpdump -r FIFO does) gets a whole pcap file: every SYN sent. The
// FIFO stays one.
func TestPcapToFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "capture")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{append(checkArgs[:len(checkArgs):len(checkArgs)], "--pcap", fifo), 0},
		// Exit 1: no reply, as ping.
		{[]string{"ping", "198.19.0.1:80", "-c", "2", "-i", "1ms", "--timeout", "20ms", "--mode", "raw", "-q", "--pcap", fifo}, exitCheckFail},
	} {
		args := c.args
		got := make(chan []byte, 1)
		go func() {
			b := []byte(nil)
			if f, err := os.Open(fifo); err == nil { // waits for the command
				b, _ = io.ReadAll(f)
				f.Close()
			}
			got <- b
		}()
		if code, _, stderr := runSilent(t, args...); code != c.code {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var b []byte
		select {
		case b = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: the reader got no end of file", args)
		}
		r, err := pcapgo.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%v: %v (%d bytes)", args, err, len(b))
		}
		syns := 0
		for {
			data, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
			if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.SYN && tcp.DstPort == 80 {
				syns++
			}
		}
		if syns != 2 {
			t.Errorf("%v: %d SYNs in the capture, want 2", args, syns)
		}
		if st, err := os.Lstat(fifo); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
			t.Fatalf("the FIFO is now %v %v", st.Mode(), err)
		}
	}
}
