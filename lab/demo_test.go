//go:build linux

package labscripts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/synprobe/synprobe/internal/privileged"
)

// fakeSynprobe stands in for the binary in scripts/demo.sh: it records each
// argv it gets (NUL-separated, one per line of the log) and, for lab exec,
// runs the command itself; nothing touches the network.
const fakeSynprobe = `#!/usr/bin/env bash
printf '%s\0' "$0" "$@" >>"$FAKE_LOG"; echo >>"$FAKE_LOG"
case "$1 $2" in
"lab exec") shift 3; exec "$@" ;;
esac
case " $* " in *" --help "*) exit 0 ;; esac
echo "fake synprobe $*"
`

// TestDemoPrintsWhatItRuns: every "$ ..." line scripts/demo.sh prints,
// read back by bash, is exactly the argv the script ran (no quoting that
// shows another command than the one that ran).
func TestDemoPrintsWhatItRuns(t *testing.T) {
	privileged.Require(t) // the script insists on root
	dir := t.TempDir()
	bin := filepath.Join(dir, "synprobe dir", "synprobe") // a space in the path, too
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.WriteFile(bin, []byte(fakeSynprobe), 0o755); err != nil {
		t.Fatal(err)
	}
	logf := filepath.Join(dir, "argv.log")
	cmd := exec.Command("bash", "../scripts/demo.sh", bin)
	cmd.Env = append(os.Environ(), "FAKE_LOG="+logf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo.sh with a fake synprobe: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(logf)
	var ran [][]string
	for _, rec := range strings.Split(string(b), "\x00\n") {
		if rec != "" {
			ran = append(ran, strings.Split(rec, "\x00"))
		}
	}
	steps := regexp.MustCompile(`\x1b\[1m\$ ((?s).*?)\x1b\[0m`).FindAllSubmatch(out, -1)
	if len(steps) < 5 {
		t.Fatalf("only %d steps printed:\n%s", len(steps), out)
	}
	for _, s := range steps {
		line := string(s[1])
		// bash parses the printed line as a user pasting it would.
		argv, err := exec.Command("bash", "-c", `eval "set -- $1"; printf '%s\0' "$@"`, "_", line).Output()
		if err != nil {
			t.Errorf("printed step does not parse: %s: %v", line, err)
			continue
		}
		got := strings.Split(strings.TrimSuffix(string(argv), "\x00"), "\x00")
		if !slices.ContainsFunc(ran, func(r []string) bool { return slices.Equal(r, got) }) {
			t.Errorf("printed step %q (argv %q) is not a command the script ran; it ran:\n%q", line, got, ran)
		}
	}
	if !bytes.Contains(out, []byte("bash -c '")) {
		t.Errorf("the bash -c step is not printed with its script quoted:\n%s", out)
	}
}
