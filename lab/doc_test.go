//go:build linux

package labscripts

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/privileged"
)

// docBlock is one ```console or ```sh block of docs/LAB.md: its "$ "
// commands, each with the output shown under it, and, for a ```sh block,
// the ```text block of sample output right after it, if any.
type docBlock struct {
	line    int
	console bool // output is what the commands print (else a sample)
	cmds    []docCommand
	sample  []string // the ```text block after a ```sh block
}

type docCommand struct {
	line   int
	cmd    string
	expect []string
}

func docBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docBlock
	var cur *docBlock
	inText, textFollows := false, false // textFollows: only blank lines since a ```sh block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && !inText && (strings.HasPrefix(l, "```console") || strings.HasPrefix(l, "```sh")):
			out = append(out, docBlock{line: n, console: strings.HasPrefix(l, "```console")})
			cur = &out[len(out)-1]
		case cur == nil && !inText && strings.HasPrefix(l, "```text"):
			if !textFollows {
				t.Errorf("docs/LAB.md:%d: output in a ```text block that does not follow the ```sh block of its commands: nothing would check it", n)
			}
			inText = true
		case strings.HasPrefix(l, "```"):
			textFollows = cur != nil && !cur.console && !inText
			cur, inText = nil, false
		case inText:
			if strings.TrimSpace(l) != "" {
				out[len(out)-1].sample = append(out[len(out)-1].sample, l)
			}
		case cur != nil && strings.HasPrefix(l, "$ "):
			cur.cmds = append(cur.cmds, docCommand{line: n, cmd: strings.TrimPrefix(l, "$ ")})
		case cur != nil && strings.TrimSpace(l) != "":
			if len(cur.cmds) == 0 {
				t.Errorf("docs/LAB.md:%d: output before any command", n)
				continue
			}
			c := &cur.cmds[len(cur.cmds)-1]
			c.expect = append(c.expect, l)
		case strings.TrimSpace(l) != "":
			textFollows = false
		}
	}
	return out
}

var (
	decimal  = regexp.MustCompile(`\d+\.\d+`)
	duration = regexp.MustCompile(`\b\d+(ms|s)\b`)
)

// normalize drops what legitimately differs between runs (latencies,
// durations) and spacing; everything else must match.
func normalize(s string) string {
	s = decimal.ReplaceAllString(s, "N")
	s = duration.ReplaceAllString(s, "D")
	return strings.Join(strings.Fields(s), " ")
}

// What differs between runs in sample output (packet captures, counts
// under random loss), beyond latencies and durations.
var sampleVarying = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\.\d{6}\b`), "T"},                                    // capture times
	{regexp.MustCompile(`\b(198\.18\.1\.1|2001:2:0:1::1)\.\d+\b`), "$1.P"},                    // the prober's source ports
	{regexp.MustCompile(`\b(seq|ack|val|ecr|id) \d+`), "$1 N"},                                // sequence numbers, timestamps, IP IDs
	{regexp.MustCompile(`\bcksum 0x[0-9a-f]{4}`), "cksum X"},                                  // TCP checksums (ports, sequence numbers)
	{regexp.MustCompile(`\bflowlabel 0x[0-9a-f]+`), "flowlabel X"},                            // IPv6 flow labels (a hash of the flow)
	{regexp.MustCompile(`^(\s*0x0000:\s+6[0-9a-f]{2})[0-9a-f] [0-9a-f]{4}`), "${1}F FFFF"},    // the same in an IPv6 header's bytes
	{regexp.MustCompile(`^\s*0x00[1-9a-f]0:.*`), "0xNNNN: hex"},                               // a capture's bytes past the IP header's first 16
	{regexp.MustCompile(`\bfe80::[0-9a-f:]*[0-9a-f]`), "fe80::LL"},                            // link-local addresses (from random MACs)
	{regexp.MustCompile(`\bff02::1:ff[0-9a-f]{2}:[0-9a-f]{1,4}\b`), "ff02::1:ffXX:XXXX"},      // their solicited-node groups
	{regexp.MustCompile(`\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b`), "MAC"},                           // MAC addresses (random)
	{regexp.MustCompile(`(: |, )\d+ (answered|received|open|closed|filtered)\b`), "${1}N $2"}, // counts under loss
	{regexp.MustCompile(`\b\d+(\.\d+)?% (packet loss|loss)`), "N% $2"},
}

var tcpChecksum = regexp.MustCompile(`TCP checksum stored (0x[0-9a-f]{4}), computed (0x[0-9a-f]{4})`)

// normalizeSample normalizes a line of sample output: what varies from
// run to run goes, what must hold stays (a TCP checksum line keeps whether
// the two sums agree).
func normalizeSample(s string) string {
	s = tcpChecksum.ReplaceAllStringFunc(s, func(m string) string {
		g := tcpChecksum.FindStringSubmatch(m)
		if g[1] == g[2] {
			return "TCP checksum stored X, computed the same"
		}
		return m
	})
	for _, v := range sampleVarying {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return normalize(s)
}

// lacking returns the lines of want (but "...") that out does not contain
// once both are normalized.
func lacking(want []string, out string, norm func(string) string) []string {
	got := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		got[norm(l)] = true
	}
	var miss []string
	for _, w := range want {
		if strings.TrimSpace(w) != "..." && !got[norm(w)] {
			miss = append(miss, w)
		}
	}
	return miss
}

// TestLabDocCommands runs every command docs/LAB.md shows, in a lab of its
// own (a random lab ID and state directory, so neither a demo lab someone
// has up nor another run of this test is touched) and in a directory of
// its own (the captures the exercises write go there). It checks the
// output shown under a command in a ```console block line by line, and
// the sample output in the ```text block after a ```sh block against what
// that block's commands printed, once what varies from run to run (times,
// ports, sequence numbers, counts under loss) is set aside: the exercises
// never drift from the program.
func TestLabDocCommands(t *testing.T) {
	privileged.Require(t)
	for _, tool := range []string{"tcpdump", "ping", "python3", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			privileged.Skip(t, tool+" is not installed")
		}
	}
	blocks := docBlocks(t, "../docs/LAB.md")
	ncmd := 0
	for _, b := range blocks {
		ncmd += len(b.cmds)
	}
	if ncmd < 16 {
		t.Fatalf("only %d commands found in docs/LAB.md", ncmd)
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "synprobe"), "../cmd/synprobe").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	root, _ := filepath.Abs("..")
	work := t.TempDir()
	// The exercises run from a checkout's root: lab/checksum.py is there.
	if err := os.Symlink(filepath.Join(root, "lab"), filepath.Join(work, "lab")); err != nil {
		t.Fatal(err)
	}
	var r [2]byte
	rand.Read(r[:])
	id, stateDir := "doc"+hex.EncodeToString(r[:]), t.TempDir()
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"),
		"SYNPROBE_LAB_ID="+id, "SYNPROBE_LAB_DIR="+stateDir)
	sh := func(cmd string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", cmd)
		c.Dir, c.Env = work, env
		out, err := c.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		// This lab only: other runs' labs, crashed or not, are theirs.
		if _, err := lab.DownLab(id, stateDir); err != nil {
			t.Errorf("lab down: %v", err)
		}
		for _, n := range lab.Namespaces() {
			if strings.HasPrefix(n, lab.NamePrefix+id+"-") {
				t.Errorf("namespace %s left behind", n)
			}
		}
	})
	ran := 0
	for _, b := range blocks {
		var all strings.Builder
		for _, c := range b.cmds {
			// The setup lines build and put synprobe on PATH: done above.
			if strings.HasPrefix(c.cmd, "make ") || strings.HasPrefix(c.cmd, "export ") {
				continue
			}
			out, err := sh(c.cmd)
			if err != nil {
				t.Fatalf("docs/LAB.md:%d: %s: %v\n%s", c.line, c.cmd, err, out)
			}
			ran++
			all.WriteString(out)
			norm := normalize
			if !b.console {
				norm = normalizeSample
			}
			if miss := lacking(c.expect, out, norm); len(miss) > 0 {
				t.Errorf("docs/LAB.md:%d: %s: output lacks\n  %s\ngot:\n%s", c.line, c.cmd, strings.Join(miss, "\n  "), out)
			}
		}
		if miss := lacking(b.sample, all.String(), normalizeSample); len(miss) > 0 {
			t.Errorf("docs/LAB.md:%d: the sample output after these commands lacks\n  %s\nthey printed:\n%s", b.line, strings.Join(miss, "\n  "), all.String())
		}
	}
	t.Logf("ran %d commands from docs/LAB.md in lab %s", ran, id)
}

// TestNormalizeSampleIPv6: what varies in an IPv6 capture (the flow label,
// in the text and in the bytes, the prober's port, link-local addresses,
// their solicited-node groups, MACs) is set aside; what must hold (hop
// limits, payload lengths, the addresses of the lab) is not.
func TestNormalizeSampleIPv6(t *testing.T) {
	same := [][2]string{
		{"21:32:54.562371 IP6 (flowlabel 0xb1122, hlim 62, next-header TCP (6) payload length: 40) 2001:2:0:a::a.80 > 2001:2:0:1::1.43859: Flags [S.]",
			"09:00:00.000001 IP6 (flowlabel 0x3, hlim 62, next-header TCP (6) payload length: 40) 2001:2:0:a::a.80 > 2001:2:0:1::1.50000: Flags [S.]"},
		{"\t0x0000:  600b 1122 0028 063e 2001 0002 0000 000a", "\t0x0000:  6000 0000 0028 063e 2001 0002 0000 000a"},
		{"IP6 fe80::2cee:58ff:fe34:8483 > ff02::1:ff84:3023: ICMP6, neighbor solicitation, length 32, who has fe80::7450:fff:fe84:3023",
			"IP6 fe80::545b:caff:feea:5b6e > ff02::1:ff25:9c7a: ICMP6, neighbor solicitation, length 32, who has fe80::e84c:16ff:fe25:9c7a"},
		{"source link-address option (1), length 8 (1): 2e:ee:58:34:84:83", "source link-address option (1), length 8 (1): 56:5b:ca:ea:5b:6e"},
	}
	for _, c := range same {
		if a, b := normalizeSample(c[0]), normalizeSample(c[1]); a != b {
			t.Errorf("%q and %q differ once normalized:\n%s\n%s", c[0], c[1], a, b)
		}
	}
	differ := [][2]string{
		{"IP6 (flowlabel 0xb1122, hlim 62, next-header TCP (6) payload length: 40)", "IP6 (flowlabel 0xb1122, hlim 63, next-header TCP (6) payload length: 40)"},
		{"\t0x0000:  600b 1122 0028 063e 2001 0002 0000 000a", "\t0x0000:  600b 1122 0028 063f 2001 0002 0000 000a"},
		{"\t0x0000:  600b 1122 0028 063e 2001 0002 0000 000a", "\t0x0000:  610b 1122 0028 063e 2001 0002 0000 000a"}, // traffic class
		{"IP6 2001:2:0:d::a.80 > 2001:2:0:1::1.43859:", "IP6 2001:2:0:d::a.81 > 2001:2:0:1::1.43859:"},
		{"IP6 (hlim 255, next-header ICMPv6 (58) payload length: 32) fe80::1 > ff02::1:ff00:1:", "IP6 (hlim 1, next-header ICMPv6 (58) payload length: 32) fe80::1 > ff02::1:ff00:1:"},
	}
	for _, c := range differ {
		if normalizeSample(c[0]) == normalizeSample(c[1]) {
			t.Errorf("%q and %q are the same once normalized: %s", c[0], c[1], normalizeSample(c[0]))
		}
	}
}
