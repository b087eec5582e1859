//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/privileged"
)

// TestLabCLI drives the real binary: lab up, status, exec (exit code passed
// through), down, and checks with the kernel's namespace list that nothing
// is left. It runs under its own lab ID and state directory, so a demo lab
// someone has up on the same machine is not touched.
func TestLabCLI(t *testing.T) {
	privileged.Require(t)
	if testing.Short() {
		t.Skip("builds the binary and the whole demo lab")
	}
	dir := t.TempDir()
	// nobody runs the binary and reads the state in dir, below.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "synprobe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	id := fmt.Sprintf("t%d", os.Getpid()%10000000)
	env := append(os.Environ(), "SYNPROBE_LAB_ID="+id, "SYNPROBE_LAB_DIR="+dir)
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		if args[0] == "setpriv" {
			cmd = exec.Command(args[0], args[1:]...)
		}
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String(), 0
	}
	mine := func() (ns []string) {
		for _, n := range lab.Namespaces() {
			if strings.HasPrefix(n, lab.NamePrefix+id+"-") {
				ns = append(ns, n)
			}
		}
		return ns
	}
	t.Cleanup(func() {
		run("lab", "down")
		if left := mine(); len(left) > 0 {
			t.Errorf("after lab down: namespaces %v remain", left)
		}
	})

	out, code := run("lab", "up")
	if code != 0 {
		t.Fatalf("lab up: exit %d\n%s", code, out)
	}
	for _, n := range lab.Demo().Nodes {
		if !strings.Contains(out, n.Name) || (n.Describe != "" && !strings.Contains(out, n.Describe)) {
			t.Errorf("lab up does not describe %s:\n%s", n.Name, out)
		}
	}
	if got := len(mine()); got < len(lab.Demo().Nodes)+1 {
		t.Errorf("lab up made %d namespaces, want at least %d", got, len(lab.Demo().Nodes)+1)
	}
	if out, code := run("lab", "up"); code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("second lab up: exit %d, want one error line:\n%s", code, out)
	}
	if out, code := run("lab", "status"); code != 0 || !strings.Contains(out, "lab up") {
		t.Errorf("lab status: exit %d\n%s", code, out)
	}
	// Without root: status sees the root daemon alive (kill(pid, 0) says
	// EPERM, not ESRCH), and up and down say they need root, in one line,
	// leaving the lab as it is.
	asNobody := func(args ...string) (string, int) {
		return run(append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin}, args...)...)
	}
	if out, code := asNobody("lab", "status"); code != 0 || !strings.Contains(out, "lab up (daemon pid") || strings.Contains(out, "leftover") {
		t.Errorf("lab status as nobody: exit %d\n%s", code, out)
	}
	for _, sub := range []string{"up", "down"} {
		if out, code := asNobody("lab", sub); code != exitNoProbe || strings.Count(out, "\n") != 1 || !strings.Contains(out, "lab "+sub+" needs root") {
			t.Errorf("lab %s as nobody: exit %d\n%s", sub, code, out)
		}
	}
	if out, code := run("lab", "status"); code != 0 || !strings.Contains(out, "lab up") {
		t.Errorf("lab status after nobody's attempts: exit %d\n%s", code, out)
	}
	// The prober's namespace: its address is there, and nothing but the lab is routable.
	if out, code := run("lab", "exec", "--", "ip", "-o", "-4", "addr", "show"); code != 0 || !strings.Contains(out, "198.18.1.1/24") {
		t.Errorf("lab exec ip addr: exit %d\n%s", code, out)
	}
	if out, code := run("lab", "exec", "--", "ip", "route", "get", "8.8.8.8"); code == 0 {
		t.Errorf("prober has a route to 8.8.8.8:\n%s", out)
	}
	if _, code := run("lab", "exec", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("lab exec exit code %d, want 7 passed through", code)
	}
	if out, code := run("lab", "exec", "--", "no-such-command-synprobe"); code != 127 || !strings.Contains(out, "command not found") {
		t.Errorf("lab exec of a missing command: exit %d, want 127:\n%s", code, out)
	}
	// lab down finds the daemon even when its state file is lost.
	if err := os.Remove(filepath.Join(dir, "lab.json")); err != nil {
		t.Fatal(err)
	}
	out, code = run("lab", "down")
	if code != 0 {
		t.Fatalf("lab down: exit %d\n%s", code, out)
	}
	if left := mine(); len(left) > 0 {
		t.Errorf("after lab down: namespaces %v remain", left)
	}
	if out, _ := run("lab", "status"); !strings.Contains(out, "lab down") {
		t.Errorf("lab status after down:\n%s", out)
	}
	if out, code := run("lab", "exec", "--", "true"); code != exitNoProbe || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("lab exec with the lab down: exit %d, want %d and one line:\n%s", code, exitNoProbe, out)
	}
}
