package labscripts

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/privileged"
)

// docCommand is one "$ " line of docs/LAB.md with the output shown under
// it; check says whether that output is compared (```console blocks) or
// only illustrates (```sh blocks, whose sample output varies run to run).
type docCommand struct {
	line   int
	cmd    string
	expect []string
	check  bool
}

func docCommands(t *testing.T, path string) []docCommand {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docCommand
	inBlock, check := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```console") || strings.HasPrefix(l, "```sh"):
			inBlock, check = true, strings.HasPrefix(l, "```console")
		case strings.HasPrefix(l, "```"):
			inBlock = false
		case inBlock && strings.HasPrefix(l, "$ "):
			out = append(out, docCommand{line: n, cmd: strings.TrimPrefix(l, "$ "), check: check})
		case inBlock && len(out) > 0 && strings.TrimSpace(l) != "":
			out[len(out)-1].expect = append(out[len(out)-1].expect, l)
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

// TestLabDocCommands runs every command docs/LAB.md shows, in a lab of its
// own, and checks the output of those it shows verbatim: the exercises never
// drift from the program.
func TestLabDocCommands(t *testing.T) {
	privileged.Require(t)
	for _, tool := range []string{"tcpdump", "ping", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			privileged.Skip(t, tool+" is not installed")
		}
	}
	cmds := docCommands(t, "../docs/LAB.md")
	if len(cmds) < 12 {
		t.Fatalf("only %d commands found in docs/LAB.md", len(cmds))
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "synprobe"), "../cmd/synprobe").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	root, _ := filepath.Abs("..")
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"),
		"SYNPROBE_LAB_ID=doc", "SYNPROBE_LAB_DIR="+t.TempDir())
	sh := func(cmd string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", cmd)
		c.Dir, c.Env = root, env
		out, err := c.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		sh("synprobe lab down")
		files, _ := filepath.Glob(filepath.Join(root, "ex*.pcap"))
		for _, f := range files {
			os.Remove(f)
		}
	})
	ran := 0
	for _, c := range cmds {
		// The setup lines build and put synprobe on PATH: done above.
		if strings.HasPrefix(c.cmd, "make ") || strings.HasPrefix(c.cmd, "export ") {
			continue
		}
		out, err := sh(c.cmd)
		if err != nil {
			t.Fatalf("docs/LAB.md:%d: %s: %v\n%s", c.line, c.cmd, err, out)
		}
		ran++
		if !c.check {
			continue
		}
		got := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			got[normalize(l)] = true
		}
		for _, want := range c.expect {
			if !got[normalize(want)] {
				t.Errorf("docs/LAB.md:%d: %s: output lacks\n  %s\ngot:\n%s", c.line, c.cmd, want, out)
			}
		}
	}
	t.Logf("ran %d commands from docs/LAB.md", ran)
}
