package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/raw"
)

// runT runs the command in-process with a resolver that knows two names
// and a raw opener that must never be reached.
func runT(t *testing.T, args ...string) (code int, stdout, stderr string, opened bool) {
	t.Helper()
	r := runCtx(t, context.Background(), args...)
	return r.code, r.stdout, r.stderr, r.opened
}

// ran is what runCtx saw of a run: its exit code and output, whether it
// opened the engine, and every host name it asked the resolver for.
type ran struct {
	code           int
	stdout, stderr string
	opened         bool
	openCfg        probe.OpenConfig // what the engine was opened with
	lookups        []string
}

// runCtx is runT with a context (cancel it for Ctrl-C), and the names
// looked up.
// errNoNetwork is runCtx's engine: it will not open, as raw sockets do
// without the privilege.
var errNoNetwork = fmt.Errorf("this test has no network: %w", raw.ErrPermission)

func runCtx(t *testing.T, ctx context.Context, args ...string) (r ran) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stderr: &errb,
		lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
			r.lookups = append(r.lookups, host)
			switch host {
			case "web.lab":
				return []netip.Addr{netip.MustParseAddr("198.18.10.10"), netip.MustParseAddr("198.18.10.11")}, nil
			case "v6only.lab":
				return []netip.Addr{netip.MustParseAddr("2001:db8::1")}, nil
			case "dual.lab": // as the system orders them: IPv6 first
				return []netip.Addr{netip.MustParseAddr("2001:2:0:a::a"), netip.MustParseAddr("198.18.10.10"),
					netip.MustParseAddr("2001:2:0:a::b"), netip.MustParseAddr("::ffff:198.18.10.11")}, nil
			case "web-host", "web-host.lab":
				return []netip.Addr{netip.MustParseAddr("198.18.10.10")}, nil
			}
			return nil, errors.New("no such host")
		},
		// No raw sockets, and no fallback from them to connect(), which
		// would probe for real from the machine's own namespace: only a
		// test that asks for --mode connect gets it, and it probes
		// loopback. A test that needs the engine otherwise runs in the
		// lab, or on a fake Conn (outputs_test.go's runSilent).
		open: func(cfg probe.OpenConfig) (*probe.Prober, error) {
			r.opened, r.openCfg = true, cfg
			if cfg.Mode == probe.ModeConnect {
				return probe.Open(cfg)
			}
			return nil, errNoNetwork
		},
	}
	err := execute(ctx, g, args, &out, &errb)
	r.code = exitCode(err, &errb)
	r.stdout, r.stderr = out.String(), errb.String()
	return r
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
		{"scan", "-4", "v6only.lab"},
		{"scan", "-6", "web.lab"},
		{"scan", "2001:db8::1::2"},
		{"scan", "[2001:db8::1]:0"},
		{"scan", "::/0"},
		{"scan", "-4", "-6", "198.18.10.1"},
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
		{"scan", "198.18.10.1", "--source-port", "65535-65535"},
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
		{"check", "--file", "/dev/zero"},
		{"check", "198.18.10.1:80=open,success>=NaN"},
		{"check", "198.18.10.1:80=open,rtt.p0<5ms"},
		{"check", "no-such-host.invalid:80=open"},
		{"check", "198.18.10.0/24:80=open"},
		{"scan", "no-such-host.invalid"},
		{"scan", "no-such-host.invalid:80"},
		{"ping", "no-such-host.invalid:80"},
		{"scan", "198.18.10.1", "--exclude", "198.18.10.0/24:80"},
		{"scan", "198.18.10.1", "--pcap", "/nonexistent/dir/x.pcap"},
		{"ping", "198.18.10.1:80", "--pcap", "/nonexistent/dir/x.pcap"},
		{"check", "198.18.10.1:80=open", "--junit", "/nonexistent/dir/r.xml"},
		{"check", "198.18.10.1:80=open", "--prom", "/nonexistent/dir/m.prom"},
		{"lab"},
		{"lab", "bogus"},
		{"frobnicate"},
	}
	for _, args := range cases {
		code, stdout, stderr, opened := runT(t, args...)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != exitUsage || len(lines) != 1 || !strings.HasPrefix(stderr, "synprobe: ") || opened {
			t.Errorf("%q: exit %d, opened sockets %v, stderr %q", args, code, opened, stderr)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q, want nothing", args, stdout)
		}
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("%q: %s", args, stderr)
		}
	}
}

// TestSourcePortsTooFew: a source port range with fewer ports than a
// probe has tries is bad usage, found by the engine's check before
// anything is opened: one line with the fix, exit 2, nothing on stdout.
// Before, the scan opened its sockets, printed an empty table and exited
// 3. Without the retry, one port is enough (and --mode raw then finds
// no raw sockets: exit 3, past the check).
func TestSourcePortsTooFew(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--source-port", "65535-65535"}, "--source-port 65535-65535 gives 1 port for 2 tries: widen it or use --retries 0"},
		{[]string{"--source-port", "65535"}, "--source-port 65535 gives 1 port for 2 tries: widen it or use --retries 0"},
		{[]string{"--source-port", "40000-40009", "--retries", "10"}, "--source-port 40000-40009 gives 10 ports for 11 tries: widen it or use --retries 9"},
		{[]string{"--source-port", "40000-40009", "--retries", "10", "-o", "jsonl", "--mode", "connect"}, "--source-port 40000-40009 gives 10 ports for 11 tries: widen it or use --retries 9"},
	} {
		code, stdout, stderr, opened := runT(t, append([]string{"scan", "198.18.10.0/30", "-p", "80"}, c.args...)...)
		if code != exitUsage || stdout != "" || stderr != "synprobe: "+c.want+"\n" || opened {
			t.Errorf("%v: exit %d, stdout %q, stderr %q, opened %v; want 2, nothing on stdout, %q", c.args, code, stdout, stderr, opened, c.want)
		}
	}
	code, stdout, _, opened := runT(t, "scan", "198.18.10.0/30", "-p", "80", "--source-port", "65535-65535", "--retries", "0", "--mode", "raw")
	if code != exitNoProbe || !opened || stdout != "" {
		t.Errorf("--retries 0: exit %d, opened %v, stdout %q: want the check passed, then no raw sockets", code, opened, stdout)
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

// TestCheckFileErrorsNameTheLine: an error in a check file is one line,
// "synprobe: FILE:LINE: what", exit 2, nothing sent.
func TestCheckFileErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/c.yaml"
	ok := "checks:\n  - target: 198.18.10.10\n    port: 80\n    expect: [open]\n"
	// The file's own errors, line by line, are check.ReadFile's
	// (check/file_test.go); here, one of them through the command, and the
	// errors only the command finds: names that do not resolve, targets
	// that are not one address.
	for _, c := range []struct{ yaml, line, want string }{
		{ok + "colour: red\n", "5", `unknown key "colour"`},
		{ok + "  - port: 80\n    expect: [open]\n    target: no-such-host.invalid\n", "7", "does not resolve"},
		{ok + "  - target: 198.18.10.256\n    port: 80\n    expect: [open]\n", "5", "not an IPv4 address"},
		{ok + "  - target: 198.18.10.0/24\n    port: 80\n    expect: [open]\n", "5", "one address, not a range"},
		{ok + "  - target: 198.18.10.1:22\n    port: 80\n    expect: [open]\n", "5", "give the port on its own"},
		{ok + "  - target: ::ffff:198.18.10.10\n    port: 80\n    expect: [open]\n", "5", "IPv4-mapped"},
		{ok + "  - target: '[2001:db8::1]:443'\n    port: 80\n    expect: [open]\n", "5", "give the port on its own"},
		{ok + "  - target: 2001:db8::/120\n    port: 80\n    expect: [open]\n", "5", "one address, not a range"},
	} {
		writeFile(t, p, c.yaml)
		code, _, stderr, opened := runT(t, "check", "--file", p)
		prefix := "synprobe: " + p + ":" + c.line + ": "
		if code != exitUsage || !strings.HasPrefix(stderr, prefix) || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 || opened {
			t.Errorf("%q: exit %d %q, want %q...%q", c.yaml, code, stderr, prefix, c.want)
		}
	}
}

// TestCheckArgErrorsNameTheCheck: a check on the command line that does
// not validate is named in the message.
func TestCheckArgErrorsNameTheCheck(t *testing.T) {
	for _, arg := range []string{"198.18.10.1:80=open,success>=NaN", "198.18.10.1:80=open,rtt.pNaN<5ms", "198.18.10.1:80=open,rtt.p0<5ms",
		"198.18.10.1:80=open,probes=0", "no-such-host.invalid:80=open", "198.18.10.1-198.18.10.9:80=open"} {
		code, _, stderr, _ := runT(t, "check", arg)
		if code != exitUsage || !strings.Contains(stderr, `check "`+arg+`"`) {
			t.Errorf("%q: exit %d %q", arg, code, stderr)
		}
	}
}

// TestTargets: a host name with a hyphen is a host name; a range is only
// A.B.C.D-A.B.C.D.
func TestTargets(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "web-host", "db-1.lab-net.example":
			return []netip.Addr{netip.MustParseAddr("198.18.10.10"), netip.MustParseAddr("198.18.10.11")}, nil
		case "10-20":
			return []netip.Addr{netip.MustParseAddr("198.18.10.12")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	a := netip.MustParseAddr
	for _, c := range []struct {
		in        string
		first     bool
		want      []probe.AddrRange
		port      uint16
		errSubstr string
	}{
		{"web-host", false, []probe.AddrRange{{First: a("198.18.10.10"), Last: a("198.18.10.10")}, {First: a("198.18.10.11"), Last: a("198.18.10.11")}}, 0, ""},
		{"web-host", true, []probe.AddrRange{{First: a("198.18.10.10"), Last: a("198.18.10.10")}}, 0, ""},
		{"web-host:8080", true, []probe.AddrRange{{First: a("198.18.10.10"), Last: a("198.18.10.10")}}, 8080, ""},
		{"db-1.lab-net.example:443", true, []probe.AddrRange{{First: a("198.18.10.10"), Last: a("198.18.10.10")}}, 443, ""},
		{"198.18.10.1-198.18.10.5", false, []probe.AddrRange{{First: a("198.18.10.1"), Last: a("198.18.10.5")}}, 0, ""},
		{"198.18.10.1-198.18.10.5:22", false, []probe.AddrRange{{First: a("198.18.10.1"), Last: a("198.18.10.5")}}, 22, ""},
		{"198.18.10.0/30", false, []probe.AddrRange{{First: a("198.18.10.0"), Last: a("198.18.10.3")}}, 0, ""},
		{"no-such-host.invalid", false, nil, 0, `target "no-such-host.invalid": host name does not resolve (no such host)`},
		{"no-such-host.invalid:80", false, nil, 0, "does not resolve"},
		{"198.18.10.1-", false, nil, 0, "range has no end"},
		{"198.18.10.5-198.18.10.1", false, nil, 0, "inverted"},
		{"198.18.10.1-40", false, nil, 0, `"40" is not an IPv4 address`},
		{"198.18.10.1-web-host", false, nil, 0, "does not resolve"},
	} {
		tg, err := parseTarget(context.Background(), c.in, lookup, pick{first: c.first}, func(string) {})
		if c.errSubstr != "" {
			if err == nil || !strings.Contains(err.Error(), c.errSubstr) {
				t.Errorf("%q: %v, want error %q", c.in, err, c.errSubstr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(tg.ranges, c.want) || tg.port != c.port {
			t.Errorf("%q: %+v %v", c.in, tg, err)
		}
	}
}

func TestExcludeRefusesPorts(t *testing.T) {
	code, _, stderr, _ := runT(t, "scan", "198.18.10.0/24", "--exclude", "198.18.10.0/24:80", "-p", "80")
	if code != exitUsage || !strings.Contains(stderr, "without a port") || !strings.Contains(stderr, "198.18.10.0/24:80") {
		t.Errorf("--exclude: exit %d %q", code, stderr)
	}
	p := t.TempDir() + "/exclude"
	writeFile(t, p, "# comment\n198.18.10.1\n198.18.10.2:22 # a port\n")
	code, _, stderr, _ = runT(t, "scan", "198.18.10.0/24", "--exclude-file", p, "-p", "80")
	if code != exitUsage || !strings.Contains(stderr, p+":3: ") || !strings.Contains(stderr, "without a port") {
		t.Errorf("--exclude-file: exit %d %q", code, stderr)
	}
}

// TestOutputPathsCheckedFirst: an output file that cannot be written is
// refused before anything is opened or sent, naming the path as given.
func TestOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/file"
	writeFile(t, file, "x")
	for _, c := range []struct {
		args []string
		path string
		want string
	}{
		{[]string{"check", "198.18.10.1:80=open", "--junit"}, dir + "/missing/r.xml", "does not exist"},
		{[]string{"check", "198.18.10.1:80=open", "--prom"}, dir + "/missing/m.prom", "does not exist"},
		{[]string{"check", "198.18.10.1:80=open", "--prom"}, dir, "is a directory"},
		{[]string{"check", "198.18.10.1:80=open", "--junit"}, file + "/r.xml", "not a directory"},
		{[]string{"check", "198.18.10.1:80=open", "--pcap"}, dir + "/missing/x.pcap", "does not exist"},
		{[]string{"scan", "198.18.10.1", "-p", "80", "--pcap"}, dir, "is a directory"},
		{[]string{"ping", "198.18.10.1:80", "--pcap"}, file + "/x.pcap", "not a directory"},
	} {
		code, _, stderr, opened := runT(t, append(c.args, c.path)...)
		if code != exitUsage || opened || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.path+": ") ||
			!strings.Contains(stderr, c.want) || strings.Contains(stderr, ".tmp") || strings.Contains(stderr, ".check") {
			t.Errorf("%v %s: exit %d, opened %v: %q", c.args, c.path, code, opened, stderr)
		}
	}
	// A writable path passes the check and is left as it was: absent.
	code, _, _, opened := runT(t, "check", "198.18.10.1:80=open", "--mode", "raw", "--prom", dir+"/m.prom", "--pcap", dir+"/x.pcap")
	if code != exitNoProbe || !opened {
		t.Fatalf("exit %d, opened %v", code, opened)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the check left files behind: %v", entries)
	}
}

func TestLabNeedsASubcommand(t *testing.T) {
	for _, args := range [][]string{{"lab"}, {"lab", "bogus"}, {"lab", "bogus", "more"}} {
		code, stdout, stderr, _ := runT(t, args...)
		if code != exitUsage || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "up") {
			t.Errorf("%v: exit %d %q %q", args, code, stdout, stderr)
		}
	}
	if code, stdout, _, _ := runT(t, "lab", "--help"); code != 0 || !strings.Contains(stdout, "Available Commands") {
		t.Errorf("lab --help: exit %d", code)
	}
}

// TestVerbose: -v shows debug logs (the configuration, the mode chosen);
// without it there are none.
func TestVerbose(t *testing.T) {
	args := []string{"scan", "198.18.10.0/30", "-p", "80", "--mode", "raw"}
	_, _, stderr, _ := runT(t, append(args, "-v")...)
	for _, want := range []string{"DBG", "config", "command=", "synprobe scan", "rate=10000", "mode=raw", "addresses=4", "probes=4"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v: no %q in\n%s", want, stderr)
		}
	}
	_, _, stderr, _ = runT(t, args...)
	if strings.Contains(stderr, "DBG") {
		t.Errorf("debug without -v:\n%s", stderr)
	}
	_, _, stderr, _ = runT(t, append(args, "-v", "--log-format", "json")...)
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not a JSON log line: %q", l)
		}
	}
	if !strings.Contains(stderr, `"level":"debug"`) || !strings.Contains(stderr, `"message":"config"`) {
		t.Errorf("-v --log-format json:\n%s", stderr)
	}
}

// TestJSONLogError: with --log-format json the final error is a JSON log
// line too, with the exit code; with console it is "synprobe: ...".
func TestJSONLogError(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"scan", "no-such-host.invalid"}, exitUsage},
		{[]string{"scan", "198.18.10.1", "-p", "80", "--mode", "raw"}, exitNoProbe},
		{[]string{"scan", "198.18.10.1", "--no-such-flag"}, exitUsage},
		{[]string{"lab", "bogus"}, exitUsage},
	} {
		code, _, stderr, _ := runT(t, append([]string{"--log-format", "json", "-q"}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		var m map[string]any
		if code != c.code || len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &m) != nil || m["level"] != "error" ||
			m["exit_code"] != float64(c.code) || m["message"] == "" || strings.Contains(stderr, "synprobe: ") {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, stderr)
		}
		code, _, stderr, _ = runT(t, c.args...)
		if code != c.code || !strings.HasPrefix(stderr, "synprobe: ") || strings.Contains(stderr, "{") {
			t.Errorf("%v console: exit %d, stderr %q", c.args, code, stderr)
		}
	}
}

// TestCompletion runs cobra's hidden __complete command, as the shell
// scripts of "synprobe completion" do, for each flag with fixed values.
func TestCompletion(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"scan", "-o", ""}, []string{"table", "jsonl", "csv"}},
		{[]string{"scan", "--output", "j"}, []string{"table", "jsonl", "csv"}},
		{[]string{"ping", "198.18.10.10:80", "-o", ""}, []string{"text", "jsonl", "csv"}},
		{[]string{"check", "-o", ""}, []string{"text", "json"}},
		{[]string{"scan", "--mode", ""}, []string{"auto", "raw", "connect"}},
		{[]string{"ping", "--mode", ""}, []string{"auto", "raw", "connect"}},
		{[]string{"check", "--syn-options", ""}, []string{"linux", "windows", "none"}},
		{[]string{"scan", "--log-format", ""}, []string{"console", "json"}},
		{[]string{"--log-format", ""}, []string{"console", "json"}},
	} {
		code, stdout, _, _ := runT(t, append([]string{"__complete"}, c.args...)...)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if v, _, _ := strings.Cut(l, "\t"); !strings.HasPrefix(v, ":") {
				got = append(got, v)
			}
		}
		if code != 0 || !reflect.DeepEqual(got, c.want) || !strings.HasSuffix(strings.TrimSpace(stdout), ":4") {
			t.Errorf("%v: exit %d, %q, want %q and no file completion (:4)", c.args, code, stdout, c.want)
		}
	}
}

func TestVersionString(t *testing.T) {
	bi := func(v string, settings ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/synprobe/synprobe", Version: v}}
		for i := 0; i+1 < len(settings); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return b
	}
	rev := "22d533e3015bd042f5b4f69cff36b70575cffe95"
	for _, c := range []struct {
		ldflags string
		bi      *debug.BuildInfo
		ok      bool
		want    string
	}{
		{"v1.2.3", bi("(devel)"), true, "v1.2.3"},
		{"dev", nil, false, "dev"},
		{"dev", bi("v1.4.0"), true, "v1.4.0 go1.26.8"},
		{"dev", bi("(devel)", "vcs.revision", rev, "vcs.time", "2026-11-25T09:24:24Z", "vcs.modified", "false"), true,
			"dev (22d533e3015b, 2026-11-25T09:24:24Z) go1.26.8"},
		{"dev", bi("(devel)", "vcs.revision", rev, "vcs.modified", "true"), true, "dev (22d533e3015b-dirty) go1.26.8"},
		{"dev", bi("v0.0.0-20261125092424-22d533e3015b+dirty", "vcs.revision", rev, "vcs.modified", "true"), true,
			"v0.0.0-20261125092424-22d533e3015b+dirty go1.26.8"},
		{"dev", bi("(devel)"), true, "dev go1.26.8"},
	} {
		if got := versionString(c.ldflags, c.bi, c.ok); got != c.want {
			t.Errorf("%q %+v: %q, want %q", c.ldflags, c.bi, got, c.want)
		}
	}
}

func TestProgressText(t *testing.T) {
	for _, c := range []struct {
		c    progressCounts
		rate float64
		want string
	}{
		{progressCounts{first: 0, total: 2000}, 0, "  0.0%  0/2000 sent  0/s  0 open  ETA -"},
		{progressCounts{first: 500, total: 2000, open: 3}, 1000, " 25.0%  500/2000 sent  1000/s  3 open  ETA 1.5s"},
		// --retries: the retries do not push the first pass past 100 %.
		{progressCounts{first: 2000, total: 2000, retries: 4000, open: 7}, 5000, "100.0%  2000/2000 sent (+4000 retries)  5000/s  7 open  waiting for replies"},
		// --shard 1/4 of 2000: its total is 500, and it ends at 100 %.
		{progressCounts{first: 250, total: 500}, 100, " 50.0%  250/500 sent  100/s  0 open  ETA 2.5s"},
		{progressCounts{first: 500, total: 500}, 100, "100.0%  500/500 sent  100/s  0 open  waiting for replies"},
		{progressCounts{first: 1, total: 65536}, 10, "  0.0%  1/65536 sent  10/s  0 open  ETA 1h49m"},
	} {
		if got := progressText(c.c, c.rate); got != c.want {
			t.Errorf("%+v at %v/s:\n got %q\nwant %q", c.c, c.rate, got, c.want)
		}
	}
}

func TestFormatETA(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "-"}, {0, "0.0s"}, {450 * time.Millisecond, "0.5s"}, {9940 * time.Millisecond, "9.9s"},
		{10 * time.Second, "10s"}, {59499 * time.Millisecond, "59s"}, {time.Minute, "1m00s"}, {65 * time.Second, "1m05s"},
		{59*time.Minute + 59*time.Second, "59m59s"}, {time.Hour, "1h00m"}, {26*time.Hour + 31*time.Minute, "26h31m"},
	} {
		if got := formatETA(c.d); got != c.want {
			t.Errorf("%v: %q, want %q", c.d, got, c.want)
		}
	}
}

// TestRateWindow: the rate is over the last two seconds, so a scan that
// slowed down shows the new rate, not its average since the start.
func TestRateWindow(t *testing.T) {
	var w rateWindow
	t0 := time.Unix(1000, 0)
	var got float64
	n := uint64(0)
	for i := 1; i <= 50; i++ { // 10 s at 10,000/s, then 10 s at 1,000/s
		step := uint64(2000)
		if i > 50/2 {
			step = 200
		}
		n += step
		got = w.add(t0.Add(time.Duration(i)*200*time.Millisecond), n)
		if i == 25 && (got < 9999 || got > 10001) {
			t.Fatalf("at 5 s: %v/s", got)
		}
	}
	if got < 999 || got > 1001 {
		t.Fatalf("after slowing down: %v/s, want 1000 (the average since the start is 5500)", got)
	}
	var one rateWindow
	if r := one.add(t0, 5); r != 0 {
		t.Fatalf("one sample: %v", r)
	}
}

// TestProgressCounts: the total is the shard's share, retries are counted
// apart, and several port lists add up.
func TestProgressCounts(t *testing.T) {
	a, b := &probe.Progress{}, &probe.Progress{}
	a.Sent.Store(1500) // 1000 first-pass, 500 retries
	a.Retransmitted.Store(500)
	a.Open.Store(2)
	b.Sent.Store(10)
	got := countProgress([]*probe.Progress{a, b}, []uint64{1000, 40})
	if got != (progressCounts{first: 1010, total: 1040, retries: 500, open: 2}) {
		t.Fatalf("%+v", got)
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
	code, out2, _, _ := runT(t, "--version")
	if code != 0 || out2 != out {
		t.Fatalf("--version: %d %q, want %q", code, out2, out)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
