package check

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synprobe/synprobe/probe"
	"go.yaml.in/yaml/v3"
)

// ExampleFile is a check file with every field: the help text shows it,
// and a test reads it, so the example stays true.
const ExampleFile = `checks:
  - name: web
    target: 198.18.10.10
    port: 443
    expect: [open]
    probes: 5
    rtt: {percentile: 90, max: 50ms}
    min_success: 0.8
`

// MaxFileSize is the most bytes a check file may have. A thousand checks
// take about 100 KiB; the limit is there so that a wrong path (a device, a
// log, /dev/zero) fails at once instead of filling memory.
const MaxFileSize = 1 << 20

// ErrTooLarge is returned (wrapped, with the file's name) for a check
// file larger than MaxFileSize.
var ErrTooLarge = errors.New("check file is larger than 1 MiB, the limit")

// Spec is a check and where it was written, so that a message about it
// (its target does not resolve, say) points at the place to fix:
// "checks.yaml:7" or `check "web:80=open"`.
type Spec struct {
	Check Check
	Where string
}

// checkYAML is one check of a check file.
type checkYAML struct {
	Name   string   `yaml:"name"`
	Target string   `yaml:"target"`
	Port   int      `yaml:"port"`
	Expect []string `yaml:"expect"`
	Probes int      `yaml:"probes"`
	RTT    *struct {
		Percentile *float64 `yaml:"percentile"`
		Max        string   `yaml:"max"`
	} `yaml:"rtt"`
	MinSuccess *float64 `yaml:"min_success"`
}

// checkFields are checkYAML's keys, checked one by one before decoding so
// that a misspelt field is named with its own line.
var checkFields = []string{"name", "target", "port", "expect", "probes", "rtt", "min_success"}

// yamlLine matches the position the YAML library puts in its messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// ReadFile parses a check file:
//
//	checks:
//	  - name: web           # optional; TARGET:PORT when not given
//	    target: 198.18.10.10
//	    port: 443
//	    expect: [open]      # or several: [closed, filtered]
//	    probes: 5
//	    rtt: {percentile: 90, max: 50ms}
//	    min_success: 0.8
//
// Every error is one line that starts with FILE:LINE, for a person to fix
// the file with; a Spec's Where is FILE:LINE of its target.
func ReadFile(path string) ([]Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("check file: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads a check file from r, at most MaxFileSize bytes of it; name
// is the file's, for messages. The caller decides how r is opened (and
// closes it to stop a read that waits, on a FIFO say).
func Read(r io.Reader, name string) ([]Spec, error) {
	b, err := readLimited(r, name, MaxFileSize)
	if err != nil {
		return nil, err
	}
	f := checkFile{path: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, f.yamlErr(err, 1)
	}
	if len(doc.Content) == 0 {
		return nil, f.at(1, "empty check file: want a list of checks under \"checks:\"")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, f.at(top.Line, "want \"checks:\" and a list of checks at the top of the file")
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		switch {
		case k.Value != "checks":
			return nil, f.at(k.Line, "unknown key %q: a check file has one key, \"checks:\"", k.Value)
		case list != nil:
			return nil, f.at(k.Line, "\"checks:\" is given twice")
		}
		list = top.Content[i+1]
	}
	switch {
	case list == nil:
		return nil, f.at(top.Line, "no \"checks:\" list")
	case list.Kind != yaml.SequenceNode:
		return nil, f.at(list.Line, "\"checks:\" must be a list of checks (each starting with \"- \")")
	case len(list.Content) == 0:
		return nil, f.at(list.Line, "no checks under \"checks:\"")
	}
	var out []Spec
	for _, n := range list.Content {
		s, err := f.check(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// readLimited reads at most limit bytes of path, and one more to tell a
// file of exactly limit bytes from a larger one, whatever the file is: a
// device such as /dev/zero has no size to look at beforehand.
func readLimited(r io.Reader, path string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("check file: %w", err)
	case int64(len(b)) > limit:
		return nil, fmt.Errorf("%s: %w", path, ErrTooLarge)
	}
	return b, nil
}

// checkFile is a check file being read, for its messages.
type checkFile struct{ path string }

func (f checkFile) at(line int, format string, a ...any) error {
	return fmt.Errorf("%s:%d: %s", f.path, line, fmt.Sprintf(format, a...))
}

// yamlErr rewrites the YAML library's "line N:" to FILE:N; of a message
// with several errors it keeps the first, so that the message is one line.
func (f checkFile) yamlErr(err error, line int) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(strings.TrimSpace(msg)); m != nil {
		n, _ := strconv.Atoi(m[1])
		return f.at(n, "%s", m[2])
	}
	return f.at(line, "%s", strings.TrimPrefix(msg, "yaml: "))
}

// check decodes one check of the list, n.
func (f checkFile) check(n *yaml.Node) (Spec, error) {
	if n.Kind != yaml.MappingNode {
		return Spec{}, f.at(n.Line, "a check is a mapping (target:, port:, expect: ...)")
	}
	// Each field's own line, for messages about it.
	line := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(checkFields, k.Value) {
			return Spec{}, f.at(k.Line, "unknown field %q (want %s)", k.Value, strings.Join(checkFields, ", "))
		}
		line[k.Value] = k.Line
	}
	lineOf := func(field string) int {
		if l, ok := line[field]; ok {
			return l
		}
		return n.Line
	}
	var y checkYAML
	if err := n.Decode(&y); err != nil {
		return Spec{}, f.yamlErr(err, n.Line)
	}
	c := Check{Name: y.Name, Target: y.Target, Probes: y.Probes}
	if y.Target == "" {
		return Spec{}, f.at(n.Line, "check has no target")
	}
	if y.Port < 1 || y.Port > 65535 {
		return Spec{}, f.at(lineOf("port"), "port %d must be 1-65535", y.Port)
	}
	c.Port = uint16(y.Port)
	if len(y.Expect) == 0 {
		return Spec{}, f.at(lineOf("expect"), "check has no expected state (expect: [open], [closed], [filtered] or several)")
	}
	for _, s := range y.Expect {
		st, ok := probe.ParseState(s)
		if !ok {
			return Spec{}, f.at(lineOf("expect"), "expect %q: want open, closed or filtered", s)
		}
		c.States = append(c.States, st)
	}
	if y.Probes < 0 || y.Probes > MaxProbes {
		return Spec{}, f.at(lineOf("probes"), "probes %d must be 1-%d", y.Probes, MaxProbes)
	}
	if y.RTT != nil {
		if p := y.RTT.Percentile; p != nil {
			if !validPercentile(*p) {
				return Spec{}, f.at(lineOf("rtt"), "rtt percentile %v: want a number in (0, 100] such as 90", *p)
			}
			c.Percentile = *p
		}
		var err error
		if c.MaxRTT, err = time.ParseDuration(y.RTT.Max); err != nil || c.MaxRTT <= 0 {
			return Spec{}, f.at(lineOf("rtt"), "rtt max %q: want a positive duration such as 50ms", y.RTT.Max)
		}
	}
	if y.MinSuccess != nil {
		if !validRatio(*y.MinSuccess) {
			return Spec{}, f.at(lineOf("min_success"), "min_success %v: want a ratio in [0, 1] such as 0.8", *y.MinSuccess)
		}
		c.MinSuccess, c.MinSuccessSet = *y.MinSuccess, true
	}
	if err := c.Validate(); err != nil {
		return Spec{}, f.at(n.Line, "%v", err)
	}
	return Spec{Check: c, Where: fmt.Sprintf("%s:%d", f.path, lineOf("target"))}, nil
}
