package check

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/synprobe/synprobe/probe"
)

func writeFile(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "checks.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadFile(t *testing.T) {
	// The help text's example first.
	p := writeFile(t, ExampleFile+`  - port: 22
    expect: [filtered, closed]
    target: db.lab
  - target: 198.18.10.11
    port: 80
    expect: [open]
    min_success: 0
`)
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{
		{Check{Name: "web", Target: "198.18.10.10", Port: 443, States: []probe.State{probe.StateOpen}, Probes: 5,
			Percentile: 90, MaxRTT: 50 * time.Millisecond, MinSuccess: 0.8, MinSuccessSet: true}, p + ":3"},
		{Check{Target: "db.lab", Port: 22, States: []probe.State{probe.StateFiltered, probe.StateClosed}}, p + ":11"},
		{Check{Target: "198.18.10.11", Port: 80, States: []probe.State{probe.StateOpen}, MinSuccessSet: true}, p + ":12"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseArgs(t *testing.T) {
	got, err := ParseArgs([]string{"web:80=open", "db:5432=closed|filtered"})
	want := []Spec{
		{Check{Target: "web", Port: 80, States: []probe.State{probe.StateOpen}}, `check "web:80=open"`},
		{Check{Target: "db", Port: 5432, States: []probe.State{probe.StateClosed, probe.StateFiltered}}, `check "db:5432=closed|filtered"`},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("%+v, %v; want %+v", got, err, want)
	}
	if _, err := ParseArgs([]string{"web:80=open", "web:80=opened"}); err == nil || !strings.Contains(err.Error(), `check "web:80=opened"`) {
		t.Errorf("%v, want an error naming the second check", err)
	}
}

// TestReadFileErrorsNameTheLine: every mistake in a check file is one
// line, FILE:LINE: what. (cmd's test of the same name runs these through
// the command, with the targets' resolution.)
func TestReadFileErrorsNameTheLine(t *testing.T) {
	ok := "checks:\n  - target: 198.18.10.10\n    port: 80\n    expect: [open]\n"
	for _, c := range []struct{ yaml, line, want string }{
		{"", "1", "empty check file"},
		{"# only a comment\n", "1", "empty check file"},
		{"nothing: here\n", "1", `unknown key "nothing"`},
		{ok + "colour: red\n", "5", `unknown key "colour"`},
		{ok + "checks: []\n", "5", `"checks:" is given twice`},
		{"checks:\n", "1", "must be a list"},
		{"checks: []\n", "1", "no checks"},
		{"- target: a\n", "1", `want "checks:"`},
		{"checks: [\n", "1", "did not find expected node content"},
		{"checks:\n  - web\n", "2", "a check is a mapping"},
		{ok + "  - target: 198.18.10.11\n    port: 99999\n    expect: [open]\n", "6", "port 99999 must be 1-65535"},
		{ok + "  - target: 198.18.10.11\n    port: eighty\n    expect: [open]\n", "6", "cannot unmarshal"},
		{"checks:\n  - target: a\n    port: 80\n    expect: [opn]\n", "4", `expect "opn"`},
		{"checks:\n  - target: a\n    port: 80\n", "2", "no expected state"},
		{"checks:\n  - port: 80\n    expect: [open]\n", "2", "no target"},
		{"checks:\n  - target: a\n    port: 80\n    expect: [open]\n    probes: 10001\n", "5", "probes 10001 must be 1-10000"},
		{"checks:\n  - target: a\n    port: 80\n    expect: [open]\n    rtt: {max: soon}\n", "5", `rtt max "soon"`},
		{"checks:\n  - target: a\n    port: 80\n    expect: [open]\n    rtt: {percentile: 0, max: 5ms}\n", "5", "percentile 0"},
		{"checks:\n  - target: a\n    port: 80\n    expect: [open]\n    rtt: {percentile: .nan, max: 5ms}\n", "5", "percentile NaN"},
		{"checks:\n  - target: a\n    port: 80\n    expect: [open]\n    min_success: .nan\n", "5", "min_success NaN"},
		{"checks:\n  - target: a\n    port: 80\n    expect: [open]\n    min_success: 1.5\n", "5", "min_success 1.5"},
		{"checks:\n  - target: a\n    port: 80\n    colour: red\n", "4", `unknown field "colour"`},
	} {
		p := writeFile(t, c.yaml)
		_, err := ReadFile(p)
		prefix := p + ":" + c.line + ": "
		if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want %q...%q", c.yaml, err, prefix, c.want)
		}
	}
}

func TestReadFileMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), p) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v", err)
	}
}

// TestReadFileTooLarge: a file past MaxFileSize is refused while it is
// read, not after: /dev/zero, which never ends, fails at once.
func TestReadFileTooLarge(t *testing.T) {
	one := "checks:\n  - target: 198.18.10.10\n    port: 80\n    expect: [open]\n"
	pad := func(n int) string { return one + "#" + strings.Repeat("x", n-len(one)-2) + "\n" }
	if len(pad(MaxFileSize)) != MaxFileSize {
		t.Fatal("pad")
	}
	if _, err := ReadFile(writeFile(t, pad(MaxFileSize))); err != nil {
		t.Errorf("a file of MaxFileSize bytes: %v", err)
	}
	for _, p := range []string{"/dev/zero", writeFile(t, pad(MaxFileSize+1))} {
		start := time.Now()
		_, err := ReadFile(p)
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: refused after %v", p, took)
		}
		if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), p+": ") || !strings.Contains(err.Error(), "1 MiB") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line naming the file and the limit", p, err)
		}
	}
}
