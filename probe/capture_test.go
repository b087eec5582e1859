//go:build linux

package probe

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/privileged"
)

// tcpdumpIn starts tcpdump in a lab node's namespace on iface (nanosecond
// kernel timestamps, every packet written as it comes) and returns a
// function that stops it and returns the packets it captured, decoded by
// gopacket: an oracle synprobe has no part in.
func tcpdumpIn(t *testing.T, l *lab.Lab, node, iface string, filter ...string) (stop func() []gopacket.Packet) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		privileged.Skip(t, "tcpdump is not installed (apt-get install tcpdump)")
	}
	pcap := filepath.Join(t.TempDir(), "c.pcap")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	args := append([]string{"-i", iface, "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-w", pcap}, filter...)
	dump := l.Command(ctx, node, "tcpdump", args...)
	var stderr bytes.Buffer
	dump.Stderr = &stderr
	if err := dump.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	for i := 0; i < 100 && !strings.Contains(stderr.String(), "listening on"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			dump.Process.Signal(syscall.SIGINT)
			dump.Wait()
		}
		cancel()
	})
	return func() []gopacket.Packet {
		t.Helper()
		time.Sleep(200 * time.Millisecond) // the last replies
		dump.Process.Signal(syscall.SIGINT)
		dump.Wait()
		stopped = true
		f, err := os.Open(pcap)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatalf("%v (tcpdump: %s)", err, stderr.String())
		}
		var out []gopacket.Packet
		for p := range gopacket.NewPacketSource(r, r.LinkType()).Packets() {
			out = append(out, p)
		}
		return out
	}
}

// ipTCP returns the IPv4 and TCP layers of p, or nils.
func ipTCP(p gopacket.Packet) (*layers.IPv4, *layers.TCP) {
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil {
		return nil, nil
	}
	return ip, tcp
}
