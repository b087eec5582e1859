package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/raw"
)

// runT runs the command in-process with a resolver that knows two names
// and a raw opener that must never be reached.
func runT(t *testing.T, args ...string) (code int, stdout, stderr string, opened bool) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stderr: &errb,
		lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
			switch host {
			case "web.lab":
				return []netip.Addr{netip.MustParseAddr("198.18.10.10"), netip.MustParseAddr("198.18.10.11")}, nil
			case "v6only.lab":
				return []netip.Addr{netip.MustParseAddr("2001:db8::1")}, nil
			}
			return nil, errors.New("no such host")
		},
		openRaw: func(*raw.Config) (probe.Conn, error) {
			opened = true
			return nil, raw.ErrPermission
		},
	}
	root := newRootCmdWith(g, &out, &errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code = exitCode(err, &errb)
	return code, out.String(), errb.String(), opened
}

func TestBadInputOneLineExit2NothingSent(t *testing.T) {
	cases := [][]string{
		{"scan"},
		{"scan", "198.18.10.256"},
		{"scan", "198.18.010.1"},
		{"scan", "198.18.10.1/33"},
		{"scan", "198.18.10.1/-1"},
		{"scan", "198.18.10.1/"},
		{"scan", "198.18.10.9-198.18.10.1"},
		{"scan", "198.18.10.1-"},
		{"scan", "198.18.10.1", "-p", "0"},
		{"scan", "198.18.10.1", "-p", "65536"},
		{"scan", "198.18.10.1", "-p", "-5"},
		{"scan", "198.18.10.1", "-p", "22,,80"},
		{"scan", "198.18.10.1", "-p", "1-"},
		{"scan", "198.18.10.1", "-p", "90-80"},
		{"scan", "198.18.10.1", "-p", ""},
		{"scan", "198.18.10.1:0"},
		{"scan", "nonexistent.invalid"},
		{"scan", "v6only.lab"},
		{"scan", "2001:db8::1"},
		{"scan", "[2001:db8::1]:80"},
		{"scan", "198.18.10.1", "--rate", "0"},
		{"scan", "198.18.10.1", "--rate", "-5"},
		{"scan", "198.18.10.1", "--timeout", "0s"},
		{"scan", "198.18.10.1", "--timeout", "-1s"},
		{"scan", "198.18.10.1", "--shard", "3/2"},
		{"scan", "198.18.10.1", "--shard", "0/2"},
		{"scan", "198.18.10.1", "--syn-options", "bsd"},
		{"scan", "198.18.10.1", "-o", "xml"},
		{"scan", "198.18.10.1", "--ttl", "0"},
		{"scan", "198.18.10.1", "--source-ip", "10.0.0.256"},
		{"scan", "198.18.10.1", "--source-port", "9-1"},
		{"scan", "198.18.10.1", "--exclude-file", "/nonexistent"},
		{"scan", "198.18.10.1", "--exclude", "198.18.10.1"},
		{"scan", "0.0.0.0/7", "-p", "80"},
		{"scan", "198.18.10.1", "--no-such-flag"},
		{"ping", "198.18.10.1"},
		{"ping", "198.18.10.1:80", "-c", "0"},
		{"ping", "198.18.10.1:80", "-i", "0s"},
		{"ping", "198.18.10.0/24:80"},
		{"check"},
		{"check", "198.18.10.1:80"},
		{"check", "198.18.10.1:80=opened"},
		{"check", "198.18.10.1:80=open,rtt<fast"},
		{"check", "198.18.10.1:0=open"},
		{"check", "--file", "/nonexistent.yaml"},
		{"frobnicate"},
	}
	for _, args := range cases {
		code, _, stderr, opened := runT(t, args...)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != exitUsage || len(lines) != 1 || !strings.HasPrefix(stderr, "synprobe: ") || opened {
			t.Errorf("%q: exit %d, opened sockets %v, stderr %q", args, code, opened, stderr)
		}
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("%q: %s", args, stderr)
		}
	}
}

func TestHostBitsNote(t *testing.T) {
	// Accepted with a note; then stopped by --mode raw's refusal (exit 3)
	// before anything is sent.
	code, _, stderr, _ := runT(t, "scan", "198.18.10.7/24", "-p", "80", "--mode", "raw")
	if code != exitNoProbe || !strings.Contains(stderr, "host bits set; scanning 198.18.10.0/24") || !strings.Contains(stderr, "setcap cap_net_raw") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestCheckFileErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, want string }{
		{"checks:\n  - target: a\n    port: 80\n    expect: [open]\n  - target: b\n    port: 99999\n    expect: [open]\n", "line 5"},
		{"checks:\n  - target: a\n    port: 80\n    expect: [opn]\n", "line 2"},
		{"checks:\n  - target: a\n    port: 80\n    expect: [open]\n    rtt: {max: soon}\n", "line 2"},
		{"checks:\n  - target: a\n    port: 80\n    colour: red\n", "line 4"},
		{"checks: [\n", "line 1"},
		{"nothing: here\n", "field nothing not found"},
	} {
		p := dir + "/c.yaml"
		writeFile(t, p, c.yaml)
		code, _, stderr, _ := runT(t, "check", "--file", p)
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d %q, want mention of %q", c.yaml, code, stderr, c.want)
		}
	}
}

func TestParsePorts(t *testing.T) {
	got, err := parsePorts("443,22,80-82,22")
	if err != nil || len(got) != 5 || got[0] != 22 || got[4] != 443 {
		t.Fatalf("%v %v", got, err)
	}
	if len(topPorts) != 100 {
		t.Fatalf("%d top ports", len(topPorts))
	}
}

func TestVersion(t *testing.T) {
	code, out, _, _ := runT(t, "version")
	if code != 0 || !strings.HasPrefix(out, "synprobe ") {
		t.Fatalf("%d %q", code, out)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
